"""Choose Bi-CPL v3's finding score rule on the DEVELOPMENT class: every rule of `FINDING_SCORE_RULES` applied to the
finding logits a `bicpl benchmark --held-out 3` run of `bicpl_v3` saved (`finding_logits.npz`), scored with the
protocol's look-alike contrasts of code 3, plus the per-finding AUC of the region head on the same ears, and the
development class's paraphrases scored as the run recorded them and with the names read in the knowledge base
(`finding_scores.named_disease_findings`), from the same logits.

Refuses anything but the development class on development cohorts (data seeds < 1000): a test class is scored once,
by the frozen recipe, through `bicpl benchmark`.

Usage:
    python benchmarks/v3_rule_choice.py RUN_DIR [RUN_DIR ...] --out benchmarks/results/v3_dev_choices.md
(RUN_DIR = a benchmark output folder holding cohort_<seed>/seed_<s>/<variant>_B/finding_logits.npz)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    import torch

    from bicpl_hf.knowledge.finding_vocabulary import finding_phrase
    from bicpl_hf.metrics.lookalike_contrasts import ScoredEars, contrast_aucs
    from bicpl_hf.metrics.zero_shot_metrics import binary_auc
    from bicpl_hf.modeling.configuration_bicpl import FINDING_SCORE_RULES
    from bicpl_hf.modeling.modeling_bicpl_regions import finding_class_scores, finding_masks, universe_likelihood
    from bicpl_hf.training.zero_shot_protocol import DEVELOPMENT_CLASS, FIRST_TEST_DATA_SEED

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--variant", default="bicpl_v3")
    parser.add_argument("--build", default=None, help="the cached build (for the per-finding AUC)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    from bicpl_hf.knowledge import load_knowledge_base
    from bicpl_hf.knowledge.paraphrases import load_prompt_paraphrases
    from bicpl_hf.training.attribute_composition import ear_finding_labels
    from bicpl_hf.training.region_findings import prompt_set_scores
    from bicpl_hf.zero_shot.finding_scores import prompt_findings

    runs = {rule: [] for rule in FINDING_SCORE_RULES}
    finding_rows = []
    paraphrases = load_prompt_paraphrases()[DEVELOPMENT_CLASS]
    knowledge_base = load_knowledge_base()
    by_paraphrase = {"as recorded": [[] for _ in paraphrases], "names read in the knowledge base": [[] for _ in
                                                                                                   paraphrases]}
    for root in map(Path, args.runs):
        for folder in sorted(root.glob(f"cohort_*/seed_*/{args.variant}_B")):
            cohort = int(folder.parent.parent.name.split("_")[1])
            if cohort >= FIRST_TEST_DATA_SEED:
                raise SystemExit(f"error: {folder} is a test cohort; rules are chosen on development cohorts only")
            info = json.loads((folder / "finding_scores.json").read_text(encoding="utf-8"))
            seed = int(folder.parent.name.split("_")[1])
            ears = np.load(folder.parent / f"ears_{args.variant}_B.npz")
            stored = np.load(folder / "finding_logits.npz")
            logits, findings = stored["logits"], [tuple(f) for f in stored["findings"].tolist()]
            codes = ears["class_codes"].tolist()
            if DEVELOPMENT_CLASS not in codes:
                raise SystemExit(f"error: {folder}: no column for the development class {DEVELOPMENT_CLASS}")
            # The development class scored as the model scores it (`finding_masks`: the evidence against it from the
            # training vocabulary), from the region head's recorded logits.
            # The cohort's development view (code 3 held out), read once: rates and the per-finding AUC use it.
            view = _development_view(args.build, cohort) if args.build else None
            likelihood = info.get("finding_likelihood")
            if likelihood is None and view is not None:  # a run recorded before the rule existed: estimated as training
                likelihood = _estimated_likelihood(view["train"], info)
            recorded_findings = set(findings)
            scorable = lambda f: tuple(f) in recorded_findings  # noqa: E731 (a finding with a recorded logit)
            stated = info["class_findings"][str(DEVELOPMENT_CLASS)]
            universe, present, absent = finding_masks([stated], info["region_findings"], scorable)
            chosen = torch.from_numpy(logits[..., [findings.index(tuple(f)) for f in universe]]).double()
            rates = None if likelihood is None else universe_likelihood(universe, info["region_findings"], likelihood)
            for rule in FINDING_SCORE_RULES:
                if rule == "likelihood_ratio" and rates is None:
                    continue  # no rates recorded and no build to estimate them from
                scores = finding_class_scores(chosen, present, rule, absent=absent,
                                              likelihood=rates)[..., 0].reshape(-1).numpy()
                runs[rule].append(ScoredEars(str(cohort), seed, ears["labels"], ears["patients"], scores))
            # Paraphrases: as the run scored them (findings, else the text prototype), and with a name read in the
            # knowledge base (only paraphrases that state no finding change; the rest are scored as recorded).
            recorded = ears[f"paraphrases_{DEVELOPMENT_CLASS}"]
            for i, entry in enumerate(paraphrases):
                by_paraphrase["as recorded"][i].append(
                    ScoredEars(str(cohort), seed, ears["labels"], ears["patients"], recorded[:, i]))
                kb_scores = recorded[:, i]
                if not prompt_findings([entry["text"]]) and prompt_findings([entry["text"]], knowledge_base):
                    kb_scores = prompt_set_scores(logits, findings, {0: [entry["text"]]}, info["rule"],
                                                  info["region_findings"], scorable, knowledge_base,
                                                  likelihood)[..., 0].reshape(-1)
                by_paraphrase["names read in the knowledge base"][i].append(
                    ScoredEars(str(cohort), seed, ears["labels"], ears["patients"], kb_scores))
            if view is not None:
                labels = ear_finding_labels(view["test"], findings)
                for j, finding in enumerate(findings):
                    y, p = labels[..., j].reshape(-1), logits[..., j].reshape(-1)
                    finding_rows.append((cohort, finding_phrase(finding), int(y.sum()), binary_auc(y > 0.5, p)))
    lines = [f"# Bi-CPL v3 finding score rule, development class {DEVELOPMENT_CLASS} (held out), development cohorts",
             "", "| rule | " + " | ".join(["vs CSOM", "vs normal", "vs diseased", "vs all"]) + " |", "|---|---|---|---|---|"]
    for rule, scored in runs.items():
        if not scored:
            continue
        result = contrast_aucs(scored, DEVELOPMENT_CLASS, n_boot=500)
        cells = []
        for key in list(result)[:4]:
            r = result[key]
            cells.append(f"{r['auc']:.3f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]")
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    lines += ["", f"Paraphrases of code {DEVELOPMENT_CLASS} ({len(paraphrases)}), each scored alone, vs CSOM and vs all:",
              "", "| paraphrases | vs CSOM mean ± sd (min) | vs all mean ± sd (min) | per paraphrase vs CSOM |",
              "|---|---|---|---|"]
    for name, per_paraphrase in by_paraphrase.items():
        cells, per = [], []
        for contrast in ("vs_1", "vs_all"):
            aucs = np.array([contrast_aucs(scored, DEVELOPMENT_CLASS, n_boot=1)[contrast]["auc"]
                             for scored in per_paraphrase])
            cells.append(f"{aucs.mean():.3f} ± {aucs.std(ddof=1):.3f} ({aucs.min():.3f})")
            per.append(aucs)
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | " + " ".join(f"{a:.2f}" for a in per[0]) + " |")
    if finding_rows:
        lines += ["", "Per-finding AUC of the region head (development cohort test ears, development class held out):",
                  "", "| cohort | finding | positive ears | AUC |", "|---|---|---|---|"]
        lines += [f"| {c} | {f} | {n} | {'n/a' if a is None else f'{a:.3f}'} |" for c, f, n, a in finding_rows]
    text = "\n".join(line for line in lines if line is not None) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


def _development_view(build: str, cohort: int):
    """The Setting B view of `cohort`'s build with the development class held out, split as the benchmark splits it."""
    from bicpl_hf.data.splits import load_built_dataset, setting_view
    from bicpl_hf.training.benchmark_runner import enrich_test_split
    from bicpl_hf.training.zero_shot_protocol import DEVELOPMENT_CLASS

    dataset = enrich_test_split(load_built_dataset(Path(build) / "built"), DEVELOPMENT_CLASS, seed=cohort)
    return setting_view(dataset, "B", held_out=DEVELOPMENT_CLASS)


def _estimated_likelihood(train, info: dict) -> dict:
    """`BiCPLConfig.finding_likelihood` of a development run that did not record it: estimated from the cohort's
    training split exactly as training estimates it (`estimate_finding_likelihood`)."""
    from bicpl_hf.processing.ear_classes import CLASS_CODES
    from bicpl_hf.training.region_findings import estimate_finding_likelihood

    trained = [c for c in CLASS_CODES if c not in set(info["frozen_prototype_codes"])]
    return estimate_finding_likelihood(train, info["region_findings"], info["class_findings"], trained)


if __name__ == "__main__":
    main()
