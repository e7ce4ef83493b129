"""Benchmark v2 properties of the sampled cohort: patient-level anatomy, shared findings, the rate docs.

Everything here samples specs only (thousands of exams in about a second) except one tiny render.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bicpl_hf.synthetic.attributes import sample_ear_attributes
from bicpl_hf.synthetic.benchmark_docs import generated_section, rate_tables_markdown
from bicpl_hf.synthetic.benchmark_preset import BENCHMARK_ROI
from bicpl_hf.synthetic.cohort import sample_cohort
from bicpl_hf.synthetic.constitution import (
    ANATOMY_RATES,
    DISEASE_SHIFT,
    MASTOID_PATTERNS,
    PatientAnatomy,
    pattern_step,
    pneumatisation_score,
)
from bicpl_hf.synthetic.export import SIZES, render_exam
from bicpl_hf.synthetic.findings import (
    CHOLESTEATOMA_PROFILE_SHARES,
    DEFINING_FINDINGS,
    class_rate,
    draw_findings,
    rate,
)

N = 2000
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cohort():
    return sample_cohort(N, seed=21)


def final_type_distribution(pattern: str, code: int) -> Counter:
    """P(ear's mastoid type) given its patient's pattern, from the stated discordance and disease-shift rates."""
    discordance, shift = ANATOMY_RATES["ear_pattern_discordance"].value, DISEASE_SHIFT[code]
    distribution: Counter = Counter()
    for jittered, p_jitter in ((pattern, 1 - discordance),
                               (pattern_step(pattern, 1 if pattern != "sclerotic" else -1), discordance)):
        for final, p_shift in ((jittered, 1 - shift), (pattern_step(jittered, 1), shift)):
            distribution[final] += p_jitter * p_shift
    return distribution


def expected_retention(pattern: str, code: int) -> float:
    return final_type_distribution(pattern, code)[pattern]


def test_ears_keep_the_patient_pattern_at_the_stated_rate(cohort):
    kept, expected = [], []
    for exam in cohort:
        for ear in (exam.left, exam.right):
            kept.append(ear.mastoid == exam.anatomy.pattern)
            expected.append(expected_retention(exam.anatomy.pattern, ear.code))
    kept, expected = np.asarray(kept, float), np.asarray(expected)
    tolerance = 4 * np.sqrt(np.sum(expected * (1 - expected))) / len(kept)
    assert abs(kept.mean() - expected.mean()) < tolerance, (kept.mean(), expected.mean())
    normal = [ear.mastoid == e.anatomy.pattern for e in cohort for ear in (e.left, e.right) if ear.code == 5]
    assert abs(np.mean(normal) - (1 - ANATOMY_RATES["ear_pattern_discordance"].value)) < 0.04
    # Both ears of an exam share a type far more often than independent draws would (31% before v2).
    same = np.asarray([e.left.mastoid == e.right.mastoid for e in cohort], float)
    p_same = np.asarray([sum(final_type_distribution(e.anatomy.pattern, e.left.code)[t]
                             * final_type_distribution(e.anatomy.pattern, e.right.code)[t] for t in MASTOID_PATTERNS)
                         for e in cohort])
    assert abs(same.mean() - p_same.mean()) < 4 * np.sqrt(np.sum(p_same * (1 - p_same))) / len(same)
    assert same.mean() > 0.5, same.mean()


def test_chronically_diseased_ears_are_the_less_pneumatised_of_the_pair(cohort):
    less = []
    for exam in cohort:
        for diseased, partner in ((exam.left, exam.right), (exam.right, exam.left)):
            if diseased.code in (1, 2) and partner.code == 5:
                less.append(pneumatisation_score(diseased.mastoid, diseased.pneumatisation)
                            < pneumatisation_score(partner.mastoid, partner.pneumatisation))
    assert len(less) > 300
    assert np.mean(less) > 0.65, np.mean(less)
    # ... while normal ears of normal-partner exams sit on either side of their partner.
    ties = [pneumatisation_score(e.left.mastoid, e.left.pneumatisation)
            < pneumatisation_score(e.right.mastoid, e.right.pneumatisation) for e in cohort if e.codes == (5, 5)]
    assert len(ties) == 0 or 0.2 < np.mean(ties) < 0.8


def test_patient_anatomy_is_shared_across_repeat_exams_and_variants_are_marked(cohort):
    by_patient: dict[str, set] = {}
    for exam in cohort:
        by_patient.setdefault(exam.patient.patient_id, set()).add(exam.anatomy)
        variants = exam.normal_variant
        assert (exam.anatomy.pattern != "pneumatized") == any(v.startswith("bilateral_") for v in variants)
        assert exam.to_dict()["normal_variant"] == variants
    assert all(len(anatomies) == 1 for anatomies in by_patient.values())
    sides = Counter(e.anatomy.jugular_dominant_side for e in cohort if e.anatomy.jugular_dominant_side)
    assert sides["right"] > sides["left"]  # dominant bulb is usually right-sided
    bilateral = np.mean([bool(e.anatomy.pattern != "pneumatized") for e in cohort])
    assert 0.25 < bilateral < 0.65  # chronic-otitis patients are less pneumatised on both sides
    assert PatientAnatomy.from_dict(cohort[0].anatomy.to_dict()) == cohort[0].anatomy


@pytest.mark.parametrize("held_out", [2, 4])
def test_defining_findings_occur_in_other_classes_at_the_stated_rates(cohort, held_out):
    ears = [ear for e in cohort for ear in (e.left, e.right)]
    for finding in DEFINING_FINDINGS[held_out]:
        others = [c for c in range(1, 7) if c != held_out and class_rate(finding, c) > 0]
        assert others, f"{finding} occurs only in class {held_out}"
        for code in set(range(1, 7)) - {held_out}:
            group = [ear for ear in ears if ear.code == code]
            if len(group) < 50:
                continue
            p = class_rate(finding, code)
            measured = np.mean([finding in ear.findings for ear in group])
            assert abs(measured - p) <= 4 * np.sqrt(max(p * (1 - p), 1e-4) / len(group)) + 1e-9, (finding, code)


def test_draw_findings_matches_the_table_for_every_class():
    rng = np.random.default_rng(3)
    for code in range(1, 7):
        ears = [sample_ear_attributes(code, rng) for _ in range(600)]
        for finding in ("attic_soft_tissue", "ossicular_erosion", "effusion", "expansile_lesion"):
            p = class_rate(finding, code)
            measured = np.mean([finding in ear.findings for ear in ears])
            assert abs(measured - p) <= 4 * np.sqrt(max(p * (1 - p), 1e-4) / 600), (finding, code, measured, p)
    with pytest.raises(ValueError, match="unknown profile"):
        draw_findings("otosclerosis", rng)


def test_a_share_of_cholesteatomas_shows_no_bone_erosion(cohort):
    """Small attic, pars-tensa or congenital cholesteatomas: soft tissue only, as CSOM with granulation shows."""
    ears = [ear for e in cohort for ear in (e.left, e.right) if ear.code == 2]
    share = CHOLESTEATOMA_PROFILE_SHARES["cholesteatoma_nonerosive"]
    nonerosive = [ear for ear in ears if ear.profile == "cholesteatoma_nonerosive"]
    assert abs(len(nonerosive) / len(ears) - share) <= 4 * np.sqrt(share * (1 - share) / len(ears))
    erosions = ("scutum_erosion", "ossicular_erosion", "aditus_widening", "expansile_lesion")
    assert not any(f in ear.findings for ear in nonerosive for f in erosions)
    assert not any(ear.scutum_erosion or ear.ossicles != "intact" or ear.aditus_widened for ear in nonerosive)
    # the same soft tissue in the attic also occurs in CSOM, at a size a small cholesteatoma has
    assert rate("attic_soft_tissue", "csom").extent >= rate("attic_soft_tissue", "cholesteatoma_nonerosive").extent
    assert sum(not ear.findings for ear in nonerosive) < 0.1 * len(nonerosive)


def test_findings_drive_the_attributes():
    rng = np.random.default_rng(5)
    for code in (1, 2, 6):
        for _ in range(200):
            ear = sample_ear_attributes(code, rng)
            assert ear.epitympanic_mass == ("attic_soft_tissue" in ear.findings)
            assert ear.scutum_erosion == ("scutum_erosion" in ear.findings)
            assert (ear.ossicles != "intact") == ("ossicular_erosion" in ear.findings)
            if code == 1:  # CSOM erodes mildly: never a severe chain erosion
                assert ear.ossicles != "severe_erosion"


def test_rate_documentation_matches_the_tables():
    text = (ROOT / "benchmarks" / "BENCHMARK.md").read_text(encoding="utf-8")
    assert generated_section(text, "BENCHMARK.md") == rate_tables_markdown(), (
        "benchmarks/BENCHMARK.md is stale: run python -m bicpl_hf.synthetic.benchmark_docs benchmarks/BENCHMARK.md")


def test_both_rendered_ears_share_the_patient_anatomy(cohort):
    exam = next(e for e in cohort if e.codes == (5, 5) or 5 in e.codes)
    truth = render_exam(exam, "tiny").ground_truth
    left, right = truth["geometry"]["left"], truth["geometry"]["right"]
    anatomy = exam.anatomy
    for key, patient_value in (("cell_spacing", anatomy.cell_spacing), ("septum", anatomy.septum),
                               ("bone_density", anatomy.bone_density)):
        for ear in (left, right):
            assert abs(ear[key] / patient_value - 1) < 0.25, (key, ear[key], patient_value)
    assert abs(left["tegmen_mm"] - right["tegmen_mm"]) < 3.0
    assert truth["anatomy"]["pattern"] == anatomy.pattern


def test_benchmark_preset_resolution():
    assert max(BENCHMARK_ROI.spacing_mm) <= 0.8
    size = SIZES[BENCHMARK_ROI.size]
    assert size.pixel_mm * (1 + size.pixel_jitter) <= 0.8 and size.slice_mm <= 0.8
