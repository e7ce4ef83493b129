"""Bi-CPL v3's region-aware finding detection: what each anatomical region is made of, read back from the processor's
windows; left and right kept apart; one detector per attribute; out-of-view findings never guessed; the class scores
from findings against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config_kwargs

from bicpl_hf import BiCPLConfig, BiCPLModel
from bicpl_hf.modeling.modeling_bicpl_regions import (
    EAR_REGIONS,
    NUM_DENSITY_FEATURES,
    RegionDensityFeatures,
    _box_slices,
    finding_class_scores,
)
from bicpl_hf.zero_shot.finding_scores import class_findings_of, prompt_findings

WINDOWS = [{"name": "bone", "width": 4000.0, "level": 700.0}, {"name": "soft_tissue", "width": 350.0, "level": 40.0}]
# The benchmark ROI in millimetres at half its voxels (1.5 mm): the regions are boxes in millimetres.
GEOMETRY = {"roi_shape": [16, 24, 20], "roi_size_mm": [24.0, 36.0, 30.0], "windows": WINDOWS}
COARSE = {**GEOMETRY, "coarse_roi_size_mm": [48.0, 72.0, 60.0], "coarse_roi_offset_mm": [-6.0, -4.0, -8.0]}
FINDINGS = [["scutum", "bone_erosion"], ["tympanic_cavity", "effusion"], ["ossicles", "bone_erosion"],
            ["mastoid", "sclerotic"]]


def _windowed(hu: np.ndarray) -> np.ndarray:
    """The processor's two windows of an HU array, as channels."""
    return np.stack([np.clip((hu - (w["level"] - w["width"] / 2)) / w["width"], 0, 1) for w in WINDOWS])


def _ears(left_hu: np.ndarray, right_hu: np.ndarray, coarse: bool = False) -> torch.Tensor:
    ears = [_windowed(hu) for hu in (left_hu, right_hu)]
    if coarse:
        ears = [np.concatenate([e, e]) for e in ears]
    return torch.from_numpy(np.stack(ears)[None].astype(np.float32))


def _region_box(name: str) -> tuple[slice, ...]:
    centre, half = EAR_REGIONS[name]
    return _box_slices(centre, half, (0.0, 0.0, 0.0), GEOMETRY["roi_size_mm"], GEOMETRY["roi_shape"])


def test_density_reads_the_regions_hu_back_and_keeps_the_ears_apart():
    left = np.full((16, 24, 20), -1000.0)  # air everywhere
    right = left.copy()
    left[_region_box("attic_scutum")] = 40.0  # soft tissue fills the LEFT attic only
    density = RegionDensityFeatures(GEOMETRY, ["attic_scutum", "tympanic_cavity", "petrous_apex"])
    assert density.in_view == ["attic_scutum", "tympanic_cavity"]  # the apex lies beyond the fine ROI
    features = density(_ears(left, right)).numpy()[0]  # (2, R, F)
    attic = features[:, 0]
    assert attic[0, 2] == pytest.approx(1.0) and attic[0, 0] == pytest.approx(0.0)  # left: all soft tissue
    assert attic[1, 0] == pytest.approx(1.0) and attic[1, 2] == pytest.approx(0.0)  # right: all air
    assert attic[0, 6] * 100 == pytest.approx(40.0, abs=1.0)  # the contents' mean HU, from the soft-tissue window
    np.testing.assert_allclose(features[:, 1, :6].sum(-1), 1.0, atol=1e-6)  # band fractions partition the region


def test_coarse_roi_brings_the_petrous_apex_into_view():
    density = RegionDensityFeatures(COARSE, ["petrous_apex", "jugular_foramen", "attic_scutum"])
    assert density.in_view == ["petrous_apex", "jugular_foramen", "attic_scutum"]
    assert [channel for channel, _ in density.boxes] == [2, 2, 0]  # coarse channels follow the fine ones


def _model(geometry=GEOMETRY, findings=FINDINGS) -> BiCPLModel:
    torch.manual_seed(0)
    config = BiCPLConfig(**tiny_config_kwargs(region_finding_loss_weight=1.0, region_geometry=geometry,
                                              region_findings=findings, zero_shot_scoring="findings"))
    return BiCPLModel(config).eval()


def test_region_head_swaps_with_the_ears_and_shares_one_detector_per_attribute():
    model = _model()
    head = model.region_finding_head
    assert head.attributes == ["bone_erosion", "effusion", "sclerotic"]
    pixel_values = torch.rand(2, 2, 2, 16, 24, 20, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model(pixel_values=pixel_values).region_finding_logits
        swapped = model(pixel_values=pixel_values.flip(1)).region_finding_logits
        # A finding never trained on ("jugular_foramen" is beyond the fine ROI; "epitympanum" + erosion is new):
        embeds = torch.nn.functional.normalize(model.get_image_features(pixel_values).pooler_output, dim=-1)
        new = head(pixel_values, embeds, [("epitympanum", "bone_erosion"), ("jugular_foramen", "bone_erosion"),
                                          ("scutum", "perforation")])
    assert logits.shape == (2, 2, 4) and torch.isfinite(logits).all()
    torch.testing.assert_close(swapped, logits.flip(1), rtol=1e-4, atol=1e-4)
    # "epitympanum" reads the same region as "scutum", through the same erosion detector: the same logit.
    torch.testing.assert_close(new[..., 0], logits[..., 0])
    assert torch.isnan(new[..., 1]).all() and torch.isnan(new[..., 2]).all()  # out of view / no detector
    assert head.scorable(("scutum", "bone_erosion")) and not head.scorable(("petrous_apex", "soft_tissue"))


def test_region_loss_trains_and_leaves_out_of_view_findings_out():
    model = _model(findings=[*FINDINGS, ["petrous_apex", "soft_tissue"]]).train()
    labels = torch.zeros(2, 2, 5)
    labels[0, 0, 0] = labels[1, 1, 4] = 1.0  # a positive on the out-of-view finding must not turn the loss NaN
    out = model(pixel_values=torch.rand(2, 2, 2, 16, 24, 20), labels=torch.tensor([[1, 5], [2, 5]]),
                finding_input_ids=torch.randint(5, 100, (5, 6)), finding_labels=labels)
    assert torch.isnan(out.region_finding_logits[..., 4]).all()
    assert torch.isfinite(out.loss) and "region_finding" in out.loss_components
    out.loss.backward()
    assert model.region_finding_head.detectors.weight.grad.abs().sum() > 0


def test_region_head_round_trips_and_checks_the_coarse_channels(tmp_path):
    model = _model(geometry=COARSE, findings=[*FINDINGS, ["petrous_apex", "soft_tissue"]])
    pixel_values = torch.rand(1, 2, 4, 16, 24, 20)
    with torch.no_grad():
        before = model(pixel_values=pixel_values).region_finding_logits
    model.save_pretrained(tmp_path)
    loaded = BiCPLModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixel_values=pixel_values).region_finding_logits, before)
    assert torch.isfinite(before).all()  # the apex is read from the coarse channels
    with pytest.raises(ValueError, match="channels = 4"):
        model(pixel_values=torch.rand(1, 2, 2, 16, 24, 20))


def test_config_refuses_findings_scoring_without_a_region_head():
    with pytest.raises(ValueError, match="region_finding_loss_weight > 0"):
        BiCPLConfig(**tiny_config_kwargs(zero_shot_scoring="findings"))
    with pytest.raises(ValueError, match="region_geometry"):
        BiCPLConfig(**tiny_config_kwargs(region_finding_loss_weight=1.0))
    with pytest.raises(ValueError, match="zero_shot_scoring must be one of"):
        BiCPLConfig(**tiny_config_kwargs(zero_shot_scoring="names"))


def test_finding_scores_match_a_hand_computation():
    logits = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 1.0, 0.0]], dtype=torch.float64)
    matrix = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(finding_class_scores(logits, matrix, "present"),
                               torch.tensor([[1.25, -1.0], [-1.5, 1.0]], dtype=torch.float64))
    torch.testing.assert_close(finding_class_scores(logits, matrix, "present_minus_absent"),
                               torch.tensor([[2.25, -2.25], [-2.5, 2.5]], dtype=torch.float64))
    p = 1 / (1 + np.exp(-logits.numpy()))
    dap = np.log(p) @ matrix.numpy().T + np.log(1 - p) @ (1 - matrix.numpy()).T
    np.testing.assert_allclose(finding_class_scores(logits, matrix, "dap").numpy(), dap, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown finding score rule"):
        finding_class_scores(logits, matrix, "max")


def test_frozen_classes_are_scored_from_their_findings_and_user_classes_too():
    model = _model()
    model.config.class_findings = class_findings_of({4: ["盾板骨质破坏，鼓室积液"], 1: ["鼓室积液"]})
    model.set_frozen_prototype_codes([4])
    pixel_values = torch.rand(2, 2, 2, 16, 24, 20, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = model(pixel_values=pixel_values)
        head = model.region_finding_head
        findings = [("mastoid", "sclerotic"), ("ossicles", "bone_erosion"), ("scutum", "bone_erosion"),
                    ("tympanic_cavity", "effusion")]  # the scorable universe, sorted
        finding_logits = head(pixel_values, out.image_embeds, findings)
        stated = torch.tensor([[0.0, 0.0, 1.0, 1.0]], dtype=finding_logits.dtype)
        expected = finding_class_scores(finding_logits, stated, "present_minus_absent")[..., 0]
        column = model.config.class_codes.index(4)
        torch.testing.assert_close(out.logits[..., column], expected)
        prototypes_only = model.prototype_head(out.image_embeds)
        others = [i for i in range(len(model.config.class_codes)) if i != column]
        torch.testing.assert_close(out.logits[..., others], prototypes_only[..., others])  # code 1 is trained
        # Classes given as prototypes: those that come with findings are scored from them, the others are not.
        given = model(pixel_values=pixel_values, class_prototypes=torch.randn(2, 16),
                      class_findings=[None, [["scutum", "bone_erosion"], ["tympanic_cavity", "effusion"]]])
    torch.testing.assert_close(given.logits[..., 1], expected)
    with pytest.raises(ValueError, match="one entry .* per class"):
        model(pixel_values=pixel_values, class_prototypes=torch.randn(2, 16), class_findings=[None])


def test_class_findings_come_from_the_prompts_and_a_name_alone_states_none():
    assert prompt_findings(["上鼓室软组织影，盾板骨质破坏"]) == {("epitympanum", "soft_tissue"),
                                                          ("scutum", "bone_erosion")}
    assert ("scutum", "bone_erosion") not in prompt_findings(["未见盾板骨质破坏"])  # negated
    table = class_findings_of({2: ["上鼓室软组织影，盾板骨质破坏"], 4: ["胆固醇肉芽肿", "cholesterol granuloma"]})
    assert table == {"2": [["epitympanum", "soft_tissue"], ["scutum", "bone_erosion"]]}  # 4 keeps its prototype


@pytest.mark.parametrize("rule", ["present_minus_absent", "likelihood_ratio"])
def test_a_users_prompt_is_scored_from_findings_exactly_as_the_models_own_class(tokenizer, rule):
    from bicpl_hf.zero_shot.pipeline import diagnose_pixel_values, resolve_classes

    model = _model()
    model.config.finding_score_rule = rule
    model.config.finding_likelihood = {"prevalence": [0.2, 0.3, 0.05, 0.4], "unseen_prevalence": 0.01,
                                       "stated_rate": 0.5, "unstated_rate": 0.05}
    prompt = "盾板骨质破坏，鼓室积液"
    model.config.class_findings = class_findings_of({4: [prompt]})
    model.set_frozen_prototype_codes([4])
    pixel_values = torch.rand(1, 2, 2, 16, 24, 20, generator=torch.Generator().manual_seed(3))
    codes, names, prototypes, findings = resolve_classes(model, tokenizer, class_prompts={1: ["鼓室积液"], 9: [prompt]},
                                                         with_findings=True)
    assert codes == [1, 9] and findings[0] is None  # code 1 has a trained prototype; 9 is new
    with torch.no_grad():
        own = model(pixel_values=pixel_values).logits[..., model.config.class_codes.index(4)]
        given = model(pixel_values=pixel_values, class_prototypes=prototypes, class_findings=findings).logits[..., 1]
    torch.testing.assert_close(given, own)
    exam = diagnose_pixel_values(model, pixel_values, codes, names, prototypes, None, findings)[0]
    assert set(exam.left.probabilities) == {1, 9} and abs(sum(exam.left.probabilities.values()) - 1) < 1e-5


def test_one_ear_region_head_never_reads_the_partner():
    torch.manual_seed(0)
    config = BiCPLConfig(**tiny_config_kwargs(region_finding_loss_weight=1.0, region_geometry=GEOMETRY, bilateral=False,
                                              region_findings=FINDINGS, vision_config={**tiny_config_kwargs()[
                                                  "vision_config"], "a3b_stages": [False, False]}))
    model = BiCPLModel(config).eval()
    pixel_values = torch.rand(1, 2, 2, 16, 24, 20, generator=torch.Generator().manual_seed(4))
    other = pixel_values.clone()
    other[:, 1] = torch.rand(2, 16, 24, 20, generator=torch.Generator().manual_seed(5))  # another right ear
    with torch.no_grad():
        first = model(pixel_values=pixel_values).region_finding_logits
        second = model(pixel_values=other).region_finding_logits
    torch.testing.assert_close(first[:, 0], second[:, 0])  # the left ear's findings ignore the right ear


def test_a_paraphrase_is_scored_from_its_findings_or_else_left_at_chance():
    from bicpl_hf.training.region_findings import prompt_set_scores

    model = _model()
    head = model.region_finding_head
    findings = sorted({tuple(f) for f in FINDINGS} | {("epitympanum", "bone_erosion")})
    logits = np.random.default_rng(0).normal(size=(3, 2, len(findings)))
    scores = prompt_set_scores(logits, findings, {0: ["上鼓室骨质破坏"], 1: ["胆脂瘤"]}, "present_minus_absent",
                               model.config.region_findings, head.scorable)
    stated = torch.tensor([[1.0 if f == ("epitympanum", "bone_erosion") else 0.0 for f in findings]])
    absent = torch.tensor([[1.0 if list(f) in FINDINGS else 0.0 for f in findings]])  # the training vocabulary
    expected = finding_class_scores(torch.from_numpy(logits), stated.double(), "present_minus_absent",
                                    absent=absent.double())[..., 0].numpy()
    np.testing.assert_allclose(scores[..., 0], expected)
    assert (scores[..., 1] == 0).all()  # a name states no finding: the same score for every ear
    with pytest.raises(ValueError, match="lack"):
        prompt_set_scores(logits[..., :2], findings[:2], {0: ["上鼓室骨质破坏"]}, "present", FINDINGS, head.scorable)


def test_ear_context_detectors_read_every_region_and_can_leave_the_embedding_out(tmp_path):
    """`region_detector_context=["ear_regions"]`: a detector reads every region of the ear (fluid in the mastoid moves
    the tympanic effusion logit) and not the ear embedding (the image encoder's weights do not move it)."""
    torch.manual_seed(0)
    config = BiCPLConfig(**tiny_config_kwargs(region_finding_loss_weight=1.0, region_geometry=GEOMETRY,
                                              region_findings=FINDINGS, region_detector_context=["ear_regions"]))
    model = BiCPLModel(config).eval()
    head = model.region_finding_head
    assert head.detectors.in_features == 2 * NUM_DENSITY_FEATURES and head.ear_context is not None
    hu = np.full((16, 24, 20), -1000.0, dtype=np.float32)
    pixel_values = _ears(hu, hu)
    filled = hu.copy()
    filled[_region_box("mastoid_cells")] = 20.0  # fluid in the mastoid only
    with torch.no_grad():
        empty = model(pixel_values=pixel_values).region_finding_logits
        mastoid = model(pixel_values=_ears(filled, hu)).region_finding_logits
        for parameter in model.vision_model.parameters():
            parameter.add_(0.5)
        moved_encoder = model(pixel_values=pixel_values).region_finding_logits
    effusion = FINDINGS.index(["tympanic_cavity", "effusion"])
    assert not torch.allclose(mastoid[0, 0, effusion], empty[0, 0, effusion])
    torch.testing.assert_close(moved_encoder, empty)
    model.save_pretrained(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(BiCPLModel.from_pretrained(tmp_path).eval()(pixel_values=pixel_values)
                                   .region_finding_logits, moved_encoder)
    with pytest.raises(ValueError, match="region_detector_context"):
        BiCPLConfig(**tiny_config_kwargs(region_detector_context=["whole_head"]))


def test_each_attribute_reads_its_own_context(tmp_path):
    """`region_detector_context_by_attribute`: fluid detectors read every region of the ear and not the embedding,
    the other attributes the embedding and not the other regions; the masks survive a save and load."""
    from bicpl_hf.processing.report_lexicon import ATTRIBUTE_KEYS, FLUID_ATTRIBUTE_KEYS

    assert set(FLUID_ATTRIBUTE_KEYS) <= set(ATTRIBUTE_KEYS.values())
    torch.manual_seed(0)
    config = BiCPLConfig(**tiny_config_kwargs(
        region_finding_loss_weight=1.0, region_geometry=GEOMETRY, region_findings=FINDINGS,
        region_detector_context=["embedding"], region_detector_context_by_attribute={"effusion": ("ear_regions",)}))
    assert config.region_detector_context_by_attribute == {"effusion": ["ear_regions"]}
    model = BiCPLModel(config).eval()
    head = model.region_finding_head
    assert head.detectors.in_features == 2 * NUM_DENSITY_FEATURES + config.projection_dim
    assert head.ear_context is not None
    torch.nn.init.normal_(head.ear_context.weight)  # every attribute has context weights; only effusion's count
    hu = np.full((16, 24, 20), -1000.0, dtype=np.float32)
    filled = hu.copy()
    filled[_region_box("mastoid_cells")] = 20.0  # fluid in the mastoid only
    effusion, erosion = FINDINGS.index(["tympanic_cavity", "effusion"]), FINDINGS.index(["scutum", "bone_erosion"])
    with torch.no_grad():
        empty = model(pixel_values=_ears(hu, hu)).region_finding_logits
        mastoid = model(pixel_values=_ears(filled, hu)).region_finding_logits
        for parameter in model.vision_model.parameters():
            parameter.add_(0.5)
        moved_encoder = model(pixel_values=_ears(hu, hu)).region_finding_logits
    assert not torch.allclose(mastoid[0, 0, effusion], empty[0, 0, effusion])  # the mastoid's fluid is read
    torch.testing.assert_close(moved_encoder[..., effusion], empty[..., effusion])  # the embedding is not
    assert not torch.allclose(moved_encoder[..., erosion], empty[..., erosion])  # erosion reads the embedding
    # ... and not the ear context: with the embedding held, the mastoid does not move the scutum's erosion
    z, diff = head.encode(_ears(filled, hu))
    embeds = torch.zeros(1, 2, config.projection_dim)
    with torch.no_grad():
        plain = head(_ears(filled, hu), embeds, [FINDINGS[erosion]], (z, diff))
        head.ear_context.weight.add_(1.0)
        torch.testing.assert_close(head(_ears(filled, hu), embeds, [FINDINGS[erosion]], (z, diff)), plain)
    model.save_pretrained(tmp_path)
    reloaded = BiCPLModel.from_pretrained(tmp_path).eval()
    assert reloaded.region_finding_head.embedding_mask == head.embedding_mask
    with torch.no_grad():
        torch.testing.assert_close(reloaded(pixel_values=_ears(filled, hu)).region_finding_logits,
                                   model(pixel_values=_ears(filled, hu)).region_finding_logits)
    with pytest.raises(ValueError, match=r"region_detector_context_by_attribute\['effusion'\]"):
        BiCPLConfig(**tiny_config_kwargs(region_detector_context_by_attribute={"effusion": ["whole_head"]}))
    with pytest.raises(ValueError, match="region_detector_context_by_attribute maps"):
        BiCPLConfig(**tiny_config_kwargs(region_detector_context_by_attribute=["ear_regions"]))


def test_a_prompt_naming_one_known_disease_reads_the_knowledge_bases_findings():
    """A name states no finding; with a knowledge base it is read as the knowledge base describes that disease (the
    prompts a candidate label gets), in any wording that names exactly one disease."""
    from bicpl_hf.knowledge.knowledge_base import class_prompts, load_knowledge_base

    kb = load_knowledge_base()
    cholesteatoma = prompt_findings(class_prompts(kb, [2])["2"])
    assert ("scutum", "bone_erosion") in cholesteatoma
    for prompt in ("胆脂瘤", "中耳胆脂瘤。", "考虑胆脂瘤可能", "胆脂瘤尚不能除外，请结合耳镜检查", "cholesteatoma", "Cholesteatoma"):
        assert prompt_findings([prompt], kb) == cholesteatoma, prompt
    schwannoma = prompt_findings(class_prompts(kb, ["面神经鞘瘤"])["面神经鞘瘤"])
    assert prompt_findings(["面神经鞘瘤"], kb) == schwannoma != prompt_findings(["肿瘤性病变"], kb)  # the entry named
    assert prompt_findings(["胆脂瘤"]) == set()  # no knowledge base: a name states nothing
    for prompt in ("未见胆脂瘤", "胆脂瘤或胆固醇肉芽肿", "no cholesteatoma"):
        assert prompt_findings([prompt], kb) == set(), prompt  # negated, a differential
    # English prose states its findings (`english_prompts`), the name masked
    assert prompt_findings(["middle ear cholesteatoma with scutum erosion"], kb) == {("scutum", "bone_erosion")}
    # A prompt that states findings keeps its own, whatever disease it names.
    assert prompt_findings(["上鼓室软组织影。检查结论：中耳胆脂瘤"], kb) == {("epitympanum", "soft_tissue")}
    assert class_findings_of({4: ["胆固醇肉芽肿"], 9: ["a new disease"]}, kb) == {
        "4": [list(f) for f in sorted(prompt_findings(class_prompts(kb, [4])["4"]))]}


def test_likelihood_ratio_rule_weighs_findings_by_how_specific_they_are():
    """`likelihood_ratio` against a hand computation; a rare stated finding moves a class more than a common one, a
    finding the class lacks counts against it only where it is common, and the rule refuses to run without rates."""
    from bicpl_hf.modeling.modeling_bicpl_regions import universe_likelihood

    vocabulary = [["tympanic_cavity", "soft_tissue"], ["scutum", "bone_erosion"], ["mastoid", "sclerotic"]]
    likelihood = {"prevalence": [0.4, 0.05, 0.3], "unseen_prevalence": 0.01, "stated_rate": 0.6, "unstated_rate": 0.04}
    universe = [tuple(f) for f in vocabulary] + [("petrous_apex", "expansile")]
    rates = universe_likelihood(universe, vocabulary, likelihood)
    np.testing.assert_allclose(rates["prevalence"].numpy(), [0.4, 0.05, 0.3, 0.01])
    present = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    absent = torch.tensor([[0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    logits = torch.from_numpy(np.random.default_rng(1).normal(size=(5, 2, 4)))
    scores = finding_class_scores(logits, present, "likelihood_ratio", absent=absent, likelihood=rates)
    p = np.array([0.4, 0.05, 0.3, 0.01])
    expected = np.zeros((5, 2, 2))
    for k in range(2):
        q = np.where(present[k].numpy() > 0, 0.6, 0.04)
        e = np.exp(logits.numpy())
        terms = np.log(q * e + 1 - q) - np.log(p * e + 1 - p)
        expected[..., k] = (terms * (present[k] + absent[k]).numpy()).sum(-1)
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-10)
    # specificity: the same evidence (+3 log-odds) for the rare erosion moves class 0 more than for the common tissue
    base = torch.zeros(1, 4, dtype=torch.float64)
    rare, common = base.clone(), base.clone()
    rare[0, 1], common[0, 0] = 3.0, 3.0
    score = lambda x: finding_class_scores(x, present, "likelihood_ratio", absent=absent, likelihood=rates)[0, 0]  # noqa: E731
    assert score(rare) - score(base) > score(common) - score(base) > 0
    # a finding the class does not state and the image shows: against it, more when it is common (sclerosis 0.3)
    shown = base.clone()
    shown[0, 2] = 3.0
    assert score(shown) < score(base)
    with pytest.raises(ValueError, match="finding_likelihood"):
        finding_class_scores(logits, present, "likelihood_ratio", absent=absent)


def test_finding_likelihood_is_estimated_on_the_training_ears_and_checked_by_the_config(tmp_path):
    from datasets import Dataset

    from bicpl_hf.training.region_findings import estimate_finding_likelihood

    def triple(entity, attribute, side):
        return {"entity_key": entity, "attribute_key": attribute, "side": side, "negated": False}

    # 4 exams, 8 ears: CSOM (code 1) states tympanic soft tissue, cholesteatoma (2) scutum erosion; code 5 is normal.
    split = Dataset.from_dict({
        "findings_triples": [[triple("tympanic_cavity", "soft_tissue", "left")],
                             [triple("tympanic_cavity", "soft_tissue", "left"), triple("scutum", "bone_erosion", "left"),
                              triple("mastoid", "sclerotic", "right")],
                             [], [triple("mastoid", "sclerotic", "left")]],
        "left_code": [1, 2, 5, 1], "right_code": [5, 1, 5, 5]})
    vocabulary = [["tympanic_cavity", "soft_tissue"], ["scutum", "bone_erosion"], ["mastoid", "sclerotic"]]
    class_findings = {"1": [["tympanic_cavity", "soft_tissue"]], "2": [["scutum", "bone_erosion"]],
                      "4": [["petrous_apex", "expansile"]]}
    likelihood = estimate_finding_likelihood(split, vocabulary, class_findings, [1, 2, 5])
    np.testing.assert_allclose(likelihood["prevalence"], [2.5 / 9, 1.5 / 9, 2.5 / 9])
    assert likelihood["unseen_prevalence"] == pytest.approx(0.5 / 9)
    # code 1's ears: exam 0 left (tissue), exam 1 right (sclerosis), exam 3 left (sclerosis); code 2: exam 1 left
    stated = np.mean([(1 + 0.5) / 4, (1 + 0.5) / 2])
    unstated = np.mean([np.mean([(0 + 0.5) / 4, (2 + 0.5) / 4]), np.mean([(1 + 0.5) / 2, (0 + 0.5) / 2])])
    assert likelihood["stated_rate"] == pytest.approx(stated) and likelihood["unstated_rate"] == pytest.approx(unstated)
    with pytest.raises(ValueError, match="no trained class"):
        estimate_finding_likelihood(split, vocabulary, class_findings, [4, 5])
    # the config keeps it through a save and load, and checks it
    config = BiCPLConfig(**tiny_config_kwargs(region_finding_loss_weight=1.0, region_geometry=GEOMETRY,
                                              region_findings=vocabulary, finding_score_rule="likelihood_ratio",
                                              finding_likelihood=likelihood))
    config.save_pretrained(tmp_path)
    assert BiCPLConfig.from_pretrained(tmp_path).finding_likelihood == config.finding_likelihood
    with pytest.raises(ValueError, match="one rate per region finding"):
        BiCPLConfig(**tiny_config_kwargs(region_findings=vocabulary[:2], finding_likelihood=likelihood))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        BiCPLConfig(**tiny_config_kwargs(region_findings=vocabulary, finding_likelihood={**likelihood, "stated_rate": 1.0}))
    with pytest.raises(ValueError, match="takes the keys"):
        BiCPLConfig(**tiny_config_kwargs(region_findings=vocabulary, finding_likelihood={"prevalence": [0.1] * 3}))


def test_an_unpaired_attribute_never_reads_the_partner_ear():
    """`region_unpaired_attributes`: an effusion detector (often bilateral disease) reads its own ear only, through
    its regions and the ear context alike; a paired attribute still compares with the partner."""
    torch.manual_seed(0)
    config = BiCPLConfig(**tiny_config_kwargs(
        region_finding_loss_weight=1.0, region_geometry=GEOMETRY, region_findings=FINDINGS,
        region_detector_context=["ear_regions"], region_unpaired_attributes=("effusion",)))
    assert config.region_unpaired_attributes == ["effusion"]
    model = BiCPLModel(config).eval()
    torch.nn.init.normal_(model.region_finding_head.ear_context.weight)
    torch.nn.init.normal_(model.region_finding_head.detectors.weight)
    hu = np.full((16, 24, 20), -1000.0, dtype=np.float32)
    partner = hu.copy()
    partner[_region_box("tympanic_cavity")] = 20.0  # fluid in the RIGHT ear only
    partner[_region_box("attic_scutum")] = 40.0
    with torch.no_grad():
        alone = model(pixel_values=_ears(hu, hu)).region_finding_logits
        beside = model(pixel_values=_ears(hu, partner)).region_finding_logits
    effusion, erosion = FINDINGS.index(["tympanic_cavity", "effusion"]), FINDINGS.index(["scutum", "bone_erosion"])
    torch.testing.assert_close(beside[0, 0, effusion], alone[0, 0, effusion])  # the left ear's effusion: its own
    assert not torch.allclose(beside[0, 0, erosion], alone[0, 0, erosion])  # erosion compares with the partner
    with pytest.raises(ValueError, match="region_unpaired_attributes"):
        BiCPLConfig(**tiny_config_kwargs(region_unpaired_attributes="effusion"))
