# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""ROC-curve and confusion-matrix PNGs for ear-level results, with class labels that never render as tofu.

Figures are built with `matplotlib.figure.Figure` and the Agg canvas directly, so importing this module
neither selects a pyplot backend nor touches global state. Chinese class names are drawn with a font
that has glyphs for every character (searched with matplotlib's font manager, or given as
`font_path`); without one, labels fall back to English names.

Example:
    >>> from bicpl_hf.metrics.plots import plot_confusion_matrix
    >>> figure = plot_confusion_matrix([0, 1, 1], [0, 1, 0], ["正常", "中耳胆脂瘤"], "confusion.png")
"""

from __future__ import annotations

import functools
import logging
import string
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ft2font import FT2Font
from sklearn.metrics import auc, confusion_matrix, roc_curve

from ..processing.ear_classes import CLASS_CODE_BY_NAME_ZH, CLASS_SHORT_NAMES_EN
from .bicpl_ear_metrics import check_batch_shapes, check_class_indices, to_probabilities

logger = logging.getLogger(__name__)

# English legend names of the class table's Chinese names (and aliases), drawn when no CJK font is found.
CLASS_NAMES_EN = {name: CLASS_SHORT_NAMES_EN[code] for name, code in CLASS_CODE_BY_NAME_ZH.items()}
# Legends and notes mix the class names with ASCII ("AUC 0.91, n=12"); the chosen font must draw both.
_ANNOTATION_CHARACTERS = string.ascii_letters + string.digits + string.punctuation
# Fonts that map every code point to a placeholder glyph: "covering" the text with them IS tofu.
_PLACEHOLDER_FONT_NAMES = ("last resort",)
# Checked first, so the common CJK families win over an incidental partial-coverage font.
_CJK_FONT_NAME_HINTS = (
    "noto sans cjk", "noto serif cjk", "noto sans sc", "source han", "wenquanyi", "simhei", "simsun",
    "microsoft yahei", "pingfang", "heiti", "ar pl", "droid sans fallback", "sarasa",
)  # fmt: skip


@functools.lru_cache(maxsize=256)
def _font_code_points(path: str) -> frozenset[int]:
    try:
        return frozenset(FT2Font(path).get_charmap())
    except (OSError, RuntimeError, ValueError):
        return frozenset()


def font_covers(font_path: str | Path, text: str) -> bool:
    """Whether the font file has a glyph for every non-whitespace character of `text`.

    Example:
        >>> font_covers(font_manager.findfont(FontProperties()), "CSOM")
        True
    """
    code_points = _font_code_points(str(font_path))
    return all(ord(char) in code_points for char in text if not char.isspace())


def find_font_for_text(text: str, font_paths: Iterable[str | Path] | None = None) -> str | None:
    """Path of a font that renders every character of `text`, or `None` if there is none.

    Args:
        text: the characters to cover, e.g. all class names joined.
        font_paths: candidate font files; default: every font matplotlib's font manager knows.
            Placeholder fonts (Last Resort) are never chosen; known CJK families are tried first.

    Example:
        >>> find_font_for_text("normal") is not None
        True
    """
    if font_paths is None:
        candidates = [(entry.name, entry.fname) for entry in font_manager.fontManager.ttflist]
    else:
        candidates = [(Path(path).stem, str(path)) for path in font_paths]
    candidates = [(name, path) for name, path in candidates if not _is_placeholder(name, path)]
    candidates.sort(key=lambda item: not any(hint in item[0].lower() for hint in _CJK_FONT_NAME_HINTS))
    return next((path for _, path in candidates if font_covers(path, text)), None)


def _is_placeholder(name: str, path: str) -> bool:
    label = f"{name} {Path(path).stem}".lower().replace("-", " ").replace("_", " ")
    return any(marker in label or marker.replace(" ", "") in label for marker in _PLACEHOLDER_FONT_NAMES)


def display_class_names(
    class_names: Sequence[str],
    *,
    fallback_names: Sequence[str] | None = None,
    font_path: str | Path | None = None,
) -> tuple[list[str], FontProperties]:
    """Labels and a font to draw them with, such that no glyph is missing.

    Order of preference: the names in `font_path` (it must cover them and ASCII); the names in the default
    font if it covers them; the names in a font found by `find_font_for_text`; otherwise, per name, the
    name itself if the default font draws it, `fallback_names[i]`, the English name of a known class
    (`CLASS_NAMES_EN`), and last `"class <i>"` with a warning.

    Example:
        >>> display_class_names(["normal", "CSOM"])[0]
        ['normal', 'CSOM']
        >>> labels, font = display_class_names(["正常", "其他"])  # ['normal', 'other'] without a CJK font
    """
    names = [str(name) for name in class_names]
    if fallback_names is not None and len(fallback_names) != len(names):
        raise ValueError(f"fallback_names has {len(fallback_names)} names but class_names has {len(names)}")
    text = "".join(names) + _ANNOTATION_CHARACTERS
    default_font = font_manager.findfont(FontProperties())
    if font_path is not None:
        if not Path(font_path).is_file():
            raise FileNotFoundError(f"font_path {font_path} does not exist")
        if not font_covers(font_path, text):
            raise ValueError(f"font {font_path} has no glyph for some characters of {names}")
        return names, FontProperties(fname=str(font_path))
    if font_covers(default_font, text):
        return names, FontProperties(fname=default_font)
    found = find_font_for_text(text)
    if found is not None:
        return names, FontProperties(fname=found)
    logger.info("no installed font covers %s; drawing English class names instead", names)
    labels = []
    for index, name in enumerate(names):
        candidates = [name] + ([fallback_names[index]] if fallback_names is not None else [])
        candidates.append(CLASS_NAMES_EN.get(name, ""))
        label = next((c for c in candidates if c and font_covers(default_font, c)), None)
        if label is None:
            warnings.warn(
                f"class name {name!r} cannot be drawn without a CJK font and has no fallback name; "
                f"labelled 'class {index}' (pass fallback_names or font_path)",
                stacklevel=3,
            )
            label = f"class {index}"
        labels.append(label)
    return labels, FontProperties(fname=default_font)


def _title_font(title: str, label_font: FontProperties) -> FontProperties:
    """The label font if it draws the title, else any font that does; a title no font draws is an error."""
    if font_covers(label_font.get_file(), title):
        return label_font
    found = find_font_for_text(title)
    if found is None:
        raise ValueError(f"no installed font has glyphs for every character of the title {title!r}")
    return FontProperties(fname=found)


def _save(figure: Figure, path: str | Path, dpi: int) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=dpi, format="png")


def plot_roc_curves(
    predictions: Any,
    references: Any,
    class_names: Sequence[str],
    path: str | Path,
    *,
    from_logits: bool = False,
    title: str = "ROC curves (one-vs-rest)",
    fallback_names: Sequence[str] | None = None,
    font_path: str | Path | None = None,
    dpi: int = 150,
) -> Figure:
    """Write one-vs-rest ROC curves of every class with both positive and negative ears to a PNG.

    Classes without positives or without negatives have no ROC curve; they are named in a note on
    the figure rather than left out silently.

    Args:
        predictions: `(N, K)` per-ear probabilities, or logits with `from_logits=True`.
        references: `(N,)` class indices.
        class_names: K names (Chinese names need a CJK font, see `display_class_names`).
        path: the PNG to write (parent folders are created).

    Returns:
        The matplotlib `Figure` (already saved).

    Example:
        >>> figure = plot_roc_curves([[0.9, 0.1], [0.2, 0.8]], [0, 1], ["正常", "其他"], "roc.png")
    """
    scores, labels = check_batch_shapes(predictions, references)
    probabilities = to_probabilities(scores, from_logits)
    n_classes = probabilities.shape[1]
    check_class_indices(labels, n_classes)
    if len(class_names) != n_classes:
        raise ValueError(f"class_names has {len(class_names)} names but predictions have K = {n_classes} columns")
    display, font = display_class_names(class_names, fallback_names=fallback_names, font_path=font_path)

    figure = Figure(figsize=(6.0, 5.5))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1)
    skipped = []
    for c in range(n_classes):
        positive = labels == c
        if positive.all() or not positive.any():
            skipped.append(display[c])
            continue
        fpr, tpr, _ = roc_curve(positive, probabilities[:, c])
        area = float(auc(fpr, tpr))
        axes.plot(fpr, tpr, linewidth=1.6, label=f"{display[c]} (AUC {area:.3f}, n={int(positive.sum())})")
    axes.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate", ylabel="True positive rate")
    axes.set_title(title, fontproperties=_title_font(title, font))
    if len(skipped) < n_classes:
        legend_font = font.copy()
        legend_font.set_size("small")
        axes.legend(loc="lower right", prop=legend_font)
    if skipped:
        axes.text(
            0.02, 0.98, "no ROC (all or no ears positive): " + ", ".join(skipped),
            transform=axes.transAxes, va="top", fontsize="x-small", fontproperties=font,
        )  # fmt: skip
    figure.tight_layout()
    _save(figure, path, dpi)
    return figure


def plot_confusion_matrix(
    references: Any,
    predicted: Any,
    class_names: Sequence[str],
    path: str | Path,
    *,
    normalize: bool = True,
    title: str = "Confusion matrix",
    fallback_names: Sequence[str] | None = None,
    font_path: str | Path | None = None,
    dpi: int = 150,
) -> Figure:
    """Write a confusion matrix (rows: reference class, columns: predicted class) of class indices to a PNG.

    Cells show counts; with `normalize` they are coloured by the share of the reference class (row),
    which is printed under the count, so rare classes stay readable next to frequent ones.

    Args:
        references: `(N,)` reference class indices.
        predicted: `(N,)` predicted class indices (e.g. `probabilities.argmax(axis=1)`).
        class_names: K names; the matrix always shows all K classes.
        path: the PNG to write (parent folders are created).

    Returns:
        The matplotlib `Figure` (already saved).

    Example:
        >>> figure = plot_confusion_matrix([0, 1, 1], [0, 1, 0], ["normal", "CSOM"], "cm.png")
    """
    truth = np.asarray(references)
    guess = np.asarray(predicted)
    if truth.ndim != 1 or truth.shape != guess.shape:
        raise ValueError(
            f"references and predicted must both have shape (N,), got {truth.shape} and {guess.shape}"
        )
    for argument, values in (("references", truth), ("predicted", guess)):
        if values.size and values.dtype.kind not in "iu":
            raise ValueError(f"{argument} must hold integer class indices, got dtype {values.dtype}")
    n_classes = len(class_names)
    try:
        check_class_indices(truth, n_classes)
        check_class_indices(guess, n_classes)
    except ValueError as error:
        raise ValueError(f"{error} (class_names has {n_classes} names)") from None
    display, font = display_class_names(class_names, fallback_names=fallback_names, font_path=font_path)
    counts = confusion_matrix(truth, guess, labels=list(range(n_classes)))
    row_totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, row_totals, out=np.zeros(counts.shape), where=row_totals > 0)
    colour = shares if normalize else counts

    size = 2.0 + 0.9 * n_classes
    figure = Figure(figsize=(size + 1.0, size))
    axes = figure.add_subplot()
    image = axes.imshow(colour, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else max(1, counts.max()))
    figure.colorbar(image, ax=axes, label="share of reference class" if normalize else "ears")
    ticks = np.arange(n_classes)
    axes.set_xticks(ticks, display, rotation=45, ha="right", fontproperties=font)
    axes.set_yticks(ticks, display, fontproperties=font)
    axes.set(xlabel="Predicted", ylabel="Reference")
    axes.set_title(title, fontproperties=_title_font(title, font))
    threshold = colour.max() / 2.0 if colour.max() > 0 else 1.0
    for i in range(n_classes):
        for j in range(n_classes):
            text = f"{counts[i, j]}\n{shares[i, j]:.0%}" if normalize else f"{counts[i, j]}"
            axes.text(
                j, i, text, ha="center", va="center", fontsize="small",
                color="white" if colour[i, j] > threshold else "black",
            )  # fmt: skip
    figure.tight_layout()
    _save(figure, path, dpi)
    return figure
