"""Training recipes for the stock `transformers.Trainer`: collator, class re-weighting/balancing, the two stages.

Stage 1 (contrastive): image-report alignment only (ear-level and exam-level InfoNCE), no labels.
Stage 2 (prototype): prototype classification + symmetry + drift penalty, with the alignment kept on.

Works unchanged under `accelerate launch` / `torchrun`: everything goes through `Trainer`, which handles DDP.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainingArguments

from ..modeling import IGNORE_INDEX, BiCPLModel

logger = logging.getLogger(__name__)

STAGES = ("contrastive", "prototype", "joint")


@dataclass
class BiCPLDataCollator:
    """Batches examples of a built Bi-CPL dataset for [`BiCPLModel`].

    Each example holds `pixel_values` `(2, C, D, H, W)` (ear 0 = left), `report` (the whole report text), `left_text`
    and `right_text` (the side texts; parsed from `report` when absent) and `left_code` / `right_code` (ear codes,
    -100 = unknown). Text is tokenised here with the processor's tokenizer so training and inference share it.

    Args:
        processor: a [`BiCPLProcessor`] (only its tokenizer and report parser are used: volumes are preprocessed).
        include_labels: add `labels` `(batch, 2)`; `False` for contrastive pretraining.
        include_text: tokenise the reports and side texts (`False` for a vision-only model).
        text_mode: the ear-level text: `"raw"` side texts, the rule-based `"summary"` (BrgSA) or `"both"`.
        summarizer: a callable `(report_text, side) -> str` (e.g. a local LLM) replacing the rule-based summary.
        hard_negatives: hard-negative texts per ear (CT-GLIP: one flipped attribute, side or disease); 0 = none.
        attribute_vectors: add `side_attribute_vectors` for the semantic soft labels.
        seed: seed of the hard-negative choice (each batch draws from `seed` and the batch's texts).
    """

    processor: Any
    include_labels: bool = True
    include_text: bool = True
    text_mode: str = "raw"
    summarizer: Callable | None = None
    hard_negatives: int = 0
    attribute_vectors: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.text_mode not in ("raw", "summary", "both"):
            raise ValueError(f"text_mode must be 'raw', 'summary' or 'both', got {self.text_mode!r}")

    def __call__(self, examples: Sequence[dict]) -> dict[str, torch.Tensor]:
        if not examples:
            raise ValueError("BiCPLDataCollator got an empty batch")
        try:
            pixel_values = np.stack([np.asarray(ex["pixel_values"], dtype=np.float32) for ex in examples])
        except KeyError as err:
            raise KeyError(f"every example needs 'pixel_values'; got keys {sorted(examples[0])}") from err
        batch: dict[str, Any] = {"pixel_values": torch.from_numpy(pixel_values)}
        if self.include_text:
            batch.update(self._text_inputs(examples))
        if self.include_labels:
            batch["labels"] = torch.tensor([[int(ex["left_code"]), int(ex["right_code"])] for ex in examples])
        else:
            batch["return_loss"] = True
        return batch

    def _text_inputs(self, examples: Sequence[dict]) -> dict[str, torch.Tensor]:
        from ..knowledge import attribute_vector, hard_negatives, side_texts_for
        from ..processing import parse_report

        reports = [ex["report"] for ex in examples]
        if self.text_mode == "raw" and self.summarizer is None and all("left_text" in ex for ex in examples):
            side_texts = [(ex["left_text"], ex["right_text"]) for ex in examples]
        else:
            side_texts = side_texts_for(reports, mode=self.text_mode, summarizer=self.summarizer)
        encoded = self.processor(text=reports, side_texts=side_texts, return_tensors="pt")
        inputs = {k: v for k, v in encoded.items() if isinstance(v, torch.Tensor)}
        if self.attribute_vectors:
            parsed = [parse_report(report) for report in reports]
            inputs["side_attribute_vectors"] = torch.from_numpy(np.stack(
                [np.stack([attribute_vector(p, "left"), attribute_vector(p, "right")]) for p in parsed]))
        if self.hard_negatives:
            rng = np.random.default_rng([self.seed, len(examples), sum(len(r) for r in reports)])
            texts = []
            for pair in side_texts:
                for side, text in zip(("left", "right"), pair):
                    negatives = hard_negatives(text, side, n=self.hard_negatives, rng=rng)
                    texts += negatives + [""] * (self.hard_negatives - len(negatives))  # "" = no negative (masked)
            tokens = self.processor.tokenizer(texts, padding=True, truncation=True,
                                              max_length=self.processor.side_max_length, return_tensors="pt")
            for key, value in tokens.items():
                inputs[f"hard_negative_{key}"] = value.view(len(examples), 2, self.hard_negatives, -1)
        return inputs


def ear_code_counts(dataset, class_codes: Sequence[int]) -> dict[int, int]:
    """Number of labelled ears per class code in a dataset with `left_code` / `right_code` columns."""
    counts = Counter(int(c) for c in list(dataset["left_code"]) + list(dataset["right_code"]) if int(c) != IGNORE_INDEX)
    return {int(code): counts.get(int(code), 0) for code in class_codes}


def class_weights_from_counts(counts: dict[int, int], power: float = 0.5) -> list[float]:
    """Inverse-frequency class weights `(n_max / n_c) ** power`, normalised to mean 1 over the present classes;
    absent classes get weight 0 (they contribute no loss anyway)."""
    present = {c: n for c, n in counts.items() if n > 0}
    if not present:
        raise ValueError("no labelled ear in the dataset: cannot compute class weights")
    top = max(present.values())
    raw = {c: (top / n) ** power for c, n in present.items()}
    mean = sum(raw.values()) / len(raw)
    return [raw[c] / mean if c in raw else 0.0 for c in counts]


def exam_sampling_weights(dataset, class_codes: Sequence[int], power: float = 1.0) -> torch.Tensor:
    """Per-exam weights for class-balanced sampling: the mean inverse frequency of the exam's labelled ears."""
    counts = ear_code_counts(dataset, class_codes)
    weights = []
    for left, right in zip(dataset["left_code"], dataset["right_code"]):
        ears = [int(c) for c in (left, right) if int(c) != IGNORE_INDEX and counts.get(int(c), 0) > 0]
        weights.append(np.mean([(1.0 / counts[c]) ** power for c in ears]) if ears else min(1.0 / max(counts.values()), 1.0))
    return torch.tensor(weights, dtype=torch.double)


class BalancedSamplingTrainer(Trainer):
    """`Trainer` that draws training exams with class-balanced probabilities (the only thing it changes)."""

    def __init__(self, *args, sampling_weights: torch.Tensor, **kwargs):
        super().__init__(*args, **kwargs)
        self.sampling_weights = sampling_weights

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if len(self.sampling_weights) != len(dataset):
            raise ValueError(f"{len(self.sampling_weights)} sampling weights for {len(dataset)} training exams")
        generator = torch.Generator().manual_seed(self.args.seed)
        return torch.utils.data.WeightedRandomSampler(self.sampling_weights, len(dataset), True, generator=generator)


def codes_absent_from(dataset, class_codes: Sequence[int]) -> list[int]:
    """Class codes with no labelled ear in `dataset` (their prototypes must stay text-only)."""
    counts = ear_code_counts(dataset, class_codes)
    return [code for code, n in counts.items() if n == 0]


def build_trainer(
    model: BiCPLModel,
    processor,
    args: TrainingArguments,
    train_dataset,
    eval_dataset=None,
    *,
    stage: str = "joint",
    balance: str | None = None,
    compute_metrics=None,
    freeze_absent_prototypes: bool = True,
    include_text: bool = True,
    collator_options: dict | None = None,
    callbacks=None,
) -> Trainer:
    """A ready `Trainer` for one Bi-CPL training stage.

    Args:
        model: a [`BiCPLModel`] (or a peft-wrapped one from `apply_text_lora`).
        processor: the [`BiCPLProcessor`] (tokenizer + report parser).
        args: `TrainingArguments`; `remove_unused_columns` is turned off (the collator needs the text columns) and
            `label_names` set to `["labels"]`.
        train_dataset, eval_dataset: datasets with the columns [`BiCPLDataCollator`] reads.
        stage: `"contrastive"` (alignment only, no labels), `"prototype"` or `"joint"` (labels + alignment).
        balance: `None`, `"reweight"` (inverse-frequency class weights in the prototype loss) or `"sample"`
            (class-balanced exam sampling).
        compute_metrics: e.g. `bicpl_hf.metrics.make_compute_metrics(config.class_codes)`.
        freeze_absent_prototypes: keep the prototypes of classes with no training ear equal to their text prototypes.
        include_text: feed the reports (`False` trains the image branch alone, e.g. a vision-only baseline).
        collator_options: further [`BiCPLDataCollator`] fields (`text_mode`, `summarizer`, `hard_negatives`,
            `attribute_vectors`).
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    if balance not in (None, "reweight", "sample"):
        raise ValueError(f"balance must be None, 'reweight' or 'sample', got {balance!r}")
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.config
    if args.remove_unused_columns:
        logger.info("Bi-CPL collator reads text columns: setting remove_unused_columns=False")
        args.remove_unused_columns = False
    args.label_names = ["labels"]
    if stage != "contrastive" and freeze_absent_prototypes:
        absent = codes_absent_from(train_dataset, config.class_codes)
        frozen = sorted(set(config.frozen_prototype_codes) | set(absent))
        if frozen != config.frozen_prototype_codes:
            logger.info("freezing prototypes of codes %s (absent from training or configured frozen)", frozen)
        base.set_frozen_prototype_codes(frozen)
    if balance == "reweight" and stage != "contrastive":
        config.class_weights = class_weights_from_counts(ear_code_counts(train_dataset, config.class_codes))
    if stage == "contrastive" and not include_text:
        raise ValueError("the contrastive stage needs the report text (include_text=True)")
    collator = BiCPLDataCollator(processor, include_labels=stage != "contrastive", include_text=include_text,
                                 **(collator_options or {}))
    trainer_cls, extra = Trainer, {}
    if balance == "sample" and stage != "contrastive":
        trainer_cls = BalancedSamplingTrainer
        extra["sampling_weights"] = exam_sampling_weights(train_dataset, config.class_codes)
    return trainer_cls(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collator,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
        **extra,
    )


__all__ = [
    "BalancedSamplingTrainer",
    "BiCPLDataCollator",
    "build_trainer",
    "class_weights_from_counts",
    "codes_absent_from",
    "ear_code_counts",
    "exam_sampling_weights",
]
