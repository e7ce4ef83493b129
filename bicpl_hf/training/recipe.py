"""Training recipes for the stock `transformers.Trainer`: collator, class re-weighting/balancing, the two stages.

Stage 1 (contrastive): image-report alignment only (ear-level and exam-level InfoNCE), no labels.
Stage 2 (prototype): prototype classification + symmetry + drift penalty, with the alignment kept on.

Works unchanged under `accelerate launch` / `torchrun`: everything goes through `Trainer`, which handles DDP.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from ..data.collator import BiCPLDataCollator  # the collator lives with the data; re-exported for old imports
from ..modeling import IGNORE_INDEX, BiCPLModel

logger = logging.getLogger(__name__)

STAGES = ("contrastive", "prototype", "joint")


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


class TextAnchorRefreshCallback(TrainerCallback):
    """Re-encodes the class prompts with the current text tower every `every_n_steps` optimiser steps, so the text
    anchors (and the frozen text-only prototypes, which ARE their anchors) always come from the text tower being
    trained: images are then trained against the same class vectors they are scored against. Trained prototypes
    keep their learned residual on the moving anchor (`carry_residual`).

    Args:
        tokenizer: the text tower's tokenizer.
        every_n_steps: refresh period in optimiser steps (the prompts are a few short texts: 1 is cheap).
    """

    def __init__(self, tokenizer, every_n_steps: int = 1):
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.tokenizer = tokenizer
        self.every_n_steps = every_n_steps

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if model is not None and state.global_step % self.every_n_steps == 0:
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            base.initialize_prototypes(self.tokenizer, reset_trainable=False, carry_residual=True)
        return control


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
        processing_class=processor,  # saved into every checkpoint: each one is a loadable model + processor
        compute_metrics=compute_metrics,
        callbacks=callbacks,
        **extra,
    )


__all__ = [
    "BalancedSamplingTrainer",
    "BiCPLDataCollator",
    "TextAnchorRefreshCallback",
    "build_trainer",
    "class_weights_from_counts",
    "codes_absent_from",
    "ear_code_counts",
    "exam_sampling_weights",
]
