# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""The metrics a zero-shot paper reports, for one class held out of training, at ear level.

All inputs are per ear (unknown ears dropped first, e.g. with `flatten_exam_predictions`): `logits (M, K)` as the
model returns them (calibrated offsets included), `cosine (M, K)` the raw cosine of each ear embedding to each class
prototype (a text prototype for every class absent from training), `labels (M,)` ear codes, `class_codes` the codes
of the K columns. Conventions (reproducible with scikit-learn):

- `auc_probability` / `auc_cosine`: `roc_auc_score(labels == held_out, score)` over all ears, with the softmax
  probability of the held-out class / its raw cosine as the score.
- `auc_vs_diseased_*`: the same over the held-out ears and the ears of every other *diseased* class (all codes but
  `normal_code`): is the held-out class told apart from other disease, not just from normal ears?
  `auc_vs/<code>_*`: the same against each other diseased class alone (e.g. CSOM).
- Generalised zero-shot accuracy (Xian et al., 2018): each ear is classified over ALL classes; `gzsl_acc_seen` /
  `gzsl_acc_unseen` are the per-class mean accuracies (balanced) over the seen / unseen classes present in the labels,
  `gzsl_harmonic` their harmonic mean (0 when either is 0).
- `ausuc`: area under the seen-unseen accuracy curve (Chao et al., ECCV 2016), traced exactly by adding one offset
  `gamma` to the unseen classes' logits and sweeping it over the whole real line (an ear falls to the unseen
  classes when its best unseen logit + gamma is strictly above its best seen logit); trapezoidal rule over the
  curve's corners, from `(acc_unseen=0, acc_seen=max)` to `(max, 0)`. Any common offset already in the logits
  does not change the curve.
- `normal_variant_called_diseased`: share of the normal ears flagged (e.g. the normal ears of exams with a
  bilateral normal variant) whose predicted class is not `normal_code`; `normal_called_diseased` the same for the
  other normal ears, as the reference rate.

Undefined values (no positive or no negative ear, no flagged ear) are left out of the result, never NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NORMAL_CODE = 5


def binary_auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC of `scores` for the boolean `positive` (ties count one half, as scikit-learn); None if one class is
    missing.

    Example:
        >>> binary_auc(np.array([True, False, True, False]), np.array([0.9, 0.1, 0.4, 0.4]))
        0.875
    """
    positive = np.asarray(positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # Average ranks of ties (1-based), then the Mann-Whitney U statistic.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(-1, keepdims=True)


def _class_weights(labels: np.ndarray, codes: Sequence[int]) -> np.ndarray:
    """Per-ear weights that make a weighted mean of correctness the per-class mean accuracy over `codes` present."""
    present = [c for c in codes if (labels == c).any()]
    weights = np.zeros(len(labels))
    for code in present:
        mask = labels == code
        weights[mask] = 1.0 / (mask.sum() * len(present))
    return weights


def seen_unseen_curve(logits: np.ndarray, labels: np.ndarray, class_codes: Sequence[int],
                      unseen_codes: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exact seen-unseen accuracy curve of calibrated stacking.

    Returns:
        `(gammas, acc_seen, acc_unseen)`: one point per distinct prediction state, in increasing offset; the first
        point is gamma = -inf (every ear called a seen class), the last +inf (every ear called an unseen class).
    """
    codes = [int(c) for c in class_codes]
    unseen_idx = [codes.index(int(c)) for c in unseen_codes]
    seen_idx = [i for i in range(len(codes)) if i not in unseen_idx]
    if not unseen_idx or not seen_idx:
        raise ValueError(f"need seen and unseen classes; unseen {list(unseen_codes)} of {codes}")
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    seen_codes = [codes[i] for i in seen_idx]
    is_unseen_ear = np.isin(labels, [codes[i] for i in unseen_idx])
    # Correct within its own group, and the offset at which the ear switches from the seen to the unseen group.
    best_seen = np.asarray(seen_codes)[logits[:, seen_idx].argmax(1)]
    best_unseen = np.asarray([codes[i] for i in unseen_idx])[logits[:, unseen_idx].argmax(1)]
    switch = logits[:, seen_idx].max(1) - logits[:, unseen_idx].max(1)  # unseen wins iff gamma > switch
    w_seen = _class_weights(labels, seen_codes)
    w_unseen = _class_weights(labels, [codes[i] for i in unseen_idx])
    right_seen = (~is_unseen_ear) & (best_seen == labels)
    right_unseen = is_unseen_ear & (best_unseen == labels)
    breaks = np.unique(switch)
    probes = np.concatenate([[-np.inf], (breaks[:-1] + breaks[1:]) / 2.0, [np.inf]]) if len(breaks) else \
        np.array([-np.inf, np.inf])
    acc_seen = np.array([(w_seen * (right_seen & ~(g > switch))).sum() for g in probes])
    acc_unseen = np.array([(w_unseen * (right_unseen & (g > switch))).sum() for g in probes])
    return probes, acc_seen, acc_unseen


def area_under_seen_unseen_curve(logits, labels, class_codes, unseen_codes) -> float:
    """AUSUC (Chao et al., 2016): the area under acc_seen as a function of acc_unseen (trapezoidal)."""
    _, acc_seen, acc_unseen = seen_unseen_curve(logits, labels, class_codes, unseen_codes)
    return float(np.sum((acc_unseen[1:] - acc_unseen[:-1]) * (acc_seen[1:] + acc_seen[:-1]) / 2.0))


def generalized_zero_shot_accuracy(logits, labels, class_codes, unseen_codes) -> dict[str, float]:
    """Per-class mean accuracy over the seen and over the unseen classes, each ear classified over all classes."""
    codes = [int(c) for c in class_codes]
    labels = np.asarray(labels)
    predicted = np.asarray(codes)[np.asarray(logits).argmax(1)]
    correct = predicted == labels
    result = {}
    for name, group in (("seen", [c for c in codes if c not in unseen_codes]), ("unseen", list(unseen_codes))):
        present = [c for c in group if (labels == c).any()]
        if present:
            result[f"gzsl_acc_{name}"] = float(np.mean([correct[labels == c].mean() for c in present]))
    if len(result) == 2:
        s, u = result["gzsl_acc_seen"], result["gzsl_acc_unseen"]
        result["gzsl_harmonic"] = 0.0 if s + u == 0 else float(2 * s * u / (s + u))
    return result


def zero_shot_metrics(
    logits: np.ndarray,
    labels: np.ndarray,
    class_codes: Sequence[int],
    *,
    held_out: int,
    unseen_codes: Sequence[int],
    cosine: np.ndarray | None = None,
    normal_code: int = NORMAL_CODE,
    normal_variant: np.ndarray | None = None,
) -> dict[str, float | int]:
    """Every metric of the module docstring for the class `held_out` (a code in `class_codes` and `unseen_codes`).

    Args:
        logits: `(M, K)` per-ear logits over `class_codes`, calibrated offsets included.
        labels: `(M,)` ear codes (no unknown ears).
        unseen_codes: the codes absent from training (the held-out class, code 4, ...).
        cosine: `(M, K)` raw cosine of each ear to each class prototype; the cosine AUCs are skipped without it.
        normal_variant: `(M,)` booleans flagging ears whose normal-ear false-positive rate is reported.

    Example:
        >>> logits = np.array([[3.0, 0.0, 1.0], [0.0, 2.0, 1.0], [0.0, 1.0, 3.0], [0.5, 0.0, 2.0]])
        >>> m = zero_shot_metrics(logits, np.array([1, 2, 5, 2]), [1, 2, 5], held_out=2, unseen_codes=[2])
        >>> m["auc_probability"], m["gzsl_acc_unseen"], m["gzsl_acc_seen"], m["ausuc"]
        (0.75, 0.5, 1.0, 0.875)
    """
    codes = [int(c) for c in class_codes]
    held_out, unseen_codes = int(held_out), [int(c) for c in unseen_codes]
    if held_out not in codes or held_out not in unseen_codes:
        raise ValueError(f"held_out {held_out} must be one of class_codes {codes} and of unseen_codes {unseen_codes}")
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    if logits.ndim != 2 or logits.shape != (len(labels), len(codes)):
        raise ValueError(f"logits must have shape (M={len(labels)}, K={len(codes)}), got {logits.shape}")
    if cosine is not None and np.shape(cosine) != logits.shape:
        raise ValueError(f"cosine must have the shape of logits {logits.shape}, got {np.shape(cosine)}")
    column = codes.index(held_out)
    positive = labels == held_out
    scores = {"probability": _softmax(logits)[:, column]}
    if cosine is not None:
        scores["cosine"] = np.asarray(cosine, dtype=np.float64)[:, column]
    result: dict[str, float | int] = {"held_out": held_out, "n_held_out_ears": int(positive.sum()),
                                      "n_ears": len(labels)}
    diseased = labels != normal_code
    for name, score in scores.items():
        for key, mask in [("auc", np.ones_like(positive)), ("auc_vs_diseased", diseased)] + [
            (f"auc_vs/{c}", positive | (labels == c)) for c in codes if c not in (held_out, normal_code)
        ]:
            value = binary_auc(positive[mask], score[mask])
            if value is not None:
                result[f"{key}_{name}"] = value
    result.update(generalized_zero_shot_accuracy(logits, labels, codes, unseen_codes))
    if len(unseen_codes) < len(codes) and np.isin(labels, unseen_codes).any() and (~np.isin(labels, unseen_codes)).any():
        result["ausuc"] = area_under_seen_unseen_curve(logits, labels, codes, unseen_codes)
    if normal_variant is not None:
        flagged = np.asarray(normal_variant, dtype=bool)
        if flagged.shape != labels.shape:
            raise ValueError(f"normal_variant must have shape {labels.shape}, got {flagged.shape}")
        called_diseased = np.asarray(codes)[logits.argmax(1)] != normal_code
        for key, mask in (("normal_variant", flagged & ~diseased), ("normal", ~flagged & ~diseased)):
            result[f"n_{key}_ears"] = int(mask.sum())
            if mask.any():
                result[f"{key}_called_diseased"] = float(called_diseased[mask].mean())
    return result


__all__ = ["NORMAL_CODE", "area_under_seen_unseen_curve", "binary_auc", "generalized_zero_shot_accuracy",
           "seen_unseen_curve", "zero_shot_metrics"]
