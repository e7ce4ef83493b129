"""Batches a built Bi-CPL dataset for [`BiCPLModel`]: stacks the ROIs, tokenises the stored texts.

The collator reads the parsed-report columns the builder stored (`bicpl_hf.data.report_columns`); it never
parses a report. A dataset without them gets a clear error naming the missing column.

Example:
    >>> collator = BiCPLDataCollator(processor, text_mode="summary")  # doctest: +SKIP
    >>> batch = collator([dataset["train"][0], dataset["train"][1]])  # doctest: +SKIP
    >>> batch["side_input_ids"].shape[:2]  # doctest: +SKIP
    torch.Size([2, 2])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..knowledge.finding_vocabulary import finding_labels, finding_phrase, side_findings_text
from ..knowledge.hard_negatives import hard_negatives
from ..knowledge.summaries import check_side_text_mode, join_side_texts
from ..processing.report_parser import EAR_SIDES
from .report_columns import attribute_columns_vector, require_report_columns


@dataclass
class BiCPLDataCollator:
    """Batches examples of a built Bi-CPL dataset for [`BiCPLModel`].

    Each example holds `pixel_values` `(2, C, D, H, W)` (ear 0 = left), `report` (the whole report text),
    `left_code` / `right_code` (ear codes, -100 = unknown) and the parsed-report columns the builder stores
    (`left_text` / `right_text`, `left_summary` / `right_summary`, `left_attributes` / `right_attributes`).
    Text is tokenised here with the processor's tokenizer so training and inference share it.

    Args:
        processor: a [`BiCPLProcessor`] (only its tokenizer is used: volumes are preprocessed, reports parsed).
        include_labels: add `labels` `(batch, 2)`; `False` for contrastive pretraining.
        include_text: tokenise the reports and side texts (`False` for a vision-only model).
        text_mode: the ear-level text: `"raw"` side texts, the rule-based `"summary"` (BrgSA), `"both"`, or
            `"findings"` (the summary's findings alone: negation-aware, no side header, no disease name).
        summarizer: a callable `(report_text, side) -> str` (e.g. a local LLM) replacing the rule-based summary.
        hard_negatives: hard-negative texts per ear (CT-GLIP: one flipped attribute, side or disease); 0 = none.
        attribute_vectors: add `side_attribute_vectors` for the semantic soft labels.
        seed: seed of the hard-negative choice (each batch draws from `seed` and the batch's texts).
        finding_vocabulary: (entity key, attribute key) findings (`bicpl_hf.knowledge.finding_vocabulary`) for the
            finding-level alignment: adds their phrases (`finding_input_ids` `(V, seq_len)`) and each ear's labels
            (`finding_labels` `(batch, 2, V)`: 1 present, 0 negated or unmentioned) from the `findings_triples`
            column.

    Raises:
        MissingReportColumnError: (when called) the dataset lacks a column the options need; rebuild it or
            run `dataset.map(bicpl_hf.data.add_report_columns)` once.
    """

    processor: Any
    include_labels: bool = True
    include_text: bool = True
    text_mode: str = "raw"
    summarizer: Callable | None = None
    hard_negatives: int = 0
    attribute_vectors: bool = False
    seed: int = 0
    finding_vocabulary: tuple | None = None

    def __post_init__(self):
        check_side_text_mode(self.text_mode, "text_mode", self.summarizer, where="BiCPLDataCollator: ")
        # The finding phrases are the same in every batch: tokenised once here, not once per batch.
        self._finding_tokens = None
        if self.finding_vocabulary:
            phrases = [finding_phrase(tuple(f)) for f in self.finding_vocabulary]
            tokens = self.processor.tokenizer(phrases, padding=True, truncation=True,
                                              max_length=self.processor.side_max_length, return_tensors="pt")
            self._finding_tokens = {f"finding_{key}": value for key, value in tokens.items()}

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

    def _needed_columns(self) -> list[str]:
        needed = ["report"]
        if self.text_mode in ("raw", "both"):
            needed += ["left_text", "right_text"]
        if self.text_mode != "raw" and self.summarizer is None:
            needed += ["left_summary", "right_summary"]
        if self.attribute_vectors:
            needed += ["left_attributes", "right_attributes"]
        if self.finding_vocabulary:
            needed += ["findings_triples"]
        return needed

    def _side_text(self, example: dict, side: str) -> str:
        if self.text_mode == "raw":
            return example[f"{side}_text"]
        if self.summarizer is None:
            summary = example[f"{side}_summary"]
        else:
            summary = self.summarizer(example["report"], side)
            if not isinstance(summary, str) or not summary.strip():
                raise ValueError(f"BiCPLDataCollator: the summarizer returned {summary!r} for side {side!r}; "
                                 "expected a non-empty string")
            summary = summary.strip()
        if self.text_mode == "findings":
            return side_findings_text(summary)
        return summary if self.text_mode == "summary" else join_side_texts(summary, example[f"{side}_text"])

    def _text_inputs(self, examples: Sequence[dict]) -> dict[str, torch.Tensor]:
        needed = self._needed_columns()
        for index, example in enumerate(examples):
            require_report_columns(example, needed, where=f"BiCPLDataCollator (batch item {index})")
        reports = [ex["report"] for ex in examples]
        side_texts = [tuple(self._side_text(ex, side) for side in EAR_SIDES) for ex in examples]
        encoded = self.processor(text=reports, side_texts=side_texts, return_tensors="pt")
        inputs = {k: v for k, v in encoded.items() if isinstance(v, torch.Tensor)}
        if self.attribute_vectors:
            inputs["side_attribute_vectors"] = torch.from_numpy(np.stack([
                np.stack([attribute_columns_vector(ex, side, where=f"BiCPLDataCollator (batch item {i})")
                          for side in EAR_SIDES]) for i, ex in enumerate(examples)]))
        if self.finding_vocabulary:
            inputs.update(self._finding_tokens)
            inputs["finding_labels"] = torch.from_numpy(np.stack(
                [finding_labels(ex["findings_triples"], self.finding_vocabulary) for ex in examples]))
        if self.hard_negatives:
            rng = np.random.default_rng([self.seed, len(examples), sum(len(r) for r in reports)])
            texts = []
            for pair in side_texts:
                for side, text in zip(EAR_SIDES, pair):
                    negatives = hard_negatives(text, side, n=self.hard_negatives, rng=rng)
                    texts += negatives + [""] * (self.hard_negatives - len(negatives))  # "" = no negative (masked)
            tokens = self.processor.tokenizer(texts, padding=True, truncation=True,
                                              max_length=self.processor.side_max_length, return_tensors="pt")
            for key, value in tokens.items():
                inputs[f"hard_negative_{key}"] = value.view(len(examples), 2, self.hard_negatives, -1)
        return inputs


__all__ = ["BiCPLDataCollator"]
