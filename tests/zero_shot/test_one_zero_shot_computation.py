"""One zero-shot computation (issue 21, item 5): the pipeline (`class_prompts`, `candidate_labels`), `diagnose()`,
`add_class_by_text` and the benchmark (`prompt_cosines`, the v2 variant's prompts) score a prompt the same way, the
way the model was trained to (`config.prompt_style`), and a saved model keeps it."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from _phantoms import make_head_phantom
from conftest import tiny_config_kwargs

from bicpl_hf import BiCPLConfig, BiCPLModel, BiCPLProcessor, BiCPLVolumeProcessor
from bicpl_hf.knowledge.finding_vocabulary import NORMAL_SUMMARY, composed_prompts, finding_prompts
from bicpl_hf.modeling.configuration_bicpl import DEFAULT_CLASS_PROMPTS
from bicpl_hf.modeling.modeling_bicpl_heads import bounded_logit_scale
from bicpl_hf.training.evaluation import DatasetPredictions, prompt_cosines
from bicpl_hf.zero_shot import add_class_by_text, candidate_label_prompts, diagnose, resolve_classes
from bicpl_hf.zero_shot.prompt_recipe import encode_prompts_as_trained, prompts_in_model_style

USER_PROMPTS = {
    2: ["上鼓室软组织密度影，盾板骨质破坏，鼓窦入口扩大。检查结论：中耳胆脂瘤。", "胆脂瘤"],
    4: ["岩尖膨胀性病变，边缘光滑，骨壁变薄但完整。", "cholesterol granuloma"],
    5: ["鼓室清晰，听骨链完整，乳突气化良好。检查结论：中耳未见明显异常。"],
}


def _model(tokenizer, style: str) -> BiCPLModel:
    torch.manual_seed(0)
    prompts = prompts_in_model_style(DEFAULT_CLASS_PROMPTS, style)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs(prompt_style=style, class_prompts=prompts))).eval()
    model.initialize_prototypes(tokenizer)
    return model


@pytest.fixture
def composed_model(tokenizer):
    return _model(tokenizer, "composed")


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    path = tmp_path_factory.mktemp("exam") / "exam.nii.gz"
    sitk.WriteImage(make_head_phantom(size_xyz=(140, 100, 30), lesion_side="left", seed=0).to_sitk(), str(path))
    return str(path)


def _expected(model, tokenizer, prompts) -> torch.Tensor:
    """The benchmark's computation, written out: the prompts composed into findings, the prototype their mean."""
    return model.encode_class_prompts(tokenizer, {c: list(dict.fromkeys(composed_prompts(p))) for c, p in prompts.items()})


def test_config_stores_and_validates_prompt_style(tmp_path):
    assert BiCPLConfig(**tiny_config_kwargs()).prompt_style == "report"  # old checkpoints load unchanged
    config = BiCPLConfig(**tiny_config_kwargs(prompt_style="composed"))
    config.save_pretrained(tmp_path)
    assert BiCPLConfig.from_pretrained(tmp_path).prompt_style == "composed"
    with pytest.raises(ValueError, match=r"prompt_style must be one of 'report', 'findings', 'composed'.*'bogus'"):
        BiCPLConfig(**tiny_config_kwargs(prompt_style="bogus"))
    with pytest.raises(ValueError, match="prompt_style must be one of"):
        prompts_in_model_style({2: ["胆脂瘤"]}, "bogus")


def test_pipeline_candidate_labels_diagnose_add_class_and_benchmark_give_the_same_scores(composed_model, tokenizer,
                                                                                      exam):
    model = composed_model
    expected = _expected(model, tokenizer, USER_PROMPTS)
    # pipeline / diagnose path with free-text class_prompts
    codes, _, prototypes = resolve_classes(model, tokenizer, class_prompts=USER_PROMPTS)
    assert codes == [2, 4, 5]
    torch.testing.assert_close(prototypes, expected)
    torch.testing.assert_close(encode_prompts_as_trained(model, tokenizer, USER_PROMPTS), expected)
    # candidate_labels: the knowledge base's ensembles, composed the same way
    labels = ["胆脂瘤", "cholesterol granuloma", "正常"]
    kb_prompts, _ = candidate_label_prompts(labels, hypothesis_template="检查结论：{}。")
    _, _, from_labels = resolve_classes(model, tokenizer, candidate_labels=labels, hypothesis_template="检查结论：{}。")
    torch.testing.assert_close(from_labels, _expected(model, tokenizer, kb_prompts))
    # add_class_by_text: the stored, frozen prototype is the composed one
    grown = copy.deepcopy(model)
    add_class_by_text(grown, tokenizer, 7, "胆脂瘤（文本）", USER_PROMPTS[2])
    torch.testing.assert_close(grown.get_prototypes()[-1], expected[0])
    # diagnose() on a processed exam and the benchmark's prompt_cosines on the same ear embeddings
    processor = BiCPLProcessor(BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(40.0, 40.0, 40.0)), tokenizer)
    result = diagnose(model, processor, exam, class_prompts=USER_PROMPTS)
    pixel_values = processor(volumes=exam, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        embeds = model(pixel_values=pixel_values).image_embeds.float().numpy()
    predictions = DatasetPredictions(logits=np.zeros((1, 2, 6)), labels=np.full((1, 2), -100), image_embeds=embeds,
                                     side_text_embeds=None, class_codes=list(model.config.class_codes))
    cosines = prompt_cosines(model, tokenizer, predictions, USER_PROMPTS)
    assert cosines.shape == (1, 2, 3)
    np.testing.assert_allclose(cosines[0], embeds[0] @ expected.numpy().T, rtol=1e-5, atol=1e-6)
    scale = float(bounded_logit_scale(model.prototype_head.logit_scale.detach()))
    probabilities = torch.softmax(torch.as_tensor(scale * cosines[0]), -1).numpy()
    for ear, side in enumerate((result.left, result.right)):
        np.testing.assert_allclose([side.probabilities[c] for c in (2, 4, 5)], probabilities[ear], rtol=1e-4,
                                   atol=1e-6)


def test_add_class_by_text_stores_the_prompts_in_the_model_style_and_survives_a_reload(composed_model, tokenizer,
                                                                                    tmp_path):
    model = composed_model
    expected = _expected(model, tokenizer, {7: USER_PROMPTS[2]})[0]
    add_class_by_text(model, tokenizer, 7, "胆脂瘤（文本）", USER_PROMPTS[2])
    stored = model.config.class_prompts["7"]
    assert stored == ["上鼓室软组织影", "盾板骨质破坏", "鼓窦入口扩大", "胆脂瘤"]
    assert prompts_in_model_style({7: stored}, "composed")[7] == stored  # composing composed prompts changes nothing
    model.save_pretrained(tmp_path / "m")
    reloaded = BiCPLModel.from_pretrained(tmp_path / "m").eval()
    assert reloaded.config.prompt_style == "composed"
    torch.testing.assert_close(reloaded.get_prototypes(), model.get_prototypes())
    reloaded.initialize_prototypes(tokenizer, reset_trainable=False)  # re-encodes config.class_prompts
    torch.testing.assert_close(reloaded.prototype_head.text_prototypes[-1], expected)
    torch.testing.assert_close(resolve_classes(reloaded, tokenizer, class_prompts=USER_PROMPTS)[2],
                               _expected(model, tokenizer, USER_PROMPTS))


def test_report_style_encodes_prompts_as_written(tokenizer):
    model = _model(tokenizer, "report")
    assert model.config.class_prompts == {str(c): p for c, p in DEFAULT_CLASS_PROMPTS.items()}
    assert prompts_in_model_style(USER_PROMPTS, "report") == USER_PROMPTS
    torch.testing.assert_close(resolve_classes(model, tokenizer, class_prompts=USER_PROMPTS)[2],
                               model.encode_class_prompts(tokenizer, USER_PROMPTS))
    add_class_by_text(model, tokenizer, 7, "胆脂瘤（文本）", USER_PROMPTS[2])
    assert model.config.class_prompts["7"] == USER_PROMPTS[2]


@pytest.mark.parametrize("prompt", ["胆脂瘤", "cholesteatoma of the middle ear", "考虑胆脂瘤可能", "检查结论：中耳胆脂瘤。"])
def test_a_prompt_without_findings_keeps_its_text_and_never_becomes_the_normal_ear(prompt, composed_model, tokenizer):
    assert composed_prompts([prompt]) == [prompt]
    assert finding_prompts([prompt]) == [prompt]
    prototypes = encode_prompts_as_trained(composed_model, tokenizer, {2: [prompt], 5: ["中耳未见明显异常。"]})
    assert prompts_in_model_style({2: [prompt]}, "composed") == {2: [prompt]}
    assert not torch.allclose(prototypes[0], prototypes[1], atol=1e-6)  # a random tiny tower: near, never equal
    torch.testing.assert_close(prototypes[0], composed_model.encode_class_prompts(tokenizer, {2: [prompt]})[0])


@pytest.mark.parametrize("prompt", ["中耳未见明显异常。", "双侧鼓室清晰。检查结论：未见异常。", "正常",
                                    "鼓室及乳突气房含气良好，未见异常密度影。检查结论：正常。"])
def test_a_normal_prompt_still_composes_into_the_normal_text(prompt):
    assert composed_prompts([prompt]) == [NORMAL_SUMMARY]


def test_the_benchmark_v2_variant_stores_its_prompt_style(tokenizer):
    from bicpl_hf.training.experiments import VARIANTS, make_variant_model

    model = make_variant_model(VARIANTS["bicpl_v2"], tiny_config_kwargs(), tokenizer, seed=0)
    assert model.config.prompt_style == "composed"
    prompts = model.config.class_prompts
    assert prompts_in_model_style(prompts, "composed") == prompts  # stored already composed
