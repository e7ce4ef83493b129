"""Table-driven tests of the Chinese temporal-bone CT report parser."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bicpl_hf.processing.report_lexicon import to_simplified
from bicpl_hf.processing.report_parser import (
    ParsedReport,
    ReportParseError,
    normalize_report_text,
    parse_report,
)

EXAMPLE = (
    "影像所见：双侧外耳道通畅。左侧鼓室及鼓窦内见软组织密度影，听小骨骨质吸收破坏，上鼓室扩大。右侧鼓室清晰，"
    "听骨链完整。左侧乳突呈硬化型，右侧乳突气化良好。双侧内耳结构未见明显异常。\n"
    "检查结论：左侧中耳胆脂瘤可能，建议结合临床；右侧中耳未见明显异常。"
)


def clauses_of(findings: str) -> list:
    return [c for s in parse_report(findings=findings).sentences for c in s.clauses]


def triples_of(findings: str) -> list[tuple]:
    return [(t.entity, t.attribute, t.side, t.negated) for t in parse_report(findings=findings).triples]


# --------------------------------------------------------------------------------------------------
# Sections
@pytest.mark.parametrize(
    "text, findings, impression",
    [
        pytest.param(EXAMPLE, EXAMPLE[5:EXAMPLE.index("\n")], "左侧中耳胆脂瘤可能，建议结合临床；右侧中耳未见明显异常。",
                     id="section-fullwidth-colon"),
        pytest.param("影像所见:左侧鼓室积液。诊断:左侧分泌性中耳炎", "左侧鼓室积液。", "左侧分泌性中耳炎",
                     id="section-halfwidth-colon"),
        pytest.param("【影像所见】左侧鼓室积液。【诊断意见】左侧分泌性中耳炎", "左侧鼓室积液。", "左侧分泌性中耳炎",
                     id="section-lenticular-brackets"),
        pytest.param("[所见] 右侧鼓膜增厚 [印象] 右侧中耳炎", "右侧鼓膜增厚", "右侧中耳炎", id="section-square-brackets"),
        pytest.param("检查所见：右侧鼓室清晰。意见：右耳正常", "右侧鼓室清晰。", "右耳正常", id="section-jiancha-yijian"),
        pytest.param("表现：左侧乳突硬化。结论：左侧中耳乳突炎", "左侧乳突硬化。", "左侧中耳乳突炎", id="section-biaoxian-jielun"),
        pytest.param("影像所见\n双侧鼓室清晰\n印象\n颞骨未见异常", "双侧鼓室清晰", "颞骨未见异常", id="section-header-own-line"),
        pytest.param("双侧外耳道通畅 诊断：未见异常", "双侧外耳道通畅", "未见异常", id="section-space-before-header"),
        pytest.param("颞骨CT示左侧鼓室软组织影，听小骨破坏。", "左侧鼓室软组织影，听小骨破坏。", "", id="section-inline-cue"),
        pytest.param("CT示：右侧鼓室积液", "右侧鼓室积液", "", id="section-inline-ct-shi"),
        pytest.param("左侧鼓室积液。诊断：左侧分泌性中耳炎", "左侧鼓室积液。", "左侧分泌性中耳炎", id="section-text-before-impression"),
    ],
)
def test_sections(text, findings, impression):
    report = parse_report(text, source="row 3 of export.xlsx")
    assert report.findings == findings
    assert report.impression == impression
    assert report.source == "row 3 of export.xlsx"


def test_other_sections_and_preamble_are_kept():
    report = parse_report("检查方法：颞骨HRCT平扫\n影像所见：双侧鼓室清晰。\n诊断：未见异常")
    assert report.other_sections == {"检查方法": "颞骨HRCT平扫"}
    inline = parse_report("男，45岁。颞骨CT示：左侧鼓室积液")
    assert inline.other_sections == {"preamble": "男，45岁"}
    assert inline.findings == "左侧鼓室积液"


def test_columns_drop_a_repeated_own_header_and_build_normalized_text():
    report = parse_report(findings="影像所见：左侧鼓室积液", impression="检查结论:左侧分泌性中耳炎")
    assert report.findings == "左侧鼓室积液"
    assert report.impression == "左侧分泌性中耳炎"
    assert report.normalized_text == "影像所见：左侧鼓室积液\n检查结论：左侧分泌性中耳炎"


# --------------------------------------------------------------------------------------------------
# Errors
@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param({"text": ""}, "empty report", id="error-empty-text"),
        pytest.param({"text": " \n\u3000 "}, "empty report", id="error-whitespace-text"),
        pytest.param({"findings": "", "impression": "  "}, "empty report", id="error-empty-columns"),
        pytest.param({"findings": float("nan"), "impression": None}, "empty report", id="error-nan-columns"),
        pytest.param({"text": "【检查方法】颞骨CT平扫"}, "empty report", id="error-only-other-section"),
            pytest.param({"text": "肝脏形态大小正常，实质回声均匀"}, "影像所见", id="error-no-section-not-ear-text"),
        pytest.param({"text": "影像所见：x", "findings": "y"}, "not both", id="error-text-and-columns"),
        pytest.param({"findings": 17, "impression": None}, "must be a str", id="error-non-text-column"),
    ],
)
def test_errors_name_the_source(kwargs, message):
    with pytest.raises(ReportParseError, match=message) as caught:
        parse_report(**kwargs, source="row 17 of export.xlsx")
    assert "row 17 of export.xlsx" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_no_section_error_lists_the_headers_it_looked_for():
    with pytest.raises(ReportParseError) as caught:
        parse_report("双乳腺对称，腺体回声均匀", source="exam 123")
    for header in ("影像所见", "检查所见", "检查结论", "诊断意见", "印象", "颞骨CT示"):
        assert header in str(caught.value)


# --------------------------------------------------------------------------------------------------
# Laterality (per clause)
@pytest.mark.parametrize(
    "findings, sides",
    [
        pytest.param("左侧鼓室清晰", ["left"], id="side-zuoce"),
        pytest.param("左耳鼓膜内陷", ["left"], id="side-zuoer"),
        pytest.param("右鼓室积液", ["right"], id="side-you"),
        pytest.param("右耳鼓膜增厚", ["right"], id="side-youer"),
        pytest.param("双侧乳突气化良好", ["bilateral"], id="side-shuangce"),
        pytest.param("两侧外耳道通畅", ["bilateral"], id="side-liangce"),
        pytest.param("双耳听骨链完整", ["bilateral"], id="side-shuanger"),
        pytest.param("左右两侧乳突气化良好", ["bilateral"], id="side-zuoyou-liangce"),
        pytest.param("左、右侧外耳道通畅", ["bilateral"], id="side-zuo-dun-youce"),
        pytest.param("颞骨左右对称", ["bilateral"], id="side-symmetry-statement"),
        pytest.param("中线结构左移", [None], id="side-midline-shift-not-left"),
        pytest.param("中线结构左移，左侧鼓室积液", [None, "left"], id="side-midline-shift-then-left"),
        pytest.param("鼓室内小结节偏右", [None], id="side-pianyou-not-right"),
        pytest.param("患者右侧卧位扫描", [None], id="side-decubitus-not-right"),
        pytest.param("病灶大小约5mm左右", [None], id="side-approximately-not-bilateral"),
        pytest.param("左侧鼓室内见软组织影，听小骨破坏", ["left", "left"], id="side-carry-over-clause"),
        pytest.param("左侧乳突呈硬化型，右侧乳突气化良好", ["left", "right"], id="side-switch-clause"),
        pytest.param("左侧鼓室积液、右侧鼓室清晰", ["left", "right"], id="side-switch-within-clause"),
        pytest.param("双侧鼓室见软组织影，以左侧为著", ["bilateral", "left"], id="side-bilateral-then-left"),
        pytest.param("左侧鼓室积液，对侧鼓室清晰", ["left", "right"], id="side-duice-opposite"),
        pytest.param("左侧鼓室积液。乳突呈硬化型", ["left", None], id="side-no-carry-across-sentences"),
        pytest.param("左侧鼓室软组织影；对侧鼓室清晰", ["left", "right"], id="side-duice-next-sentence"),
    ],
)
def test_clause_laterality(findings, sides):
    assert [c.side for c in clauses_of(findings)] == sides


def test_sentence_side_summarises_its_clauses():
    report = parse_report(findings="左侧乳突呈硬化型，右侧乳突气化良好。左侧鼓室积液，听骨链完整。乳突硬化。")
    assert [s.side for s in report.sentences] == ["bilateral", "left", None]
    assert [s.section for s in report.sentences] == ["findings"] * 3


# --------------------------------------------------------------------------------------------------
# Negation
@pytest.mark.parametrize(
    "findings, expected",
    [
        pytest.param("左侧鼓室未见积液，听骨链破坏",
                     [("鼓室", "积液", "left", True), ("听骨链", "破坏", "left", False)], id="negation-scope-clause"),
        pytest.param("左侧鼓室无积液", [("鼓室", "积液", "left", True)], id="negation-wu"),
        pytest.param("左侧乳突未显示骨质破坏", [("乳突", "骨质破坏", "left", True)], id="negation-weixianshi"),
        pytest.param("右侧听小骨未见明显骨质吸收", [("听小骨", "骨质吸收", "right", True)], id="negation-weijianmingxian"),
        pytest.param("右侧上鼓室未见确切软组织影", [("上鼓室", "软组织影", "right", True)], id="negation-weijianqueqie"),
        pytest.param("双侧内耳未见异常", [("内耳", "异常", "bilateral", True)], id="negation-weijianyichang"),
        pytest.param("左侧鼓室积液，不伴骨质破坏",
                     [("鼓室", "积液", "left", False), ("鼓室", "骨质破坏", "left", True)], id="negation-buban-carried-entity"),
        pytest.param("右侧鼓室没有积液", [("鼓室", "积液", "right", True)], id="negation-meiyou"),
        pytest.param("左侧听小骨骨质吸收不明显", [("听小骨", "骨质吸收", "left", True)], id="negation-backward-buminxian"),
        pytest.param("左侧鼓室积液，未见气泡及液平",
                     [("鼓室", "积液", "left", False), ("鼓室", "气泡", "left", True), ("鼓室", "液平", "left", True)],
                     id="negation-covers-coordinated-attributes"),
        pytest.param("左侧听骨链破坏，右侧鼓室未见积液",
                     [("听骨链", "破坏", "left", False), ("鼓室", "积液", "right", True)], id="negation-not-across-sides"),
    ],
)
def test_negation_scope(findings, expected):
    assert triples_of(findings) == expected


@pytest.mark.parametrize(
    "findings, negated",
    [
        pytest.param("患者否认外伤史，左侧鼓室积液", [True, False], id="negation-fouren-clause"),
        pytest.param("右侧鼓室未见积液，听骨链完整", [True, False], id="negation-clause-flags"),
        pytest.param("双侧颞骨有无骨折", [False], id="negation-youwu-masked"),
    ],
)
def test_clause_negation_flags(findings, negated):
    assert [c.negated for c in clauses_of(findings)] == negated


def test_normal_statement_flag():
    clauses = clauses_of("双侧内耳结构未见明显异常，左侧鼓室积液，听小骨形态正常，鼓膜欠正常")
    assert [c.normal_statement for c in clauses] == [True, False, True, False]


# --------------------------------------------------------------------------------------------------
# Hedges
@pytest.mark.parametrize(
    "impression, uncertain",
    [
        pytest.param("考虑左侧中耳胆脂瘤，右侧中耳乳突炎", [True, True], id="hedge-kaolv-forward"),
        pytest.param("左侧中耳胆脂瘤，右侧中耳炎可能", [False, True], id="hedge-keneng-clause"),
        pytest.param("左侧胆脂瘤不除外", [True], id="hedge-buchuwai"),
        pytest.param("左侧胆脂瘤待排", [True], id="hedge-daipai"),
        pytest.param("疑左侧鼓室少许积液", [True], id="hedge-yi"),
        pytest.param("左侧听小骨可疑骨质吸收", [True], id="hedge-keyi"),
        pytest.param("倾向左侧胆固醇肉芽肿", [True], id="hedge-qingxiang"),
        pytest.param("符合左侧中耳胆脂瘤？", [True], id="hedge-fuhe-question"),
        pytest.param("符合左侧中耳胆脂瘤", [False], id="hedge-fuhe-confident"),
        pytest.param("左侧中耳乳突炎，请结合临床", [True, True], id="hedge-qingjiehelinchuang-sentence"),
        pytest.param("左侧岩尖占位，建议MRI进一步检查", [True, True], id="hedge-jianyi-jiancha"),
        pytest.param("左侧中耳胆脂瘤可能；右侧中耳未见明显异常", [True, False], id="hedge-stops-at-semicolon"),
        pytest.param("左侧鼓室见类似软组织影", [False], id="hedge-leisi-masked"),
    ],
)
def test_hedges(impression, uncertain):
    report = parse_report(findings="双侧外耳道通畅", impression=impression)
    assert [c.uncertain for s in report.sentences if s.section == "impression" for c in s.clauses] == uncertain


# --------------------------------------------------------------------------------------------------
# Normalisation
def test_traditional_characters():
    report = parse_report("所見：左側鼓室內見軟組織密度影，聽小骨骨質破壞。結論：左側中耳膽脂瘤")
    assert report.findings == "左侧鼓室内见软组织密度影，听小骨骨质破坏。"
    assert [(t.entity, t.attribute, t.side) for t in report.triples] == [
        ("鼓室", "软组织密度影", "left"),
        ("听小骨", "骨质破坏", "left"),
    ]
    assert report.weak_codes == {"left": 2, "right": None}
    assert to_simplified("雙側乳突氣化良好，顳骨") == "双侧乳突气化良好，颞骨"


@pytest.mark.parametrize(
    "raw, normalized",
    [
        pytest.param("左侧鼓室积液，液平约５ｍｍ．右侧鼓室清晰", "左侧鼓室积液，液平约5mm。右侧鼓室清晰", id="fullwidth-digits-period"),
        pytest.param("左侧　鼓室 积液 ; 右侧鼓室清晰 ,", "左侧鼓室积液；右侧鼓室清晰", id="fullwidth-space-halfwidth-punct"),
        pytest.param("层厚0.6mm，12:30扫描", "层厚0.6mm，12:30扫描", id="keep-decimal-and-time"),
        pytest.param("结论：1、左侧中耳炎；2. 右侧正常", "结论：左侧中耳炎；右侧正常", id="drop-list-numbers"),
        pytest.param("①左侧胆脂瘤②右侧正常", "左侧胆脂瘤\n右侧正常", id="circled-list-numbers"),
        pytest.param("鼓室清晰。。，左侧积液!?", "鼓室清晰。左侧积液？", id="collapse-repeated-punctuation"),
        pytest.param("(左侧)中耳炎", "（左侧）中耳炎", id="brackets-fullwidth"),
    ],
)
def test_normalization(raw, normalized):
    assert normalize_report_text(raw) == normalized


def test_fullwidth_report_parses_like_halfwidth():
    full = parse_report("影像所见：左侧鼓室积液，见气液平面；右侧鼓室清晰．检查结论：左侧分泌性中耳炎")
    half = parse_report("影像所见:左侧鼓室积液,见气液平面;右侧鼓室清晰.检查结论:左侧分泌性中耳炎")
    assert full.to_dict() == half.to_dict()
    assert full.weak_codes == {"left": 3, "right": None}


# --------------------------------------------------------------------------------------------------
# Triples
@pytest.mark.parametrize(
    "findings, expected",
    [
        pytest.param("左侧听小骨骨质吸收", [("听小骨", "骨质吸收", "left", False)], id="triple-proposal-example"),
        pytest.param("左侧鼓室及鼓窦内见软组织密度影",
                     [("鼓室", "软组织密度影", "left", False), ("鼓窦", "软组织密度影", "left", False)],
                     id="triple-coordinated-entities"),
        pytest.param("右侧鼓室内见软组织影伴听骨链破坏",
                     [("鼓室", "软组织影", "right", False), ("听骨链", "破坏", "right", False)], id="triple-nearest-entity"),
        pytest.param("左侧上鼓室扩大，鼓窦入口增宽",
                     [("上鼓室", "扩大", "left", False), ("鼓窦入口", "增宽", "left", False)], id="triple-longest-entity"),
        pytest.param("右侧岩尖见膨胀性改变，骨壁变薄，边缘光滑",
                     [("岩尖", "膨胀性改变", "right", False), ("岩尖", "骨壁变薄", "right", False),
                      ("岩尖", "边缘光滑", "right", False)], id="triple-carried-entity-granuloma"),
        pytest.param("左侧面神经管增宽，颈静脉孔骨质侵蚀",
                     [("面神经管", "增宽", "left", False), ("颈静脉孔", "骨质侵蚀", "left", False)], id="triple-tumour-sites"),
        pytest.param("双侧乳突呈板障型", [("乳突", "板障型", "bilateral", False)], id="triple-bilateral"),
        pytest.param("骨质破坏", [], id="triple-needs-entity"),
    ],
)
def test_triples(findings, expected):
    assert triples_of(findings) == expected


def test_triple_keys_and_indices():
    report = parse_report(EXAMPLE)
    erosion = [t for t in report.triples if t.attribute_key == "bone_erosion"]
    assert [(t.entity, t.entity_key, t.side, t.sentence_index, t.clause_index) for t in erosion] == [
        ("听小骨", "ossicles", "left", 1, 1)
    ]
    assert report.sentences[1].clauses[1].text == "听小骨骨质吸收破坏"
    hedged = [t for t in parse_report(findings="疑左侧鼓室积液").triples]
    assert hedged[0].uncertain is True


# --------------------------------------------------------------------------------------------------
# Side texts
def test_side_texts_of_the_example():
    report = parse_report(EXAMPLE)
    assert report.side_texts["left"] == (
        "双侧外耳道通畅。左侧鼓室及鼓窦内见软组织密度影，听小骨骨质吸收破坏，上鼓室扩大。左侧乳突呈硬化型。"
        "双侧内耳结构未见明显异常。左侧中耳胆脂瘤可能，建议结合临床。"
    )
    assert report.side_texts["right"] == (
        "双侧外耳道通畅。右侧鼓室清晰，听骨链完整。右侧乳突气化良好。双侧内耳结构未见明显异常。右侧中耳未见明显异常。"
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(EXAMPLE, id="leak-example"),
        pytest.param("影像所见：左侧鼓室积液、右侧鼓室清晰，左侧听小骨破坏。诊断：左侧中耳胆脂瘤", id="leak-within-clause"),
        pytest.param("影像所见：左侧鼓室软组织影；对侧乳突气化良好。诊断：左侧中耳炎，对侧正常", id="leak-duice"),
        pytest.param("影像所见：中线结构左移，右侧鼓室积液。乳突硬化。结论：右侧分泌性中耳炎", id="leak-general-sentence"),
    ],
)
def test_side_texts_never_leak_a_one_sided_clause(text):
    report = parse_report(text)
    for ear, other in (("left", "right"), ("right", "left")):
        for sentence in report.sentences:
            for clause in sentence.clauses:
                if clause.side == other:
                    assert clause.text not in report.side_texts[ear], (ear, clause.text)
                if clause.side in (ear, "bilateral", None):
                    assert clause.text in report.side_texts[ear], (ear, clause.text)


# --------------------------------------------------------------------------------------------------
# Weak codes
@pytest.mark.parametrize(
    "impression, codes, uncertain",
    [
        pytest.param("左侧慢性化脓性中耳炎", (1, None), (False, False), id="code-1-csom"),
        pytest.param("右侧慢性中耳乳突炎", (None, 1), (False, False), id="code-1-synonym"),
        pytest.param("双侧中耳乳突炎", (1, 1), (False, False), id="code-1-bilateral"),
        pytest.param("左侧中耳胆脂瘤", (2, None), (False, False), id="code-2-cholesteatoma"),
        pytest.param("右侧胆脂瘤型中耳炎", (None, 2), (False, False), id="code-2-not-otitis"),
        pytest.param("双侧分泌性中耳炎", (3, 3), (False, False), id="code-3-som"),
        pytest.param("左侧中耳积液", (3, None), (False, False), id="code-3-synonym"),
        pytest.param("右侧胆固醇肉芽肿", (None, 4), (False, False), id="code-4-granuloma"),
        pytest.param("左侧中耳未见明显异常；右侧中耳乳突炎", (5, 1), (False, False), id="code-5-normal-left"),
        pytest.param("右耳正常；左侧渗出性中耳炎", (3, 5), (False, False), id="code-5-zhengchang"),
        pytest.param("双侧颞骨CT未见明显异常", (5, 5), (False, False), id="code-5-bilateral"),
        pytest.param("颞骨CT平扫未见明显异常", (5, 5), (False, False), id="code-5-whole-exam-no-side"),
        pytest.param("左侧面神经鞘瘤", (6, None), (False, False), id="code-6-schwannoma"),
        pytest.param("右侧颈静脉球瘤", (None, 6), (False, False), id="code-6-glomus"),
        pytest.param("左侧岩尖占位性病变", (6, None), (False, False), id="code-6-mass"),
        pytest.param("左侧中耳胆脂瘤可能", (2, None), (True, False), id="code-hedged"),
        pytest.param("考虑右侧鼓室球瘤，建议增强检查", (None, 6), (False, True), id="code-hedged-forward"),
        pytest.param("左侧未见胆脂瘤，左侧中耳乳突炎", (1, None), (False, False), id="code-negated-ignored"),
        pytest.param("左侧中耳乳突炎，胆脂瘤可能性小", (1, None), (False, False), id="code-unlikely-ignored"),
        pytest.param("左侧中耳乳突炎伴胆脂瘤", (2, None), (False, False), id="code-priority-2-over-1"),
        pytest.param("双侧分泌性中耳炎，左侧胆固醇肉芽肿待排", (4, 3), (True, False), id="code-priority-4-over-3"),
        pytest.param("左侧中耳胆脂瘤", (2, None), (False, False), id="code-missing-side-none"),
        pytest.param("中耳乳突炎", (None, None), (False, False), id="code-disease-without-side-unassigned"),
        pytest.param("双侧内耳未见明显异常", (None, None), (False, False), id="code-inner-ear-normal-not-code-5"),
        pytest.param("左侧中耳术后改变；颞骨余未见异常", (None, None), (False, False), id="code-postop-not-guessed"),
    ],
)
def test_weak_codes(impression, codes, uncertain):
    report = parse_report(findings="双侧外耳道通畅", impression=impression, source="row 1")
    assert (report.weak_codes["left"], report.weak_codes["right"]) == codes
    assert (report.weak_code_uncertain["left"], report.weak_code_uncertain["right"]) == uncertain
    assert report.weak_code_source == "impression"


def test_weak_code_notes_record_priority_and_unassigned_mentions():
    report = parse_report(findings="双侧外耳道通畅", impression="左侧中耳乳突炎伴胆脂瘤")
    assert report.weak_code_notes == ["left: codes [1, 2] mentioned; chose 2 by priority 2 > 4 > 6 > 1 > 3 > 5"]
    sideless = parse_report(findings="双侧外耳道通畅", impression="中耳乳突炎")
    assert "without a side" in sideless.weak_code_notes[0]


def test_weak_codes_fall_back_to_findings_only_when_impression_is_empty():
    report = parse_report(findings="左侧鼓室积液，考虑左侧分泌性中耳炎。右侧中耳乳突未见明显异常", impression="")
    assert report.weak_code_source == "findings"
    assert report.weak_codes == {"left": 3, "right": 5}
    assert report.weak_code_uncertain == {"left": True, "right": False}
    assert report.weak_code_notes[0].startswith("impression is empty")
    with_impression = parse_report(findings="左侧分泌性中耳炎", impression="右侧胆脂瘤")
    assert with_impression.weak_codes == {"left": None, "right": 2}


# --------------------------------------------------------------------------------------------------
def test_report_is_json_serialisable():
    report = parse_report(EXAMPLE, source="row 5")
    assert isinstance(report, ParsedReport)
    restored = json.loads(json.dumps(dataclasses.asdict(report), ensure_ascii=False))
    assert restored["weak_codes"] == {"left": 2, "right": 5}
    assert restored["sentences"][0]["clauses"][0]["side"] == "bilateral"
    assert restored == report.to_dict()
