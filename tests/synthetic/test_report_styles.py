"""Radiologists' report styles: several used, wording independent of the knowledge base, parser still reads all."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import numpy as np
import pytest
from _benchmark_scripts import load_benchmark_script

from bicpl_hf.processing.report_parser import parse_report
from bicpl_hf.synthetic.attributes import EarAttributes, sample_ear_attributes
from bicpl_hf.synthetic.report_styles import REPORT_STYLES, pick_report_style, to_traditional
from bicpl_hf.synthetic.reports import write_synthetic_report

CODE_PAIRS = list(itertools.product(range(1, 7), repeat=2))


@pytest.fixture(scope="module")
def exams():
    """300 exams (every code pair, random attributes), each with its style and report."""
    rng = np.random.default_rng(21)
    out = []
    for index, (left_code, right_code) in enumerate((CODE_PAIRS * 9)[:300]):
        left, right = sample_ear_attributes(left_code, rng), sample_ear_attributes(right_code, rng)
        report_rng = np.random.default_rng([21, 7, index])
        style = pick_report_style(report_rng)
        out.append((left, right, style, write_synthetic_report(left, right, report_rng, style=style)))
    return out


def kb_clauses() -> set[str]:
    """The knowledge base's prompt clauses (split at punctuation, >= 4 characters), exactly as the wording check
    (`benchmarks/report_wording_check.py`) counts them."""
    return set(load_benchmark_script("report_wording_check").kb_clauses())


def test_at_least_three_styles_are_used(exams):
    counts = Counter(style for _, _, style, _ in exams)
    assert len(REPORT_STYLES) >= 3 and set(counts) == set(REPORT_STYLES)
    assert min(counts.values()) >= 30, counts


def test_few_knowledge_base_clauses_occur_verbatim(exams):
    clauses = kb_clauses()
    corpus = "\n".join(f + i for _, _, _, (f, i) in exams)
    shared = sorted(c for c in clauses if c in corpus)
    assert len(shared) / len(clauses) <= 0.30, shared


def test_parser_reads_every_style(exams):
    """Per style the parser recovers the true codes as well as the existing test demands of all reports (0.95)."""
    ears, correct = defaultdict(int), defaultdict(int)
    for left, right, style, (findings, impression) in exams:
        report = parse_report(findings=findings, impression=impression)
        for side, ear in (("left", left), ("right", right)):
            ears[style] += 1
            correct[style] += report.weak_codes[side] == ear.code
    for style in REPORT_STYLES:
        assert correct[style] / ears[style] >= 0.95, (style, correct[style], ears[style])


def test_traditional_style_reads_back_as_simplified():
    findings, impression = write_synthetic_report(
        EarAttributes(code=3, severity=0.6, opacification=0.5, effusion=True, air_fluid_level=True), EarAttributes(),
        np.random.default_rng(0), noise_rate=0.0, style="traditional")
    assert "側" in findings or "兩" in findings or "雙" in findings
    report = parse_report(findings=findings, impression=impression)
    assert report.weak_codes == {"left": 3, "right": 5}
    assert {t.attribute_key for t in report.triples if t.side == "left" and not t.negated} >= {"effusion", "air_fluid_level"}
    assert to_traditional("听骨链骨质破坏") == "聽骨鏈骨質破壞"


def test_style_is_one_draw_and_validated():
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    style = pick_report_style(rng)
    rng.bit_generator.state = state
    other = np.random.default_rng(5)
    explicit = write_synthetic_report(EarAttributes(), EarAttributes(), other, style=pick_report_style(other))
    assert write_synthetic_report(EarAttributes(), EarAttributes(), rng) == explicit  # what the export does
    assert style in REPORT_STYLES
    with pytest.raises(ValueError, match="style"):
        write_synthetic_report(EarAttributes(), EarAttributes(), rng, style="nonexistent")
