"""The attribute-composition baseline (issue 21): direct attribute prediction (DAP, Lampert et al. 2009/2014).

Per-finding image classifiers are trained on the ears of the training split (the seen classes only, in Setting B),
then every class, seen or not, is scored from its knowledge-base findings, with no text tower anywhere. It is what a
zero-shot method must beat: a class described by findings that other classes show is recognised by composing the
finding detectors.

- Vocabulary: the findings present in >= 3 training ears (`finding_vocabulary`); per-ear labels from
  `finding_labels` (negated or unmentioned = 0); ears of unknown code are ignored.
- Model: the single-ear variants' vision encoder (same backbone, input and config, no A3B) + a linear multi-label
  head, trained with the balanced BCE of the finding alignment (`finding_alignment_loss`).
- Class-attribute matrix `A` (K x V): class c has finding f iff f's phrase is among the findings the report parser
  reads from the class's prompts (`composed_prompts`); a class with no finding (normal) has every finding absent.
  Findings of a class outside the vocabulary cannot be scored and are reported.
- Class score: the DAP log-likelihood `sum_f A_cf log p_f + (1 - A_cf) log(1 - p_f)`, p clipped to [1e-4, 1 - 1e-4].
  Lampert's DAP divides each `p(a_f | x)` by the attribute prior `p(a_f)`; the balanced BCE trains the head as if
  every finding had prior 1/2, so that division is a constant and is left out. This plain (unweighted) score is the
  only one returned; no variant was chosen on any split.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..knowledge.finding_vocabulary import Finding, composed_prompts, finding_labels, finding_phrase, finding_vocabulary
from ..knowledge.summaries import NORMAL_SUMMARY
from ..metrics.zero_shot_metrics import binary_auc
from ..modeling import IGNORE_INDEX, BiCPLVisionConfig
from ..modeling.losses_bicpl import finding_alignment_loss
from ..modeling.modeling_bicpl_vision import BiCPLSiameseEncoder
from .evaluation import DatasetPredictions

logger = logging.getLogger(__name__)

PROBABILITY_CLIP = 1e-4


class AttributeClassifier(nn.Module):
    """One ear at a time through the single-ear encoder (no A3B), then one logit per finding: `(batch, 2, V)`."""

    def __init__(self, vision_config: BiCPLVisionConfig, num_findings: int):
        super().__init__()
        self.vision_model = BiCPLSiameseEncoder(vision_config, bilateral=False)
        self.dropout = nn.Dropout(vision_config.dropout)
        self.finding_head = nn.Linear(vision_config.hidden_size, num_findings)
        for module in self.modules():  # the convolution init of `BiCPLPreTrainedModel._init_weights`
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        # A processor's coarse-ROI channels come after the fine ones; this encoder reads the fine ROI.
        pooled, _, _ = self.vision_model(pixel_values[:, :, : self.vision_model.config.in_channels])
        return self.finding_head(self.dropout(pooled))


class _Batches:
    """Collate (picklable for loader workers): rows at the given indices -> pixel values and finding labels."""

    def __init__(self, dataset, labels: np.ndarray):
        self.dataset, self.labels = dataset, labels

    def __call__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.dataset.__getitems__(indices) if hasattr(self.dataset, "__getitems__") else [
            self.dataset[i] for i in indices]
        pixels = np.stack([np.asarray(row["pixel_values"], dtype=np.float32) for row in rows])
        return torch.from_numpy(pixels), torch.from_numpy(self.labels[indices])


def ear_codes(dataset) -> np.ndarray:
    """`(N, 2)` int64 ear label codes of a split (left, right)."""
    return np.stack([np.asarray(dataset["left_code"]), np.asarray(dataset["right_code"])], axis=1).astype(np.int64)


def ear_finding_labels(dataset, vocabulary: Sequence[Finding]) -> np.ndarray:
    """`(N, 2, V)` labels of every ear (1 present, 0 negated or unmentioned); an ear of unknown code is all
    `IGNORE_INDEX` (its report side is not trusted as a description of that ear)."""
    labels = np.stack([finding_labels(t, vocabulary) for t in dataset["findings_triples"]])
    labels[ear_codes(dataset) == IGNORE_INDEX] = IGNORE_INDEX
    return labels


def _device(budget) -> torch.device:
    return torch.device(budget.device or ("cuda" if torch.cuda.is_available() else "cpu"))


def train_attribute_classifier(train_dataset, vision_config: Mapping | BiCPLVisionConfig,
                               vocabulary: Sequence[Finding], budget, seed: int, epochs: float | None = None
                               ) -> AttributeClassifier:
    """Train the finding classifier on `train_dataset` with AdamW (`budget.learning_rate`, `budget.weight_decay`),
    5% warm-up then cosine decay (the schedule of the other variants' Trainer), for `epochs` (default
    `budget.prototype_epochs`, see `run_attribute_composition`)."""
    from transformers import get_cosine_schedule_with_warmup

    if not vocabulary:
        raise ValueError("the finding vocabulary is empty: the attribute-composition baseline needs findings")
    epochs = budget.prototype_epochs if epochs is None else epochs
    config = vision_config if isinstance(vision_config, BiCPLVisionConfig) else BiCPLVisionConfig(**vision_config)
    torch.manual_seed(seed)
    model = AttributeClassifier(config, len(vocabulary))
    device = _device(budget)
    model.to(device)
    channels_last = budget.channels_last
    if channels_last is None:
        channels_last = device.type == "cpu"
    if channels_last:
        model.to(memory_format=torch.channels_last_3d)  # as `run_one`: only 5-D conv weights change layout
    labels = ear_finding_labels(train_dataset, vocabulary)
    pixels = train_dataset.select_columns(["pixel_values"])
    generator = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        range(len(train_dataset)), batch_size=budget.batch_size, shuffle=True, generator=generator,
        collate_fn=_Batches(pixels, labels), num_workers=budget.dataloader_num_workers)
    total = max(1, math.ceil(epochs * len(loader)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=budget.learning_rate, weight_decay=budget.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, math.ceil(0.05 * total), total)
    model.train()
    step = 0
    while step < total:
        for pixel_values, targets in loader:
            logits = model(pixel_values.to(device))
            loss = finding_alignment_loss(logits.flatten(0, 1), targets.to(device).flatten(0, 1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if step >= total:
                break
    model.to(memory_format=torch.contiguous_format)
    return model.eval()


@torch.no_grad()
def predict_finding_probabilities(model: AttributeClassifier, dataset, batch_size: int = 8) -> np.ndarray:
    """`(N, 2, V)` finding probabilities of every ear of `dataset`, in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    collate = _Batches(dataset.select_columns(["pixel_values"]), np.zeros((len(dataset), 2, 0), np.float32))
    out = []
    for start in range(0, len(dataset), batch_size):
        pixel_values, _ = collate(list(range(start, min(start + batch_size, len(dataset)))))
        out.append(torch.sigmoid(model(pixel_values.to(device)).float()).cpu().numpy())
    return np.concatenate(out)


def _prompts_of(class_prompts: Mapping, code: int) -> list[str]:
    # `BiCPLConfig.class_prompts` and `knowledge.class_prompts` key by string codes; accept either.
    prompts = class_prompts.get(code, class_prompts.get(str(code)))
    if not prompts:
        raise ValueError(f"class code {code} has no prompts (given codes: {sorted(map(str, class_prompts))})")
    return list(prompts)


def class_attribute_matrix(class_codes: Sequence[int], class_prompts: Mapping, vocabulary: Sequence[Finding]
                           ) -> tuple[np.ndarray, dict[int, list[str]], dict[int, list[str]]]:
    """`(A, findings, unscorable)`: `A` (K, V) float32, 1 where the class's prompts state the vocabulary finding;
    per code the phrases of its scored findings and of its findings outside the vocabulary."""
    phrases = [finding_phrase(tuple(f)) for f in vocabulary]
    column = {p: i for i, p in enumerate(phrases)}
    matrix = np.zeros((len(class_codes), len(vocabulary)), dtype=np.float32)
    findings, unscorable = {}, {}
    for row, code in enumerate(class_codes):
        # `composed_prompts` gives the normal text when a class states no finding: that is no finding at all.
        stated = [p for p in composed_prompts(_prompts_of(class_prompts, code)) if p != NORMAL_SUMMARY]
        findings[int(code)] = [p for p in stated if p in column]
        unscorable[int(code)] = [p for p in stated if p not in column]
        matrix[row, [column[p] for p in findings[int(code)]]] = 1.0
    return matrix, findings, unscorable


def dap_class_scores(probabilities: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """DAP log-likelihood of each class: `(..., V)` finding probabilities, `(K, V)` matrix -> `(..., K)` scores."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
    matrix = np.asarray(matrix, dtype=np.float64)
    return (np.log(p) @ matrix.T + np.log1p(-p) @ (1.0 - matrix).T).astype(np.float32)


def prompt_scores(probabilities: np.ndarray, vocabulary: Sequence[Finding], prompts: Mapping[int, list[str]],
                  knowledge_base=None) -> np.ndarray:
    """`(..., P)` DAP scores of P prompt sets (e.g. paraphrases of one class, `{i: [text]}`) from finding
    probabilities `(..., V)`: each set is read into findings by the reader Bi-CPL v3 uses for a user's prompt
    (`zero_shot.finding_scores.prompt_findings`: Chinese or English, and with `knowledge_base` a disease name read as
    it describes the disease), so the baseline is given the same prompts' findings. A set with no finding of
    `vocabulary` scores as "no finding"."""
    from ..zero_shot.finding_scores import prompt_findings

    column = {tuple(f): i for i, f in enumerate(vocabulary)}
    matrix = np.zeros((len(prompts), len(vocabulary)), dtype=np.float32)
    for row, texts in enumerate(prompts.values()):
        texts = [texts] if isinstance(texts, str) else list(texts)
        for finding in prompt_findings(texts, knowledge_base):
            if finding in column:
                matrix[row, column[finding]] = 1.0
    return dap_class_scores(probabilities, matrix)


def perfect_detector_predictions(dataset, vocabulary: Sequence[Finding], class_codes: Sequence[int],
                                 class_prompts: Mapping) -> DatasetPredictions:
    """The ceiling of the knowledge base's composition: DAP scores of `dataset` (e.g. the test split) from a PERFECT
    finding detector -- each ear's findings as its own report states them -- instead of image classifiers. The gap
    between a model and this row is what the image side misses; this row's own distance from 1 is what the text side
    (the knowledge base's findings) cannot tell apart. An oracle, never a method: it reads the test reports."""
    labels = ear_finding_labels(dataset, vocabulary)
    matrix, _, _ = class_attribute_matrix(class_codes, class_prompts, vocabulary)
    scores = dap_class_scores((labels > 0.5).astype(np.float64), matrix)
    return DatasetPredictions(logits=scores, labels=ear_codes(dataset), image_embeds=(labels > 0.5).astype(np.float32),
                              side_text_embeds=None, class_codes=[int(c) for c in class_codes], cosine=scores)


def finding_aucs(probabilities: np.ndarray, labels: np.ndarray, vocabulary: Sequence[Finding]) -> dict[str, float | None]:
    """Per-finding ROC AUC over the known ears (None where the split lacks positives or negatives)."""
    p, y = probabilities.reshape(-1, len(vocabulary)), labels.reshape(-1, len(vocabulary))
    known = (y != IGNORE_INDEX).all(-1)
    return {finding_phrase(tuple(f)): binary_auc(y[known, i] > 0.5, p[known, i]) for i, f in enumerate(vocabulary)}


def run_attribute_composition(view, processor, base_config: dict, budget, seed: int, output_dir, *,
                              class_codes: Sequence[int], class_prompts: Mapping[int, list[str]]
                              ) -> tuple[DatasetPredictions, dict]:
    """Train the finding classifiers on `view["train"]` and score `class_codes` on `view["test"]` by DAP.

    Epochs: `budget.prototype_epochs` (8 by default), the count of `vision_cnn`, the other image classifier trained
    from labels with this encoder; the single-ear CLIP trains the same encoder 6 epochs with a text tower beside it,
    so 8 vision-only epochs cost about as much CPU time without handicapping the baseline in steps. The 6 + 8 of
    Bi-CPL are two stages with different objectives, not one classifier's schedule.

    Args:
        view: `DatasetDict` with `train`, `validation`, `test` (a Setting A or B view).
        processor: unused (volumes are preprocessed, no text is encoded); kept for `run_one`'s call shape.
        base_config: `BiCPLConfig` kwargs; only `vision_config` is read.
        class_codes: the scored codes, in the order of the returned class axis.
        class_prompts: code (int or str) -> prompts; the class's findings are those the parser reads from them.

    Returns:
        `DatasetPredictions` of the test split (`logits` = `cosine` = class scores `(N, 2, K)`, `image_embeds` =
        finding probabilities `(N, 2, V)`) and a JSON-serialisable info dict (also written to
        `output_dir/attribute_composition.json`, with the weights in `model.safetensors`).

    Raises:
        ValueError: no finding in 3 or more training ears, or a class code without prompts.
    """
    from safetensors.torch import save_file

    del processor
    train = view["train"]
    try:
        vocabulary = finding_vocabulary(train["findings_triples"])
    except ValueError as error:
        raise ValueError(f"attribute composition: empty finding vocabulary in the training split ({error})") from error
    matrix, findings, unscorable = class_attribute_matrix(class_codes, class_prompts, vocabulary)
    start = time.time()
    model = train_attribute_classifier(train, dict(base_config.get("vision_config") or {}), vocabulary, budget, seed)
    seconds = time.time() - start
    validation = view["validation"]
    validation_auc = finding_aucs(predict_finding_probabilities(model, validation, budget.batch_size),
                                  ear_finding_labels(validation, vocabulary), vocabulary) if len(validation) else {}
    test = view["test"]
    probabilities = predict_finding_probabilities(model, test, budget.batch_size)
    scores = dap_class_scores(probabilities, matrix)
    predictions = DatasetPredictions(logits=scores, labels=ear_codes(test), image_embeds=probabilities.astype(np.float32),
                                     side_text_embeds=None, class_codes=[int(c) for c in class_codes], cosine=scores)
    info = {
        "scoring": "dap_log_likelihood",
        "epochs": float(budget.prototype_epochs),
        "vocabulary": [finding_phrase(tuple(f)) for f in vocabulary],
        "class_findings": findings,
        "unscorable_findings": {c: p for c, p in unscorable.items() if p},
        # A class left with no scorable finding is indistinguishable from the normal class.
        "classes_without_scorable_findings": [c for c in findings if not findings[c] and unscorable[c]],
        "validation_finding_auc": validation_auc,
        "train_seconds": round(seconds, 2),
    }
    if output_dir is not None:
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                  str(output_dir / "model.safetensors"))
        (output_dir / "attribute_composition.json").write_text(json.dumps(info, ensure_ascii=False, indent=2),
                                                               encoding="utf-8")
    logger.info("attribute composition: %d findings, %d classes, trained in %.0f s", len(vocabulary),
                len(class_codes), seconds)
    return predictions, info


__all__ = [
    "AttributeClassifier",
    "class_attribute_matrix",
    "dap_class_scores",
    "ear_codes",
    "ear_finding_labels",
    "finding_aucs",
    "perfect_detector_predictions",
    "predict_finding_probabilities",
    "prompt_scores",
    "run_attribute_composition",
    "train_attribute_classifier",
]
