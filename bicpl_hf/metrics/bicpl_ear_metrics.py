# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Ear-level diagnosis metrics of Bi-CPL as a self-contained HF `evaluate` metric module.

`evaluate.load` copies this file into its module cache and imports it there, so it imports nothing
from `bicpl_hf`: only numpy, datasets, evaluate and the standard library. Every metric is written
with per-ear weights, which makes the exam-level bootstrap exact and fast: a resample is a weight
vector that counts how often each exam was drawn, shared by both ears of the exam.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """\
Ear-level diagnosis metrics for temporal-bone CT (Bi-CPL): accuracy, macro-F1, per-class precision /
recall / F1 / one-vs-rest AUC, tail-class recall and precision, zero-shot AUC of classes held out of
training, image-report Recall@K, and exam-level bootstrap confidence intervals.

Conventions (all documented so numbers can be reproduced with scikit-learn):
- The predicted class of an ear is the argmax of its probabilities (the first class on ties).
- "Evaluated classes" are the classes present in references or predictions, i.e. sklearn's default
  `unique_labels(references, predicted)`. `macro_f1` equals
  `f1_score(references, predicted, labels=evaluated, average="macro", zero_division=0)`. Per-class
  `precision/`, `recall/` and `f1/` keys are reported for evaluated classes only, with sklearn's
  `zero_division=0` (a never-predicted class has precision 0).
- `auc/<name>` is `roc_auc_score(references == c, probabilities[:, c])`, reported only for classes
  with at least one positive and one negative ear; other classes are omitted (never NaN).
  `auc_macro` is the unweighted mean of the reported per-class AUCs; when every class is present it
  equals `roc_auc_score(references, probabilities, multi_class="ovr", average="macro")`.
- `tail_recall` / `tail_precision`: mean recall / precision over the tail classes that are evaluated.
- `zero_shot_auc/<name>`: one-vs-rest AUC of each held-out class; `zero_shot_auc` is their mean.
- Recall@K: ties count against the match (pessimistic rank), so a constant similarity scores 0 for K < M.
- Bootstrap: percentile intervals over resampled EXAMS (both ears together). Every resample keeps the
  point estimate's class sets (evaluated, AUC, tail and zero-shot classes); a resample in which a metric
  is undefined (e.g. no positive ear of an AUC class) is left out of that metric's interval, with a warning.
- Undefined values are omitted from the result, so every reported value is a finite number.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`array` of shape `(N, K)`): per-ear class probabilities (rows sum to 1), or logits
        with `from_logits=True`.
    references (`array` of shape `(N,)`): per-ear class indices in `[0, K)` (drop unknown ears first).
    class_names (`list[str]`, *optional*): K unique names used in keys; defaults to `class_0`...
    exam_ids (`array` of shape `(N,)`, *optional*): exam of each ear; required when `bootstrap > 0`.
        Pass `exam_ids=range(N)` to resample ears independently on purpose.
    tail_classes (`list[int]`, *optional*): class indices of the long tail.
    zero_shot_classes (`list[int]`, *optional*): class indices held out of training.
    bootstrap (`int`, defaults to 0): number of exam-level bootstrap resamples (0 = no CIs).
    seed (`int`, defaults to 0): seed of the bootstrap.
    confidence (`float`, defaults to 0.95): coverage of the percentile confidence intervals.
    from_logits (`bool`, defaults to `False`): apply a softmax over the K scores first.
    probability_atol (`float`, defaults to 1e-3): tolerance of the "rows sum to 1" check.
    similarity (`array` of shape `(M, M)`, *optional*): image x report similarity, row i matches column i.
    recall_k (`list[int]`, defaults to `[1, 5, 10]`): the K of Recall@K.
Returns:
    `dict`: flat; metric values are floats and counts (`n_ears`, `n_exams`, `support/<name>`,
    `n_bootstrap`, `n_retrieval_pairs`) are ints. With bootstrap, `<key>_ci_low` / `<key>_ci_high`
    for accuracy, macro_f1, auc_macro, tail_recall, tail_precision and zero_shot_auc.
Example:
    >>> import evaluate
    >>> metric = evaluate.load("/path/to/bicpl_ear_metrics.py", keep_in_memory=True)
    >>> result = metric.compute(predictions=[[0.9, 0.1], [0.2, 0.8]], references=[0, 1])
    >>> result["accuracy"], result["auc/class_0"]
    (1.0, 1.0)
"""

_CITATION = """\
@misc{bicpl_hf,
  title = {bicpl-hf: bilateral contrastive prototype learning for temporal-bone CT},
  year = {2026}
}
"""

# Scalars that get bootstrap confidence intervals.
BOOTSTRAP_KEYS = ("accuracy", "macro_f1", "auc_macro", "tail_recall", "tail_precision", "zero_shot_auc")
# Upper bound on resamples x ears held in memory at once by the bootstrap (float64: 16 MB).
_MAX_WEIGHT_ELEMENTS = 2_000_000


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum for numerical stability.

    Example:
        >>> softmax(np.array([[0.0, 0.0]])).tolist()
        [[0.5, 0.5]]
    """
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def check_batch_shapes(predictions: Any, references: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate one batch of `(N, K)` predictions and `(N,)` integer references; return them as arrays.

    Raises:
        ValueError: ragged or non-2D predictions, non-1D or non-integer references, or different N.

    Example:
        >>> p, r = check_batch_shapes([[0.3, 0.7]], [1])
        >>> p.shape, r.dtype.kind
        ((1, 2), 'i')
    """
    if isinstance(predictions, list | tuple) and predictions and hasattr(predictions[0], "__len__"):
        # Batches added separately can disagree on K; evaluate then hands back ragged rows.
        lengths = [len(row) if hasattr(row, "__len__") else 1 for row in predictions]
        odd = next((i for i, n in enumerate(lengths) if n != lengths[0]), None)
        if odd is not None:
            raise ValueError(
                f"predictions rows must all have K values; row 0 has {lengths[0]} but row {odd} has {lengths[odd]}"
            )
    try:
        pred = np.asarray(predictions, dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"predictions must be a numeric (N, K) array of per-ear scores; could not convert it ({error})"
        ) from None
    if pred.ndim != 2 or pred.shape[1] == 0:
        raise ValueError(f"predictions must have shape (N, K) with K >= 1, got shape {pred.shape}")
    ref = np.asarray(references)
    if ref.ndim != 1:
        raise ValueError(f"references must have shape (N,), got shape {ref.shape}")
    if ref.dtype.kind not in "iuf":
        raise ValueError(f"references must be integer class indices, got dtype {ref.dtype}")
    if ref.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(ref) | (ref != np.round(ref)))
        if bad.size:
            raise ValueError(
                f"references must be integer class indices; references[{bad[0]}] = {ref[bad[0]].item()!r}"
            )
    if pred.shape[0] != ref.shape[0]:
        raise ValueError(
            f"predictions has shape {pred.shape} but references has shape {ref.shape}; "
            "both need one row per ear"
        )
    return pred, ref.astype(np.int64)


def to_probabilities(scores: np.ndarray, from_logits: bool = False, atol: float = 1e-3) -> np.ndarray:
    """Return `(N, K)` probabilities: softmax of logits, or validated probabilities.

    Raises:
        ValueError: a non-finite value, or (without `from_logits`) a row that is not a probability vector.

    Example:
        >>> to_probabilities(np.array([[0.0, 0.0]]), from_logits=True).tolist()
        [[0.5, 0.5]]
    """
    if not np.all(np.isfinite(scores)):
        row = int(np.argwhere(~np.isfinite(scores))[0, 0])
        raise ValueError(f"predictions row {row} holds a non-finite value: {scores[row].tolist()}")
    if from_logits:
        return softmax(scores)
    row_sums = scores.sum(axis=1)
    bad = np.flatnonzero((np.abs(row_sums - 1.0) > atol) | np.any(scores < -atol, axis=1))
    if bad.size:
        row = int(bad[0])
        raise ValueError(
            f"predictions row {row} is not a probability vector (values {scores[row].tolist()}, sum "
            f"{row_sums[row]:.6g}; expected non-negative values summing to 1 within {atol}); "
            "pass from_logits=True if these are logits"
        )
    return scores


def check_class_indices(references: np.ndarray, n_classes: int) -> None:
    """Raise a `ValueError` naming the first reference that is not a class index in `[0, n_classes)`.

    Example:
        >>> check_class_indices(np.array([0, 2]), 3)
    """
    bad = np.flatnonzero((references < 0) | (references >= n_classes))
    if bad.size:
        hint = " (unknown ears marked -100 must be dropped first)" if references[bad[0]] == -100 else ""
        raise ValueError(
            f"references[{bad[0]}] = {references[bad[0]]} is not a class index in [0, {n_classes}){hint}"
        )


def exam_index(exam_ids: Iterable[Hashable], n_ears: int) -> np.ndarray:
    """Map exam ids (any hashable values) to consecutive integers in order of first appearance.

    Example:
        >>> exam_index(["a", "a", "b", "b"], 4).tolist()
        [0, 0, 1, 1]
    """
    ids = list(exam_ids)
    if len(ids) != n_ears:
        raise ValueError(f"exam_ids has {len(ids)} entries but there are {n_ears} ears (predictions rows)")
    positions: dict[Hashable, int] = {}
    try:
        return np.array([positions.setdefault(_plain(i), len(positions)) for i in ids], dtype=np.int64)
    except TypeError:
        raise ValueError("exam_ids must be hashable values (str or int), one per ear") from None


def _plain(value: Any) -> Hashable:
    """numpy scalars hash like their Python values, but 0-d arrays do not hash at all."""
    return value.item() if isinstance(value, np.ndarray | np.generic) else value


def exam_bootstrap_weights(exam_of_ear: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Draw `n_resamples` exam-level bootstrap resamples as per-ear weights of shape `(n_resamples, N)`.

    Each resample draws as many exams as there are, with replacement; an ear's weight is how often its
    exam was drawn, so both ears of an exam always enter a resample together.

    Example:
        >>> w = exam_bootstrap_weights(np.array([0, 0, 1, 1]), 3, np.random.default_rng(0))
        >>> bool(np.all(w[:, 0] == w[:, 1])), w.sum(axis=1).tolist()
        (True, [4.0, 4.0, 4.0])
    """
    n_exams = int(exam_of_ear.max()) + 1
    draws = rng.integers(0, n_exams, size=(n_resamples, n_exams))
    offsets = np.arange(n_resamples)[:, None] * n_exams
    counts = np.bincount((draws + offsets).ravel(), minlength=n_resamples * n_exams)
    return counts.reshape(n_resamples, n_exams)[:, exam_of_ear].astype(np.float64)


def weighted_one_vs_rest_auc(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of `scores` for the boolean `positive`, once per weight row (Mann-Whitney U, ties = 1/2).

    With integer weights this is exactly the AUC of the data set in which ear i appears `weights[b, i]`
    times. Rows without a positive or a negative ear get NaN.

    Example:
        >>> weighted_one_vs_rest_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1], bool), np.ones((1, 4)))
        array([0.75])
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    tie_group_starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    sorted_weights = weights[:, order]
    is_positive = positive[order]
    pos = np.add.reduceat(sorted_weights * is_positive, tie_group_starts, axis=1)
    neg = np.add.reduceat(sorted_weights * ~is_positive, tie_group_starts, axis=1)
    negatives_below = np.cumsum(neg, axis=1) - neg
    u_statistic = (pos * (negatives_below + 0.5 * neg)).sum(axis=1)
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, u_statistic / pairs, np.nan)


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator with 0 where the denominator is 0 (sklearn's `zero_division=0`)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, 0.0)


def retrieval_recall_at_k(similarity: Any, recall_k: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Image->report and report->image Recall@K of a square similarity matrix whose diagonal holds the pairs.

    The rank of a match counts every other candidate scoring higher OR EQUAL (ties count against the
    match), so a degenerate constant similarity does not look perfect.

    Example:
        >>> s = np.array([[0.9, 0.1], [0.8, 0.3]])
        >>> retrieval_recall_at_k(s, [1])
        {'i2t_recall@1': 0.5, 't2i_recall@1': 1.0}
    """
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1] or sim.shape[0] == 0:
        raise ValueError(
            f"similarity must be a square (M, M) image x report matrix with M >= 1, got shape {sim.shape}"
        )
    if not np.all(np.isfinite(sim)):
        row, col = np.argwhere(~np.isfinite(sim))[0]
        raise ValueError(f"similarity[{row}, {col}] = {sim[row, col]} is not finite")
    ks = [int(k) for k in recall_k]
    if not ks or any(k < 1 for k in ks) or any(k != kk for k, kk in zip(ks, recall_k)):
        raise ValueError(f"recall_k must be a non-empty list of integers >= 1, got {list(recall_k)!r}")
    results: dict[str, float] = {}
    for prefix, matrix in (("i2t", sim), ("t2i", sim.T)):
        matched = np.diag(matrix)[:, None]
        # Candidates at or above the match, minus the match itself.
        rank = (matrix >= matched).sum(axis=1) - 1
        for k in ks:
            results[f"{prefix}_recall@{k}"] = float(np.mean(rank < k))
    return results


def _class_index_list(values: Iterable[int] | None, n_classes: int, argument: str) -> list[int]:
    """Validate a list of class indices; keep the first occurrence of duplicates."""
    if values is None:
        return []
    result: list[int] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{argument} must hold integer class indices, got {value!r}")
        if not 0 <= int(value) < n_classes:
            raise ValueError(f"{argument} holds {int(value)}, which is not a class index in [0, {n_classes})")
        if int(value) not in result:
            result.append(int(value))
    return result


def _scalar_metrics(
    weights: np.ndarray,
    probabilities: np.ndarray,
    references: np.ndarray,
    predicted: np.ndarray,
    evaluated: list[int],
    auc_classes: list[int],
    tail: list[int],
    zero_shot: list[int],
) -> dict[str, np.ndarray]:
    """All metrics for each weight row: scalars of shape `(B,)` and per-class tables of shape `(B, K)`."""
    n_classes = probabilities.shape[1]
    truth = np.eye(n_classes)[references]
    guess = np.eye(n_classes)[predicted]
    true_positives = weights @ (truth * guess)
    support = weights @ truth
    predicted_count = weights @ guess
    precision = _safe_ratio(true_positives, predicted_count)
    recall = _safe_ratio(true_positives, support)
    f1 = _safe_ratio(2.0 * true_positives, support + predicted_count)
    auc = np.full((weights.shape[0], n_classes), np.nan)
    for c in sorted(set(auc_classes) | set(zero_shot)):
        auc[:, c] = weighted_one_vs_rest_auc(probabilities[:, c], references == c, weights)

    out = {
        "accuracy": _safe_ratio(weights @ (predicted == references).astype(np.float64), weights.sum(axis=1)),
        "macro_f1": f1[:, evaluated].mean(axis=1),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "auc": auc,
    }
    if auc_classes:
        # NaN when a resample lacks positives or negatives of a class: undefined, dropped by the caller.
        out["auc_macro"] = auc[:, auc_classes].mean(axis=1)
    tail_evaluated = [c for c in tail if c in evaluated]
    if tail_evaluated:
        out["tail_recall"] = recall[:, tail_evaluated].mean(axis=1)
        out["tail_precision"] = precision[:, tail_evaluated].mean(axis=1)
    zero_shot_defined = [c for c in zero_shot if c in auc_classes]
    if zero_shot_defined:
        out["zero_shot_auc"] = auc[:, zero_shot_defined].mean(axis=1)
    return out


class BicplEarMetrics(evaluate.Metric):
    """Ear-level Bi-CPL metrics; see the module description for every convention.

    Example:
        >>> from bicpl_hf.metrics import METRIC_SCRIPT_PATH  # this file, inside the installed package
        >>> metric = evaluate.load(str(METRIC_SCRIPT_PATH), keep_in_memory=True)
        >>> metric.compute(predictions=[[0.9, 0.1], [0.2, 0.8]], references=[0, 1], class_names=["a", "b"])["macro_f1"]
        1.0
    """

    def _info(self) -> evaluate.MetricInfo:
        sequence = getattr(datasets, "List", datasets.Sequence)
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": sequence(datasets.Value("float64")), "references": datasets.Value("int64")}
            ),
            reference_urls=[
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.f1_score.html",
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.roc_auc_score.html",
            ],
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Validate the batch (shapes, integer references) before `evaluate` stores it.

        Arrow would otherwise truncate float references to int silently and report ragged rows vaguely.
        """
        if predictions is not None and references is not None:
            predictions, references = check_batch_shapes(predictions, references)
        return super().add_batch(predictions=predictions, references=references, **kwargs)

    def _compute(
        self,
        predictions,
        references,
        class_names: Sequence[str] | None = None,
        exam_ids: Iterable[Hashable] | None = None,
        tail_classes: Iterable[int] | None = None,
        zero_shot_classes: Iterable[int] | None = None,
        bootstrap: int = 0,
        seed: int = 0,
        confidence: float = 0.95,
        from_logits: bool = False,
        probability_atol: float = 1e-3,
        similarity: Any = None,
        recall_k: Sequence[int] = (1, 5, 10),
    ) -> dict[str, float | int]:
        if len(references) == 0:
            raise ValueError("no ears to evaluate: predictions and references are empty")
        scores, references = check_batch_shapes(predictions, references)
        n_ears, n_classes = scores.shape
        probabilities = to_probabilities(scores, from_logits, probability_atol)
        check_class_indices(references, n_classes)
        names = self._class_names(class_names, n_classes)
        tail = _class_index_list(tail_classes, n_classes, "tail_classes")
        zero_shot = _class_index_list(zero_shot_classes, n_classes, "zero_shot_classes")
        if isinstance(bootstrap, bool) or not isinstance(bootstrap, int | np.integer) or bootstrap < 0:
            raise ValueError(f"bootstrap must be an integer >= 0 (number of resamples), got {bootstrap!r}")
        if not 0.0 < float(confidence) < 1.0:
            raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
        exams = exam_index(exam_ids, n_ears) if exam_ids is not None else None
        if bootstrap and exams is None:
            raise ValueError(
                "bootstrap resamples exams, so it needs exam_ids (one per ear); "
                "pass exam_ids=range(N) to resample ears independently"
            )

        predicted = probabilities.argmax(axis=1)
        evaluated = sorted(set(references.tolist()) | set(predicted.tolist()))
        counts = np.bincount(references, minlength=n_classes)
        auc_classes = [c for c in range(n_classes) if 0 < counts[c] < n_ears]
        for c in zero_shot:
            if c not in auc_classes:
                warnings.warn(
                    f"zero-shot AUC of class {names[c]!r} is undefined: {counts[c]} of {n_ears} ears are "
                    "positive (it needs at least one positive and one negative ear); it is left out",
                    stacklevel=3,  # the caller of evaluate's compute()
                )
        spec = (probabilities, references, predicted, evaluated, auc_classes, tail, zero_shot)
        point = _scalar_metrics(np.ones((1, n_ears)), *spec)

        result: dict[str, float | int] = {"n_ears": int(n_ears)}
        if exams is not None:
            result["n_exams"] = int(exams.max()) + 1
        result["accuracy"] = float(point["accuracy"][0])
        result["macro_f1"] = float(point["macro_f1"][0])
        if "auc_macro" in point:
            result["auc_macro"] = float(point["auc_macro"][0])
        for key in ("tail_recall", "tail_precision", "zero_shot_auc"):
            if key in point:
                result[key] = float(point[key][0])
        for c, name in enumerate(names):
            result[f"support/{name}"] = int(counts[c])
            if c in evaluated:
                for table in ("precision", "recall", "f1"):
                    result[f"{table}/{name}"] = float(point[table][0, c])
            if c in auc_classes:
                result[f"auc/{name}"] = float(point["auc"][0, c])
        for c in zero_shot:
            if c in auc_classes:
                result[f"zero_shot_auc/{names[c]}"] = float(point["auc"][0, c])
        if bootstrap:
            result.update(self._bootstrap(spec, exams, int(bootstrap), seed, float(confidence), result))
        if similarity is not None:
            result.update(retrieval_recall_at_k(similarity, recall_k))
            result["n_retrieval_pairs"] = int(np.shape(similarity)[0])
        return result

    @staticmethod
    def _class_names(class_names: Sequence[str] | None, n_classes: int) -> list[str]:
        if class_names is None:
            return [f"class_{c}" for c in range(n_classes)]
        names = [str(name) for name in class_names]
        if len(names) != n_classes:
            raise ValueError(f"class_names has {len(names)} names but predictions have K = {n_classes} columns")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"class_names must be unique (they name result keys); repeated: {duplicates}")
        return names

    @staticmethod
    def _bootstrap(
        spec: tuple, exams: np.ndarray, n_resamples: int, seed: int, confidence: float, point: dict
    ) -> dict[str, float | int]:
        """Percentile CIs of the main scalars over exam-level resamples, with the point estimate's class sets."""
        rng = np.random.default_rng(seed)
        n_ears = exams.shape[0]
        keys = [key for key in BOOTSTRAP_KEYS if key in point]
        samples: dict[str, list[np.ndarray]] = {key: [] for key in keys}
        chunk = max(1, _MAX_WEIGHT_ELEMENTS // n_ears)
        for start in range(0, n_resamples, chunk):
            weights = exam_bootstrap_weights(exams, min(chunk, n_resamples - start), rng)
            values = _scalar_metrics(weights, *spec)
            for key in keys:
                samples[key].append(values[key])
        alpha = 1.0 - confidence
        out: dict[str, float | int] = {"n_bootstrap": n_resamples}
        for key in keys:
            values = np.concatenate(samples[key])
            valid = values[np.isfinite(values)]
            if valid.size < values.size:
                warnings.warn(
                    f"{key} is undefined in {values.size - valid.size} of {values.size} bootstrap resamples "
                    f"(a class had no positive or no negative ear); its CI uses the other {valid.size}",
                    stacklevel=4,  # the caller of evaluate's compute()
                )
            if valid.size:
                low, high = np.percentile(valid, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
                out[f"{key}_ci_low"] = float(low)
                out[f"{key}_ci_high"] = float(high)
        return out
