"""The benchmark's property checks (`benchmarks/benchmark_properties.py`): they must be able to see what they claim."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from bicpl_hf.synthetic.cohort import sample_cohort

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def properties():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("benchmark_properties", BENCHMARKS / "benchmark_properties.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


def _pair_only_cohort(n_exams: int = 300, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Features where disease shows only against the partner: each person has a constitutional level, a diseased
    ear sits 1.5 below its partner; half the people are constitutionally low (a bilateral 'variant')."""
    rng = np.random.default_rng(seed)
    variant = rng.random(n_exams) < 0.5
    level = np.where(variant, -1.5, 0.0) + 0.3 * rng.standard_normal(n_exams)
    codes = np.full((n_exams, 2), 5)
    sick = rng.random(n_exams) < 0.5
    side = rng.integers(0, 2, n_exams)
    codes[sick, side[sick]] = 1
    values = level[:, None] + 0.1 * rng.standard_normal((n_exams, 2)) - 1.5 * (codes != 5)
    features = np.stack([values, rng.standard_normal((n_exams, 2))], -1)  # one informative, one noise feature
    data = {
        "codes": codes, "patients": np.arange(n_exams).astype(str), "bilateral_variant": variant,
        "finding_free": np.ones((n_exams, 2), bool), "anatomy_features": features,
    }
    return features, data


def test_bilateral_check_sees_value_that_only_the_pair_carries(properties):
    features, data = _pair_only_cohort()
    result = properties.bilateral_value(features, data)
    single, paired = result["single_ear"], result["ear_plus_partner"]
    assert paired["auc_normal_vs_diseased"] > single["auc_normal_vs_diseased"] + 0.08
    assert paired["auc_normal_vs_finding_free_diseased"] == paired["auc_normal_vs_diseased"]  # every ear finding-free
    # one-ear reading calls the constitutionally low normal ears diseased; the pair does not
    assert single["normal_called_diseased_bilateral_variant"] > 0.5
    assert paired["normal_called_diseased_bilateral_variant"] < 0.2
    assert single["n_normal_bilateral_variant"] == int(((data["codes"] == 5) & data["bilateral_variant"][:, None]).sum())


def test_bilateral_check_finds_no_value_where_there_is_none(properties):
    features, data = _pair_only_cohort()
    data["codes"] = np.where(features[..., 0] < np.median(features[..., 0]), 1, 5)  # disease = the ear's own level
    result = properties.bilateral_value(features, data)
    gain = result["ear_plus_partner"]["auc_normal_vs_diseased"] - result["single_ear"]["auc_normal_vs_diseased"]
    assert abs(gain) < 0.03


def test_cohort_cache_round_trip_and_ground_truth(properties, tmp_path):
    cache = tmp_path / "cohort.npz"
    data = properties.load_cohort(4, "tiny", 3, 1, cache, {2: 2})
    specs = sample_cohort(4, 3, {2: 2})
    assert cache.exists()
    assert data["pixel_values"].shape[:2] == (4, 2) and data["pixel_values"].dtype == np.float16
    assert data["codes"].tolist() == [list(s.codes) for s in specs]
    assert (data["codes"] == 2).sum() >= 2
    assert data["profiles"].tolist() == [[s.left.profile, s.right.profile] for s in specs]
    assert data["finding_free"].tolist() == [[not s.left.findings, not s.right.findings] for s in specs]
    assert data["finding_free"][data["codes"] == 5].all()
    again = properties.load_cohort(4, "tiny", 3, 1, cache, {2: 2})
    np.testing.assert_array_equal(again["pixel_values"], data["pixel_values"])
    with pytest.raises(ValueError, match="cohort.npz holds another cohort"):
        properties.load_cohort(4, "tiny", 4, 1, cache)


def test_composition_reads_shared_findings_from_reports(properties):
    composed = properties.composition(150, 0)
    assert composed[2]["share_in_training_table"] == 1.0
    assert composed[6]["share_in_training_table"] < 1.0  # facial-canal and jugular-foramen findings are code 6's own
    for held_out in composed.values():
        assert 0.0 <= held_out["share_in_training_reports"] <= held_out["share_in_training_table"] + 1e-9
