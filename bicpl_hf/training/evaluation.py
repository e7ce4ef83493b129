"""Predict a built dataset with a Bi-CPL model and score it with the package's ear-level metric."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..data.collator import BiCPLDataCollator
from ..metrics import compute_ear_metrics, flatten_exam_predictions


@dataclass
class DatasetPredictions:
    """Per-exam outputs on a dataset, ears in (left, right) order."""

    logits: np.ndarray  # (N, 2, K)
    labels: np.ndarray  # (N, 2) codes, -100 unknown
    image_embeds: np.ndarray  # (N, 2, P)
    side_text_embeds: np.ndarray | None  # (N, 2, P)
    class_codes: list[int]

    @property
    def probabilities(self) -> np.ndarray:
        shifted = self.logits - self.logits.max(-1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(-1, keepdims=True)


@torch.no_grad()
def predict_dataset(model, processor, dataset, batch_size: int = 8, with_text: bool = True,
                    class_prototypes: torch.Tensor | None = None, text_mode: str = "raw") -> DatasetPredictions:
    """Run `model` over `dataset` (columns of [`BiCPLDataCollator`]) in eval mode; `text_mode` as in training."""
    model.eval()
    collator = BiCPLDataCollator(processor, include_labels=True, include_text=with_text, text_mode=text_mode)
    logits, labels, images, texts = [], [], [], []
    for start in range(0, len(dataset), batch_size):
        batch = collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        labels.append(batch.pop("labels").numpy())
        inputs = {k: v.to(model.device) for k, v in batch.items() if k.startswith("side_") or k == "pixel_values"}
        out = model(**inputs, class_prototypes=class_prototypes, output_asymmetry_maps=False)
        logits.append(out.logits.float().cpu().numpy())
        images.append(out.image_embeds.float().cpu().numpy())
        if out.side_text_embeds is not None:
            texts.append(out.side_text_embeds.float().cpu().numpy())
    codes = list(model.config.class_codes) if class_prototypes is None else list(range(class_prototypes.shape[0]))
    return DatasetPredictions(
        logits=np.concatenate(logits),
        labels=np.concatenate(labels),
        image_embeds=np.concatenate(images),
        side_text_embeds=np.concatenate(texts) if texts else None,
        class_codes=codes,
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


__all__ = ["DatasetPredictions", "predict_dataset", "score_predictions"]
