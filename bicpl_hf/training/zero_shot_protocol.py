"""How a zero-shot figure is obtained honestly (DESIGN.md section 7): development and test classes and cohorts, the
look-alike contrast tables with patient-resampled CIs, paired differences, the paraphrase spread, and the log of
every scoring of a test class.

- The **development class** (code 3, secretory otitis media) is held out on **development cohorts** (data seeds below
  `FIRST_TEST_DATA_SEED`) for every choice of recipe, loss, prompt style or hyperparameter; only its figures are
  reported there (code 4 is zero-shot in every run, but it is a test class: its development scores are not shown).
- The **test classes** (code 2, cholesteatoma, held out; code 4, cholesterol granuloma, never trained on) are scored on
  **fresh cohorts** (`TEST_DATA_SEEDS`, never used in development) once a recipe is frozen; every such scoring appends
  one line (commit, recipe, data seeds, figures) to the scoring log, so the number of test evaluations is visible.

Example:
    >>> check_protocol(2, [1001, 1002, 1003])
    >>> check_protocol(2, [0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: code 2 is a test class: score it on the fresh test cohorts (...), not on development cohort(s) [0]; ...
    >>> scored_codes(2), scored_codes(3)
    ((2, 4), (3,))
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..metrics.lookalike_contrasts import (
    contrast_aucs,
    contrast_label,
    contrast_masks,
    contrast_table,
    paired_difference,
    paired_table,
)
from ..metrics.zero_shot_metrics import binary_auc
from .scored_ears import ScoredEarRecord

DEVELOPMENT_CLASS = 3
TEST_CLASSES = (2, 4)
FIRST_TEST_DATA_SEED = 1000  # data seeds from here on are test cohorts; below, development cohorts
TEST_DATA_SEEDS = (1001, 1002, 1003)
DEVELOPMENT_DATA_SEEDS = (0,)
# The variant whose differences to every baseline get a paired CI.
METHOD_VARIANT = "bicpl_v3"


def is_test_cohort(data_seed: int) -> bool:
    return int(data_seed) >= FIRST_TEST_DATA_SEED


def check_protocol(held_out: int, data_seeds: Sequence[int]) -> None:
    """Refuse a run that mixes development and test: a test class on a development cohort, the development class on a
    test cohort, or a mix of both kinds of cohort."""
    seeds = [int(s) for s in data_seeds]
    test = [s for s in seeds if is_test_cohort(s)]
    development = [s for s in seeds if not is_test_cohort(s)]
    if int(held_out) in TEST_CLASSES and development:
        raise ValueError(f"code {held_out} is a test class: score it on the fresh test cohorts (data seeds >= "
                         f"{FIRST_TEST_DATA_SEED}, e.g. {' '.join(map(str, TEST_DATA_SEEDS))}), not on development "
                         f"cohort(s) {development}; choose recipes with the development class {DEVELOPMENT_CLASS} held "
                         f"out (--held-out {DEVELOPMENT_CLASS})")
    if int(held_out) not in TEST_CLASSES and test:
        raise ValueError(f"test cohorts {test} are only for the test classes {list(TEST_CLASSES)}; hold out code "
                         f"{held_out} on development cohorts (data seeds < {FIRST_TEST_DATA_SEED})")


def scored_codes(held_out: int) -> tuple[int, ...]:
    """The zero-shot classes a run reports: the held-out class, plus code 4 when the held-out class is a test class."""
    held_out = int(held_out)
    return (held_out,) if held_out not in TEST_CLASSES or held_out == 4 else (held_out, 4)


def _group_runs(records: Sequence[ScoredEarRecord], code: int, score: str = "cosine") -> dict[str, list]:
    """variant -> the runs (`ScoredEars`) scoring class `code`, or None for a variant with no zero-shot score."""
    from ..metrics.lookalike_contrasts import ScoredEars

    grouped: dict[str, list | None] = {}
    for record in records:
        if not record.zero_shot:
            grouped[record.variant] = None
            continue
        grouped.setdefault(record.variant, []).append(ScoredEars(
            cohort=record.cohort, seed=record.seed, labels=record.labels, patients=record.patients,
            scores=record.class_scores(code, score)))
    return grouped


def paraphrase_spread(records: Sequence[ScoredEarRecord], code: int) -> dict[str, dict]:
    """Per variant: the AUC of every paraphrase of class `code` (mean over the variant's runs), per contrast, and its
    mean, sd and minimum over the paraphrases; also per paraphrase kind (name, english, hedged, ...)."""
    out: dict[str, dict] = {}
    by_variant: dict[str, list[ScoredEarRecord]] = {}
    for record in records:
        if record.zero_shot and code in record.paraphrases:
            by_variant.setdefault(record.variant, []).append(record)
    for variant, runs in by_variant.items():
        kinds = runs[0].paraphrase_kinds.get(code, [])
        per_contrast: dict[str, np.ndarray] = {}
        for record in runs:
            for contrast, mask in contrast_masks(record.labels, code).items():
                aucs = [binary_auc(record.labels[mask] == code, record.paraphrases[code][mask, i])
                        for i in range(record.paraphrases[code].shape[1])]
                per_contrast.setdefault(contrast, []).append(np.array([np.nan if a is None else a for a in aucs]))
        stats = {}
        for contrast, values in per_contrast.items():
            mean_over_runs = np.nanmean(np.stack(values), axis=0)
            stats[contrast] = {"mean": float(np.mean(mean_over_runs)), "sd": float(np.std(mean_over_runs, ddof=1))
                               if len(mean_over_runs) > 1 else 0.0, "min": float(np.min(mean_over_runs)),
                               "per_paraphrase": mean_over_runs.round(4).tolist(),
                               "per_kind": {k: float(np.mean([v for v, kk in zip(mean_over_runs, kinds) if kk == k]))
                                            for k in dict.fromkeys(kinds)}}
        out[variant] = stats
    return out


def _per_run_table(results: dict[str, dict | None]) -> str:
    """Every run's AUC (cohort/seed columns) per variant and contrast: the values behind each mean."""
    runs = sorted({run for r in results.values() if r for c in r.values() for run in c["per_run"]})
    if not runs:
        return ""
    lines = ["| variant | contrast | " + " | ".join(runs) + " |", "|---|---|" + "---|" * len(runs)]
    for variant, per_contrast in results.items():
        for contrast, stats in (per_contrast or {}).items():
            lines.append(f"| {variant} | {contrast_label(contrast)} | " + " | ".join(
                f"{stats['per_run'][r]:.3f}" if stats["per_run"].get(r) is not None else "–" for r in runs) + " |")
    return "Every run (cohort/seed):\n\n" + "\n".join(lines) + "\n\n"


def _spread_table(spread: dict[str, dict], code: int) -> str:
    if not spread:
        return ""
    contrasts = list(next(iter(spread.values())))
    lines = [f"| variant | {' | '.join(f'{contrast_label(c)}: mean ± sd (min)' for c in contrasts)} |",
             "|---|" + "---|" * len(contrasts)]
    for variant, stats in spread.items():
        cells = [f"{stats[c]['mean']:.3f} ± {stats[c]['sd']:.3f} ({stats[c]['min']:.3f})" if c in stats else "–"
                 for c in contrasts]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    n = len(next(iter(spread.values()))[contrasts[0]]["per_paraphrase"])
    kinds = list(next(iter(spread.values()))[contrasts[0]]["per_kind"])
    lines += ["", f"Mean AUC ({contrast_label(contrasts[0])}) by paraphrase kind:", "",
              "| variant | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for variant, stats in spread.items():
        lines.append(f"| {variant} | " + " | ".join(f"{stats[contrasts[0]]['per_kind'][k]:.3f}" for k in kinds) + " |")
    return f"Class {code}: AUC of each of {n} prompt paraphrases encoded alone (not the knowledge base's ensemble), " \
           "mean over runs, then mean ± sd and minimum over the paraphrases.\n\n" + "\n".join(lines) + "\n"


def protocol_report(records: Sequence[ScoredEarRecord], held_out: int, *, n_boot: int = 2000, seed: int = 0,
                    method: str = METHOD_VARIANT) -> tuple[str, dict]:
    """The protocol's tables for every scored class of `held_out` (look-alike contrasts first, 95% CIs by a bootstrap
    resampled by patient within each cohort, mean over cohorts and seeds), the paired differences of `method` to
    every other zero-shot variant, and the paraphrase spread; `(markdown, json-able document)`."""
    sections, document = [], {}
    cohorts = sorted({r.cohort for r in records})
    for code in scored_codes(held_out):
        grouped = _group_runs(records, code)
        results = {v: None if runs is None else contrast_aucs(runs, code, n_boot=n_boot, seed=seed)
                   for v, runs in grouped.items()}
        differences = {}
        if grouped.get(method):
            for other, runs in grouped.items():
                if other != method and runs and not other.startswith("ceiling"):
                    differences[(method, other)] = paired_difference(grouped[method], runs, code, n_boot=n_boot,
                                                                     seed=seed)
        spread = paraphrase_spread(records, code)
        role = "held-out (never trained on)" if code == held_out else "never trained on"
        sections.append(f"### Code {code}, {role}: raw cosine to the class prototype, cohorts {cohorts}\n\n"
                        + contrast_table(results, code).rstrip("\n") + "\n\n"
                        + (f"Paired differences ({method} minus baseline, same patient resamples):\n\n"
                           + paired_table(differences, code).rstrip("\n") + "\n\n" if differences else "")
                        + _spread_table(spread, code) + "\n" + _per_run_table(results))
        document[str(code)] = {"contrasts": results,
                               "paired": {f"{a} - {b}": d for (a, b), d in differences.items()},
                               "paraphrases": spread}
    return "\n".join(sections), document


def current_commit() -> str:
    """The checked-out commit (with `+dirty` when the tree has changes), or "unknown" outside a git checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def append_scoring_log(path: str | Path, *, held_out: int, data_seeds: Sequence[int], seeds: Sequence[int],
                       variants: Sequence[str], recipe: dict, document: dict) -> dict:
    """Append one JSON line for a scoring of test classes: when, commit, recipe, cohorts, seeds and the look-alike
    figures (point estimates and CIs) of every variant."""
    figures = {}
    for code, per_code in document.items():
        for variant, contrasts in per_code["contrasts"].items():
            figures[f"{code}/{variant}"] = "n/a" if contrasts is None else {
                c: [round(v["auc"], 4), round(v["ci_low"], 4), round(v["ci_high"], 4)] for c, v in contrasts.items()}
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "commit": current_commit(), "held_out": int(held_out),
             "data_seeds": [int(s) for s in data_seeds], "model_seeds": [int(s) for s in seeds],
             "variants": list(variants), "recipe": recipe, "figures": figures}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
    return entry


__all__ = ["DEVELOPMENT_CLASS", "DEVELOPMENT_DATA_SEEDS", "FIRST_TEST_DATA_SEED", "METHOD_VARIANT", "TEST_CLASSES",
           "TEST_DATA_SEEDS", "append_scoring_log", "check_protocol", "current_commit", "is_test_cohort",
           "paraphrase_spread", "protocol_report", "scored_codes"]
