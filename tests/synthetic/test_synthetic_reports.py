"""The synthetic report writer, checked with the real report parser."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _benchmark_scripts import load_benchmark_script

from bicpl_hf.processing.report_lexicon import LESION_ATTRIBUTE_KEYS, to_simplified
from bicpl_hf.processing.report_parser import parse_report
from bicpl_hf.synthetic.attributes import EarAttributes, sample_ear_attributes
from bicpl_hf.synthetic.reports import BILATERAL_WORDS, write_synthetic_report

# Which attributes of an ear justify a non-negated lesion attribute in the text about it: the check script's table.
LESION_EVIDENCE = load_benchmark_script("report_wording_check").LESION_EVIDENCE
ALL_CODE_PAIRS = list(itertools.product(range(1, 7), repeat=2))


def random_exams(seed: int, repeats: int):
    """Every (left, right) code pair `repeats` times, with random attributes, plus the reports."""
    rng = np.random.default_rng(seed)
    for left_code, right_code in ALL_CODE_PAIRS * repeats:
        left, right = sample_ear_attributes(left_code, rng), sample_ear_attributes(right_code, rng)
        yield left, right, write_synthetic_report(left, right, rng)


def test_lesion_keys_are_all_covered():
    assert set(LESION_EVIDENCE) == set(LESION_ATTRIBUTE_KEYS)


def test_parser_recovers_the_true_codes():
    ears = correct = 0
    for index, (left, right, (findings, impression)) in enumerate(random_exams(seed=11, repeats=8)):
        report = parse_report(findings=findings, impression=impression, source=f"synthetic exam {index}")
        for side, ear in (("left", left), ("right", right)):
            ears += 1
            correct += report.weak_codes[side] == ear.code
    assert ears == 2 * 36 * 8
    assert correct / ears >= 0.95


def test_no_lesion_attribute_reaches_the_wrong_side():
    checked = 0
    for left, right, (findings, impression) in random_exams(seed=5, repeats=6):
        report = parse_report(findings=findings, impression=impression)
        for triple in report.triples:
            if triple.negated or triple.attribute_key not in LESION_ATTRIBUTE_KEYS:
                continue
            assert triple.side is not None, (triple, findings)
            ears = {"left": [left], "right": [right], "bilateral": [left, right]}[triple.side]
            for ear in ears:
                assert LESION_EVIDENCE[triple.attribute_key](ear), (triple, ear, findings, impression)
            checked += 1
        clauses = [c for s in report.sentences for c in s.clauses]
        for ear, other in (("left", "right"), ("right", "left")):
            own = {c.text for c in clauses if c.side != other}
            for clause in clauses:  # an other-side clause may only appear if this ear has the same words
                if clause.side == other and clause.text in report.side_texts[ear]:
                    assert any(clause.text in text for text in own), (clause, report.side_texts[ear])
    assert checked > 200  # the check really ran over many lesion triples


def test_deterministic_for_a_seed():
    left, right = EarAttributes(code=2, severity=0.7, epitympanic_mass=True, ossicles="severe_erosion"), EarAttributes()
    first = write_synthetic_report(left, right, np.random.default_rng(42))
    assert write_synthetic_report(left, right, np.random.default_rng(42)) == first
    others = {write_synthetic_report(left, right, np.random.default_rng(seed)) for seed in range(10)}
    assert len(others) > 3  # synonyms and hedges vary with the seed


def mastoid_look(ear: EarAttributes) -> tuple:
    """What the mastoid sentence describes: type, opacified, and fluid (not tissue) when opacified."""
    return ear.mastoid, ear.mastoid_opacified, ear.mastoid_opacified and ear.effusion


def _bilateral_sentences(findings: str, word: str) -> list[str]:
    return [s for s in findings.split("。") if s.startswith(BILATERAL_WORDS) and word in s]


@pytest.mark.parametrize("style", ["standard", "traditional"])
def test_bilateral_sentence_only_when_both_sides_agree(style):
    """Region-first styles; the side-first style describes each ear whole whenever the ears differ."""
    rng = np.random.default_rng(8)
    seen_equal = seen_different = 0
    for left_code, right_code in ALL_CODE_PAIRS * 4:
        left, right = sample_ear_attributes(left_code, rng), sample_ear_attributes(right_code, rng)
        findings, _ = write_synthetic_report(left, right, rng, noise_rate=0.0, style=style)
        findings = to_simplified(findings)
        mastoid_equal = mastoid_look(left) == mastoid_look(right)
        assert bool(_bilateral_sentences(findings, "乳突")) == mastoid_equal, findings
        ossicles_bilateral = [s for word in ("听骨", "听小骨", "砧骨") for s in _bilateral_sentences(findings, word)]
        assert bool(ossicles_bilateral) == (left.ossicles == right.ossicles), findings
        seen_equal += mastoid_equal
        seen_different += not mastoid_equal
    assert seen_equal > 10 and seen_different > 10


def test_clean_report_of_two_normal_ears():
    findings, impression = write_synthetic_report(EarAttributes(), EarAttributes(), np.random.default_rng(1), noise_rate=0.0)
    sentences = [s for s in findings.split("。") if s]
    assert all(s.startswith(BILATERAL_WORDS) for s in sentences), findings
    report = parse_report(findings=findings, impression=impression)
    assert report.weak_codes == {"left": 5, "right": 5}
    assert report.side_texts["left"] == report.side_texts["right"]


def test_findings_follow_the_radiologists_order():
    rng = np.random.default_rng(2)
    left, right = sample_ear_attributes(2, rng), sample_ear_attributes(6, rng)
    findings, _ = write_synthetic_report(left, right, rng, noise_rate=0.0)
    positions = [findings.index(word) for word in ("外耳道", "鼓室", "乳突")]
    ossicle = min(i for i in (findings.find("听骨"), findings.find("听小骨"), findings.find("砧骨")) if i >= 0)
    inner = min(i for i in (findings.find("内耳"), findings.find("耳蜗")) if i >= 0)
    assert positions[0] < positions[1] < ossicle < positions[2] < inner


def test_code_4_uses_the_proposal_vocabulary():
    rng = np.random.default_rng(4)
    for _ in range(10):
        granuloma = sample_ear_attributes(4, rng)
        findings, impression = write_synthetic_report(granuloma, EarAttributes(), rng, noise_rate=0.0)
        left_text = parse_report(findings=findings, impression=impression).side_texts["left"]
        assert "膨胀性" in left_text and "边缘光滑" in left_text and "变薄但完整" in left_text
        assert "胆固醇肉芽肿" in to_simplified(impression)  # the traditional style writes 膽固醇肉芽腫
        right_text = parse_report(findings=findings, impression=impression).side_texts["right"]
        assert "膨胀性" not in right_text and "胆固醇肉芽肿" not in right_text


@pytest.mark.parametrize(
    "extras, site_word",
    [
        pytest.param({"cyst_site": "petrous_apex"}, "岩尖", id="cyst-petrous-apex"),
        pytest.param({"cyst_site": "antrum"}, "鼓窦", id="cyst-antrum"),
        pytest.param({}, "颞骨", id="cyst-site-unknown"),
    ],
)
def test_code_4_names_the_recorded_cyst_site(extras, site_word):
    granuloma = EarAttributes(code=4, severity=0.5, opacification=0.4, expansile_cyst=True, bone_thinning=True,
                              extras=extras)
    findings, _ = write_synthetic_report(EarAttributes(), granuloma, np.random.default_rng(0), noise_rate=0.0)
    right_sentence = next(s for s in to_simplified(findings).split("。") if s.startswith("右") and "膨胀" in s)
    assert site_word in right_sentence


@pytest.mark.parametrize(
    "site, names",
    [
        pytest.param("facial_canal", ("面神经鞘瘤", "面神经瘤"), id="tumour-facial"),
        pytest.param("jugular_foramen", ("颈静脉球瘤", "占位"), id="tumour-jugular"),
        pytest.param("tympanic", ("鼓室球瘤", "占位"), id="tumour-tympanic"),
    ],
)
def test_code_6_names_a_tumour(site, names):
    rng = np.random.default_rng(6)
    tumour = EarAttributes(code=6, severity=0.5, tumour_site=site, facial_canal_widened=site == "facial_canal",
                           jugular_foramen_erosion=site == "jugular_foramen", opacification=0.3)
    for _ in range(6):
        _, impression = write_synthetic_report(EarAttributes(), tumour, rng, noise_rate=0.0)
        assert any(name in to_simplified(impression) for name in names), impression
        assert parse_report(findings="双侧外耳道通畅", impression=impression).weak_codes == {"left": 5, "right": 6}


def test_impressions_are_sometimes_hedged():
    flags = []
    for left, right, (findings, impression) in random_exams(seed=9, repeats=3):
        report = parse_report(findings=findings, impression=impression)
        flags += [report.weak_code_uncertain[side] for side, ear in (("left", left), ("right", right)) if ear.code != 5]
    assert 0.05 < sum(flags) / len(flags) < 0.6


def test_noise_never_changes_a_side_or_a_code():
    rng = np.random.default_rng(12)
    dropped = spaced = 0
    for left_code, right_code in ALL_CODE_PAIRS:
        left, right = sample_ear_attributes(left_code, rng), sample_ear_attributes(right_code, rng)
        state = rng.bit_generator.state
        clean_findings, _ = write_synthetic_report(left, right, rng, noise_rate=0.0)
        rng.bit_generator.state = state
        findings, impression = write_synthetic_report(left, right, rng, noise_rate=1.0)
        dropped += findings.count("。") < clean_findings.count("。")
        spaced += (" " in findings) or ("\u3000" in findings)
        report = parse_report(findings=findings, impression=impression)
        assert report.weak_codes == {"left": left_code, "right": right_code}, (findings, impression)
        for sentence in findings.rstrip("。").split("。"):
            for side_word in ("左侧", "右侧", "左耳", "右耳", "双侧", "两侧", "双耳"):
                assert sentence.count(side_word) == sentence.replace(" ", "").replace("\u3000", "").count(side_word)
    assert dropped > 5 and spaced > 5


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        pytest.param({"left": {"code": 1}}, TypeError, "must be an EarAttributes", id="error-not-attributes"),
        pytest.param({"left": EarAttributes(code=9)}, ValueError, "left.code", id="error-bad-code"),
        pytest.param({"right": EarAttributes(code=6)}, ValueError, "tumour_site", id="error-tumour-without-site"),
        pytest.param({"noise_rate": 1.5}, ValueError, "noise_rate", id="error-noise-rate"),
        pytest.param({"left": EarAttributes(code=4, expansile_cyst=True, extras={"cyst_site": "cochlea"})}, ValueError,
                     "cyst_site", id="error-unknown-cyst-site"),
    ],
)
def test_bad_input(kwargs, error, message):
    arguments = {"left": EarAttributes(), "right": EarAttributes(), "rng": np.random.default_rng(0), **kwargs}
    noise_rate = arguments.pop("noise_rate", 0.03)
    with pytest.raises(error, match=message):
        write_synthetic_report(**arguments, noise_rate=noise_rate)
