"""The diagnosis pipeline speaks transformers' zero-shot dialect: candidate_labels, hypothesis_template, lists of
exams with batch_size, device and dtype."""

from __future__ import annotations

import pytest
import SimpleITK as sitk
import torch
from _phantoms import make_head_phantom
from conftest import tiny_config_kwargs
from transformers import AutoModel, AutoProcessor, pipeline

from bicpl_hf import BiCPLConfig, BiCPLModel, BiCPLProcessor, BiCPLVolumeProcessor
from bicpl_hf.knowledge import load_knowledge_base, prompts_for
from bicpl_hf.zero_shot import candidate_label_prompts, diagnose


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    from conftest import write_char_vocab
    from transformers import BertTokenizerFast

    directory = tmp_path_factory.mktemp("model")
    tokenizer = BertTokenizerFast(vocab=write_char_vocab(directory))
    torch.manual_seed(0)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs()))
    model.initialize_prototypes(tokenizer)
    processor = BiCPLProcessor(BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(40.0, 40.0, 40.0)), tokenizer)
    model.save_pretrained(directory / "bicpl")
    processor.save_pretrained(directory / "bicpl")
    exams = []
    for i, side in enumerate(("left", "right", None)):
        path = directory / f"exam_{i}.nii.gz"
        sitk.WriteImage(make_head_phantom(size_xyz=(140, 100, 30), lesion_side=side, seed=i).to_sitk(), str(path))
        exams.append(str(path))
    return directory / "bicpl", exams


def test_candidate_labels_resolve_chinese_english_and_synonyms_through_the_knowledge_base():
    kb = load_knowledge_base()
    prompts, names = candidate_label_prompts(["胆脂瘤", "cholesterol granuloma", "正常", "面神经鞘瘤"])
    assert names == {2: "中耳胆脂瘤", 4: "胆固醇肉芽肿", 5: "正常", max(kb.codes) + 1: "面神经鞘瘤"}
    assert prompts[2] == prompts_for(kb.get(2), 4) and prompts[4] == prompts_for(kb.get(4), 4)
    templated, _ = candidate_label_prompts(["胆脂瘤"], hypothesis_template="检查结论：{}。")
    assert templated[2] == [*prompts[2], "检查结论：中耳胆脂瘤。"]
    with pytest.raises(ValueError, match=r"'鼻窦炎' is not a disease.*中耳胆脂瘤 \(cholesteatoma\)"):
        candidate_label_prompts(["鼻窦炎"])
    with pytest.raises(ValueError, match="no Chinese text"):
        candidate_label_prompts(["胆脂瘤"], hypothesis_template="This is a CT of {}.")
    with pytest.raises(ValueError, match="already a candidate"):
        candidate_label_prompts(["胆脂瘤", "中耳胆脂瘤"])


def test_pipeline_takes_candidate_labels_lists_batch_size_device_and_dtype(saved_model):
    folder, exams = saved_model
    model, processor = AutoModel.from_pretrained(folder), AutoProcessor.from_pretrained(folder)
    labels = ["胆脂瘤", "cholesterol granuloma", "正常"]
    expected = diagnose(model, processor, exams, candidate_labels=labels, batch_size=1)
    assert [set(e.left.probabilities) for e in expected] == [{2, 4, 5}] * 3
    assert expected[0].left.top_name in {"中耳胆脂瘤", "胆固醇肉芽肿", "正常"}
    # The labels are the knowledge base's prompt ensembles, as if given as class_prompts.
    prompts, names = candidate_label_prompts(labels)
    same = diagnose(model, processor, exams[0], class_prompts=prompts, class_names=names)
    assert same.left.probabilities == pytest.approx(expected[0].left.probabilities, abs=1e-6)

    diagnoser = pipeline("zero-shot-ear-diagnosis", model=str(folder), device="cpu", dtype=torch.float64)
    assert diagnoser.model.dtype == torch.float64 and diagnoser.device.type == "cpu"
    batched = diagnoser(exams, candidate_labels=labels, batch_size=2)
    assert len(batched) == 3
    for got, want in zip(batched, expected):
        assert got.right.probabilities == pytest.approx(want.right.probabilities, abs=1e-5)
        assert got.left.top_code == want.left.top_code
    single = diagnoser(exams[1], candidate_labels=labels, hypothesis_template="检查结论：{}。")
    assert set(single.left.probabilities) == {2, 4, 5}
    with pytest.raises(ValueError, match="not a disease of the knowledge base"):
        diagnoser(exams[0], candidate_labels=["不存在的病"])
    with pytest.raises(ValueError, match="either candidate_labels"):
        diagnoser(exams[0], candidate_labels=labels, class_prompts={2: ["胆脂瘤"]})
