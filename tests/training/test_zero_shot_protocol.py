"""The zero-shot protocol: development / test classes and cohorts, per-ear records, paraphrase spread, scoring log."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from bicpl_hf.training.evaluation import DatasetPredictions
from bicpl_hf.training.scored_ears import ScoredEarRecord, scored_ears
from bicpl_hf.training.zero_shot_protocol import (
    append_scoring_log,
    check_protocol,
    paraphrase_spread,
    protocol_report,
    scored_codes,
)


def test_test_classes_only_on_fresh_cohorts_and_the_development_class_only_on_development_cohorts():
    check_protocol(2, [1001, 1002, 1003])
    check_protocol(4, [1001])
    check_protocol(3, [0, 1])
    with pytest.raises(ValueError, match="code 2 is a test class.*development cohort\\(s\\) \\[0\\]"):
        check_protocol(2, [0, 1001])
    with pytest.raises(ValueError, match="test cohorts \\[1001\\] are only for the test classes"):
        check_protocol(3, [0, 1001])
    assert scored_codes(2) == (2, 4) and scored_codes(4) == (4,) and scored_codes(3) == (3,)


def _predictions(rng, n_exams=40, codes=(1, 2, 3, 4, 5, 6)):
    labels = rng.choice(list(codes), size=(n_exams, 2))
    labels[0, 1] = -100  # an unknown ear is never scored
    cosine = rng.normal(size=(n_exams, 2, len(codes))) * 0.1
    cosine[..., codes.index(2)] += 0.3 * (labels == 2)  # class 2 is recognisable
    return DatasetPredictions(logits=cosine * 10, labels=labels, image_embeds=np.zeros((n_exams, 2, 4)),
                              side_text_embeds=None, class_codes=list(codes), cosine=cosine)


def test_records_keep_labelled_ears_with_cohort_scoped_patients_and_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    p = _predictions(rng)
    patients = [f"p{i // 2}" for i in range(40)]  # two exams per patient
    paraphrase = rng.normal(size=(40, 2, 3))
    record = scored_ears(p, patients, cohort="1001", variant="bicpl_v2", seed=1, zero_shot=True,
                         paraphrase_cosine={2: paraphrase}, paraphrase_kinds={2: ["name", "english", "hedged"]})
    assert len(record.labels) == 79 and -100 not in record.labels.tolist()
    assert record.patients[0] == "1001:p0" and record.patients[-1] == "1001:p19"
    assert record.class_scores(2).tolist() == p.cosine[:, :, 1].reshape(-1)[np.arange(80) != 1].tolist()
    np.testing.assert_allclose(record.probability.sum(1), 1.0)
    assert record.paraphrases[2].shape == (79, 3)
    loaded = ScoredEarRecord.load(record.save(tmp_path / "ears.npz"))
    assert (loaded.variant, loaded.cohort, loaded.seed, loaded.zero_shot) == ("bicpl_v2", "1001", 1, True)
    np.testing.assert_array_equal(loaded.cosine, record.cosine)
    assert loaded.paraphrase_kinds == {2: ["name", "english", "hedged"]}
    with pytest.raises(ValueError, match="3 patient keys for 40 predicted exams"):
        scored_ears(p, ["a", "b", "c"], cohort="1001", variant="x", seed=0, zero_shot=True)


def test_paraphrase_spread_is_the_auc_of_each_paraphrase_against_scikit_learn():
    rng = np.random.default_rng(1)
    p = _predictions(rng)
    paraphrase = np.stack([p.cosine[..., 1], rng.normal(size=(40, 2)), -p.cosine[..., 1]], -1)
    record = scored_ears(p, [f"p{i}" for i in range(40)], cohort="1001", variant="v", seed=0, zero_shot=True,
                         paraphrase_cosine={2: paraphrase}, paraphrase_kinds={2: ["name", "name", "english"]})
    spread = paraphrase_spread([record], 2)["v"]
    mask = np.isin(record.labels, [1, 2])
    expected = [roc_auc_score(record.labels[mask] == 2, record.paraphrases[2][mask, i]) for i in range(3)]
    np.testing.assert_allclose(spread["vs_1"]["per_paraphrase"], expected, atol=1e-4)
    assert spread["vs_1"]["min"] == pytest.approx(min(expected), abs=1e-4)
    assert spread["vs_1"]["per_kind"]["english"] == pytest.approx(expected[2], abs=1e-4)


def test_report_reads_n_a_for_a_variant_without_zero_shot_and_logs_a_test_scoring(tmp_path):
    rng = np.random.default_rng(2)
    records = []
    for cohort in ("1001", "1002"):
        p = _predictions(rng)
        patients = [f"p{i}" for i in range(40)]
        for variant, zero_shot in (("vision_cnn", False), ("single_ear_clip", True), ("bicpl_v3", True)):
            records.append(scored_ears(p, patients, cohort=cohort, variant=variant, seed=0, zero_shot=zero_shot))
    markdown, document = protocol_report(records, 2, n_boot=50)
    assert "| vision_cnn | n/a" in markdown and "Paired differences (bicpl_v3 minus baseline" in markdown
    assert document["2"]["contrasts"]["vision_cnn"] is None
    assert "4" in document  # code 4 is scored beside the held-out class
    log = tmp_path / "log.jsonl"
    for _ in range(2):
        append_scoring_log(log, held_out=2, data_seeds=[1001, 1002], seeds=[0], variants=["bicpl_v3"],
                           recipe={"epochs": 1}, document=document)
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2 and lines[0]["data_seeds"] == [1001, 1002] and lines[0]["commit"]
    assert lines[0]["figures"]["2/vision_cnn"] == "n/a" and "vs_1" in lines[0]["figures"]["2/bicpl_v3"]
