"""The perfect-finding-detector ceiling of Bi-CPL v3's rule: each test ear's reported findings scored by
`likelihood_ratio` with the training split's rates, against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset

from bicpl_hf.training.region_findings import estimate_finding_likelihood, perfect_detector_likelihood_predictions


def _exam(*findings):
    return [{"entity_key": e, "attribute_key": a, "side": side, "negated": False} for e, a, side in findings]


def test_perfect_detector_scores_each_ear_by_its_reported_findings():
    vocabulary = [("tympanic_cavity", "soft_tissue"), ("scutum", "bone_erosion"), ("mastoid", "sclerotic")]
    train = Dataset.from_dict({
        "findings_triples": [_exam(("tympanic_cavity", "soft_tissue", "left")),
                             _exam(("tympanic_cavity", "soft_tissue", "left"), ("mastoid", "sclerotic", "right")),
                             _exam(("mastoid", "sclerotic", "left")), []],
        "left_code": [1, 1, 1, 5], "right_code": [5, 1, 5, 5]})
    test = Dataset.from_dict({
        "findings_triples": [_exam(("tympanic_cavity", "soft_tissue", "left"), ("scutum", "bone_erosion", "left"),
                                   ("tympanic_cavity", "soft_tissue", "right"))],
        "left_code": [2], "right_code": [1]})
    class_findings = {"1": [["tympanic_cavity", "soft_tissue"]],
                      "2": [["tympanic_cavity", "soft_tissue"], ["scutum", "bone_erosion"]]}
    predictions = perfect_detector_likelihood_predictions(test, train, vocabulary, [1, 2, 5], class_findings, [1, 5])
    rates = estimate_finding_likelihood(train, vocabulary, class_findings, [1, 5])
    p = np.array(rates["prevalence"])
    q = np.where([True, True, False], rates["stated_rate"], rates["unstated_rate"])  # code 2 states the first two
    for side, present in ((0, np.array([1, 1, 0])), (1, np.array([1, 0, 0]))):
        expected = (present * np.log(q / p) + (1 - present) * np.log((1 - q) / (1 - p))).sum()
        assert predictions.logits[0, side, 1] == pytest.approx(expected, rel=1e-9)
    assert predictions.logits[0, 0, 1] > predictions.logits[0, 1, 1]  # the eroded ear is the cholesteatoma
    assert (predictions.logits[..., 2] == 0).all()  # normal states no finding: no evidence, never NaN
    assert predictions.labels.tolist() == [[2, 1]]
