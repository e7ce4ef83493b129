"""Predict a built dataset with a Bi-CPL model and score it with the package's ear-level metric."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.collator import BiCPLDataCollator
from ..metrics import compute_ear_metrics, flatten_exam_predictions
from ..metrics.zero_shot_metrics import zero_shot_metrics
from ..modeling import IGNORE_INDEX


@dataclass
class DatasetPredictions:
    """Per-exam outputs on a dataset, ears in (left, right) order."""

    logits: np.ndarray  # (N, 2, K)
    labels: np.ndarray  # (N, 2) codes, -100 unknown
    image_embeds: np.ndarray  # (N, 2, P)
    side_text_embeds: np.ndarray | None  # (N, 2, P)
    class_codes: list[int]
    # Raw cosine of each ear embedding to each class prototype (N, 2, K), before logit scale and calibrated offsets;
    # for a class absent from training the prototype is its (frozen) text prototype.
    cosine: np.ndarray | None = None

    @property
    def probabilities(self) -> np.ndarray:
        shifted = self.logits - self.logits.max(-1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(-1, keepdims=True)


def _rows(dataset, indices: range) -> list[dict]:
    """The rows at `indices` as dicts: one batched Arrow read when the dataset offers it (as the Trainer's loader)."""
    if hasattr(dataset, "__getitems__"):
        return dataset.__getitems__(list(indices))
    return [dataset[i] for i in indices]


@torch.no_grad()
def predict_dataset(model, processor, dataset, batch_size: int = 8, with_text: bool = True,
                    class_prototypes: torch.Tensor | None = None, text_mode: str = "raw") -> DatasetPredictions:
    """Run `model` over `dataset` (columns of [`BiCPLDataCollator`]) in eval mode; `text_mode` as in training."""
    model.eval()
    collator = BiCPLDataCollator(processor, include_labels=True, include_text=with_text, text_mode=text_mode)
    logits, labels, images, texts = [], [], [], []
    prototypes = model.get_prototypes() if class_prototypes is None else F.normalize(class_prototypes, dim=-1)
    prototypes = prototypes.float().cpu().numpy()
    for start in range(0, len(dataset), batch_size):
        batch = collator(_rows(dataset, range(start, min(start + batch_size, len(dataset)))))
        labels.append(batch.pop("labels").numpy())
        inputs = {k: v.to(model.device) for k, v in batch.items() if k.startswith("side_") or k == "pixel_values"}
        out = model(**inputs, class_prototypes=class_prototypes, output_asymmetry_maps=False)
        logits.append(out.logits.float().cpu().numpy())
        images.append(out.image_embeds.float().cpu().numpy())
        if out.side_text_embeds is not None:
            texts.append(out.side_text_embeds.float().cpu().numpy())
    codes = list(model.config.class_codes) if class_prototypes is None else list(range(class_prototypes.shape[0]))
    logits = np.concatenate(logits)
    cosine = np.concatenate(images) @ prototypes.T  # image embeddings are L2-normalised by the model
    if class_prototypes is None and getattr(model.config, "zero_shot_scoring", "prototypes") == "findings":
        # A Bi-CPL v3 model scores its classes without a trained prototype from their findings: that score (its
        # logit less the class's offset) is the raw zero-shot score of those classes, not a prototype cosine.
        from ..modeling.modeling_bicpl_regions import finding_scored_classes

        offsets = np.asarray(model.config.class_logit_offsets or [0.0] * len(codes))
        for column, findings in enumerate(finding_scored_classes(model.config)):
            if findings:
                cosine[..., column] = logits[..., column] - offsets[column]
    return DatasetPredictions(
        logits=logits,
        labels=np.concatenate(labels),
        image_embeds=np.concatenate(images),
        side_text_embeds=np.concatenate(texts) if texts else None,
        class_codes=codes,
        cosine=cosine,
    )


def score_predictions(
    predictions: DatasetPredictions,
    class_names: Sequence[str],
    *,
    tail_codes: Sequence[int] = (),
    zero_shot_codes: Sequence[int] = (),
    bootstrap: int = 200,
    seed: int = 0,
    recall_k: Sequence[int] = (1, 5, 10),
) -> dict:
    """Ear-level metrics (unknown ears ignored) plus ear↔side-text Recall@K over the labelled ears."""
    codes = predictions.class_codes
    scores, indices, exam_rows, sides = flatten_exam_predictions(predictions.logits, predictions.labels, codes)
    present = set(indices.tolist())
    similarity = None
    if predictions.side_text_embeds is not None:
        image = predictions.image_embeds[exam_rows, sides]
        text = predictions.side_text_embeds[exam_rows, sides]
        similarity = image @ text.T
    return compute_ear_metrics(
        scores,
        indices,
        class_names=list(class_names),
        exam_ids=exam_rows,
        tail_classes=[codes.index(c) for c in tail_codes if c in codes and codes.index(c) in present],
        zero_shot_classes=[codes.index(c) for c in zero_shot_codes if c in codes and codes.index(c) in present],
        bootstrap=bootstrap,
        seed=seed,
        from_logits=True,
        similarity=similarity,
        recall_k=[k for k in recall_k if k <= len(indices)],
    )


def exam_flags(dataset, column: str | None) -> np.ndarray | None:
    """`(N, 2)` booleans from the dataset's boolean `column` (one per exam, or a pair left/right per exam); None when
    the dataset has no such column."""
    if not column or column not in dataset.column_names:
        return None
    values = np.asarray(dataset[column])
    if values.dtype != bool:
        raise ValueError(f"column {column!r} must hold booleans (one per exam or [left, right]), got {values.dtype}")
    if values.ndim == 1:
        values = np.repeat(values[:, None], 2, axis=1)
    if values.shape != (len(dataset), 2):
        raise ValueError(f"column {column!r} must have shape ({len(dataset)},) or ({len(dataset)}, 2), got {values.shape}")
    return values


def score_held_out(predictions: DatasetPredictions, held_out: int, unseen_codes: Sequence[int], dataset=None,
                   normal_variant_column: str | None = "normal_variant") -> dict:
    """The held-out class's zero-shot metrics (`bicpl_hf.metrics.zero_shot_metrics`), keys prefixed `zs/`.

    `dataset` is the predicted dataset; when it has the boolean `normal_variant_column`, the rate of its normal ears
    called diseased is added; otherwise `zs/normal_variant_note` says why not.
    """
    codes = predictions.class_codes
    logits, indices, rows, sides = flatten_exam_predictions(predictions.logits, predictions.labels, codes)
    labels = np.asarray(codes)[indices]
    cosine = None if predictions.cosine is None else predictions.cosine[rows, sides]
    flags = None if dataset is None else exam_flags(dataset, normal_variant_column)
    result = zero_shot_metrics(logits, labels, codes, held_out=held_out, unseen_codes=list(unseen_codes),
                               cosine=cosine, normal_variant=None if flags is None else flags[rows, sides])
    out = {f"zs/{k}": v for k, v in result.items()}
    if flags is None:
        out["zs/normal_variant_note"] = (f"no boolean column {normal_variant_column!r} in the test split: "
                                         "normal-variant rate not computed")
    return out


def composed_prototype_auc(model, tokenizer, predictions: DatasetPredictions, held_out: int) -> dict:
    """AUC of the held-out class from the raw cosine to a prototype COMPOSED from its findings: the mean embedding of
    the distinct findings of its prompts (`bicpl_hf.knowledge.finding_vocabulary.composed_prompts`), against every
    other labelled test ear (`zs/auc_cosine_composed`) and against diseased ears only
    (`zs/auc_vs_diseased_cosine_composed`). A diagnostic next to the model's own prototype: does the class compose
    from findings the model learned elsewhere?"""
    from ..metrics.zero_shot_metrics import binary_auc
    from ..zero_shot.prompt_recipe import prompts_in_model_style

    prompts = prompts_in_model_style({held_out: model.config.class_prompts[str(held_out)]}, "composed")
    prototype = model.encode_class_prompts(tokenizer, prompts)[0].cpu().numpy()
    labels = predictions.labels.reshape(-1)
    cosine = (predictions.image_embeds.reshape(len(labels), -1) @ prototype)
    known = labels != IGNORE_INDEX
    diseased = known & (labels != model.config.normal_code)
    return {
        "zs/auc_cosine_composed": binary_auc(labels[known] == held_out, cosine[known]),
        "zs/auc_vs_diseased_cosine_composed": binary_auc(labels[diseased] == held_out, cosine[diseased]),
    }


def prompt_cosines(model, tokenizer, predictions: DatasetPredictions, class_prompts) -> np.ndarray:
    """Raw cosine `(N, 2, len(class_prompts))` of every ear of `predictions` to the prototype of each prompt set
    (`{code: [prompt, ...]}`, in its order), the prompts encoded as the model was trained to score them
    (`bicpl_hf.zero_shot.prompt_recipe.encode_prompts_as_trained`, the computation of the pipeline and of
    `bicpl diagnose`): e.g. the score of a class under each paraphrase of its prompt."""
    from ..zero_shot.prompt_recipe import encode_prompts_as_trained

    prototypes = encode_prompts_as_trained(model, tokenizer, class_prompts).float().cpu().numpy()
    embeds = predictions.image_embeds.astype(np.float32)  # L2-normalised by the model
    return embeds @ prototypes.T


def normal_ear_rates(predictions: DatasetPredictions, normal_code: int) -> dict:
    """How often a normal ear is called diseased (arg-max not normal), by what its partner ear is: `normal_called_
    diseased/partner_normal` and `/partner_diseased` (a bilateral model must not copy the partner's disease), with
    their ear counts."""
    codes = np.asarray(predictions.class_codes)
    called = codes[predictions.logits.argmax(-1)]  # (N, 2)
    labels = predictions.labels
    out = {}
    for name, partner_normal in (("partner_normal", True), ("partner_diseased", False)):
        mask = np.zeros_like(labels, dtype=bool)
        for ear in (0, 1):
            partner = labels[:, 1 - ear]
            ok = (partner == normal_code) if partner_normal else ((partner != normal_code) & (partner != IGNORE_INDEX))
            mask[:, ear] = (labels[:, ear] == normal_code) & ok
        out[f"normal_called_diseased/{name}"] = float((called[mask] != normal_code).mean()) if mask.any() else None
        out[f"normal_ears/{name}"] = int(mask.sum())
    return out


__all__ = [
    "DatasetPredictions",
    "composed_prototype_auc",
    "exam_flags",
    "normal_ear_rates",
    "predict_dataset",
    "prompt_cosines",
    "score_held_out",
    "score_predictions",
]
