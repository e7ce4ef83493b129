"""The A3B asymmetry maps of a model output, upsampled to the ROI: what the pipeline returns and the overlays draw."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def upsampled_asymmetry_map(maps: Sequence[torch.Tensor], size: Sequence[int]) -> torch.Tensor | None:
    """Mean of the A3B maps of all stages, each `(batch, 2, d, h, w)`, resized to the ROI `(batch, 2, D, H, W)`."""
    if not maps:
        return None
    resized = [F.interpolate(m.float(), size=tuple(size), mode="trilinear", align_corners=False) for m in maps]
    return torch.stack(resized).mean(0)


__all__ = ["upsampled_asymmetry_map"]
