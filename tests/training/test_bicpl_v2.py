"""Bi-CPL v2 pieces (issue 14): finding-level alignment, finding-style texts and prompts, the prototype stage that
keeps zero-shot (unseen classes out of the softmax, anchors refreshed with the residual carried), normal-ear rates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config_kwargs
from test_training import _dataset
from transformers import TrainingArguments

from bicpl_hf import BiCPLConfig, BiCPLModel, BiCPLProcessor, BiCPLVolumeProcessor
from bicpl_hf.knowledge.finding_vocabulary import (
    composed_prompts,
    ear_findings,
    finding_labels,
    finding_phrase,
    finding_prompts,
    finding_vocabulary,
    side_findings_text,
)
from bicpl_hf.modeling.losses_bicpl import finding_alignment_loss
from bicpl_hf.processing import parse_report
from bicpl_hf.training import BiCPLDataCollator, build_trainer
from bicpl_hf.training.evaluation import DatasetPredictions, normal_ear_rates
from bicpl_hf.training.experiments import VARIANTS, make_variant_model, variant_collator_options
from bicpl_hf.training.recipe import TextAnchorRefreshCallback


@pytest.fixture
def processor(tokenizer):
    return BiCPLProcessor(BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(40.0, 40.0, 40.0)), tokenizer)


def test_negated_findings_are_negatives_and_the_other_ear_never_counts():
    parsed = parse_report(findings="左侧上鼓室见软组织影，盾板骨质破坏，未见积液。右侧鼓室积液，听小骨未见骨质破坏。",
                          impression="左侧中耳胆脂瘤。右侧分泌性中耳炎。")
    left_present, left_negated = ear_findings(parsed.triples, "left")
    right_present, right_negated = ear_findings(parsed.triples, "right")
    assert left_present == {("epitympanum", "soft_tissue"), ("scutum", "bone_erosion")}
    assert ("tympanic_cavity", "effusion") in right_present and ("ossicles", "bone_erosion") in right_negated
    assert not left_present & right_present
    vocabulary = (("scutum", "bone_erosion"), ("ossicles", "bone_erosion"), ("tympanic_cavity", "effusion"))
    np.testing.assert_array_equal(finding_labels(parsed.triples, vocabulary), [[1, 0, 0], [0, 0, 1]])
    assert [finding_phrase(f) for f in vocabulary] == ["盾板骨质破坏", "听小骨骨质破坏", "鼓室积液"]
    with pytest.raises(ValueError, match="side must be"):
        ear_findings(parsed.triples, "both")


def test_finding_vocabulary_keeps_findings_seen_often_enough_in_a_fixed_order():
    reports = [parse_report(findings=f, impression="") for f in
               ("左侧鼓室积液。", "双侧鼓室积液。", "右侧盾板骨质破坏。", "左侧鼓室内未见积液。")]
    triples = [r.triples for r in reports]
    assert finding_vocabulary(triples, min_ears=3) == (("tympanic_cavity", "effusion"),)
    assert finding_vocabulary(triples, min_ears=1) == (("tympanic_cavity", "effusion"), ("scutum", "bone_erosion"))
    with pytest.raises(ValueError, match="no finding is present in 9"):
        finding_vocabulary(triples, min_ears=9)


def test_finding_texts_and_prompts_drop_side_headers_negations_and_disease_names():
    assert side_findings_text("左侧：上鼓室软组织影；乳突硬化。检查结论：中耳胆脂瘤") == "上鼓室软组织影；乳突硬化"
    assert side_findings_text("右侧：中耳未见明显异常") == "中耳未见明显异常"
    assert side_findings_text("右侧：检查结论：胆脂瘤") == "中耳未见明显异常"
    prompt = "上鼓室软组织密度影，盾板骨质破坏，未见积液。检查结论：中耳胆脂瘤。"
    assert finding_prompts([prompt]) == ["上鼓室软组织影，盾板骨质破坏"]
    assert composed_prompts([prompt, "盾板骨质破坏，鼓窦入口扩大。"]) == ["上鼓室软组织影", "盾板骨质破坏", "鼓窦入口扩大"]
    assert composed_prompts(["双侧鼓室清晰。检查结论：未见异常。"]) == ["中耳未见明显异常"]


def test_finding_alignment_loss_matches_binary_cross_entropy_and_ignores_unknown():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, -3.0]])
    labels = torch.tensor([[1.0, 0.0, -100.0], [0.0, 1.0, 1.0]])
    known = labels != -100
    plain = torch.nn.functional.binary_cross_entropy_with_logits(logits[known], labels[known])
    assert torch.allclose(finding_alignment_loss(logits, labels, balanced=False), plain)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.clamp(0, 1), reduction="none")
    # per finding: half its positives' mean, half its negatives' mean; the third has one positive ear and no negative
    balanced = (0.5 * (bce[0, 0] + bce[1, 0]) + 0.5 * (bce[0, 1] + bce[1, 1]) + bce[1, 2]) / 3
    assert torch.allclose(finding_alignment_loss(logits, labels), balanced)
    assert finding_alignment_loss(logits, torch.full_like(labels, -100.0)).item() == 0.0


def test_collator_and_model_train_the_finding_head(processor):
    dataset = _dataset()
    vocabulary = finding_vocabulary(dataset["findings_triples"], min_ears=1)
    collator = BiCPLDataCollator(processor, text_mode="findings", finding_vocabulary=vocabulary)
    batch = collator([dataset[0], dataset[2]])
    assert batch["finding_input_ids"].shape[0] == len(vocabulary)
    assert batch["finding_labels"].shape == (2, 2, len(vocabulary))
    side = processor.tokenizer.decode(batch["side_input_ids"][0, 0], skip_special_tokens=True).replace(" ", "")
    assert "左侧" not in side and "胆脂瘤" not in side and "软组织" in side  # no header, no disease name
    normal = processor.tokenizer.decode(batch["side_input_ids"][0, 1], skip_special_tokens=True).replace(" ", "")
    assert normal == "中耳未见明显异常"
    torch.manual_seed(0)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs(), finding_loss_weight=1.0))
    out = model(**batch)
    assert out.finding_logits.shape == (2, 2, len(vocabulary)) and "finding" in out.loss_components
    out.loss.backward()
    assert model.finding_head.logit_bias.grad is not None and model.finding_head.logit_bias.grad.abs() > 0
    with pytest.raises(ValueError, match="finding_labels must have shape"):
        model(**{**batch, "finding_labels": batch["finding_labels"][:, :, :1]})
    assert BiCPLModel(BiCPLConfig(**tiny_config_kwargs())).finding_head is None  # off by default


def test_anchor_refresh_carries_the_learned_residual(tiny_model, tokenizer):
    head = tiny_model.prototype_head
    tiny_model.initialize_prototypes(tokenizer)
    residual = torch.randn_like(head.prototypes) * 0.01
    head.prototypes.data.add_(residual)
    moved = head.text_prototypes.clone() + 0.1
    head.set_text_prototypes(moved, reset_trainable=False, carry_residual=True)
    torch.testing.assert_close(head.prototypes.data - head.text_prototypes, residual)
    head.set_text_prototypes(moved * 2, reset_trainable=False)  # without carry: trained prototypes stay put
    torch.testing.assert_close(head.prototypes.data - moved, residual)


def test_prototype_stage_refreshes_anchors_and_keeps_unseen_classes_out_of_the_softmax(processor, tmp_path):
    dataset = _dataset()  # codes 1, 2, 5: codes 3, 4, 6 have no training ear
    torch.manual_seed(0)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs(), exclude_frozen_classes_from_loss=True))
    model.initialize_prototypes(processor.tokenizer)
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, learning_rate=1e-2,
                             report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True)
    trainer = build_trainer(model, processor, args, dataset, stage="prototype",
                            callbacks=[TextAnchorRefreshCallback(processor.tokenizer)])
    trainer.train()
    fresh = model.encode_class_prompts(processor.tokenizer, model.prototype_head.ordered_class_prompts())
    torch.testing.assert_close(model.prototype_head.text_prototypes, fresh)  # anchors = the trained text tower's
    frozen = ~model.prototype_head.trainable
    assert model.config.frozen_prototype_codes == [3, 4, 6]
    torch.testing.assert_close(model.get_prototypes()[frozen], torch.nn.functional.normalize(fresh[frozen], dim=-1))
    with pytest.raises(ValueError, match="every_n_steps"):
        TextAnchorRefreshCallback(processor.tokenizer, every_n_steps=0)


def test_v2_variant_builds_finding_prompts_and_the_training_vocabulary(tokenizer):
    config = tiny_config_kwargs()
    variant = VARIANTS["bicpl_v2-findings"]  # the v2 text side without the finding loss
    model = make_variant_model(variant, config, tokenizer, seed=0)
    prompts = model.config.class_prompts
    assert all("检查结论" not in p for ps in prompts.values() for p in ps)
    assert model.config.exclude_frozen_classes_from_loss and model.config.symmetry_loss_weight == 0.0
    options = variant_collator_options(VARIANTS["bicpl_v2"], _dataset())
    assert options["text_mode"] == "findings" and ("epitympanum", "soft_tissue") in options["finding_vocabulary"]


def test_normal_ear_rates_split_by_the_partner_ear():
    codes = [1, 2, 5]
    labels = np.array([[5, 5], [5, 2], [5, 1], [1, 5]])
    called = np.array([[5, 5], [2, 2], [5, 1], [1, 5]])  # the normal ear beside a code-2 ear is called 2
    logits = np.eye(3)[[codes.index(c) for c in called.ravel()]].reshape(4, 2, 3)
    predictions = DatasetPredictions(logits=logits, labels=labels, image_embeds=np.zeros((4, 2, 2)),
                                     side_text_embeds=None, class_codes=codes)
    rates = normal_ear_rates(predictions, normal_code=5)
    assert rates["normal_called_diseased/partner_normal"] == 0.0 and rates["normal_ears/partner_normal"] == 2
    assert rates["normal_called_diseased/partner_diseased"] == pytest.approx(1 / 3)
    assert rates["normal_ears/partner_diseased"] == 3
