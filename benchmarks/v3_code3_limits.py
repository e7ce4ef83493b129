"""What limits Bi-CPL v3 on the DEVELOPMENT class (code 3, secretory otitis media): three probes on one development
cohort's test ears, from the finding logits a `bicpl benchmark --held-out 3` run saved and the cohort's cached build.

1. Evidence split: code 3 scored from the findings it states only, and from the findings it lacks only (the two halves
   of the `likelihood_ratio` sum), and the findings whose evidence most separates code-3 ears from normal ears.
2. Detector calibration: each finding's logit re-fitted (Platt, class-balanced) on seen-class ears, once on all of
   them and on draws of the validation split's size, to see whether calibrated log-likelihood ratios would help.
3. Density: the median soft-tissue-window HU of each region's "core" soft contents (voxels whose whole 3x3x3
   neighbourhood lies in the soft band, so partial volume at air / bone edges is left out), by class, and how well it
   tells fluid (code 3) from CSOM (1) and cholesteatoma (2).

Probes only: nothing here changes the recipe. Refuses test cohorts (data seeds >= 1000).

Usage:
    python benchmarks/v3_code3_limits.py RUN_DIR --build CACHE/data-<key> [--variant bicpl_v3] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

CONTRASTS = (("vs CSOM", "vs_1"), ("vs normal", "vs_5"))
DENSITY_REGIONS = ("tympanic_cavity", "hypotympanum", "attic_scutum", "aditus_antrum", "mastoid_cells")
VALIDATION_EARS, DRAWS = 92, 20  # the development cohort's validation split: 46 exams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("--build", required=True, help="the development cohort's cached build folder")
    parser.add_argument("--variant", default="bicpl_v3")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    from v3_rule_choice import _development_view

    from bicpl_hf.training.zero_shot_protocol import DEVELOPMENT_CLASS, FIRST_TEST_DATA_SEED

    folder = next(iter(sorted(Path(args.run).glob(f"cohort_*/seed_*/{args.variant}_B"))), None)
    if folder is None:
        raise SystemExit(f"error: no cohort_*/seed_*/{args.variant}_B under {args.run}")
    cohort = int(folder.parent.parent.name.split("_")[1])
    if cohort >= FIRST_TEST_DATA_SEED:
        raise SystemExit(f"error: {folder} is a test cohort; these probes read development cohorts only")
    info = json.loads((folder / "finding_scores.json").read_text(encoding="utf-8"))
    stored = np.load(folder / "finding_logits.npz")
    findings = [tuple(f) for f in stored["findings"].tolist()]
    logits = stored["logits"].reshape(-1, len(findings))
    ears = np.load(folder.parent / f"ears_{args.variant}_B.npz")
    labels = ears["labels"]
    view = _development_view(args.build, cohort)
    lines = [f"# What limits Bi-CPL v3 on code {DEVELOPMENT_CLASS} (development cohort {cohort}, {folder.parent.name}, "
             f"`{args.variant}`)", ""]
    lines += _evidence_split(logits, findings, ears, info, DEVELOPMENT_CLASS)
    lines += _calibration(logits, findings, ears, info, view["test"], DEVELOPMENT_CLASS)
    lines += _density(view["test"], labels, Path(args.build), DEVELOPMENT_CLASS)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


def _contrast_aucs(scores: np.ndarray, ears, code: int) -> list[float]:
    """AUC of `code` against each of `CONTRASTS`, as the protocol computes it (`contrast_aucs`, no bootstrap)."""
    from bicpl_hf.metrics.lookalike_contrasts import ScoredEars, contrast_aucs

    result = contrast_aucs([ScoredEars("dev", 0, ears["labels"], ears["patients"], scores)], code, n_boot=1)
    return [result[key]["auc"] for _, key in CONTRASTS]


def _class_terms(logits, findings, info, code):
    """Per ear and finding, the class's `likelihood_ratio` term, and the masks of the findings it states / lacks."""
    import torch

    from bicpl_hf.modeling.modeling_bicpl_regions import finding_masks, likelihood_ratio_terms, universe_likelihood

    recorded = set(findings)
    universe, present, absent = finding_masks([info["class_findings"][str(code)]], info["region_findings"],
                                              lambda f: tuple(f) in recorded)
    rates = universe_likelihood(universe, info["region_findings"], info["finding_likelihood"])
    chosen = torch.from_numpy(logits[:, [findings.index(tuple(f)) for f in universe]]).double()
    terms = likelihood_ratio_terms(chosen, present, rates)[:, 0].numpy()
    return universe, terms, present.numpy()[0] > 0, absent.numpy()[0] > 0


def _evidence_split(logits, findings, ears, info, code) -> list[str]:
    labels = ears["labels"]
    universe, terms, stated, lacking = _class_terms(logits, findings, info, code)
    rows = [("both (the recipe)", terms[:, stated | lacking].sum(1)), ("stated findings only", terms[:, stated].sum(1)),
            ("lacking findings only", terms[:, lacking].sum(1))]
    lines = ["## 1. Evidence split", "", "| code 3 scored from | " + " | ".join(c for c, _ in CONTRASTS) + " |",
             "|---|---|---|"]
    lines += [f"| {name} | " + " | ".join(f"{a:.3f}" for a in _contrast_aucs(s, ears, code)) + " |" for name, s in rows]
    gap = terms[labels == code].mean(0) - terms[labels == 5].mean(0)
    worst = [i for i in np.argsort(gap) if stated[i] or lacking[i]][:6]
    lines += ["", "Findings whose term most favours normal ears over code-3 ears (mean term, code 3 minus normal):", "",
              "| finding | stated by code 3 | code 3 − normal |", "|---|---|---|"]
    lines += [f"| {' / '.join(universe[i])} | {'yes' if stated[i] else 'no'} | {gap[i]:+.3f} |" for i in worst]
    return lines + [""]


def _calibration(logits, findings, ears, info, test, code) -> list[str]:
    from sklearn.linear_model import LogisticRegression

    from bicpl_hf.training.attribute_composition import ear_finding_labels

    labels = ears["labels"]
    truth = ear_finding_labels(test, findings).reshape(-1, len(findings)) > 0.5
    seen = np.flatnonzero(np.isin(labels, [c for c in (1, 2, 5) if c != code]))

    def calibrated(ears):
        out = logits.astype(np.float64).copy()
        for j in range(len(findings)):
            target = truth[ears, j]
            if target.sum() >= 3 and (~target).sum() >= 3:
                fit = LogisticRegression(C=1e4, class_weight="balanced").fit(logits[ears, j:j + 1], target)
                out[:, j] = fit.coef_[0, 0] * logits[:, j] + fit.intercept_[0]
        return out

    def scored(matrix):
        _, terms, stated, lacking = _class_terms(matrix, findings, info, code)
        return _contrast_aucs(terms[:, stated | lacking].sum(1), ears, code)

    rng = np.random.default_rng(0)
    draws = np.array([scored(calibrated(rng.choice(seen, VALIDATION_EARS, replace=False))) for _ in range(DRAWS)])
    lines = ["## 2. Detector calibration (Platt per finding, class-balanced, fitted on seen-class ears)", "",
             "| logits | " + " | ".join(c for c, _ in CONTRASTS) + " | worst look-alike |", "|---|---|---|---|"]
    for name, aucs in (("as trained (the recipe)", scored(logits)),
                       (f"fitted on all {len(seen)} seen-class test ears (optimistic)", scored(calibrated(seen)))):
        lines.append(f"| {name} | " + " | ".join(f"{a:.3f}" for a in aucs) + f" | {min(aucs):.3f} |")
    worst = draws.min(1)
    lines.append(f"| fitted on {VALIDATION_EARS} seen-class ears (validation size), median of {DRAWS} draws | "
                 + " | ".join(f"{np.median(draws[:, k]):.3f}" for k in range(len(CONTRASTS)))
                 + f" | {np.median(worst):.3f} ({worst.min():.3f}-{worst.max():.3f}) |")
    return lines + [""]


def _density(test, labels, build: Path, code) -> list[str]:
    import torch
    import torch.nn.functional as F

    from bicpl_hf.metrics.zero_shot_metrics import binary_auc
    from bicpl_hf.modeling.modeling_bicpl_regions import SOFT_CONTENT_HU, RegionDensityFeatures, _window_to_hu
    from bicpl_hf.processing.image_processing_bicpl import BiCPLVolumeProcessor
    from bicpl_hf.training.region_findings import region_geometry_of

    geometry = region_geometry_of(BiCPLVolumeProcessor.from_pretrained(build / "built"))  # the build's own processor
    pixels = torch.from_numpy(np.stack([np.asarray(r, dtype=np.float32) for r in test["pixel_values"]]))
    regions = RegionDensityFeatures(geometry, DENSITY_REGIONS)
    hu = _window_to_hu(pixels[:, :, 0], geometry["windows"][0])
    soft = _window_to_hu(pixels[:, :, 1], geometry["windows"][1])
    content = ((hu >= SOFT_CONTENT_HU[0]) & (hu < SOFT_CONTENT_HU[1])).float()
    flat = content.reshape(-1, 1, *content.shape[-3:])
    core = (-F.max_pool3d(-flat, 3, 1, 1)).reshape_as(content) > 0.5  # every neighbour in the soft band
    lines = ["## 3. Density of each region's core soft contents (median soft-window HU; ears with >= 3 core voxels)",
             "", "| region | median HU: code 3 / CSOM / cholesteatoma / normal | ears with core contents (3 / 1 / 2 / 5) "
             "| fluid vs CSOM AUC | fluid vs cholesteatoma AUC |", "|---|---|---|---|---|"]
    for (_, box), name in zip(regions.boxes, regions.in_view):
        values = soft[(slice(None), slice(None), *box)].reshape(-1, int(np.prod([s.stop - s.start for s in box])))
        mask = core[(slice(None), slice(None), *box)].reshape(values.shape)
        median = np.array([np.median(v[m].numpy()) if int(m.sum()) >= 3 else np.nan for v, m in zip(values, mask)])
        known = ~np.isnan(median)
        cells = [f"{np.nanmedian(median[labels == c]):.1f}" if (known & (labels == c)).any() else "–" for c in (3, 1, 2, 5)]
        counts = [str(int((known & (labels == c)).sum())) for c in (3, 1, 2, 5)]
        aucs = []
        for other in (1, 2):
            keep = known & np.isin(labels, [code, other])
            auc = binary_auc(labels[keep] == code, -median[keep]) if keep.any() else None  # fluid: lower HU
            aucs.append("–" if auc is None else f"{auc:.3f}")
        lines.append(f"| {name} | {' / '.join(cells)} | {' / '.join(counts)} | {aucs[0]} | {aucs[1]} |")
    return lines


if __name__ == "__main__":
    main()
