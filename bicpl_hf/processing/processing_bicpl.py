# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Processor class for Bi-CPL: the CT volume processor plus a BERT-family tokenizer and the report parser."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from transformers import BatchFeature, ProcessorMixin

from .report_parser import parse_report


class BiCPLProcessor(ProcessorMixin):
    r"""
    Wraps a [`BiCPLVolumeProcessor`] and a BERT-family tokenizer into one processor.

    `processor(volumes=..., text=...)` returns a `BatchFeature` with `pixel_values` `(batch, 2, channels, D, H, W)`
    (ear 0 = the patient's left ear, ear 1 = the right ear mirrored), `ear_metadata`, `input_ids`/`attention_mask`
    for the whole reports, and `side_input_ids`/`side_attention_mask` `(batch, 2, seq_len)` for the text about each
    ear (from [`parse_report`]; left, right and bilateral sentences go to their sides), plus `side_texts` (strings).

    Args:
        image_processor ([`BiCPLVolumeProcessor`]): the CT volume processor.
        tokenizer (`PreTrainedTokenizerBase`): any BERT-family tokenizer (a Chinese vocabulary in real use).
        max_length (`int`, *optional*, defaults to 256): truncation length of whole reports.
        side_max_length (`int`, *optional*, defaults to 128): truncation length of side texts.

    Example:

    ```python
    >>> from transformers import AutoProcessor
    >>> processor = AutoProcessor.from_pretrained("my-bicpl")            # doctest: +SKIP
    >>> report = "影像所见：左侧鼓室内见软组织影。检查结论：左侧中耳炎。"
    >>> batch = processor(volumes="exam_dicom_folder/", text=report)  # doctest: +SKIP
    >>> batch["pixel_values"].shape, batch["side_input_ids"].shape      # doctest: +SKIP
    (torch.Size([1, 2, 2, 64, 64, 64]), torch.Size([1, 2, 18]))
    ```"""

    # Writers `save_pretrained` runs after the processor files and remote code: `writer(processor, directory)`; the
    # installed package adds the model card's preprocessing section (bicpl_hf.publishing.hub); remote code adds none.
    extra_file_writers: list = []
    hub_pusher = None  # `push_to_hub`'s replacement, a staticmethod(obj, repo_id, **kwargs); set by bicpl_hf.publishing

    def __init__(self, image_processor=None, tokenizer=None, max_length: int = 256, side_max_length: int = 128, **kwargs):
        super().__init__(image_processor, tokenizer)
        self.max_length = int(max_length)
        self.side_max_length = int(side_max_length)

    def check_argument_for_proper_class(self, argument_name, argument):
        # Without Pillow, `transformers.ImageProcessingMixin` is a placeholder class that no processor is an instance
        # of; the volume processor needs no Pillow, so check against the real base class from its own module.
        if argument_name == "image_processor":
            from transformers.image_processing_base import ImageProcessingMixin

            if not isinstance(argument, ImageProcessingMixin):
                raise TypeError(f"Received a {type(argument).__name__} for argument image_processor, but an "
                                "ImageProcessingMixin (BiCPLVolumeProcessor) was expected.")
            return ImageProcessingMixin
        return super().check_argument_for_proper_class(argument_name, argument)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`ProcessorMixin.save_pretrained` (also used by `push_to_hub`), then the `extra_file_writers`."""
        saved = super().save_pretrained(save_directory, *args, **kwargs)
        for writer in self.extra_file_writers:
            writer(self, save_directory)
        return saved

    def push_to_hub(self, repo_id: str, **kwargs):
        """`PushToHubMixin.push_to_hub` (same arguments); with bicpl_hf installed, `hub_pusher` (the same public-API
        push as the model's, writing the Bi-CPL card: bicpl_hf.publishing.hub.push_to_hub)."""
        if self.hub_pusher is None:
            return super().push_to_hub(repo_id, **kwargs)
        return self.hub_pusher(self, repo_id, **kwargs)

    def side_texts_from_reports(self, reports: Sequence[str], sources: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """The (left, right) texts of each report, from the report parser."""
        pairs = []
        for i, report in enumerate(reports):
            parsed = parse_report(report, source=None if sources is None else sources[i])
            pairs.append((parsed.side_texts["left"], parsed.side_texts["right"]))
        return pairs

    def __call__(
        self,
        volumes=None,
        text: str | Sequence[str] | None = None,
        side_texts: Sequence[tuple[str, str]] | None = None,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            volumes: one exam or a list of exams (DICOM folder, NIfTI/NRRD/MHA path, `SimpleITK.Image`, ...).
            text: one report or a list of reports (with 影像所见 / 检查结论 headers or an inline cue like 颞骨CT示).
            side_texts: `(left, right)` text per exam; parsed from `text` when omitted.
            return_tensors: `"pt"`, `"np"` or `None`.
        """
        if kwargs:
            raise TypeError(f"BiCPLProcessor got unexpected arguments {sorted(kwargs)}")
        if volumes is None and text is None and side_texts is None:
            raise ValueError("BiCPLProcessor needs volumes, text or side_texts")
        data: dict = {}
        skip = []
        if volumes is not None:
            image_inputs = self.image_processor(volumes, return_tensors=None)
            data["pixel_values"] = image_inputs["pixel_values"]
            data["ear_metadata"] = image_inputs["ear_metadata"]
            skip.append("ear_metadata")
        if text is not None:
            reports = [text] if isinstance(text, str) else list(text)
            encoded = self.tokenizer(reports, padding=True, truncation=True, max_length=self.max_length)
            data.update({key: np.asarray(value) for key, value in encoded.items()})
            if side_texts is None:
                side_texts = self.side_texts_from_reports(reports)
            if "pixel_values" in data and len(reports) != len(data["pixel_values"]):
                raise ValueError(f"got {len(data['pixel_values'])} volumes but {len(reports)} reports")
        if side_texts is not None:
            side_texts = [tuple(pair) for pair in side_texts]
            if any(len(pair) != 2 for pair in side_texts):
                raise ValueError("side_texts must hold one (left, right) pair of strings per exam")
            flat = [t for pair in side_texts for t in pair]
            encoded = self.tokenizer(flat, padding=True, truncation=True, max_length=self.side_max_length)
            for key, value in encoded.items():
                data[f"side_{key}"] = np.asarray(value).reshape(len(side_texts), 2, -1)
            data["side_texts"] = side_texts
            skip.append("side_texts")
        return BatchFeature(data=data, tensor_type=return_tensors, skip_tensor_conversion=skip)

    @property
    def model_input_names(self) -> list[str]:
        names = list(self.tokenizer.model_input_names) + ["pixel_values"]
        return names + [f"side_{name}" for name in self.tokenizer.model_input_names]


# `save_pretrained` / `push_to_hub` write the remote code and `auto_map`, so a saved folder loads without bicpl_hf.
BiCPLProcessor.register_for_auto_class("AutoProcessor")

__all__ = ["BiCPLProcessor"]
