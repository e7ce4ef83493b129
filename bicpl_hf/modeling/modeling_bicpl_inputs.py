# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""The input contract of `BiCPLModel.forward`: each check names the input and the shape it expects, before any
encoder runs."""

from __future__ import annotations

import torch

from .losses_bicpl import IGNORE_INDEX

# The dimensions of each text input of `forward`: an int must match exactly, "batch" is the batch size.
TEXT_LAYOUTS = {
    "input_ids": ("batch", "seq_len"),
    "side_input_ids": ("batch", 2, "seq_len"),
    "hard_negative_input_ids": ("batch", 2, "num_negatives", "seq_len"),
    "finding_input_ids": ("num_findings", "seq_len"),
}


def check_pixel_values(config, pixel_values: torch.Tensor) -> None:
    """`(batch, 2, channels, D, H, W)`; the channels are the encoder's, twice when the processor adds a coarse ROI."""
    channels = config.vision_config.in_channels
    if (config.region_geometry or {}).get("coarse_roi_size_mm"):
        channels *= 2  # the processor appends the coarse ROI's windows
    if pixel_values.ndim != 6 or pixel_values.shape[1] != 2 or pixel_values.shape[2] != channels:
        raise ValueError(
            "pixel_values must have shape (batch, 2, channels, D, H, W) with ear 0 = left, 1 = mirrored right "
            f"and channels = {channels}; got {tuple(pixel_values.shape)}"
        )


def check_inputs(config, pixel_values, input_ids, side_input_ids, hard_negative_input_ids, labels, class_prototypes,
                 finding_input_ids=None, finding_labels=None) -> None:
    """Raise a `ValueError` naming the input and the expected shape."""
    if pixel_values is None:
        raise ValueError("BiCPLModel.forward needs pixel_values of shape (batch, 2, channels, D, H, W)")
    check_pixel_values(config, pixel_values)
    batch_size = pixel_values.shape[0]
    if labels is not None and tuple(labels.shape) != (batch_size, 2):
        raise ValueError(
            f"labels must have shape (batch, 2) = ({batch_size}, 2) with one code per ear ({IGNORE_INDEX} = "
            f"unknown); got {tuple(labels.shape)}"
        )
    if class_prototypes is not None and labels is not None:
        raise ValueError("labels refer to config.class_codes and cannot be combined with class_prototypes")
    texts = {"input_ids": input_ids, "side_input_ids": side_input_ids,
             "hard_negative_input_ids": hard_negative_input_ids, "finding_input_ids": finding_input_ids}
    for name, ids in texts.items():
        layout = TEXT_LAYOUTS[name]
        expected = [batch_size if dim == "batch" else dim for dim in layout]
        if ids is not None and (
            ids.ndim != len(layout) or any(isinstance(e, int) and e != got for e, got in zip(expected, ids.shape))
        ):
            raise ValueError(
                f"{name} must be ({', '.join(map(str, layout))}) with batch={batch_size}; got {tuple(ids.shape)}"
            )
    if finding_labels is not None:
        num_findings = None if finding_input_ids is None else finding_input_ids.shape[0]
        if finding_input_ids is None or tuple(finding_labels.shape) != (batch_size, 2, num_findings):
            raise ValueError(
                f"finding_labels must have shape (batch, 2, num_findings) = ({batch_size}, 2, {num_findings}) "
                f"and come with finding_input_ids; got {tuple(finding_labels.shape)}"
            )


__all__ = ["TEXT_LAYOUTS", "check_inputs", "check_pixel_values"]
