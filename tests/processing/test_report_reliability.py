"""The report parser on text written the way radiologists write (tests/processing/report_sets/realistic_ear_reports.yaml),
on clinical text that is not about the ear (tests/processing/report_sets/non_ear_clinical_texts.yaml), and on malformed text."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bicpl_hf.processing.report_parser import MAX_REPORT_CHARS, ReportParseError, parse_report

DATA = Path(__file__).parent / "report_sets"
REALISTIC = yaml.safe_load((DATA / "realistic_ear_reports.yaml").read_text(encoding="utf-8"))
NON_EAR = yaml.safe_load((DATA / "non_ear_clinical_texts.yaml").read_text(encoding="utf-8"))


def _parse(entry: dict):
    if "text" in entry:
        return parse_report(entry["text"], source=entry["id"])
    return parse_report(findings=entry.get("findings"), impression=entry.get("impression"), source=entry["id"])


def test_realistic_set_is_varied():
    texts = "".join(str(e.get("text", "")) + str(e.get("findings", "")) + str(e.get("impression", "")) for e in REALISTIC)
    assert len(REALISTIC) >= 60
    for marker in ("側", "聽", ",", ":", "1、", "(1)", "①", "术后", "待排", "对侧", "？"):
        assert marker in texts, marker
    assert sum("text" in e and "：" not in e["text"] and ":" not in e["text"] for e in REALISTIC) >= 2  # header-less
    assert {e[side] for e in REALISTIC for side in ("left", "right")} >= {1, 2, 3, 4, 5, 6, None}


def test_realistic_reports_are_read_right_for_95_percent_of_ears():
    wrong = []
    for entry in REALISTIC:
        report = _parse(entry)
        wrong += [(entry["id"], side, entry[side], report.weak_codes[side])
                  for side in ("left", "right") if report.weak_codes[side] != entry[side]]
    ears = 2 * len(REALISTIC)
    assert (ears - len(wrong)) / ears >= 0.95, wrong


@pytest.mark.parametrize("entry", NON_EAR, ids=[e["id"] for e in NON_EAR])
def test_non_ear_text_gets_no_ear_code(entry):
    try:
        report = _parse(entry)
    except ReportParseError as error:  # refused outright is also no code
        assert entry["id"] in str(error)
        return
    assert report.weak_codes == {"left": None, "right": None}
    assert not report.is_ear_report
    assert any("not an ear report" in note for note in report.weak_code_notes)


@pytest.mark.parametrize(
    "findings, impression, codes",
    [
        pytest.param("左侧鼓室内见软组织影。右侧中耳乳突未见异常。", "左侧中耳胆脂瘤。", (2, 5), id="other-side-middle-ear-normal"),
        pytest.param("右侧乳突气房内见软组织影。左侧未见明确异常。", "右侧中耳乳突炎。", (5, 1), id="other-side-no-abnormality"),
        pytest.param("左侧鼓室积液。对侧颞骨未见异常。", "左侧分泌性中耳炎。", (3, 5), id="contralateral-temporal-bone"),
        pytest.param("双侧鼓室清晰，乳突气化良好，左侧鼓膜增厚。", "左侧慢性中耳炎。", (1, 5), id="bilateral-descriptors"),
        pytest.param("双侧乳突气化良好，鼓室清晰。鼓室内见少许软组织影。", "左侧慢性中耳炎。", (1, None),
                     id="side-less-lesion-blocks-both"),
        pytest.param("左侧鼓室清晰，乳突气化良好，听骨链完整。右侧鼓室软组织影。", "右侧中耳炎。", (5, 1),
                     id="normal-descriptors-on-two-structures"),
        pytest.param("左侧内耳结构未见异常。右侧鼓室软组织影。", "右侧中耳炎。", (None, 1), id="inner-ear-only-not-normal"),
        pytest.param("两侧颞骨对称，中耳乳突未见异常。", "双侧颞骨未见异常。", (5, 5), id="bilateral-symmetric"),
        pytest.param("右侧鼓室积液。", "右侧分泌性中耳炎，余颞骨未见异常。", (5, 3), id="rest-is-normal"),
    ],
)
def test_explicitly_normal_side_is_code_5(findings, impression, codes):
    report = parse_report(findings=findings, impression=impression)
    assert (report.weak_codes["left"], report.weak_codes["right"]) == codes
    named = parse_report(findings="双侧外耳道通畅。", impression=impression).weak_codes  # the impression alone
    for side, code in zip(("left", "right"), codes):
        if code == 5 and named[side] is None:
            assert any(note.startswith(f"{side}: ") and "code 5" in note for note in report.weak_code_notes)


def test_trailing_differential_yields_to_the_stated_diagnosis():
    report = parse_report(findings="左侧鼓室软组织影。", impression="左侧慢性中耳乳突炎，胆脂瘤待排。")
    assert report.weak_codes["left"] == 1
    assert any("differential" in note for note in report.weak_code_notes)
    sided = parse_report(findings="双侧鼓室积液。", impression="双侧分泌性中耳炎，左侧胆固醇肉芽肿待排。")
    assert sided.weak_codes == {"left": 4, "right": 3}  # a differential with its own side is a second finding


def test_headerless_ear_text_is_read_as_findings():
    report = parse_report("左侧鼓室内见软组织密度影，听小骨骨质破坏。右侧中耳乳突未见异常。")
    assert report.findings.startswith("左侧鼓室") and report.impression == ""
    assert report.weak_codes["right"] == 5
    assert any("read as findings" in note for note in report.notes)


def test_ear_words_in_a_history_or_other_organ_sentence_give_no_code():
    report = parse_report(findings="左侧鼓室积液。", impression="左侧分泌性中耳炎。颅内未见明显异常。既往右耳中耳炎病史。")
    assert report.weak_codes == {"left": 3, "right": None}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param({"text": "。，；……！！？"}, "only punctuation", id="punctuation-only"),
        pytest.param({"findings": "。。", "impression": "，；"}, "empty report", id="punctuation-only-columns"),
        pytest.param({"text": "左侧鼓室积液。" * (MAX_REPORT_CHARS // 7 + 1)}, "characters long", id="too-long-text"),
        pytest.param({"findings": "鼓" * (10 * 1024 * 1024), "impression": ""}, "findings", id="ten-megabytes"),
    ],
)
def test_malformed_text_is_refused_with_the_source(kwargs, message):
    with pytest.raises(ReportParseError, match=message) as caught:
        parse_report(source="row 9 of export.xlsx", **kwargs)
    assert str(caught.value).startswith("row 9 of export.xlsx")
