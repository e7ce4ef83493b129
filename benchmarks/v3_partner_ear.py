"""Where the partner ear helps Bi-CPL v3, on a DEVELOPMENT cohort: the region head's per-finding AUC of `bicpl_v3`
against its one-ear version (`bicpl_v3-bilateral`, no partner anywhere), split by whether the exam's other ear shows the
same finding (a unilateral finding, where a difference between the ears can flag it) or not (both ears, where it cannot).

Reads two `bicpl benchmark --held-out 3` output folders (each with `cohort_<seed>/seed_<s>/<variant>_B/
finding_logits.npz`) and the cohort's cached build for the findings each report states. Refuses test cohorts.

Usage:
    python benchmarks/v3_partner_ear.py BILATERAL_RUN ONE_EAR_RUN --build CACHE/data-<key> [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

FLUID = {"effusion", "air_fluid_level", "bubbles"}
MIN_POSITIVES = 5  # a finding with fewer positive ears in a stratum gets no AUC there


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bilateral_run")
    parser.add_argument("one_ear_run")
    parser.add_argument("--build", required=True)
    parser.add_argument("--variants", nargs=2, default=("bicpl_v3", "bicpl_v3-bilateral"))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    from v3_rule_choice import _development_view

    from bicpl_hf.knowledge.finding_vocabulary import finding_phrase
    from bicpl_hf.metrics.zero_shot_metrics import binary_auc
    from bicpl_hf.training.attribute_composition import ear_finding_labels
    from bicpl_hf.training.zero_shot_protocol import FIRST_TEST_DATA_SEED

    runs = []
    for root, variant in zip((args.bilateral_run, args.one_ear_run), args.variants):
        folder = next(iter(sorted(Path(root).glob(f"cohort_*/seed_*/{variant}_B"))), None)
        if folder is None:
            raise SystemExit(f"error: no cohort_*/seed_*/{variant}_B under {root}")
        runs.append(folder)
    cohorts = {int(f.parent.parent.name.split("_")[1]) for f in runs}
    if len(cohorts) != 1 or min(cohorts) >= FIRST_TEST_DATA_SEED:
        raise SystemExit(f"error: both runs must be of one development cohort (< {FIRST_TEST_DATA_SEED}); got {cohorts}")
    cohort = cohorts.pop()
    stored = [np.load(f / "finding_logits.npz") for f in runs]
    findings = [tuple(f) for f in stored[0]["findings"].tolist()]
    if [tuple(f) for f in stored[1]["findings"].tolist()] != findings:
        raise SystemExit("error: the two runs recorded different findings")
    test = _development_view(args.build, cohort)["test"]
    truth = ear_finding_labels(test, findings) > 0.5  # (N, 2, V)
    partner = truth[:, ::-1]
    strata = {"every positive ear": truth, "partner lacks it (unilateral)": truth & ~partner,
              "partner has it too (bilateral)": truth & partner}
    negative = ~truth
    rows, summary = [], {name: {"fluid": [], "other": []} for name in strata}
    for j, finding in enumerate(findings):
        cells = []
        for name, positive in strata.items():
            pos = positive[..., j].reshape(-1)
            keep = pos | negative[..., j].reshape(-1)
            if pos.sum() < MIN_POSITIVES:
                cells.append(f"– ({int(pos.sum())})")
                continue
            aucs = [binary_auc(pos[keep], s["logits"][..., j].reshape(-1)[keep]) for s in stored]
            summary[name]["fluid" if finding[1] in FLUID else "other"].append(aucs)
            cells.append(f"{aucs[0]:.3f} / {aucs[1]:.3f} ({int(pos.sum())})")
        rows.append(f"| {finding_phrase(finding)} | {finding[1]} | " + " | ".join(cells) + " |")
    rates = [_normal_variant_rate(f.parent / "results.json", f.name[:-2]) for f in runs]
    lines = [f"# Where the partner ear helps Bi-CPL v3: development cohort {cohort}, code 3 held out",
             "", f"`{args.variants[0]}` ({runs[0].parent}) against `{args.variants[1]}` ({runs[1].parent}), the region "
             "head's logits on the development test ears. Each cell: AUC with the partner / one ear at a time "
             f"(positive ears); every negative ear of the finding is the reference; no AUC under {MIN_POSITIVES} "
             "positives.", "",
             "| stratum | attributes | findings | mean AUC with the partner | one ear | mean difference | findings "
             "where the partner helps |", "|---|---|---|---|---|---|---|"]
    for name, groups in summary.items():
        for group, pairs in groups.items():
            if not pairs:
                continue
            a = np.array(pairs)
            lines.append(f"| {name} | {group} | {len(a)} | {a[:, 0].mean():.3f} | {a[:, 1].mean():.3f} | "
                         f"{(a[:, 0] - a[:, 1]).mean():+.3f} | {int((a[:, 0] > a[:, 1]).sum())} of {len(a)} |")
    lines += ["", "Normal ears of exams with a bilateral normal variant called diseased: "
              + ", ".join(f"`{v}` {r}" for v, r in zip(args.variants, rates)), "",
              "| finding | attribute | " + " | ".join(strata) + " |", "|---|---|" + "---|" * len(strata)] + rows
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


def _normal_variant_rate(results: Path, variant: str) -> str:
    """`zs/normal_variant_called_diseased` of `variant` in a seed folder's `results.json`, as 'rate (k of n)'."""
    for run in json.loads(results.read_text(encoding="utf-8")).get("runs", []):
        rate, count = run.get("zs/normal_variant_called_diseased"), run.get("zs/n_normal_variant_ears")
        if run.get("variant") == variant and rate is not None and count:
            return f"{rate:.3f} ({round(rate * count)} of {count})"
    return "not recorded"


if __name__ == "__main__":
    main()
