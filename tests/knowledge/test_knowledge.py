"""Otology knowledge base, per-ear summaries, hard negatives and soft labels (issue 8, text side)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
import yaml
from conftest import tiny_config_kwargs

from bicpl_hf.knowledge import (
    ATTRIBUTE_TEXTS,
    ATTRIBUTE_VOCABULARY,
    DEFAULT_KNOWLEDGE_BASE,
    KnowledgeBaseError,
    add_disease_to_model,
    attribute_overlap,
    attribute_texts,
    attribute_vector,
    class_prompts,
    disease_from_profile,
    hard_negatives,
    hard_negatives_with_edits,
    load_knowledge_base,
    prompts_for,
    side_texts_for,
    soft_targets,
    summarize_report,
    summarize_side,
)
from bicpl_hf.knowledge.knowledge_base import disease_from_mapping
from bicpl_hf.modeling.configuration_bicpl import DEFAULT_CLASS_NAMES
from bicpl_hf.processing import parse_report
from bicpl_hf.synthetic.attributes import EarAttributes, sample_ear_attributes
from bicpl_hf.synthetic.reports import write_synthetic_report
from bicpl_hf.zero_shot.prototypes import load_prototypes, save_prototypes

RARE_DISEASES = ["面神经鞘瘤", "鼓室球瘤", "颈静脉球瘤", "外耳道胆脂瘤", "耳硬化症", "迷路瘘管"]
PETROUS_CYST = {"location": ["petrous_apex"], "density": "soft_tissue", "bone_change": "erosion_destruction",
                "margins": "smooth", "expansion": True, "ossicles": "n/a", "mastoid_pneumatisation": "any",
                "air_fluid_level": False}


@pytest.fixture(scope="module")
def kb():
    return load_knowledge_base()


def synthetic_reports(count: int = 24, seed: int = 7):
    """Clean synthetic reports: one diseased ear (codes 1-4, 6 in turn) and a normal or diseased other ear."""
    rng = np.random.default_rng(seed)
    reports = []
    for i in range(count):
        left = sample_ear_attributes((1, 2, 3, 4, 6)[i % 5], rng)
        right = sample_ear_attributes((5, 5, 1, 3)[i % 4], rng) if i % 3 else EarAttributes(code=5)
        if i % 2:
            left, right = right, left
        findings, impression = write_synthetic_report(left, right, rng, noise_rate=0)
        reports.append(parse_report(findings=findings, impression=impression))
    return reports


# ---------------------------------------------------------------------------------------------- knowledge base
def test_default_knowledge_base_has_the_six_codes_and_the_rare_diseases(kb):
    assert DEFAULT_KNOWLEDGE_BASE.parent.name == "knowledge" and DEFAULT_KNOWLEDGE_BASE.is_file()
    assert kb.codes == [1, 2, 3, 4, 5, 6]
    assert [kb.get(code).name_zh for code in range(1, 7)] == DEFAULT_CLASS_NAMES
    for name in RARE_DISEASES:
        disease = kb.get(name)
        assert disease.code is None and disease.parent_code == 6
    assert kb.get("胆脂瘤") is kb.get(2) is kb.get("2") is kb.get("Cholesteatoma")
    assert "耳硬化" in kb and "鼻窦炎" not in kb
    with pytest.raises(KeyError, match="鼻窦炎.*known: 1:慢性化脓性中耳炎"):
        kb.get("鼻窦炎")


def test_knowledge_base_round_trips_through_yaml(kb, tmp_path):
    reloaded = load_knowledge_base(kb.save(tmp_path / "kb.yaml"))
    assert [d.to_dict() for d in reloaded] == [d.to_dict() for d in kb]


def _write_kb_with(tmp_path, mutate):
    data = yaml.safe_load(DEFAULT_KNOWLEDGE_BASE.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "broken_kb.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["diseases"][2]["profile"].update(density="liquid"),
         r"diseases\[2\] \('分泌性中耳炎'\): profile\.density is 'liquid'; allowed values: air, fluid, soft_tissue, bone"),
        (lambda d: d["diseases"][1]["profile"].update(location=["epitympanum", "cochlea"]),
         r"diseases\[1\] \('中耳胆脂瘤'\): profile\.location has 'cochlea'; allowed values: eac, tympanic_cavity"),
        (lambda d: d["diseases"][3]["profile"].update(expansion="yes"),
         r"diseases\[3\] \('胆固醇肉芽肿'\): profile\.expansion is 'yes'; allowed values: true, false"),
        (lambda d: d["diseases"][0]["profile"].pop("ossicles"),
         r"diseases\[0\] \('慢性化脓性中耳炎'\): profile is missing field\(s\) \['ossicles'\]"),
        (lambda d: d["diseases"][4].update(colour="red"),
         r"diseases\[4\] \('正常'\): unknown field\(s\) \['colour'\]"),
        (lambda d: d["diseases"][7].update(code=2, parent_code=None),
         r"diseases\[7\] \('鼓室球瘤'\): code 2 is already used by '中耳胆脂瘤'"),
        (lambda d: d["diseases"][7].update(code=6),
         r"diseases\[7\] \('鼓室球瘤'\): parent_code is only for an entry whose code is null \(code is 6\)"),
        (lambda d: d["diseases"][8]["synonyms"].append("胆脂瘤"),
         r"diseases\[8\] \('颈静脉球瘤'\): name\(s\) \['胆脂瘤'\] already belong to '中耳胆脂瘤'"),
        (lambda d: d["diseases"][5].update(name_zh=""), r"diseases\[5\]: name_zh must be a non-empty string"),
        (lambda d: d.update(version=2), r"version 2 is not supported"),
        (lambda d: d["diseases"][3].update(lesion_sites=["petrous_apex", "facial_canal"]),
         r"diseases\[3\] \('胆固醇肉芽肿'\): lesion_sites must be distinct sites of profile.location"),
        (lambda d: d["diseases"][8].update(synonyms_en=["Glue ear"]),
         r"diseases\[8\] \('颈静脉球瘤'\): name\(s\) \['glue ear'\] already belong to '分泌性中耳炎'"),
    ],
)
def test_validation_errors_name_the_entry_and_the_field(tmp_path, mutate, expected):
    path = _write_kb_with(tmp_path, mutate)
    with pytest.raises(KnowledgeBaseError, match=expected) as error:
        load_knowledge_base(path)
    assert str(path) in str(error.value)


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "kb.yaml"
    path.write_text("diseases: [\n  - code: 1\n   name_zh: x", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="kb.yaml is not valid YAML"):
        load_knowledge_base(path)


def test_prompts_for_every_disease_are_distinct_deterministic_and_in_report_order(kb):
    seen: dict[str, str] = {}
    for disease in kb:
        prompts = prompts_for(disease, n=8)
        assert prompts == prompts_for(disease, n=8) and prompts[:4] == prompts_for(disease)
        assert len(set(prompts)) == 8
        assert prompts[0].endswith(f"检查结论：{disease.impression_names[0]}。")
        for prompt in prompts:
            assert prompt.rsplit("检查结论：", 1)[1][:-1] in disease.impression_names and prompt.endswith("。")
            assert prompt not in seen, f"{disease.name_zh} and {seen.get(prompt)} share a prompt"
            seen[prompt] = disease.name_zh
        full = prompts[0]  # 外耳道 → 鼓膜/鼓室 → 听骨链 → 乳突 → 内耳及周围
        landmarks = [full.find(word) for word in ("外耳道", "鼓室", "听", "乳突")]
        assert -1 not in landmarks[:2] and landmarks[:2] == sorted(landmarks[:2])
        present = [p for p in landmarks if p >= 0]
        assert present == sorted(present), (disease.name_zh, full)
    with pytest.raises(ValueError, match="n must be an integer in 1..8"):
        prompts_for(kb.get(1), n=9)


@pytest.mark.parametrize(
    "key, present, absent",
    [
        (2, {"bone_erosion", "soft_tissue", "widened"}, {"effusion"}),
        (3, {"effusion", "air_fluid_level"}, {"bone_erosion"}),
        (4, {"expansile", "bone_thinning", "smooth_margin"}, {"bone_erosion"}),
        (5, set(), set(ATTRIBUTE_VOCABULARY)),
        ("颈静脉球瘤", {"widened", "bone_erosion", "irregular_margin"}, {"effusion"}),
    ],
)
def test_prompts_say_what_the_profile_says(kb, key, present, absent):
    for prompt in prompts_for(kb.get(key), n=4):
        keys = {ATTRIBUTE_VOCABULARY[i] for i in attribute_vector(parse_report(findings=prompt), "left").nonzero()[0]}
        assert present <= keys and not (absent & keys), (prompt, keys)


def test_a_lesion_with_two_sites_is_described_at_each_in_turn(kb):
    """Cholesterol granuloma: an expansile cyst of the petrous apex or of the mastoid; each prompt puts the lesion at
    one site and does not also describe the other."""
    granuloma = kb.get(4)
    assert granuloma.lesion_sites == ("petrous_apex", "mastoid") == granuloma.primary_sites
    assert kb.get(2).primary_sites == kb.get(2).profile.location[:1] and kb.get(5).primary_sites == ()
    sites = []
    for prompt in prompts_for(granuloma, n=4):
        expansile = {t.entity_key for t in parse_report(findings=prompt).triples if t.attribute_key == "expansile"}
        described = {t.entity_key for t in parse_report(findings=prompt).triples} & {"petrous_apex", "mastoid"}
        assert len(expansile) == 1 and described == expansile, prompt
        sites += sorted(expansile)
    assert sites == ["petrous_apex", "petrous_apex", "mastoid", "mastoid"]
    assert disease_from_mapping(granuloma.to_dict()) == granuloma  # the field round-trips
    assert disease_from_profile(granuloma.name_zh, granuloma.profile, 4, name_en=granuloma.name_en,
                                synonyms=granuloma.synonyms, key_findings=granuloma.key_findings,
                                lesion_sites=["petrous_apex", "mastoid"], synonyms_en=granuloma.synonyms_en) == granuloma


def test_class_prompts_fit_the_model_config(kb, tiny_config):
    from bicpl_hf import BiCPLConfig

    prompts = class_prompts(kb, tiny_config.class_codes, n=3)
    assert list(prompts) == ["1", "2", "3", "4", "5", "6"] and all(len(p) == 3 for p in prompts.values())
    assert BiCPLConfig(**tiny_config_kwargs(class_prompts=prompts)).class_prompts == prompts


def test_attribute_texts_cover_the_taxonomy(kb):
    texts = attribute_texts(kb)
    assert len(texts) == len(ATTRIBUTE_TEXTS) == 25 and len(set(texts)) == 25
    assert {"上鼓室软组织密度影", "骨质侵蚀性破坏", "骨壁膨胀变薄但完整", "气液平面"} <= set(texts)
    assert {(f, v) for f, v, _ in ATTRIBUTE_TEXTS} >= {("density", d) for d in ("air", "fluid", "soft_tissue", "bone")}
    extended = attribute_texts(kb, include_key_findings=True)
    assert extended[:25] == texts and "外半规管骨壁缺损" in extended and len(set(extended)) == len(extended)


def test_adding_a_disease_by_profile_changes_the_prototypes_and_prompts_json(kb, tiny_model, tokenizer, tmp_path):
    save_prototypes(tiny_model, tmp_path)
    before = load_prototypes(tmp_path)
    disease = disease_from_profile("岩尖胆脂瘤", PETROUS_CYST, name_en="petrous apex cholesteatoma",
                                   key_findings=["岩尖区膨胀性骨质破坏"])
    kb_copy = load_knowledge_base()
    kb_copy.add(disease)
    assert kb_copy.get("岩尖胆脂瘤") is disease

    bundle = add_disease_to_model(tiny_model, tokenizer, disease, tmp_path)
    after = load_prototypes(tmp_path)
    assert before.shape == (6, 16) and after.shape == (7, 16) and bundle.class_codes == after.class_codes
    assert after.class_codes[-1] == 7 and after.class_names[-1] == "岩尖胆脂瘤" and 7 in after.frozen_prototype_codes
    assert torch.allclose(after.prototypes[:6], before.prototypes[:6])
    assert not torch.allclose(after.prototypes[6], after.prototypes[:6], atol=1e-3)
    classes = json.loads((tmp_path / "prompts.json").read_text(encoding="utf-8"))["classes"]
    assert classes[-1]["prompts"] == prompts_for(disease) and classes[-1]["name_en"] == "petrous apex cholesteatoma"

    add_disease_to_model(tiny_model, tokenizer, kb.get("面神经鞘瘤"), tmp_path, n_prompts=2)
    assert load_prototypes(tmp_path).class_codes == [1, 2, 3, 4, 5, 6, 7, 8]
    assert tiny_model.get_prototypes().shape == (8, 16)
    with pytest.raises(ValueError, match="code 2 of '中耳胆脂瘤' is already the model's class"):
        add_disease_to_model(tiny_model, tokenizer, kb.get(2))


# ---------------------------------------------------------------------------------------------- summaries
CHOLESTEATOMA_AND_SOM = parse_report(
    findings="双侧外耳道通畅。左侧上鼓室内见软组织影，上鼓室扩大，听小骨骨质吸收破坏。右侧鼓室内见液体密度影，可见气液平面，"
             "未见骨质破坏。左侧乳突呈硬化型。右侧乳突气化良好。双侧内耳结构未见明显异常。",
    impression="左侧中耳胆脂瘤；右侧分泌性中耳炎可能。",
)


def test_summaries_of_a_hand_written_report_keep_each_side_apart():
    left, right = summarize_report(CHOLESTEATOMA_AND_SOM)
    assert left == "左侧：上鼓室软组织影、扩大，听小骨骨质破坏；乳突硬化。检查结论：中耳胆脂瘤"
    assert right == "右侧：鼓室积液、气液平面。检查结论：分泌性中耳炎可能"
    assert summarize_side(CHOLESTEATOMA_AND_SOM, "left", with_impression=False) == "左侧：上鼓室软组织影、扩大，听小骨骨质破坏；乳突硬化"


def test_summaries_of_normal_and_bilateral_reports():
    normal = parse_report("影像所见：双侧外耳道通畅，鼓室清晰，听骨链完整，未见骨质破坏。检查结论：双侧中耳未见明显异常。")
    assert summarize_report(normal) == ("左侧：中耳未见明显异常", "右侧：中耳未见明显异常")
    bilateral = parse_report(findings="双侧鼓室积液。左侧乳突呈硬化型。", impression="双侧分泌性中耳炎。")
    assert summarize_report(bilateral) == ("左侧：鼓室积液；乳突硬化。检查结论：分泌性中耳炎", "右侧：鼓室积液。检查结论：分泌性中耳炎")
    with pytest.raises(ValueError, match="side must be one of"):
        summarize_side(normal, "both")


def test_summaries_never_mix_sides_and_say_what_the_vector_says():
    for parsed in synthetic_reports():
        for side in ("left", "right"):
            summary = summarize_side(parsed, side)
            other = "右" if side == "left" else "左"
            assert summary.startswith("左侧：" if side == "left" else "右侧：") and other not in summary
            # read back by the parser, the summary carries exactly the findings of that ear
            read_back = parse_report(findings=summary)
            assert np.array_equal(attribute_vector(read_back, side), attribute_vector(parsed, side))
            codes = {m.code for m in read_back.disease_mentions}
            assert codes <= {parsed.weak_codes[side]}, (summary, parsed.weak_codes)


def test_side_texts_for_modes_and_inputs():
    findings, impression = CHOLESTEATOMA_AND_SOM.findings, CHOLESTEATOMA_AND_SOM.impression
    items = [CHOLESTEATOMA_AND_SOM, (findings, impression), {"findings": findings, "impression": impression},
             f"影像所见：{findings}\n检查结论：{impression}"]
    raw = side_texts_for(items, mode="raw")
    summary = side_texts_for(items, mode="summary")
    both = side_texts_for(items, mode="both")
    assert raw == [tuple(CHOLESTEATOMA_AND_SOM.side_texts[s] for s in ("left", "right"))] * 4
    assert summary == [summarize_report(CHOLESTEATOMA_AND_SOM)] * 4
    assert both[0][0] == summary[0][0] + "。" + raw[0][0] and both[0][1].startswith(summary[0][1])
    with pytest.raises(ValueError, match="mode must be"):
        side_texts_for(items, mode="short")
    with pytest.raises(TypeError, match=r"reports\[0\]: expected a report string"):
        side_texts_for([42])


def test_side_texts_for_reads_a_row_with_the_stored_columns_without_parsing(monkeypatch):
    import bicpl_hf.knowledge.summaries as summaries
    from bicpl_hf.data import add_report_columns

    report = CHOLESTEATOMA_AND_SOM.normalized_text
    row = {"report": report, **add_report_columns({"report": report})}
    expected = {mode: side_texts_for([CHOLESTEATOMA_AND_SOM], mode) for mode in ("raw", "summary", "both")}

    def no_parse(*args, **kwargs):
        raise AssertionError("side_texts_for parsed a row that has the parsed-report columns")

    monkeypatch.setattr(summaries, "parse_report", no_parse)
    for mode, pairs in expected.items():
        assert side_texts_for([row], mode) == pairs
    calls = []
    side_texts_for([row], "summary", summarizer=lambda text, side: calls.append(text) or "摘要")
    assert calls == [report, report]  # the stored report text, not a rebuilt header string
    with pytest.raises(AssertionError, match="parsed a row"):  # a row without them is parsed (once, here)
        side_texts_for([{"findings": CHOLESTEATOMA_AND_SOM.findings}], "raw")


def test_text_mode_is_checked_in_one_place():
    from bicpl_hf.knowledge.summaries import SIDE_TEXT_MODES, check_side_text_mode

    for mode in SIDE_TEXT_MODES:
        check_side_text_mode(mode, "text_mode")
    with pytest.raises(ValueError, match="^text_mode must be one of 'raw', 'summary', 'both', 'findings', got 'short'$"):
        check_side_text_mode("short", "text_mode")
    with pytest.raises(ValueError, match="only used with text_mode='summary' or 'both'"):
        check_side_text_mode("raw", "text_mode", summarizer=lambda text, side: text)
    with pytest.raises(TypeError, match="summarizer must be a callable"):
        check_side_text_mode("summary", "text_mode", summarizer="llm")


def test_summarizer_hook_is_used_when_given():
    calls = []

    def fake_llm(report_text: str, side: str) -> str:
        calls.append((report_text, side))
        return f"{side}摘要{len(calls)}"

    pairs = side_texts_for([("左侧鼓室积液。", "左侧分泌性中耳炎。"), "检查结论：双侧中耳未见异常。"], "summary", summarizer=fake_llm)
    assert pairs == [("left摘要1", "right摘要2"), ("left摘要3", "right摘要4")]
    assert calls[0] == ("影像所见：左侧鼓室积液。\n检查结论：左侧分泌性中耳炎。", "left")
    assert calls[2] == ("检查结论：双侧中耳未见异常。", "left")
    both = side_texts_for(["检查结论：左侧中耳胆脂瘤。"], "both", summarizer=lambda text, side: "LLM")
    assert both == [("LLM。左侧中耳胆脂瘤。", "LLM")]
    with pytest.raises(ValueError, match=r"returned '' for reports\[0\] side 'left'"):
        side_texts_for(["检查结论：左侧中耳胆脂瘤。"], "summary", summarizer=lambda text, side: "")
    with pytest.raises(ValueError, match="only used with mode='summary' or 'both'"):
        side_texts_for(["检查结论：左侧中耳胆脂瘤。"], "raw", summarizer=fake_llm)


# ---------------------------------------------------------------------------------------------- hard negatives
def _signature(text: str):
    parsed = parse_report(findings=text)
    triples = [(t.entity_key, t.attribute_key, t.side, t.negated) for t in parsed.triples]
    mentions = [(m.code, m.side, m.negated) for m in parsed.disease_mentions]
    return triples, mentions


def _what_differs(positive: str, negative: str, side: str) -> str | None:
    """Independent reading of a hard negative: 'attribute', 'side' or 'disease' when exactly one thing differs."""
    (pt, pm), (nt, nm) = _signature(positive), _signature(negative)
    if len(pt) != len(nt) or len(pm) != len(nm):
        return None
    swap = {"left": "right", "right": "left"}
    if [(e, a, swap.get(s, s), n) for e, a, s, n in pt] == nt and [(c, swap.get(s, s), n) for c, s, n in pm] == nm:
        return "side" if any(t[2] == side for t in pt) or any(m[1] == side for m in pm) else None
    triple_diff = [(a, b) for a, b in zip(pt, nt) if a != b]
    mention_diff = [(a, b) for a, b in zip(pm, nm) if a != b]
    if len(triple_diff) == 1 and not mention_diff:
        (before, after), = triple_diff
        return "attribute" if before[0] == after[0] and before[2] == after[2] else None
    if len(mention_diff) == 1 and not triple_diff:
        (before, after), = mention_diff
        return "disease" if before[0] != after[0] and before[1:] == after[1:] else None
    return None


def test_hard_negatives_differ_in_exactly_one_attribute_side_or_disease():
    kinds = Counter()
    for parsed in synthetic_reports(count=15, seed=3):
        for side in ("left", "right"):
            positive = parsed.side_texts[side]
            negatives = hard_negatives_with_edits(positive, side, n=6, rng=11)
            assert negatives == hard_negatives_with_edits(positive, side, n=6, rng=11)  # deterministic for a seed
            texts = [text for text, _ in negatives]
            assert len(set(texts)) == len(texts) and positive not in texts
            for text, edit in negatives:
                assert _what_differs(positive, text, side) == edit.kind, (positive, text, edit)
                kinds[edit.kind] += 1
    assert set(kinds) == {"attribute", "side", "disease"}


def test_hard_negative_rules_on_hand_written_texts():
    text = "左侧鼓室内见软组织影，听小骨骨质破坏，未见积液，中线结构左移。左侧中耳胆脂瘤。"
    negatives = dict((edit.rule, negative) for negative, edit in hard_negatives_with_edits(text, "left", n=50, rng=0))
    assert negatives["骨质破坏→骨质完整"] == "左侧鼓室内见软组织影，听小骨骨质完整，未见积液，中线结构左移。左侧中耳胆脂瘤。"
    assert negatives["未见→见"] == "左侧鼓室内见软组织影，听小骨骨质破坏，见积液，中线结构左移。左侧中耳胆脂瘤。"
    assert negatives["左→右"] == "右侧鼓室内见软组织影，听小骨骨质破坏，未见积液，中线结构左移。右侧中耳胆脂瘤。"
    assert negatives["中耳胆脂瘤→胆固醇肉芽肿"].endswith("左侧胆固醇肉芽肿。")
    assert hard_negatives(text, "left", n=3, rng=5) == hard_negatives(text, "left", n=3, rng=5)


def test_hard_negatives_returns_fewer_when_fewer_edits_exist():
    assert sorted(hard_negatives("左侧乳突气化良好。", "left", n=5, rng=0)) == ["右侧乳突气化良好。", "左侧乳突硬化。"]
    assert hard_negatives("双侧乳突气化良好。", "left", n=5, rng=0) == ["双侧乳突硬化。"]  # no side word to swap
    assert hard_negatives("", "left") == [] and hard_negatives("左侧鼓室积液。", "left", n=0) == []
    with pytest.raises(ValueError, match="side must be one of"):
        hard_negatives("左侧鼓室积液。", "bilateral")


# ---------------------------------------------------------------------------------------------- soft labels
def test_attribute_vectors_keep_sides_apart():
    left = attribute_vector(CHOLESTEATOMA_AND_SOM, "left")
    right = attribute_vector(CHOLESTEATOMA_AND_SOM, "right")
    named = lambda v: {ATTRIBUTE_VOCABULARY[i] for i in v.nonzero()[0]}  # noqa: E731
    assert named(left) == {"soft_tissue", "widened", "bone_erosion", "sclerotic"}
    assert named(right) == {"effusion", "air_fluid_level"}
    assert left.shape == (len(ATTRIBUTE_VOCABULARY),) and left.dtype == np.float32
    assert len(set(ATTRIBUTE_VOCABULARY)) == len(ATTRIBUTE_VOCABULARY) == 22


def test_overlap_is_symmetric_and_soft_targets_rows_sum_to_one():
    parsed = synthetic_reports(count=10, seed=5)
    vectors = np.stack([attribute_vector(p, side) for p in parsed for side in ("left", "right")])
    vectors = np.concatenate([vectors, np.zeros((2, vectors.shape[1]), dtype=np.float32)])  # two normal ears
    overlap = attribute_overlap(vectors)
    assert np.allclose(overlap, overlap.T) and np.allclose(np.diag(overlap), 1.0)
    assert overlap.min() >= 0 and overlap.max() <= 1 and overlap[-1, -2] == 1.0
    assert overlap[0, -1] == (1.0 if not vectors[0].any() else 0.0)
    for alpha in (0.0, 0.3, 1.0):
        targets = soft_targets(vectors, alpha)
        assert np.allclose(targets.sum(1), 1.0, atol=1e-6) and (targets >= 0).all()
    assert np.allclose(soft_targets(vectors, 0.0), np.eye(len(vectors)))
    assert (np.diag(soft_targets(vectors, 0.3)) > 0.7).all()
    torch_targets = soft_targets(torch.from_numpy(vectors), 0.3)
    assert isinstance(torch_targets, torch.Tensor) and np.allclose(torch_targets.numpy(), soft_targets(vectors, 0.3))
    with pytest.raises(ValueError, match="alpha must be a number in"):
        soft_targets(vectors, 1.5)
    with pytest.raises(ValueError, match="multi-hot"):
        attribute_overlap(vectors * 0.5 + 0.25)
