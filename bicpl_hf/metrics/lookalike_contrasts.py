# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Honest zero-shot figures for one held-out class: AUC against its clinical look-alikes, with patient-bootstrap CIs.

A held-out class that is only told apart from normal ears is not recognised; the figures that lead the results table
are therefore the AUC of the held-out class against each of its look-alikes (`LOOK_ALIKES`), then against every
diseased ear, then against every labelled ear. Ear codes: 1 CSOM, 2 cholesteatoma, 3 secretory otitis media,
4 cholesterol granuloma, 5 normal, 6 other; `UNKNOWN` (-100) ears are left out everywhere.

Conventions:

- One run (`ScoredEars`) = one trained model (variant, model seed) scored on one cohort's test ears. Every run of a
  cohort shares its test set (same labels and patients, ear for ear).
- Point estimate of a contrast: each run's AUC (`binary_auc`, ties count one half, as scikit-learn), averaged over
  the runs of each cohort, then over the cohorts (= the plain mean over runs when every cohort has the same number
  of seeds). Scores are never concatenated across runs: different models put them on different scales. A cohort
  where the contrast is undefined (no held-out ear, or no ear of the look-alike) is left out of that contrast; a
  contrast undefined on every cohort is left out of the result, never NaN.
- 95% CI: percentile bootstrap. Each replicate resamples the PATIENTS of every cohort with replacement,
  independently per cohort (all ears of a patient move together and count as often as the patient is drawn); the
  same resample is applied to every run of the cohort, every contrast and, for `paired_difference`, both variants.
  Each run's AUC is recomputed as a weighted Mann-Whitney statistic (weight = how often the ear's patient was drawn)
  and averaged as above.
- Degenerate replicates (some included cohort's resample has no held-out ear or no ear of the other side of a
  contrast) are SKIPPED for that contrast, not redrawn, so that all contrasts and both variants of a paired
  comparison keep the very same draws; the count is reported as `n_skipped` (and the CI uses the rest). When it is
  more than a few percent the held-out class has too few patients in some cohort for a stable interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .zero_shot_metrics import NORMAL_CODE, binary_auc

UNKNOWN = -100

LOOK_ALIKES: dict[int, tuple[int, ...]] = {
    2: (1,),  # cholesteatoma vs CSOM: both chronic destructive middle-ear disease with soft tissue and erosion on CT.
    4: (1, 2),  # cholesterol granuloma vs CSOM and cholesteatoma: an opacified middle ear, with or without erosion.
    3: (1, 5),  # secretory otitis media vs CSOM (fluid-filled cavity) and normal (intact ossicles, thin effusion).
}

CLASS_NAMES: dict[int, str] = {
    1: "CSOM",
    2: "cholesteatoma",
    3: "secretory otitis media",
    4: "cholesterol granuloma",
    5: "normal",
    6: "other",
}

# Bound on the number of float64 cells of one bootstrap weight block (n_boot x ears), ~32 MB.
_BLOCK_CELLS = 4_000_000


def contrast_masks(
    labels: np.ndarray,
    held_out: int,
    normal_code: int = NORMAL_CODE,
    look_alikes: Mapping[int, Sequence[int]] = LOOK_ALIKES,
) -> dict[str, np.ndarray]:
    """Boolean ear masks of every contrast of `held_out`, look-alikes first, then `vs_diseased`, then `vs_all`.

    `vs_<code>`: the held-out ears and the ears of that look-alike; `vs_diseased`: the held-out ears and every
    labelled ear not `normal_code`; `vs_all`: every labelled ear. `UNKNOWN` (-100) ears are in no mask. The positive
    ears of every contrast are `labels == held_out`.

    Example:
        >>> masks = contrast_masks(np.array([2, 1, 5, 4, -100, 2]), held_out=2)
        >>> {key: mask.astype(int).tolist() for key, mask in masks.items()}
        {'vs_1': [1, 1, 0, 0, 0, 1], 'vs_diseased': [1, 1, 0, 1, 0, 1], 'vs_all': [1, 1, 1, 1, 0, 1]}
    """
    labels = np.asarray(labels).astype(np.int64)
    held_out = int(held_out)
    known = labels != UNKNOWN
    positive = labels == held_out
    masks: dict[str, np.ndarray] = {}
    for code in look_alikes.get(held_out, ()):
        masks[f"vs_{int(code)}"] = positive | (labels == int(code))
    masks["vs_diseased"] = known & (positive | (labels != normal_code))
    masks["vs_all"] = known.copy()
    return masks


@dataclass
class ScoredEars:
    """One model (variant, model `seed`) scored on one `cohort`'s test ears.

    Attributes:
        cohort: name of the test cohort (its patients are resampled together in the bootstrap).
        seed: the model's training seed (runs of one variant on one cohort differ only by it).
        labels: `(M,)` ear codes, `UNKNOWN` (-100) for unlabelled ears (left out).
        patients: `(M,)` patient id of each ear (both ears of a patient share it).
        scores: `(M,)` the model's score of the held-out class for each ear (any scale; higher = more likely).

    Example:
        >>> run = ScoredEars("A", 0, labels=[2, 1], patients=["p1", "p1"], scores=[0.9, 0.2])
        >>> run.labels.tolist(), run.patients.tolist()
        ([2, 1], ['p1', 'p1'])
    """

    cohort: str
    seed: int
    labels: np.ndarray
    patients: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels)
        if labels.ndim != 1:
            raise ValueError(f"cohort {self.cohort!r} seed {self.seed}: labels must be 1-D, got shape {labels.shape}")
        if labels.size and labels.dtype.kind not in "iu" and not (
            labels.dtype.kind == "f" and np.all(labels == np.round(labels))
        ):
            raise ValueError(f"cohort {self.cohort!r} seed {self.seed}: labels must be integer ear codes, "
                             f"got dtype {labels.dtype}")
        self.labels = labels.astype(np.int64)
        self.patients = np.asarray(self.patients).astype(str)
        self.scores = np.asarray(self.scores, dtype=np.float64)
        for name in ("patients", "scores"):
            shape = getattr(self, name).shape
            if shape != self.labels.shape:
                raise ValueError(f"cohort {self.cohort!r} seed {self.seed}: {name} must have the shape of labels "
                                 f"{self.labels.shape}, got {shape}")
        if not np.isfinite(self.scores[self.labels != UNKNOWN]).all():
            raise ValueError(f"cohort {self.cohort!r} seed {self.seed}: scores of labelled ears must be finite")

    @property
    def key(self) -> str:
        """The run's name in `per_run`, e.g. `"cohortA/seed0"`."""
        return f"{self.cohort}/seed{self.seed}"


@dataclass
class _Cohort:
    """The shared test set of a cohort's runs: labels, each ear's patient index, and the runs' scores."""

    name: str
    labels: np.ndarray
    patients: np.ndarray
    patient_index: np.ndarray
    n_patients: int
    runs: list[ScoredEars]


def _group_cohorts(runs: Sequence[ScoredEars], what: str = "runs") -> dict[str, _Cohort]:
    """Group runs by cohort (sorted by name) and check that the runs of a cohort share labels and patients."""
    runs = list(runs)
    if not runs:
        raise ValueError(f"{what} is empty: need at least one ScoredEars")
    cohorts: dict[str, _Cohort] = {}
    for run in runs:
        if not isinstance(run, ScoredEars):
            raise TypeError(f"{what} must hold ScoredEars, got {type(run).__name__}")
        cohort = cohorts.get(run.cohort)
        if cohort is None:
            patient_ids, patient_index = np.unique(run.patients, return_inverse=True)
            cohorts[run.cohort] = _Cohort(run.cohort, run.labels, run.patients, patient_index.reshape(-1),
                                          len(patient_ids), [run])
            continue
        first = cohort.runs[0]
        if any(other.seed == run.seed for other in cohort.runs):
            raise ValueError(f"{what}: cohort {run.cohort!r} has two runs with seed {run.seed}")
        if len(run.labels) != len(cohort.labels):
            raise ValueError(f"{what}: cohort {run.cohort!r} seed {run.seed} has {len(run.labels)} ears but seed "
                             f"{first.seed} has {len(cohort.labels)}; the runs of a cohort must share its test ears")
        if not np.array_equal(run.labels, cohort.labels):
            raise ValueError(f"{what}: cohort {run.cohort!r} seed {run.seed} has other labels than seed {first.seed} "
                             f"(first at ear {int(np.argmax(run.labels != cohort.labels))}); the runs of a cohort "
                             "must share its test ears in the same order")
        if not np.array_equal(run.patients, cohort.patients):
            raise ValueError(f"{what}: cohort {run.cohort!r} seed {run.seed} has other patient ids than seed "
                             f"{first.seed}; the runs of a cohort must share its test ears in the same order")
        cohort.runs.append(run)
    return {name: cohorts[name] for name in sorted(cohorts)}


def _draw_counts(cohorts: Mapping[str, _Cohort], n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """`(n_boot, n_patients)` times each patient is drawn, per cohort (in sorted cohort order, from one Generator)."""
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    rng = np.random.default_rng(seed)
    return {
        name: rng.multinomial(cohort.n_patients, np.full(cohort.n_patients, 1.0 / cohort.n_patients),
                              size=int(n_boot)).astype(np.float64)
        for name, cohort in cohorts.items()
    }


def _weighted_auc(positive: np.ndarray, scores: np.ndarray, patient_index: np.ndarray,
                  counts: np.ndarray) -> np.ndarray:
    """`(B,)` AUC of `scores` for `positive`, each ear weighted by `counts[:, patient_index]` (NaN if degenerate).

    The weighted Mann-Whitney statistic: sum over (positive, negative) pairs of w_pos * w_neg * [s_pos > s_neg]
    (+ half for ties), over (sum w_pos) * (sum w_neg); with unit weights it is `binary_auc`.
    """
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    is_pos = positive[order]
    ear_patient = patient_index[order]
    n_boot = counts.shape[0]
    block = max(1, _BLOCK_CELLS // max(1, len(scores)))
    result = np.empty(n_boot)
    for begin in range(0, n_boot, block):
        weights = counts[begin:begin + block][:, ear_patient]
        w_pos = np.add.reduceat(np.where(is_pos, weights, 0.0), starts, axis=1)
        w_neg = np.add.reduceat(np.where(is_pos, 0.0, weights), starts, axis=1)
        below = np.cumsum(w_neg, axis=1) - w_neg
        numerator = (w_pos * (below + 0.5 * w_neg)).sum(1)
        denominator = w_pos.sum(1) * w_neg.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            result[begin:begin + block] = np.where(denominator > 0, numerator / denominator, np.nan)
    return result


def _cohort_contrasts(cohort: _Cohort, held_out: int, normal_code: int,
                      look_alikes: Mapping[int, Sequence[int]]) -> dict[str, np.ndarray]:
    """The masks of `cohort` whose contrast is defined (some positive and some negative ear)."""
    positive = cohort.labels == held_out
    return {key: mask for key, mask in contrast_masks(cohort.labels, held_out, normal_code, look_alikes).items()
            if (positive & mask).any() and (~positive & mask).any()}


def _run_aucs(cohort: _Cohort, runs: Sequence[ScoredEars], mask: np.ndarray, held_out: int,
              counts: np.ndarray | None) -> tuple[list[float], np.ndarray | None]:
    """Point AUC of each run on `mask`, and `(B,)` the cohort's bootstrap mean over those runs (if `counts`)."""
    positive = (cohort.labels == held_out)[mask]
    points = [binary_auc(positive, run.scores[mask]) for run in runs]
    if counts is None:
        return points, None
    boot = np.mean([_weighted_auc(positive, run.scores[mask], cohort.patient_index[mask], counts) for run in runs],
                   axis=0)
    return points, boot


def _interval(replicates: np.ndarray, confidence: float) -> tuple[float | None, float | None, int]:
    """Percentile interval of the finite replicates, and the number of skipped (non-finite) ones."""
    valid = replicates[np.isfinite(replicates)]
    skipped = len(replicates) - len(valid)
    if not len(valid):
        return None, None, skipped
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(valid, [alpha, 1.0 - alpha])
    return float(low), float(high), skipped


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def contrast_aucs(
    runs: Sequence[ScoredEars],
    held_out: int,
    n_boot: int = 2000,
    seed: int = 0,
    *,
    confidence: float = 0.95,
    normal_code: int = NORMAL_CODE,
    look_alikes: Mapping[int, Sequence[int]] = LOOK_ALIKES,
) -> dict[str, dict]:
    """AUC of `held_out` per contrast (look-alikes first), pooled over cohorts, with a patient-bootstrap CI.

    Args:
        runs: every run of ONE variant: one `ScoredEars` per (cohort, model seed).
        held_out: the ear code of the held-out class (the positives).
        n_boot: bootstrap replicates (patients resampled within each cohort; see the module docstring).
        seed: seed of the numpy Generator that draws the resamples (the result is deterministic).

    Returns:
        `{contrast: {"auc", "ci_low", "ci_high", "n_positive", "n_negative", "n_cohorts", "n_runs", "n_skipped",
        "per_run": {"<cohort>/seed<seed>": auc}}}` in the order of `contrast_masks`; contrasts undefined on every
        cohort are left out; `n_positive` / `n_negative` count each ear once (not once per seed) over the cohorts
        included; `ci_low` / `ci_high` are None only if every replicate was skipped.

    Example:
        >>> run = ScoredEars("A", 0, labels=[2, 2, 1, 1, 5], patients=["a", "b", "c", "d", "e"],
        ...                  scores=[0.9, 0.4, 0.5, 0.1, 0.0])
        >>> result = contrast_aucs([run], held_out=2, n_boot=200)
        >>> list(result), result["vs_1"]["auc"], result["vs_all"]["auc"], result["vs_1"]["per_run"]
        (['vs_1', 'vs_diseased', 'vs_all'], 0.75, 0.8333333333333334, {'A/seed0': 0.75})
    """
    _check_confidence(confidence)
    held_out = int(held_out)
    cohorts = _group_cohorts(runs)
    counts = _draw_counts(cohorts, n_boot, seed)
    defined = {name: _cohort_contrasts(cohort, held_out, normal_code, look_alikes) for name, cohort in cohorts.items()}
    result: dict[str, dict] = {}
    for key in contrast_masks(np.zeros(0, dtype=np.int64), held_out, normal_code, look_alikes):
        cohort_points, cohort_boots, per_run = [], [], {}
        n_positive = n_negative = n_runs = 0
        for name, cohort in cohorts.items():
            mask = defined[name].get(key)
            if mask is None:
                continue
            points, boot = _run_aucs(cohort, cohort.runs, mask, held_out, counts[name])
            per_run.update({run.key: point for run, point in zip(cohort.runs, points)})
            cohort_points.append(float(np.mean(points)))
            cohort_boots.append(boot)
            positive = (cohort.labels == held_out) & mask
            n_positive += int(positive.sum())
            n_negative += int((mask & ~positive).sum())
            n_runs += len(cohort.runs)
        if not cohort_points:
            continue
        low, high, skipped = _interval(np.mean(cohort_boots, axis=0), confidence)
        result[key] = {"auc": float(np.mean(cohort_points)), "ci_low": low, "ci_high": high,
                       "n_positive": n_positive, "n_negative": n_negative, "n_cohorts": len(cohort_points),
                       "n_runs": n_runs, "n_skipped": skipped, "per_run": per_run}
    return result


def paired_difference(
    runs_a: Sequence[ScoredEars],
    runs_b: Sequence[ScoredEars],
    held_out: int,
    n_boot: int = 2000,
    seed: int = 0,
    *,
    confidence: float = 0.95,
    normal_code: int = NORMAL_CODE,
    look_alikes: Mapping[int, Sequence[int]] = LOOK_ALIKES,
) -> dict[str, dict]:
    """Paired bootstrap of AUC(variant a) - AUC(variant b) per contrast, on the same cohorts and patient resamples.

    The two variants must have been scored on the same cohorts, with the same test ears in the same order (same
    labels and patients); their model seeds may differ: each side averages its own runs of a cohort, then the
    cohorts are averaged as in `contrast_aucs`. Every replicate applies one patient resample to both variants.

    Returns:
        `{contrast: {"difference", "ci_low", "ci_high", "p_a_not_better", "n_cohorts", "n_skipped"}}` where
        `p_a_not_better` is the share of (non-skipped) replicates with a difference <= 0.

    Example:
        >>> labels, patients = [2, 2, 1, 1], ["a", "b", "c", "d"]
        >>> a = [ScoredEars("A", 0, labels, patients, scores=[0.9, 0.8, 0.1, 0.2])]
        >>> b = [ScoredEars("A", 0, labels, patients, scores=[0.9, 0.1, 0.5, 0.2])]
        >>> paired_difference(a, b, held_out=2, n_boot=100)["vs_1"]["difference"]
        0.5
    """
    _check_confidence(confidence)
    held_out = int(held_out)
    cohorts_a = _group_cohorts(runs_a, "runs_a")
    cohorts_b = _group_cohorts(runs_b, "runs_b")
    if list(cohorts_a) != list(cohorts_b):
        raise ValueError(f"runs_a and runs_b must cover the same cohorts, got {list(cohorts_a)} and {list(cohorts_b)}")
    for name, cohort_a in cohorts_a.items():
        cohort_b = cohorts_b[name]
        if not (np.array_equal(cohort_a.labels, cohort_b.labels) and np.array_equal(cohort_a.patients,
                                                                                  cohort_b.patients)):
            raise ValueError(f"cohort {name!r}: runs_a and runs_b were scored on different test ears (labels or "
                             "patients differ, or their order); a paired comparison needs the same ears")
    counts = _draw_counts(cohorts_a, n_boot, seed)
    defined = {name: _cohort_contrasts(cohort, held_out, normal_code, look_alikes)
               for name, cohort in cohorts_a.items()}
    result: dict[str, dict] = {}
    for key in contrast_masks(np.zeros(0, dtype=np.int64), held_out, normal_code, look_alikes):
        differences, boots = [], []
        for name, cohort in cohorts_a.items():
            mask = defined[name].get(key)
            if mask is None:
                continue
            points_a, boot_a = _run_aucs(cohort, cohort.runs, mask, held_out, counts[name])
            points_b, boot_b = _run_aucs(cohort, cohorts_b[name].runs, mask, held_out, counts[name])
            differences.append(float(np.mean(points_a)) - float(np.mean(points_b)))
            boots.append(boot_a - boot_b)
        if not differences:
            continue
        replicates = np.mean(boots, axis=0)
        low, high, skipped = _interval(replicates, confidence)
        valid = replicates[np.isfinite(replicates)]
        result[key] = {"difference": float(np.mean(differences)), "ci_low": low, "ci_high": high,
                       "p_a_not_better": float(np.mean(valid <= 0)) if len(valid) else None,
                       "n_cohorts": len(differences), "n_skipped": skipped}
    return result


def _contrast_order(held_out: int, present: Sequence[str], look_alikes: Mapping[int, Sequence[int]]) -> list[str]:
    """The contrasts in `present`, look-alikes first (in `look_alikes` order), then the others as `contrast_masks`."""
    order = list(contrast_masks(np.zeros(0, dtype=np.int64), held_out, look_alikes=look_alikes))
    extra = sorted(key for key in set(present) if key not in order)
    return [key for key in order + extra if key in present]


def contrast_label(key: str, names: Mapping[int, str] = CLASS_NAMES) -> str:
    """Column title of a contrast key, e.g. `"vs_1"` -> `"vs CSOM (1)"`, `"vs_diseased"` -> `"vs diseased"`.

    Example:
        >>> contrast_label("vs_4"), contrast_label("vs_all")
        ('vs cholesterol granuloma (4)', 'vs all')
    """
    suffix = key.removeprefix("vs_")
    if suffix.lstrip("-").isdigit():
        code = int(suffix)
        return f"vs {names[code]} ({code})" if code in names else f"vs {code}"
    return f"vs {suffix}"


def _interval_text(low: float | None, high: float | None) -> str:
    return "[n/a]" if low is None or high is None else f"[{low:.2f}, {high:.2f}]"


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"] + [
        "| " + " | ".join(row) + " |" for row in rows
    ]


def contrast_table(
    results: Mapping[str, Mapping[str, Mapping] | None],
    held_out: int,
    names: Mapping[int, str] = CLASS_NAMES,
    look_alikes: Mapping[int, Sequence[int]] = LOOK_ALIKES,
) -> str:
    """Markdown table: one row per variant, one column per contrast (look-alikes first), cells "AUC [CI]".

    `results` maps a variant name to its `contrast_aucs` output, or to None for a variant without a zero-shot
    score (e.g. a supervised CNN): its cells read "n/a". A line above the table gives the positive / negative ears
    per contrast and the cohorts / runs behind them (one line per variant if they differ).

    Example:
        >>> run = ScoredEars("A", 0, labels=[2, 2, 1, 1], patients=["a", "b", "c", "d"], scores=[0.9, 0.4, 0.5, 0.1])
        >>> print(contrast_table({"Bi-CPL": contrast_aucs([run], 2, n_boot=50), "CNN": None}, held_out=2))
        Held-out class: cholesteatoma (2). Ears positive/negative: vs CSOM (1) 2/2; vs diseased 2/2; vs all 2/2 (1 cohort, 1 run).
        <BLANKLINE>
        | Variant | vs CSOM (1) | vs diseased | vs all |
        |---|---|---|---|
        | Bi-CPL | 0.750 [0.00, 1.00] | 0.750 [0.00, 1.00] | 0.750 [0.00, 1.00] |
        | CNN | n/a | n/a | n/a |
    """  # noqa: E501
    held_out = int(held_out)
    present = [key for result in results.values() if result for key in result]
    keys = _contrast_order(held_out, present, look_alikes)
    if not keys:  # nothing scored: still show the contrasts the held-out class would have
        keys = list(contrast_masks(np.zeros(0, dtype=np.int64), held_out, look_alikes=look_alikes))

    def counts_line(result: Mapping[str, Mapping]) -> str:
        parts = [f"{contrast_label(key, names)} {result[key]['n_positive']}/{result[key]['n_negative']}"
                 for key in keys if key in result]
        n_cohorts = max((result[key]["n_cohorts"] for key in result), default=0)
        n_runs = max((result[key]["n_runs"] for key in result), default=0)
        return "; ".join(parts) + (f" ({n_cohorts} cohort{'s' * (n_cohorts != 1)}, "
                                   f"{n_runs} run{'s' * (n_runs != 1)})")

    lines_by_variant = {variant: counts_line(result) for variant, result in results.items() if result}
    title = f"Held-out class: {names.get(held_out, str(held_out))} ({held_out})."
    if len(set(lines_by_variant.values())) == 1:
        header_lines = [f"{title} Ears positive/negative: {next(iter(lines_by_variant.values()))}."]
    elif lines_by_variant:
        header_lines = [f"{title} Ears positive/negative:"] + [f"- {variant}: {line}."
                                                             for variant, line in lines_by_variant.items()]
    else:
        header_lines = [f"{title} No variant has a zero-shot score."]
    rows = []
    for variant, result in results.items():
        cells = []
        for key in keys:
            entry = result.get(key) if result else None
            cells.append("n/a" if entry is None else f"{entry['auc']:.3f} {_interval_text(entry['ci_low'], entry['ci_high'])}")
        rows.append([str(variant), *cells])
    return "\n".join(header_lines + [""] + _markdown(["Variant"] + [contrast_label(key, names) for key in keys], rows))


def paired_table(
    differences: Mapping[tuple[str, str], Mapping[str, Mapping] | None] | Sequence[tuple[str, str, Mapping | None]],
    held_out: int,
    names: Mapping[int, str] = CLASS_NAMES,
    look_alikes: Mapping[int, Sequence[int]] = LOOK_ALIKES,
) -> str:
    """Markdown table of paired AUC differences: one row per "a − b", cells "+0.031 [0.01, 0.05] p=0.004".

    `differences` maps `(variant_a, variant_b)` to a `paired_difference` output (or is a list of
    `(variant_a, variant_b, output)`); None prints "n/a". `p` is `p_a_not_better`, the one-sided bootstrap share of
    replicates where a is not better than b.

    Example:
        >>> labels, patients = [2, 2, 1, 1], ["a", "b", "c", "d"]
        >>> a = [ScoredEars("A", 0, labels, patients, scores=[0.9, 0.8, 0.1, 0.2])]
        >>> print(paired_table({("Bi-CPL", "CLIP"): paired_difference(a, a, 2, n_boot=20)}, held_out=2))
        | Comparison | vs CSOM (1) | vs diseased | vs all |
        |---|---|---|---|
        | Bi-CPL − CLIP | +0.000 [0.00, 0.00] p=1.000 | +0.000 [0.00, 0.00] p=1.000 | +0.000 [0.00, 0.00] p=1.000 |
    """
    held_out = int(held_out)
    items = list(differences.items()) if isinstance(differences, Mapping) else [
        ((a, b), result) for a, b, result in differences
    ]
    keys = _contrast_order(held_out, [key for _, result in items if result for key in result], look_alikes)
    if not keys:
        keys = list(contrast_masks(np.zeros(0, dtype=np.int64), held_out, look_alikes=look_alikes))
    rows = []
    for (variant_a, variant_b), result in items:
        cells = []
        for key in keys:
            entry = result.get(key) if result else None
            if entry is None:
                cells.append("n/a")
                continue
            p = entry["p_a_not_better"]
            cells.append(f"{entry['difference']:+.3f} {_interval_text(entry['ci_low'], entry['ci_high'])}"
                         + ("" if p is None else f" p={p:.3f}"))
        rows.append([f"{variant_a} − {variant_b}", *cells])
    return "\n".join(_markdown(["Comparison"] + [contrast_label(key, names) for key in keys], rows))


__all__ = [
    "CLASS_NAMES",
    "LOOK_ALIKES",
    "UNKNOWN",
    "ScoredEars",
    "contrast_aucs",
    "contrast_label",
    "contrast_masks",
    "contrast_table",
    "paired_difference",
    "paired_table",
]
