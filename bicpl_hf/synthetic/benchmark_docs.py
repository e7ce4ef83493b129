"""The benchmark's rate tables as markdown, generated from the data so the documentation cannot drift.

`benchmarks/BENCHMARK.md` holds the output of [`rate_tables_markdown`] between two markers; a
test checks that it matches, and `python -m bicpl_hf.synthetic.benchmark_docs benchmarks/BENCHMARK.md`
rewrites it after the tables change.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .attributes import CLASS_NAMES_ZH
from .constitution import ANATOMY_RATES, EAR_JITTER
from .findings import (
    CODE_PROFILE_SHARES,
    DEFINING_FINDINGS,
    FINDING_RATES,
    FINDINGS,
    PROFILE_CODES,
    PROFILE_SHARE_RATIONALE,
    SEVERITY_FLOOR,
    class_rate,
)

START_MARKER = "<!-- generated: rate tables (python -m bicpl_hf.synthetic.benchmark_docs) -->"
END_MARKER = "<!-- end of generated rate tables -->"


def _finding_label(name: str) -> str:
    finding = FINDINGS[name]
    given = f" (given {finding.requires})" if finding.requires else ""
    return f"`{name}` {finding.zh}{given}"


def finding_table_markdown() -> str:
    """Finding x profile table (probability, extent) and the per-class marginal rates."""
    profiles = list(PROFILE_CODES)
    lines = ["### Finding x class rates (per ear)", "",
             "Cell: probability that an ear of the profile has the finding, and in brackets its extent (size / "
             "erosion depth relative to the defining class; lesions scale with severity x extent). `-`: never. "
             "Rows marked *given* are conditional on their parent finding.", "",
             "| finding | " + " | ".join(f"{p} ({PROFILE_CODES[p]})" for p in profiles) + " |",
             "|---|" + "---|" * len(profiles)]
    for name in FINDINGS:
        cells = []
        for profile in profiles:
            cell = FINDING_RATES[name].get(profile)
            cells.append("-" if cell is None else f"{cell.p:.2f} (x{cell.extent:.2f})")
        lines.append(f"| {_finding_label(name)} | " + " | ".join(cells) + " |")
    floors = ", ".join(f"{p} {s:.2f}" for p, s in SEVERITY_FLOOR.items())
    splits = " ".join(f"Code-{code} ears split into {', '.join(f'{p} {s:.2f}' for p, s in shares.items())} "
                      f"({PROFILE_SHARE_RATIONALE[code]})." for code, shares in CODE_PROFILE_SHARES.items())
    lines += ["", f"{splits} Severity ~ Beta(2.2, 2.0) clipped to [0.08, 1], floored at {floors}.", "",
              "### Rationale of every rate", ""]
    for name in FINDINGS:
        for profile, cell in FINDING_RATES[name].items():
            lines.append(f"- `{name}` in {profile}: {cell.p:.2f} (x{cell.extent:.2f}) — {cell.why}")
    codes = sorted(CLASS_NAMES_ZH)
    lines += ["", "### Unconditional rate per class (code 6: tumour mix)", "",
              "| finding | " + " | ".join(f"{c} {CLASS_NAMES_ZH[c]}" for c in codes) + " |",
              "|---|" + "---|" * len(codes)]
    for name in FINDINGS:
        lines.append(f"| `{name}` | " + " | ".join(f"{class_rate(name, c):.3f}" for c in codes) + " |")
    lines += ["", "### Defining findings of each class and where else they occur", "",
              "| held-out class | defining finding | rate in it | classes that also show it (rate) |", "|---|---|---|---|"]
    for code, names in DEFINING_FINDINGS.items():
        for name in names:
            elsewhere = [f"{c} ({class_rate(name, c):.3f})" for c in codes if c != code and class_rate(name, c) > 0]
            lines.append(f"| {code} {CLASS_NAMES_ZH[code]} | `{name}` | {class_rate(name, code):.3f} | "
                         f"{', '.join(elsewhere) or 'none'} |")
    return "\n".join(lines)


def anatomy_table_markdown() -> str:
    """Patient-level anatomy rates with their rationale, and the per-ear jitter."""
    lines = ["### Patient-level anatomy (shared by both ears) and normal variants", "", "| rate | value | rationale |",
             "|---|---|---|"]
    for name, rate in ANATOMY_RATES.items():
        lines.append(f"| `{name}` | {rate.value:.2f} | {rate.why} |")
    jitter = ", ".join(f"{k} {v}" for k, v in EAR_JITTER.items())
    lines += ["", f"Per-ear jitter around the patient's value (relative sd; mm for tegmen and sigmoid): {jitter}."]
    return "\n".join(lines)


def rate_tables_markdown() -> str:
    return "\n".join([START_MARKER, "", anatomy_table_markdown(), "", finding_table_markdown(), "", END_MARKER])


def generated_section(text: str, source: str = "document") -> str:
    """The generated part of `text` (markers included); a clear error when the markers are missing."""
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"{source} lacks the generated-table markers {START_MARKER!r} ... {END_MARKER!r}")
    return text[start:end + len(END_MARKER)]


def write_rate_tables(path: str | Path) -> None:
    """Replace the generated section of `path` (or append it when the file has none) with the current tables."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        old = generated_section(text, str(path))
        text = text.replace(old, rate_tables_markdown())
    except ValueError:
        text = text.rstrip() + ("\n\n" if text else "") + rate_tables_markdown() + "\n"
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description="rewrite the generated rate tables of the benchmark documentation")
    parser.add_argument("path", help="markdown file, e.g. benchmarks/BENCHMARK.md")
    write_rate_tables(parser.parse_args().path)


__all__ = ["anatomy_table_markdown", "finding_table_markdown", "generated_section", "rate_tables_markdown",
           "write_rate_tables"]

if __name__ == "__main__":
    main()
