"""Training recipe (collator, class balancing, stages) and zero-shot diagnosis (function and pipeline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _phantoms import make_head_phantom
from conftest import tiny_config_kwargs
from datasets import Array5D, Dataset, Features, Value
from transformers import AutoModel, AutoProcessor, TrainingArguments, pipeline

import bicpl_hf  # noqa: F401  (registers the Auto classes and the pipeline task)
from bicpl_hf import BiCPLConfig, BiCPLModel, BiCPLProcessor, BiCPLVolumeProcessor
from bicpl_hf.data import MissingReportColumnError, add_report_columns
from bicpl_hf.metrics import make_compute_metrics
from bicpl_hf.training import (
    BalancedSamplingTrainer,
    BiCPLDataCollator,
    build_trainer,
    class_weights_from_counts,
    ear_code_counts,
    exam_sampling_weights,
)
from bicpl_hf.zero_shot import diagnose

REPORTS = {
    (2, 5): ("左侧上鼓室见软组织密度影，听小骨骨质破坏。右侧鼓室清晰，听骨链完整。", "左侧中耳胆脂瘤。右侧中耳未见异常。"),
    (5, 2): ("右侧上鼓室见软组织密度影，听小骨骨质破坏。左侧鼓室清晰，听骨链完整。", "右侧中耳胆脂瘤。左侧中耳未见异常。"),
    (5, 5): ("双侧鼓室清晰，听骨链完整，乳突气化良好。", "双侧中耳未见异常。"),
    (1, 5): ("左侧鼓室内见软组织密度影，乳突硬化。右侧鼓室清晰。", "左侧慢性化脓性中耳炎。右侧中耳未见异常。"),
}


def _dataset(n: int = 8, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("pixel_values", "report", "left_code", "right_code")}
    pairs = list(REPORTS)
    for i in range(n):
        left, right = pairs[i % len(pairs)]
        volume = (rng.random((2, 2, 16, 16, 16)) * 0.1).astype(np.float16)
        for ear, code in enumerate((left, right)):
            if code != 5:
                volume[ear, :, 4:12, 4:12, 4:12] += np.float16(0.6 if code == 2 else 0.3)
        findings, impression = REPORTS[(left, right)]
        rows["pixel_values"].append(volume)
        rows["report"].append(f"影像所见：{findings}\n检查结论：{impression}")
        rows["left_code"].append(left)
        rows["right_code"].append(right if i != 3 else -100)
    features = Features({"pixel_values": Array5D((2, 2, 16, 16, 16), "float16"), "report": Value("string"),
                         "left_code": Value("int64"), "right_code": Value("int64")})
    # The builder stores the parsed-report columns; a hand-made dataset gets them once with add_report_columns.
    return Dataset.from_dict(rows, features=features).map(add_report_columns).with_format(
        "numpy", columns=["pixel_values"], output_all_columns=True)


@pytest.fixture
def processor(tokenizer):
    return BiCPLProcessor(BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(40.0, 40.0, 40.0)), tokenizer)


def test_collator_batches_images_texts_and_labels(processor):
    dataset = _dataset()
    batch = BiCPLDataCollator(processor)([dataset[0], dataset[3]])
    assert batch["pixel_values"].shape == (2, 2, 2, 16, 16, 16) and batch["pixel_values"].dtype == torch.float32
    assert batch["labels"].tolist() == [[2, 5], [1, -100]]
    assert batch["side_input_ids"].shape[:2] == (2, 2)
    # The left side text of exam 0 is about the left ear only: it names the lesion, the right text does not.
    left_text = processor.tokenizer.decode(batch["side_input_ids"][0, 0], skip_special_tokens=True).replace(" ", "")
    right_text = processor.tokenizer.decode(batch["side_input_ids"][0, 1], skip_special_tokens=True).replace(" ", "")
    assert "破坏" in left_text and "破坏" not in right_text
    contrastive = BiCPLDataCollator(processor, include_labels=False)([dataset[0]])
    assert "labels" not in contrastive and contrastive["return_loss"] is True


def test_class_weights_and_balanced_sampling():
    dataset = _dataset()
    counts = ear_code_counts(dataset, [1, 2, 3, 4, 5, 6])
    assert counts == {1: 2, 2: 4, 3: 0, 4: 0, 5: 9, 6: 0}
    weights = class_weights_from_counts(counts)
    assert weights[2] == weights[3] == weights[5] == 0.0
    assert weights[0] > weights[1] > weights[4] > 0  # rarer classes weigh more
    assert np.mean([w for w in weights if w > 0]) == pytest.approx(1.0)
    sampling = exam_sampling_weights(dataset, [1, 2, 3, 4, 5, 6])
    assert sampling[3] > sampling[2]  # the exam with a CSOM ear is drawn more often than a normal-normal exam


def test_contrastive_then_prototype_stages_with_metrics(tiny_model, processor, tmp_path):
    tiny_model.initialize_prototypes(processor.tokenizer)
    train, evaluation = _dataset(8), _dataset(4, seed=1)
    args = TrainingArguments(output_dir=str(tmp_path / "stage1"), per_device_train_batch_size=4, max_steps=3,
                             report_to=[], use_cpu=True, disable_tqdm=True, save_strategy="no")
    stage1 = build_trainer(tiny_model, processor, args, train, stage="contrastive")
    stage1.train()
    assert args.remove_unused_columns is False
    assert np.isfinite(stage1.state.log_history[-1]["train_loss"])
    args2 = TrainingArguments(output_dir=str(tmp_path / "stage2"), per_device_train_batch_size=4, max_steps=3,
                              report_to=[], use_cpu=True, disable_tqdm=True, save_strategy="no")
    stage2 = build_trainer(
        tiny_model, processor, args2, train, evaluation, stage="prototype", balance="sample",
        compute_metrics=make_compute_metrics(tiny_model.config.class_codes),
    )
    assert isinstance(stage2, BalancedSamplingTrainer)
    # Codes 3, 4 and 6 have no training ear: their prototypes are frozen to the text prototypes.
    assert tiny_model.config.frozen_prototype_codes == [3, 4, 6]
    frozen = tiny_model.get_prototypes()[[2, 3, 5]].detach().clone()
    stage2.train()
    metrics = stage2.evaluate()
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0 and "eval_macro_f1" in metrics
    assert torch.equal(tiny_model.get_prototypes()[[2, 3, 5]].detach(), frozen)


def test_reweighting_sets_class_weights(tiny_model, processor, tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True, max_steps=1)
    build_trainer(tiny_model, processor, args, _dataset(), stage="joint", balance="reweight")
    assert tiny_model.config.class_weights is not None and len(tiny_model.config.class_weights) == 6
    with pytest.raises(ValueError, match="stage must be one of"):
        build_trainer(tiny_model, processor, args, _dataset(), stage="finetune")


@pytest.fixture
def saved_model_dir(tmp_path, tokenizer):
    volume_processor = BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(40.0, 40.0, 40.0))
    processor = BiCPLProcessor(volume_processor, tokenizer)
    torch.manual_seed(0)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs()))
    model.initialize_prototypes(tokenizer)
    directory = tmp_path / "bicpl"
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def test_diagnose_function_and_pipeline_agree(saved_model_dir, tmp_path):
    nifti = tmp_path / "exam.nii.gz"
    import SimpleITK as sitk

    sitk.WriteImage(make_head_phantom(size_xyz=(140, 100, 30), lesion_side="left").to_sitk(), str(nifti))
    model = AutoModel.from_pretrained(saved_model_dir)
    processor = AutoProcessor.from_pretrained(saved_model_dir)
    result = diagnose(model, processor, str(nifti))
    assert set(result.left.probabilities) == {1, 2, 3, 4, 5, 6}
    assert sum(result.left.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert result.left.asymmetry_map.shape == (16, 16, 16) and result.right.asymmetry_map.shape == (16, 16, 16)
    assert result.ear_metadata[0]["side"] == "left"
    diagnoser = pipeline("zero-shot-ear-diagnosis", model=str(saved_model_dir))
    piped = diagnoser(str(nifti))
    assert piped.left.probabilities == pytest.approx(result.left.probabilities, abs=1e-5)
    # New classes by text alone: only the prompted classes are scored.
    prompts = {2: ["上鼓室软组织影，听小骨骨质破坏。检查结论：中耳胆脂瘤。"], 9: ["岩尖膨胀性囊性病变。检查结论：岩尖胆固醇肉芽肿。"]}
    custom = diagnoser(str(nifti), class_prompts=prompts, class_names={9: "岩尖胆固醇肉芽肿"})
    assert set(custom.right.probabilities) == {2, 9}
    assert custom.right.top_name in {"中耳胆脂瘤", "岩尖胆固醇肉芽肿"}
    assert custom.left.probabilities == pytest.approx(
        diagnose(model, processor, str(nifti), class_prompts=prompts).left.probabilities, abs=1e-5)


def test_processor_output_feeds_the_model_directly(saved_model_dir, tmp_path):
    import SimpleITK as sitk

    nifti = tmp_path / "exam.nii.gz"
    sitk.WriteImage(make_head_phantom(size_xyz=(140, 100, 30)).to_sitk(), str(nifti))
    processor = AutoProcessor.from_pretrained(saved_model_dir)
    model = AutoModel.from_pretrained(saved_model_dir).eval()
    batch = processor(volumes=str(nifti), text="影像所见：双侧鼓室清晰，听骨链完整。检查结论：双侧中耳未见异常。")
    out = model(**batch)
    assert out.logits.shape == (1, 2, 6) and out.side_text_embeds.shape == (1, 2, 16)


def test_collator_options_for_summaries_hard_negatives_and_soft_labels(tiny_model, processor):
    dataset = _dataset()
    collator = BiCPLDataCollator(processor, text_mode="summary", hard_negatives=2, attribute_vectors=True, seed=1)
    batch = collator([dataset[0], dataset[2]])
    assert batch["hard_negative_input_ids"].shape[:3] == (2, 2, 2)
    assert batch["side_attribute_vectors"].shape[:2] == (2, 2)
    assert batch["side_attribute_vectors"][0, 0].sum() > 0 and batch["side_attribute_vectors"][0, 1].sum() == 0
    summary = processor.tokenizer.decode(batch["side_input_ids"][0, 0], skip_special_tokens=True).replace(" ", "")
    assert summary.startswith("左侧")
    again = collator([dataset[0], dataset[2]])
    assert torch.equal(batch["hard_negative_input_ids"], again["hard_negative_input_ids"])  # deterministic
    tiny_model.config.soft_label_alpha = 0.3
    out = tiny_model(**batch)
    assert {"itc_hard", "itc_ear", "proto"} <= set(out.loss_components)
    with pytest.raises(ValueError, match="text_mode must be"):
        BiCPLDataCollator(processor, text_mode="llm")


def test_collator_reads_the_stored_columns_and_never_parses(processor, monkeypatch):
    import bicpl_hf.data.report_columns as report_columns
    import bicpl_hf.knowledge.summaries as summaries

    dataset = _dataset()
    examples = [dataset[0], dataset[1]]

    def no_parse(*args, **kwargs):
        raise AssertionError("the collator parsed a report")

    monkeypatch.setattr(summaries, "parse_report", no_parse)
    monkeypatch.setattr(report_columns, "parse_report", no_parse)
    batch = BiCPLDataCollator(processor, text_mode="both", attribute_vectors=True)(examples)
    expected = [summaries.join_side_texts(ex[f"{side}_summary"], ex[f"{side}_text"])
                for ex in examples for side in ("left", "right")]
    tokens = processor.tokenizer(expected, padding=True, truncation=True, max_length=processor.side_max_length,
                                 return_tensors="pt")["input_ids"]
    assert torch.equal(batch["side_input_ids"].reshape(4, -1)[:, :tokens.shape[1]], tokens)
    stored = np.stack([[ex["left_attributes"], ex["right_attributes"]] for ex in examples]).astype(np.float32)
    np.testing.assert_array_equal(batch["side_attribute_vectors"].numpy(), stored)
    # a stored column wins over the report text: the collator does not look at the report for side texts
    edited = dict(examples[0], left_text="左侧外耳道通畅。")
    raw = BiCPLDataCollator(processor)([edited])
    assert processor.tokenizer.decode(raw["side_input_ids"][0, 0], skip_special_tokens=True).replace(" ", "") == \
        "左侧外耳道通畅。"


@pytest.mark.parametrize(("options", "missing"), [({}, "left_text"), ({"text_mode": "summary"}, "left_summary"),
                                                  ({"attribute_vectors": True}, "left_attributes")])
def test_collator_names_a_missing_column_and_how_to_rebuild(processor, options, missing):
    example = {"pixel_values": np.zeros((2, 2, 16, 16, 16), np.float16), "left_code": 5, "right_code": 5,
               "report": "影像所见：双侧鼓室清晰。检查结论：双侧中耳未见异常。"}
    if missing != "left_text":
        example.update(left_text="双侧鼓室清晰。", right_text="双侧鼓室清晰。")
    with pytest.raises(MissingReportColumnError, match=rf"no '{missing}' column.*[Rr]ebuild"):
        BiCPLDataCollator(processor, **options)([example])
    BiCPLDataCollator(processor, include_text=False)([example])  # a vision-only batch needs no text column
    fixed = {**example, **add_report_columns(example)}
    assert BiCPLDataCollator(processor, **options)([fixed])["pixel_values"].shape[0] == 1
    stale = {**fixed, "left_attributes": fixed["left_attributes"][:-1]}
    with pytest.raises(ValueError, match="left_attributes.*rebuild"):
        BiCPLDataCollator(processor, attribute_vectors=True)([stale])


def test_training_resumes_from_a_checkpoint(tiny_model, processor, tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=2, save_steps=2,
                             report_to=[], use_cpu=True, disable_tqdm=True)
    build_trainer(tiny_model, processor, args, _dataset(), stage="joint").train()
    checkpoint = tmp_path / "checkpoint-2"
    assert (checkpoint / "model.safetensors").exists() and (checkpoint / "trainer_state.json").exists()
    torch.manual_seed(1)
    fresh = BiCPLModel(BiCPLConfig(**tiny_config_kwargs()))
    args4 = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=4, save_steps=100,
                              report_to=[], use_cpu=True, disable_tqdm=True)
    trainer = build_trainer(fresh, processor, args4, _dataset(), stage="joint")
    trainer.train(resume_from_checkpoint=str(checkpoint))
    assert trainer.state.global_step == 4


def test_calibrated_stacking_sets_the_unseen_share_on_trained_ears_and_survives_save(processor, tmp_path):
    from bicpl_hf import calibrate_unseen_class_offset
    from bicpl_hf.training.evaluation import predict_dataset

    torch.manual_seed(0)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs())).eval()
    dataset = _dataset(16)  # ears coded 1, 2 and 5; 3, 4 and 6 play the unseen classes
    raw = predict_dataset(model, processor, dataset, with_text=False).logits
    offset = calibrate_unseen_class_offset(model, processor, dataset, [3, 4, 6], false_positive_rate=0.25)
    assert model.config.class_logit_offsets == [0.0, 0.0, offset, offset, 0.0, offset]

    predictions = predict_dataset(model, processor, dataset, with_text=False)
    np.testing.assert_allclose(predictions.logits - raw, np.broadcast_to(model.config.class_logit_offsets, raw.shape),
                               atol=1e-5)
    labels = predictions.labels.reshape(-1)
    trained = np.isin(labels, [1, 2, 5])
    called_unseen = np.isin(predictions.logits.reshape(-1, 6)[trained].argmax(1), [2, 3, 5])
    assert abs(called_unseen.mean() - 0.25) <= 1.0 / trained.sum()

    model.save_pretrained(tmp_path)
    reloaded = AutoModel.from_pretrained(tmp_path)
    assert reloaded.config.class_logit_offsets == model.config.class_logit_offsets
    np.testing.assert_allclose(predict_dataset(reloaded, processor, dataset, with_text=False).logits,
                               predictions.logits, atol=1e-5)

    with pytest.raises(ValueError, match=r"unseen_codes \[9\] are not in config.class_codes"):
        calibrate_unseen_class_offset(model, processor, dataset, [9])
    with pytest.raises(ValueError, match="false_positive_rate must be in"):
        calibrate_unseen_class_offset(model, processor, dataset, [4], false_positive_rate=1.0)
    before = list(model.config.class_logit_offsets)
    with pytest.raises(ValueError, match=r"no ear labelled with a trained class \[6\]"):
        calibrate_unseen_class_offset(model, processor, dataset, [1, 2, 3, 4, 5])
    assert model.config.class_logit_offsets == before  # a failed calibration leaves the model as it was
