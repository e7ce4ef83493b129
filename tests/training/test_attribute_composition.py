"""The attribute-composition (DAP) baseline: finding classifiers on the seen ears, classes scored by their findings."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tiny_config_kwargs
from datasets import DatasetDict
from safetensors import safe_open
from test_training import _dataset

from bicpl_hf.knowledge import class_prompts, load_knowledge_base
from bicpl_hf.knowledge.finding_vocabulary import composed_prompts, finding_phrase, finding_vocabulary
from bicpl_hf.modeling import BiCPLVisionConfig
from bicpl_hf.training.attribute_composition import (
    class_attribute_matrix,
    dap_class_scores,
    run_attribute_composition,
    train_attribute_classifier,
)
from bicpl_hf.training.experiments import ExperimentBudget

CODES = [1, 2, 3, 4, 5, 6]
BUDGET = ExperimentBudget(contrastive_epochs=1.0, prototype_epochs=1.0, batch_size=4, device="cpu")


@pytest.fixture(scope="module")
def prompts():
    return class_prompts(load_knowledge_base(), CODES)


@pytest.fixture(scope="module")
def view():
    return DatasetDict(train=_dataset(8, 0), validation=_dataset(4, 1), test=_dataset(6, 2))


def _run(view, prompts, output_dir, seed=0):
    return run_attribute_composition(view, None, tiny_config_kwargs(), BUDGET, seed, output_dir, class_codes=CODES,
                                     class_prompts=prompts)


def test_dap_scores_match_a_hand_computation_and_a_normal_ear_picks_the_class_without_findings():
    matrix = np.array([[0, 0], [1, 0], [1, 1]], dtype=np.float32)  # normal, one finding, both findings
    probabilities = np.array([[0.0, 0.0], [0.9, 0.2]])
    scores = dap_class_scores(probabilities, matrix)
    low, high = 1e-4, 1 - 1e-4  # probabilities are clipped
    expected = [[2 * np.log(high), np.log(low) + np.log(high), 2 * np.log(low)],
                [np.log(0.1) + np.log(0.8), np.log(0.9) + np.log(0.8), np.log(0.9) + np.log(0.2)]]
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    assert scores[0].argmax() == 0 and scores[1].argmax() == 1


def test_matrix_of_code_2_holds_the_cholesteatoma_findings_its_prompts_state(prompts):
    vocabulary = finding_vocabulary(_dataset(8, 0)["findings_triples"])
    phrases = [finding_phrase(f) for f in vocabulary]
    matrix, findings, unscorable = class_attribute_matrix(CODES, prompts, vocabulary)
    stated = composed_prompts(prompts["2"])
    assert "上鼓室软组织影" in findings[2] and "听小骨骨质破坏" in findings[2]
    assert findings[2] == [p for p in stated if p in phrases] and unscorable[2] == [p for p in stated if p not in phrases]
    assert [phrases[i] for i in np.flatnonzero(matrix[CODES.index(2)])] == sorted(findings[2], key=phrases.index)
    assert findings[5] == [] and unscorable[5] == [] and not matrix[CODES.index(5)].any()  # normal: all absent
    with pytest.raises(ValueError, match="class code 7 has no prompts"):
        class_attribute_matrix([7], prompts, vocabulary)


def test_run_returns_test_predictions_info_and_is_deterministic(view, prompts, tmp_path):
    predictions, info = _run(view, prompts, tmp_path / "a")
    n, v = len(view["test"]), len(info["vocabulary"])
    assert predictions.logits.shape == (n, 2, len(CODES)) and predictions.class_codes == CODES
    np.testing.assert_array_equal(predictions.cosine, predictions.logits)
    assert predictions.image_embeds.shape == (n, 2, v) and predictions.side_text_embeds is None
    assert ((predictions.image_embeds >= 0) & (predictions.image_embeds <= 1)).all()
    np.testing.assert_array_equal(predictions.labels[:, 0], view["test"]["left_code"])
    np.testing.assert_array_equal(predictions.labels[:, 1], view["test"]["right_code"])
    np.testing.assert_allclose(predictions.probabilities.sum(-1), 1.0, rtol=1e-5)
    assert set(info["validation_finding_auc"]) == set(info["vocabulary"]) and info["train_seconds"] >= 0
    assert info["class_findings"][5] == [] and "上鼓室软组织影" in info["class_findings"][2]
    assert (tmp_path / "a" / "attribute_composition.json").is_file()
    again, _ = _run(view, prompts, tmp_path / "b")
    np.testing.assert_array_equal(again.logits, predictions.logits)
    other, _ = _run(view, prompts, tmp_path / "c", seed=1)
    assert not np.array_equal(other.logits, predictions.logits)
    # No text tower: the saved weights are the vision encoder and the finding head only.
    with safe_open(str(tmp_path / "a" / "model.safetensors"), "pt") as weights:
        assert {key.split(".")[0] for key in weights.keys()} == {"vision_model", "finding_head"}


def test_trained_module_has_no_text_tower():
    vocabulary = finding_vocabulary(_dataset(8, 0)["findings_triples"])
    model = train_attribute_classifier(_dataset(8, 0), BiCPLVisionConfig(**tiny_config_kwargs()["vision_config"]),
                                       vocabulary, BUDGET, seed=0, epochs=0.25)
    names = [name for name, _ in model.named_parameters()]
    assert names and all(name.startswith(("vision_model.", "finding_head.")) for name in names)
    assert not any("text" in name or "embeddings" in name for name, _ in model.named_modules())
    assert model.finding_head.out_features == len(vocabulary)


def test_empty_vocabulary_is_a_clear_error(prompts, tmp_path):
    normal = _dataset(8, 0).filter(lambda row: row["left_code"] == 5 and row["right_code"] == 5)
    with pytest.raises(ValueError, match="empty finding vocabulary"):
        _run(DatasetDict(train=normal, validation=normal, test=normal), prompts, tmp_path)
