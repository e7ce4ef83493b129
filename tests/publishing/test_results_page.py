"""The demo's results page: markdown and HTML with the same sections, tables and pictures."""

from __future__ import annotations

from bicpl_hf.publishing import results_page
from bicpl_hf.publishing.results_page import ReportSection, write_results_page
from bicpl_hf.synthetic import reports, write_synthetic_report


def test_results_page_writes_markdown_and_html(tmp_path):
    sections = [ReportSection("Results", "| a | b |\n|---|---|\n| 1 <2 | x |", images=[("figures/roc.png", "ROC")])]
    md_path, html_path = write_results_page(sections, tmp_path, "Demo & results")
    assert (md_path.name, html_path.name) == ("report.md", "report.html")
    md, page = md_path.read_text(encoding="utf-8"), html_path.read_text(encoding="utf-8")
    assert md.startswith("# Demo & results\n") and "## Results" in md and "![ROC](figures/roc.png)" in md
    assert "<title>Demo &amp; results</title>" in page and "<td>1 &lt;2</td>" in page
    assert '<img src="figures/roc.png"' in page


def test_old_writer_names_are_aliases():
    assert results_page.write_report is write_results_page
    assert reports.write_report is write_synthetic_report
