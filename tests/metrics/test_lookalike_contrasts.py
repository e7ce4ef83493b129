"""Look-alike contrast AUCs with patient-bootstrap CIs, checked against scikit-learn and the bootstrap's invariances."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bicpl_hf.metrics.lookalike_contrasts import (
    LOOK_ALIKES,
    UNKNOWN,
    ScoredEars,
    _weighted_auc,
    contrast_aucs,
    contrast_masks,
    contrast_table,
    paired_difference,
    paired_table,
)
from bicpl_hf.metrics.zero_shot_metrics import binary_auc

CODES = [1, 2, 3, 4, 5, 6]
PROBS = [0.3, 0.15, 0.15, 0.1, 0.25, 0.05]


def make_cohort(name, n_patients, seed, held_out=4, signal=1.0, patient_sd=1.0, unknown=0.05, codes=CODES, probs=PROBS):
    """Two ears per patient; the held-out class scores `signal` higher, plus a shared patient effect (clustering)."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(codes, size=2 * n_patients, p=probs)
    labels[rng.random(labels.shape) < unknown] = UNKNOWN
    patients = np.repeat([f"{name}-p{i}" for i in range(n_patients)], 2)
    patient_effect = np.repeat(rng.normal(scale=patient_sd, size=n_patients), 2)
    base = patient_effect + rng.normal(size=labels.shape)

    def scores(model_seed, strength=signal):
        noise = np.random.default_rng(1000 * seed + model_seed).normal(scale=0.5, size=labels.shape)
        return np.round(base + strength * (labels == held_out) + noise, 1)  # ties on purpose

    return labels, patients, scores


def runs_of(name, labels, patients, scores, seeds=(0, 1), **kwargs):
    return [ScoredEars(name, s, labels, patients, scores(s, **kwargs)) for s in seeds]


@pytest.fixture(scope="module")
def cohorts():
    return {name: make_cohort(name, n, seed) for name, n, seed in [("A", 150, 1), ("B", 100, 2), ("C", 120, 3)]}


@pytest.fixture(scope="module")
def runs(cohorts):
    return [run for name, (labels, patients, scores) in cohorts.items() for run in runs_of(name, labels, patients, scores)]


@pytest.fixture(scope="module")
def result(runs):
    return contrast_aucs(runs, held_out=4, n_boot=300, seed=0)


# --------------------------------------------------------------------------------------------------- masks


@pytest.mark.parametrize("held_out, keys", [(2, ["vs_1"]), (4, ["vs_1", "vs_2"]), (3, ["vs_1", "vs_5"]), (6, [])])
def test_masks_select_the_right_ears(held_out, keys):
    labels = np.array([1, 2, 3, 4, 5, 6, UNKNOWN, 1, 2, 3, 4, 5, UNKNOWN])
    masks = contrast_masks(labels, held_out)
    assert list(masks) == keys + ["vs_diseased", "vs_all"]  # look-alikes first
    positive = labels == held_out
    for key in keys:
        code = int(key.removeprefix("vs_"))
        assert code in LOOK_ALIKES[held_out]
        np.testing.assert_array_equal(masks[key], positive | (labels == code))
    np.testing.assert_array_equal(masks["vs_diseased"], np.isin(labels, [c for c in CODES if c != 5]) | positive)
    np.testing.assert_array_equal(masks["vs_all"], labels != UNKNOWN)
    for mask in masks.values():
        assert mask.dtype == bool and not mask[labels == UNKNOWN].any()
        assert mask[positive].all()


def test_masks_for_secretory_otitis_include_normal_only_as_a_look_alike():
    labels = np.array([3, 5, 1, 2])
    masks = contrast_masks(labels, 3)
    assert masks["vs_5"].tolist() == [True, True, False, False]
    assert masks["vs_diseased"].tolist() == [True, False, True, True]


# --------------------------------------------------------------------------------------------------- point estimates


def test_point_auc_is_the_mean_of_per_run_sklearn_aucs(runs, result):
    assert list(result) == ["vs_1", "vs_2", "vs_diseased", "vs_all"]
    for key, entry in result.items():
        expected = {}
        for run in runs:
            mask = contrast_masks(run.labels, 4)[key]
            expected[run.key] = roc_auc_score(run.labels[mask] == 4, run.scores[mask])
        assert entry["per_run"].keys() == expected.keys()
        for run_key, auc in expected.items():
            assert entry["per_run"][run_key] == pytest.approx(auc, abs=1e-12)
        assert entry["auc"] == pytest.approx(np.mean(list(expected.values())), abs=1e-12)
        assert entry["n_cohorts"] == 3 and entry["n_runs"] == 6
        # Ears are counted once per cohort, not once per seed.
        first_runs = [run for run in runs if run.seed == 0]
        masks = [contrast_masks(run.labels, 4)[key] for run in first_runs]
        assert entry["n_positive"] == sum(int((run.labels[m] == 4).sum()) for run, m in zip(first_runs, masks))
        assert entry["n_negative"] == sum(int((run.labels[m] != 4).sum()) for run, m in zip(first_runs, masks))


def test_cohorts_weigh_equally_when_seed_counts_differ(cohorts):
    runs = runs_of("A", *cohorts["A"], seeds=(0, 1, 2)) + runs_of("B", *cohorts["B"], seeds=(0,))
    entry = contrast_aucs(runs, held_out=4, n_boot=20)["vs_all"]
    per_run = entry["per_run"]
    mean_a = np.mean([per_run[f"A/seed{s}"] for s in (0, 1, 2)])
    assert entry["auc"] == pytest.approx((mean_a + per_run["B/seed0"]) / 2)


def test_weighted_auc_matches_sklearn_sample_weight():
    rng = np.random.default_rng(0)
    positive = rng.random(80) < 0.3
    scores = np.round(rng.normal(size=80) + positive, 1)
    patient_index = rng.integers(0, 30, size=80)
    counts = rng.multinomial(30, np.full(30, 1 / 30), size=5).astype(float)
    counts[0] = 1.0
    aucs = _weighted_auc(positive, scores, patient_index, counts)
    assert aucs[0] == pytest.approx(binary_auc(positive, scores), abs=1e-12)
    for row, auc in zip(counts, aucs):
        weights = row[patient_index]
        assert auc == pytest.approx(roc_auc_score(positive, scores, sample_weight=weights), abs=1e-12)
    only_negative = np.zeros((1, 30))
    only_negative[0, np.unique(patient_index[~positive])] = 1.0
    only_negative[0, np.unique(patient_index[positive])] = 0.0
    assert np.isnan(_weighted_auc(positive, scores, patient_index, only_negative)[0])


# --------------------------------------------------------------------------------------------------- bootstrap


def test_ci_contains_the_point_estimate_and_is_deterministic(runs, result):
    for entry in result.values():
        assert entry["ci_low"] < entry["auc"] < entry["ci_high"]
        assert entry["n_skipped"] == 0
    again = contrast_aucs(runs, held_out=4, n_boot=300, seed=0)
    assert again == result
    other = contrast_aucs(runs, held_out=4, n_boot=300, seed=1)
    assert other["vs_all"]["auc"] == result["vs_all"]["auc"]
    assert other["vs_all"]["ci_low"] != result["vs_all"]["ci_low"]


def test_ci_narrows_with_more_patients():
    small = make_cohort("S", 80, seed=5)
    large = make_cohort("L", 800, seed=5)
    width = {}
    for name, cohort in (("small", small), ("large", large)):
        entry = contrast_aucs(runs_of(name, *cohort, seeds=(0,)), held_out=4, n_boot=300)["vs_all"]
        width[name] = entry["ci_high"] - entry["ci_low"]
    assert width["large"] < 0.5 * width["small"]  # ~ 1 / sqrt(10)


def test_resampling_is_by_patient():
    labels, patients, scores = make_cohort("A", 120, seed=7, patient_sd=2.0)
    s = scores(0)
    original = contrast_aucs([ScoredEars("A", 0, labels, patients, s)], 4, n_boot=400)
    # Every ear twice, under the same patient id: same patients, same draws, same AUC in every replicate.
    doubled_same = ScoredEars("A", 0, np.tile(labels, 2), np.tile(patients, 2), np.tile(s, 2))
    same = contrast_aucs([doubled_same], 4, n_boot=400)
    # Every ear twice, the copy under a new patient id: twice the (fake) patients, a narrower interval.
    doubled_new = ScoredEars("A", 0, np.tile(labels, 2), np.concatenate([patients, np.char.add(patients, "-copy")]),
                             np.tile(s, 2))
    new = contrast_aucs([doubled_new], 4, n_boot=400)
    for key, entry in original.items():
        assert same[key]["auc"] == pytest.approx(entry["auc"], abs=1e-12)
        assert new[key]["auc"] == pytest.approx(entry["auc"], abs=1e-12)
        assert same[key]["ci_low"] == pytest.approx(entry["ci_low"], abs=1e-12)
        assert same[key]["ci_high"] == pytest.approx(entry["ci_high"], abs=1e-12)
        width = entry["ci_high"] - entry["ci_low"]
        assert new[key]["ci_high"] - new[key]["ci_low"] < 0.85 * width  # ~ 1 / sqrt(2)
        assert entry["n_positive"] * 2 == same[key]["n_positive"] == new[key]["n_positive"]


def test_seeds_of_a_cohort_share_the_resample():
    """Two identical seeds on one cohort give the CI of one seed: the resample is shared, not drawn per run."""
    labels, patients, scores = make_cohort("A", 100, seed=8)
    one = contrast_aucs([ScoredEars("A", 0, labels, patients, scores(0))], 4, n_boot=200)
    two = contrast_aucs([ScoredEars("A", s, labels, patients, scores(0)) for s in (0, 1)], 4, n_boot=200)
    for key in one:
        assert (two[key]["ci_low"], two[key]["ci_high"]) == pytest.approx((one[key]["ci_low"], one[key]["ci_high"]))


def test_degenerate_replicates_are_skipped_and_counted():
    labels = np.array([4, 1, 1, 5, 1, 5, 1, 1, 5, 1])
    patients = np.array([f"p{i}" for i in range(10)])  # one held-out patient: ~35% of resamples miss it
    scores = np.linspace(1.0, 0.0, 10)
    entry = contrast_aucs([ScoredEars("A", 0, labels, patients, scores)], 4, n_boot=500)["vs_all"]
    assert 0.2 * 500 < entry["n_skipped"] < 0.5 * 500
    assert entry["auc"] == 1.0 and entry["ci_low"] == entry["ci_high"] == 1.0


def test_contrast_without_look_alike_ears_is_omitted_not_nan():
    labels, patients, scores = make_cohort("A", 100, seed=9, codes=[1, 4, 5], probs=[0.5, 0.2, 0.3])
    result = contrast_aucs(runs_of("A", labels, patients, scores), held_out=4, n_boot=50)
    assert list(result) == ["vs_1", "vs_diseased", "vs_all"]  # no cholesteatoma ears: no "vs_2"
    for entry in result.values():
        assert all(not (isinstance(v, float) and math.isnan(v)) for v in entry.values())
    # A cohort lacking the look-alike drops out of that contrast only.
    other = make_cohort("B", 100, seed=10)
    both = contrast_aucs(runs_of("A", labels, patients, scores) + runs_of("B", *other), held_out=4, n_boot=50)
    assert both["vs_2"]["n_cohorts"] == 1 and set(both["vs_2"]["per_run"]) == {"B/seed0", "B/seed1"}
    assert both["vs_1"]["n_cohorts"] == 2


# --------------------------------------------------------------------------------------------------- validation


def test_mismatched_seeds_of_a_cohort_raise_naming_the_cohort(cohorts):
    labels, patients, scores = cohorts["B"]
    good = ScoredEars("B", 0, labels, patients, scores(0))
    shorter = ScoredEars("B", 1, labels[:-1], patients[:-1], scores(1)[:-1])
    with pytest.raises(ValueError, match=r"cohort 'B' seed 1 has \d+ ears"):
        contrast_aucs([good, shorter], 4, n_boot=10)
    relabelled = labels.copy()
    relabelled[0] = 5 if relabelled[0] != 5 else 1
    with pytest.raises(ValueError, match="cohort 'B' seed 1 has other labels"):
        contrast_aucs([good, ScoredEars("B", 1, relabelled, patients, scores(1))], 4, n_boot=10)
    with pytest.raises(ValueError, match="cohort 'B' has two runs with seed 0"):
        contrast_aucs([good, good], 4, n_boot=10)
    with pytest.raises(ValueError, match="cohort 'B' seed 3: scores must have the shape"):
        ScoredEars("B", 3, labels, patients, scores(0)[:-1])


# --------------------------------------------------------------------------------------------------- paired


def test_paired_difference_of_a_variant_with_itself_is_exactly_zero(runs):
    result = paired_difference(runs, runs, held_out=4, n_boot=200)
    assert list(result) == ["vs_1", "vs_2", "vs_diseased", "vs_all"]
    for entry in result.values():
        assert entry["difference"] == 0.0 and entry["ci_low"] == 0.0 and entry["ci_high"] == 0.0
        assert entry["p_a_not_better"] == 1.0 and entry["n_cohorts"] == 3


def test_clearly_better_variant_has_a_ci_above_zero(cohorts):
    better, worse = [], []
    for name, (labels, patients, scores) in cohorts.items():
        better += runs_of(name, labels, patients, scores, seeds=(0, 1, 2), strength=2.0)
        worse += runs_of(name, labels, patients, scores, seeds=(5,), strength=0.3)  # other seeds, other count
    result = paired_difference(better, worse, held_out=4, n_boot=300)
    a, b = contrast_aucs(better, 4, n_boot=10), contrast_aucs(worse, 4, n_boot=10)
    for key, entry in result.items():
        assert entry["difference"] == pytest.approx(a[key]["auc"] - b[key]["auc"], abs=1e-12)
        assert 0 < entry["ci_low"] < entry["difference"] < entry["ci_high"]
        assert entry["p_a_not_better"] < 0.01
    reverse = paired_difference(worse, better, held_out=4, n_boot=300)
    assert reverse["vs_all"]["ci_high"] < 0 and reverse["vs_all"]["p_a_not_better"] == 1.0


def test_paired_difference_needs_the_same_cohorts_and_ears(cohorts):
    a = runs_of("A", *cohorts["A"])
    with pytest.raises(ValueError, match="same cohorts"):
        paired_difference(a, runs_of("B", *cohorts["B"]), 4, n_boot=10)
    labels, patients, scores = cohorts["A"]
    shuffled = [ScoredEars("A", 0, labels[::-1], patients[::-1], scores(0)[::-1])]
    with pytest.raises(ValueError, match="cohort 'A'.*different test ears"):
        paired_difference(a, shuffled, 4, n_boot=10)


# --------------------------------------------------------------------------------------------------- tables


def test_contrast_table_leads_with_look_alikes_and_prints_na(result):
    table = contrast_table({"Bi-CPL": result, "ResNet-50 (supervised)": None}, held_out=4)
    lines = table.splitlines()
    assert lines[0].startswith("Held-out class: cholesterol granuloma (4). Ears positive/negative: vs CSOM (1) ")
    assert f"vs all {result['vs_all']['n_positive']}/{result['vs_all']['n_negative']}" in lines[0]
    assert lines[0].endswith("(3 cohorts, 6 runs).")
    assert lines[2] == "| Variant | vs CSOM (1) | vs cholesteatoma (2) | vs diseased | vs all |"
    entry = result["vs_1"]
    assert lines[4].startswith(f"| Bi-CPL | {entry['auc']:.3f} [{entry['ci_low']:.2f}, {entry['ci_high']:.2f}] |")
    assert lines[5] == "| ResNet-50 (supervised) | n/a | n/a | n/a | n/a |"


def test_contrast_table_with_a_missing_contrast_and_differing_counts(result):
    partial = {key: value for key, value in result.items() if key != "vs_2"}
    partial["vs_all"] = {**partial["vs_all"], "n_positive": 1}
    table = contrast_table({"a": result, "b": partial}, held_out=4)
    assert "- a: " in table and "- b: " in table
    assert table.splitlines()[-1].split(" | ")[2] == "n/a"


def test_paired_table(runs):
    same = paired_difference(runs, runs, held_out=4, n_boot=20)
    table = paired_table([("Bi-CPL", "Bi-CPL", same), ("Bi-CPL", "CNN", None)], held_out=4)
    lines = table.splitlines()
    assert lines[0] == "| Comparison | vs CSOM (1) | vs cholesteatoma (2) | vs diseased | vs all |"
    assert lines[2] == "| Bi-CPL − Bi-CPL" + " | +0.000 [0.00, 0.00] p=1.000" * 4 + " |"
    assert lines[3] == "| Bi-CPL − CNN | n/a | n/a | n/a | n/a |"
    assert paired_table({("Bi-CPL", "Bi-CPL"): same}, held_out=4) == "\n".join(lines[:3])
