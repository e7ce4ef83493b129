"""Is the synthetic report wording independent of the knowledge base, and does the parser still read it?

Writes the reports of a sampled cohort exactly as `make_synthetic_export` does (same attributes, same report rng
`[seed, 7, index]`; no images are rendered) and prints:

1. the share of the knowledge base's prompt clauses (the class prompts of codes 1-6 split at Chinese / ASCII
   punctuation, clauses of >= 4 characters) that occur verbatim in any report, and the clauses that still do;
2. per radiologist style: number of reports, the parser's per-ear code accuracy (weak codes from the impression
   against the true codes), and the precision / recall of the parser's lesion triples against the ear attributes.

    python benchmarks/report_wording_check.py                 # 500 reports, seed 0
    python benchmarks/report_wording_check.py --n-exams 2000 --seed 3
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict

import numpy as np

from bicpl_hf.knowledge import class_prompts, load_knowledge_base
from bicpl_hf.processing.report_lexicon import LESION_ATTRIBUTE_KEYS
from bicpl_hf.processing.report_parser import parse_report
from bicpl_hf.synthetic.cohort import sample_cohort
from bicpl_hf.synthetic.reports import pick_report_style, write_synthetic_report

CLAUSE_SPLIT = re.compile(r"[。，；：、,.;:!?！？（）()\s]+")
MIN_CLAUSE_CHARS = 4

# Which ear attributes justify a non-negated lesion triple (precision); tests/synthetic/test_synthetic_reports.py
# checks the parser against this same table.
LESION_EVIDENCE = {
    "soft_tissue": lambda e: (e.opacification >= 0.1 and not e.effusion) or e.epitympanic_mass or e.expansile_cyst
    or e.tumour_site is not None or e.tympanic_mass or e.mastoid_opacified,
    "soft_tissue_mass": lambda e: e.tympanic_mass or e.tumour_site == "tympanic",
    "abnormal_density": lambda e: False,
    "effusion": lambda e: e.effusion,
    "air_fluid_level": lambda e: e.air_fluid_level,
    "bubbles": lambda e: e.bubbles,
    "bone_erosion": lambda e: e.ossicles != "intact" or e.scutum_erosion or e.jugular_foramen_erosion,
    "expansile": lambda e: e.expansile_cyst,
    "bone_thinning": lambda e: e.bone_thinning,
    "widened": lambda e: e.epitympanic_mass or e.aditus_widened or e.facial_canal_widened or e.jugular_foramen_erosion,
    "thickening": lambda e: e.mucosal_thickening,
    "mucosal_thickening": lambda e: e.mucosal_thickening,
    "increased_density": lambda e: e.mastoid_opacified,
    "opacified": lambda e: e.mastoid_opacified,
    "filling": lambda e: e.opacification >= 0.7,
}
# Which attributes the writer always describes, and the (entity keys or None, attribute keys) a parsed triple
# needs to count as found (recall); entities as in benchmarks/benchmark_properties.py's REPORT_SIGNATURES.
RECALL_SIGNATURES = {
    "mucosal_thickening": (lambda e: e.mucosal_thickening, None, {"mucosal_thickening"}),
    "effusion": (lambda e: e.effusion, None, {"effusion"}),
    "air_fluid_level": (lambda e: e.effusion and e.air_fluid_level, None, {"air_fluid_level"}),
    "bubbles": (lambda e: e.effusion and e.bubbles, None, {"bubbles"}),
    "ossicular_erosion": (lambda e: e.ossicles != "intact", {"ossicles"}, {"bone_erosion"}),
    "attic_soft_tissue": (lambda e: e.epitympanic_mass, {"epitympanum"}, {"soft_tissue"}),
    "scutum_erosion": (lambda e: e.scutum_erosion, {"scutum"}, {"bone_erosion"}),
    "aditus_widening": (lambda e: e.aditus_widened, {"aditus"}, {"widened"}),
    "mastoid_opacification": (lambda e: e.mastoid_opacified, {"mastoid"},
                              {"soft_tissue", "increased_density", "opacified", "effusion"}),
    "expansile_lesion": (lambda e: e.expansile_cyst, None, {"expansile"}),
    "bone_thinning": (lambda e: e.expansile_cyst and e.bone_thinning, None, {"bone_thinning"}),
    "facial_canal_widening": (lambda e: e.facial_canal_widened, {"facial_canal"}, {"widened"}),
    "jugular_foramen_erosion": (lambda e: e.jugular_foramen_erosion, {"jugular_foramen"}, {"widened", "bone_erosion"}),
}


def kb_clauses() -> list[str]:
    """The distinct clauses (>= 4 characters) of the knowledge base's class prompts of codes 1-6."""
    prompts = class_prompts(load_knowledge_base(), [1, 2, 3, 4, 5, 6])
    found: dict[str, None] = {}
    for texts in prompts.values():
        for text in texts:
            for clause in CLAUSE_SPLIT.split(text):
                if len(clause) >= MIN_CLAUSE_CHARS:
                    found[clause] = None
    return list(found)


def shared_clauses(clauses: list[str], reports: list[str]) -> list[str]:
    """The clauses that occur verbatim in at least one report."""
    corpus = "\n".join(reports)
    return [c for c in clauses if c in corpus]


def score_report(left, right, findings: str, impression: str) -> dict:
    """Per-report counts: ears, correct codes, lesion triples (justified), signatures (expected, found)."""
    report = parse_report(findings=findings, impression=impression)
    ears = {"left": left, "right": right}
    counts = defaultdict(int)
    found: dict[str, set] = {"left": set(), "right": set()}
    for triple in report.triples:
        if triple.negated or triple.side is None:
            continue
        sides = ("left", "right") if triple.side == "bilateral" else (triple.side,)
        for side in sides:
            found[side].add((triple.entity_key, triple.attribute_key))
            if triple.attribute_key in LESION_ATTRIBUTE_KEYS:
                counts["triples"] += 1
                counts["justified"] += bool(LESION_EVIDENCE[triple.attribute_key](ears[side]))
    for side, ear in ears.items():
        counts["ears"] += 1
        counts["correct"] += report.weak_codes[side] == ear.code
        for present, entities, attributes in RECALL_SIGNATURES.values():
            if present(ear):
                counts["expected"] += 1
                counts["recalled"] += any(a in attributes and (entities is None or e in entities)
                                          for e, a in found[side])
    return counts


def run(n_exams: int, seed: int) -> dict:
    """Generate the reports, measure the overlap and the parser per style; returns the numbers printed."""
    specs = sample_cohort(n_exams, seed)
    reports, by_style = [], defaultdict(lambda: defaultdict(int))
    for index, spec in enumerate(specs):
        rng = np.random.default_rng([seed, 7, index])  # the export's report rng
        style = pick_report_style(rng)
        findings, impression = write_synthetic_report(spec.left, spec.right, rng, style=style)
        reports.append(findings + impression)
        by_style[style]["reports"] += 1
        for key, value in score_report(spec.left, spec.right, findings, impression).items():
            by_style[style][key] += value
    clauses = kb_clauses()
    shared = shared_clauses(clauses, reports)
    return {"n_reports": len(reports), "n_clauses": len(clauses), "shared": shared,
            "share": len(shared) / max(len(clauses), 1), "styles": {k: dict(v) for k, v in sorted(by_style.items())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-exams", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = run(args.n_exams, args.seed)
    print(f"knowledge-base clauses in {result['n_reports']} reports: {len(result['shared'])} of "
          f"{result['n_clauses']} = {result['share']:.2f} (target <= 0.30)")
    for clause in result["shared"]:
        print(f"  {clause}")
    print("| style | reports | code accuracy | lesion precision | finding recall |")
    print("|---|---|---|---|---|")
    for style, c in result["styles"].items():
        print(f"| {style} | {c['reports']} | {c['correct'] / c['ears']:.3f} | "
              f"{c['justified'] / max(c['triples'], 1):.3f} | {c['recalled'] / max(c['expected'], 1):.3f} |")


if __name__ == "__main__":
    main()
