# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Evaluation of Bi-CPL: the ear-level `evaluate` metric (loaded offline by local path) and Trainer glue.

`evaluate.load("accuracy")` needs the Hub; the package instead ships `bicpl_ear_metrics.py` and loads it
by absolute path, which works with `HF_HUB_OFFLINE=1` / `HF_EVALUATE_OFFLINE=1`.

Example:
    >>> from bicpl_hf.metrics import make_compute_metrics
    >>> compute_metrics = make_compute_metrics([1, 2, 3, 4, 5, 6], tail_codes=[4], zero_shot_codes=[2])
    >>> # Trainer(..., compute_metrics=compute_metrics)
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

import evaluate
import numpy as np

from ..modeling import IGNORE_INDEX
from .bicpl_ear_metrics import BOOTSTRAP_KEYS, retrieval_recall_at_k
from .lookalike_contrasts import LOOK_ALIKES, ScoredEars, contrast_aucs, contrast_masks, paired_difference
from .zero_shot_metrics import (
    area_under_seen_unseen_curve,
    binary_auc,
    generalized_zero_shot_accuracy,
    zero_shot_metrics,
)

METRIC_SCRIPT_PATH = Path(__file__).resolve().with_name("bicpl_ear_metrics.py")

__all__ = [
    "BOOTSTRAP_KEYS",
    "LOOK_ALIKES",
    "METRIC_SCRIPT_PATH",
    "area_under_seen_unseen_curve",
    "binary_auc",
    "ScoredEars",
    "compute_ear_metrics",
    "contrast_aucs",
    "contrast_masks",
    "flatten_exam_predictions",
    "generalized_zero_shot_accuracy",
    "load_ear_metrics",
    "make_compute_metrics",
    "paired_difference",
    "retrieval_recall_at_k",
    "zero_shot_metrics",
]


def load_ear_metrics(**load_kwargs: Any) -> evaluate.EvaluationModule:
    """Load the Bi-CPL ear metric with `evaluate.load` from the file shipped in this package (no Hub access).

    Args:
        **load_kwargs: forwarded to `evaluate.load`; `keep_in_memory` defaults to `True` so no arrow cache
            files or locks are written (pass `False` for `evaluate`'s multi-process mode).

    Example:
        >>> metric = load_ear_metrics()
        >>> metric.compute(predictions=[[0.8, 0.2], [0.3, 0.7]], references=[0, 1])["accuracy"]
        1.0
    """
    load_kwargs.setdefault("keep_in_memory", True)
    return evaluate.load(str(METRIC_SCRIPT_PATH), **load_kwargs)


def compute_ear_metrics(
    predictions: Any,
    references: Any,
    *,
    class_names: Sequence[str] | None = None,
    exam_ids: Iterable[Hashable] | None = None,
    tail_classes: Iterable[int] | None = None,
    zero_shot_classes: Iterable[int] | None = None,
    bootstrap: int = 0,
    seed: int = 0,
    confidence: float = 0.95,
    from_logits: bool = False,
    similarity: Any = None,
    recall_k: Sequence[int] = (1, 5, 10),
    metric: evaluate.EvaluationModule | None = None,
) -> dict[str, float | int]:
    """Ear-level metrics of `(N, K)` probabilities (or logits) against `(N,)` class indices.

    Arguments are those of the metric module (see `bicpl_ear_metrics.py`); `metric` reuses an already
    loaded module instead of loading it again.

    Example:
        >>> result = compute_ear_metrics([[0.8, 0.2], [0.3, 0.7]], [0, 1], class_names=["normal", "CSOM"])
        >>> result["recall/CSOM"], result["auc_macro"]
        (1.0, 1.0)
    """
    metric = metric if metric is not None else load_ear_metrics()
    return metric.compute(
        predictions=predictions,
        references=references,
        class_names=class_names,
        exam_ids=None if exam_ids is None else list(exam_ids),
        tail_classes=tail_classes,
        zero_shot_classes=zero_shot_classes,
        bootstrap=bootstrap,
        seed=seed,
        confidence=confidence,
        from_logits=from_logits,
        similarity=similarity,
        recall_k=recall_k,
    )


def flatten_exam_predictions(
    predictions: Any, label_codes: Any, class_codes: Sequence[int], ignore_index: int = IGNORE_INDEX
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Turn exam-level `(N, 2, K)` scores and `(N, 2)` ear codes into the metric's ear-level inputs.

    Ears labelled `ignore_index` are dropped; every other code must be one of `class_codes`.

    Returns:
        `(scores (M, K), class_indices (M,), exam_rows (M,), sides (M,))` where `exam_rows` is the row of
        each kept ear in the input (its exam id for the bootstrap) and `sides` is 0 = left, 1 = right.

    Example:
        >>> scores, labels, exams, sides = flatten_exam_predictions(
        ...     np.zeros((2, 2, 3)), np.array([[5, -100], [1, 2]]), class_codes=[1, 2, 5])
        >>> labels.tolist(), exams.tolist(), sides.tolist()
        ([2, 0, 1], [0, 1, 1], [0, 0, 1])
    """
    codes = [int(code) for code in class_codes]
    if len(set(codes)) != len(codes) or not codes:
        raise ValueError(f"class_codes must be a non-empty list of unique integer codes, got {list(class_codes)}")
    if ignore_index in codes:
        raise ValueError(f"ignore_index {ignore_index} is also a class code in {codes}")
    scores = np.asarray(predictions, dtype=np.float64)
    labels = np.asarray(label_codes)
    n_classes = len(codes)
    if scores.ndim != 3 or scores.shape[1] != 2 or scores.shape[2] != n_classes:
        raise ValueError(
            f"predictions must have shape (N_exams, 2, K={n_classes}) (left/right ear logits over class_codes "
            f"{codes}), got shape {scores.shape}"
        )
    if labels.shape != scores.shape[:2]:
        raise ValueError(
            f"label_ids must have shape (N_exams, 2) = {scores.shape[:2]} to match predictions {scores.shape}, "
            f"got shape {labels.shape}"
        )
    if labels.dtype.kind not in "iu" and not (labels.dtype.kind == "f" and np.all(labels == np.round(labels))):
        raise ValueError(f"label_ids must hold integer ear codes, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    known = labels != ignore_index
    code_to_index = {code: index for index, code in enumerate(codes)}
    unknown_codes = known & ~np.isin(labels, codes)
    if unknown_codes.any():
        row, side = np.argwhere(unknown_codes)[0]
        raise ValueError(
            f"label_ids[{row}, {side}] ({'left' if side == 0 else 'right'} ear of exam row {row}) = "
            f"{labels[row, side]} is neither a class code in {codes} nor ignore_index {ignore_index}"
        )
    exam_rows, sides = np.nonzero(known)
    class_indices = np.array([code_to_index[code] for code in labels[known].tolist()], dtype=np.int64)
    return scores[known], class_indices, exam_rows, sides


def make_compute_metrics(
    class_codes: Sequence[int],
    *,
    class_names: Sequence[str] | None = None,
    tail_codes: Iterable[int] | None = None,
    zero_shot_codes: Iterable[int] | None = None,
    bootstrap: int = 0,
    seed: int = 0,
    confidence: float = 0.95,
    from_logits: bool = True,
    ignore_index: int = IGNORE_INDEX,
) -> Callable[[Any], dict[str, float | int]]:
    """Build a `compute_metrics(eval_pred)` for `transformers.Trainer` from the model's per-ear logits.

    `eval_pred.predictions` is the `(N_exams, 2, K)` per-ear logits, or a tuple whose first element is;
    `eval_pred.label_ids` is the `(N_exams, 2)` ear codes with `ignore_index` for unknown ears, which are
    left out. Codes are mapped to class indices through `class_codes` (the model's class order). The
    bootstrap, if any, resamples exams (rows of the eval set). Image-report Recall@K needs the full
    similarity matrix, which `Trainer` does not gather; use `compute_ear_metrics(similarity=...)`.

    Args:
        class_codes: ear codes in the order of the logits' last axis, e.g. `[1, 2, 3, 4, 5, 6]`.
        class_names: names for result keys (default: the codes as strings, e.g. `auc/2`).
        tail_codes / zero_shot_codes: codes of the long-tail classes / the classes held out of training.
        from_logits: the model returns logits (softmax is applied); `False` for probabilities.

    Example:
        >>> from transformers import EvalPrediction
        >>> fn = make_compute_metrics([1, 5])
        >>> logits = np.array([[[2.0, 0.0], [0.0, 2.0]]])
        >>> fn(EvalPrediction(predictions=logits, label_ids=np.array([[1, -100]])))["accuracy"]
        1.0
    """
    codes = [int(code) for code in class_codes]
    names = [str(code) for code in codes] if class_names is None else list(class_names)
    if len(names) != len(codes):
        raise ValueError(f"class_names has {len(names)} names but class_codes has {len(codes)} codes")
    code_to_index = {code: index for index, code in enumerate(codes)}

    def to_indices(selected: Iterable[int] | None, argument: str) -> list[int] | None:
        if selected is None:
            return None
        missing = [int(code) for code in selected if int(code) not in code_to_index]
        if missing:
            raise ValueError(f"{argument} {missing} are not in class_codes {codes}")
        return [code_to_index[int(code)] for code in selected]

    tail_classes = to_indices(tail_codes, "tail_codes")
    zero_shot_classes = to_indices(zero_shot_codes, "zero_shot_codes")
    metric = load_ear_metrics()

    def compute_metrics(eval_pred: Any) -> dict[str, float | int]:
        predictions = eval_pred.predictions
        if isinstance(predictions, tuple | list):
            predictions = predictions[0]
        label_ids = eval_pred.label_ids
        if isinstance(label_ids, tuple | list):
            raise ValueError(
                f"label_ids is a tuple of {len(label_ids)} arrays; expected one (N_exams, 2) array of ear codes "
                "(set TrainingArguments.label_names=['labels'])"
            )
        scores, labels, exam_rows, _ = flatten_exam_predictions(predictions, label_ids, codes, ignore_index)
        if labels.size == 0:
            raise ValueError(f"every ear in label_ids is ignore_index ({ignore_index}); nothing to evaluate")
        return compute_ear_metrics(
            scores,
            labels,
            class_names=names,
            exam_ids=exam_rows.tolist(),
            tail_classes=tail_classes,
            zero_shot_classes=zero_shot_classes,
            bootstrap=bootstrap,
            seed=seed,
            confidence=confidence,
            from_logits=from_logits,
            metric=metric,
        )

    return compute_metrics
