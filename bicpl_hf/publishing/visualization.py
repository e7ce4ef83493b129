"""Grad-CAM and asymmetry-map overlays on axial slices of both ears (PNG).

Text with Chinese characters (an exam folder named 张三_颞骨) is drawn with a CJK font when one is installed (Noto
Sans CJK, Source Han Sans, WenQuanYi, SimHei, ...; see [`cjk_font_family`]); without one, the characters the default
font cannot draw are written as `?` instead of filling the output with one missing-glyph warning per character.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from ..zero_shot.asymmetry_maps import upsampled_asymmetry_map

CJK_FONT_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK JP", "Noto Sans SC", "Noto Sans TC", "Source Han Sans SC",
    "Source Han Sans CN", "Source Han Sans", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei",
    "PingFang SC", "Heiti SC", "STHeiti", "Hiragino Sans GB", "Noto Serif CJK SC", "AR PL UMing CN", "AR PL UKai CN",
    "Droid Sans Fallback",
)


@functools.cache
def cjk_font_family() -> str | None:
    """The first installed font of [`CJK_FONT_FAMILIES`] (matplotlib's font manager), or `None`."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONT_FAMILIES if name in installed), None)


@functools.cache
def _default_font_charmap() -> frozenset[int]:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    try:
        return frozenset(FT2Font(font_manager.findfont(font_manager.FontProperties())).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset(range(128))


def _drawable(text: str) -> str:
    """`text` with each character the default font lacks replaced by `?`."""
    charmap = _default_font_charmap()
    return "".join(c if c.isspace() or ord(c) in charmap else "?" for c in text)


@contextlib.contextmanager
def _text_font(texts: Sequence[str]):
    """A CJK font for non-ASCII text when one is installed; missing-glyph warnings silenced for this figure only."""
    import matplotlib

    family = cjk_font_family() if any(not t.isascii() for t in texts) else None
    rc = {"font.sans-serif": [family, *matplotlib.rcParams["font.sans-serif"]], "font.family": "sans-serif"} \
        if family else {}
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from")
        yield family


def grad_cam(model, pixel_values: torch.Tensor, class_indices: torch.Tensor | None = None) -> torch.Tensor:
    """Grad-CAM of the per-ear prototype logits on the Siamese encoder's last feature map.

    Args:
        model: a [`BiCPLModel`].
        pixel_values: `(batch, 2, C, D, H, W)`.
        class_indices: `(batch, 2)` prototype rows to explain; the predicted class of each ear when `None`.

    Returns:
        `(batch, 2, D, H, W)` maps in [0, 1], one per ear, resized to the ROI.
    """
    model.eval()
    features = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        features["map"] = output

    last_stage = model.vision_model.stages[-1]
    handle = last_stage.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            logits = model(pixel_values=pixel_values, output_asymmetry_maps=False).logits
            if class_indices is None:
                class_indices = logits.argmax(-1)
            selected = logits.gather(-1, class_indices.unsqueeze(-1)).sum()
            model.zero_grad(set_to_none=True)
            selected.backward()
    finally:
        handle.remove()
    activation, gradient = features["map"], features["map"].grad  # (2B, C, d, h, w), ears interleaved
    weights = gradient.mean(dim=(2, 3, 4), keepdim=True)
    cam = F.relu((weights * activation).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(pixel_values.shape[-3:]), mode="trilinear", align_corners=False)
    cam = cam.view(pixel_values.shape[0], 2, *pixel_values.shape[-3:])
    peak = cam.flatten(2).amax(-1).clamp(min=1e-8)[..., None, None, None]
    return (cam / peak).detach()


def asymmetry_overlay_maps(model, pixel_values: torch.Tensor) -> torch.Tensor | None:
    """The mean A3B map of all stages, `(batch, 2, D, H, W)`, or `None` for a model without A3B."""
    with torch.no_grad():
        out = model(pixel_values=pixel_values)
    return upsampled_asymmetry_map(out.asymmetry_maps, pixel_values.shape[-3:])


def save_ear_overlay(
    pixel_values: np.ndarray,
    maps: dict[str, np.ndarray],
    path: str | Path,
    title: str = "",
    ear_labels: Sequence[str] = ("left", "right (mirrored)"),
    slices: Sequence[int] | None = None,
) -> Path:
    """Axial slices of both ears (bone window) with each map overlaid, one row per (ear, map).

    Args:
        pixel_values: `(2, C, D, H, W)` for one exam (channel 0 = bone window).
        maps: name -> `(2, D, H, W)` maps in [0, 1] (e.g. {"Grad-CAM": ..., "asymmetry (A3B)": ...}).
        path: PNG to write.
    """
    depth = pixel_values.shape[2]
    slices = list(slices) if slices is not None else [int(depth * f) for f in (0.35, 0.5, 0.65)]
    rows = [(ear, name) for ear in range(2) for name in maps]
    with _text_font([title, *ear_labels, *maps]) as family:
        text = (lambda t: t) if family else _drawable
        figure = Figure(figsize=(2.2 * (len(slices) + 0), 2.2 * len(rows)), dpi=110)
        axes = figure.subplots(len(rows), len(slices), squeeze=False)
        for r, (ear, name) in enumerate(rows):
            for c, z in enumerate(slices):
                ax = axes[r][c]
                ax.imshow(pixel_values[ear, 0, z], cmap="gray", vmin=0.0, vmax=1.0)
                ax.imshow(maps[name][ear, z], cmap="jet", alpha=0.35, vmin=0.0, vmax=1.0)
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(text(f"{ear_labels[ear]}\n{name}"), fontsize=7)
                if r == 0:
                    ax.set_title(f"slice {z}", fontsize=7)
        if title:
            figure.suptitle(text(title), fontsize=8)
        figure.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    return path

__all__ = ["CJK_FONT_FAMILIES", "asymmetry_overlay_maps", "cjk_font_family", "grad_cam", "save_ear_overlay"]
