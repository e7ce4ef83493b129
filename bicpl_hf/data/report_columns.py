"""The parsed-report columns of a Bi-CPL dataset: each report is parsed once, when the dataset is built.

The builder parses every report ([`bicpl_hf.processing.report_parser.parse_report`]) and stores what
training needs next to it, so no later stage parses the same text again:

- `left_text` / `right_text`: the report's sentences about each ear (`ParsedReport.side_texts`);
  `bilateral_text`: the clauses that name both ears or no side (part of both side texts);
- `left_summary` / `right_summary`: the rule-based per-ear summaries (BrgSA, `text_mode="summary"`);
- `findings_triples`: every entity–attribute–side triple with its negation and hedging flags;
- `disease_mentions`: every disease name with its class code, side and flags;
- `left_attributes` / `right_attributes`: the multi-hot attribute vector of each ear (soft labels).

A dataset made by hand, or built by an older version, gets these columns once with
`dataset.map(add_report_columns)` (it parses the `report` column); the collator never parses.

Example:
    >>> from bicpl_hf.processing import parse_report
    >>> columns = parsed_report_columns(parse_report(findings="左侧鼓室积液。右侧鼓室清晰。", impression="左侧分泌性中耳炎。"))
    >>> columns["left_text"], columns["left_attributes"].nonzero()[0].tolist()
    ('左侧鼓室积液。左侧分泌性中耳炎。', [3])
    >>> [t["attribute_key"] for t in columns["findings_triples"]]
    ['effusion', 'clear']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..knowledge.soft_labels import ATTRIBUTE_VOCABULARY, attribute_vector
from ..knowledge.summaries import summarize_side
from ..processing.report_parser import EAR_SIDES, ParsedReport, parse_report

# Every column this module owns; a dataset that lacks one was built by an older version.
REPORT_COLUMNS = ("left_text", "right_text", "bilateral_text", "left_summary", "right_summary",
                  "findings_triples", "disease_mentions", "left_attributes", "right_attributes")
_TRIPLE_FIELDS = ("entity", "attribute", "entity_key", "attribute_key", "side", "negated", "uncertain")
_MENTION_FIELDS = ("term", "code", "side", "section", "negated", "uncertain")


class MissingReportColumnError(KeyError):
    """A dataset lacks a parsed-report column (built by an older version or by hand); the message says what to do."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def report_features() -> dict:
    """The `datasets` feature of every column in `REPORT_COLUMNS` (merged into the builder's `Features`)."""
    from datasets import Sequence, Value

    text, flag = Value("string"), Value("bool")
    triple = {name: flag if name in ("negated", "uncertain") else text for name in _TRIPLE_FIELDS}
    mention = {name: flag if name in ("negated", "uncertain") else Value("int64") if name == "code" else text
               for name in _MENTION_FIELDS}
    vector = Sequence(Value("float32"), length=len(ATTRIBUTE_VOCABULARY))
    spec: dict[str, Any] = {name: text for name in REPORT_COLUMNS[:5]}
    spec.update(findings_triples=[triple], disease_mentions=[mention], left_attributes=vector,
                right_attributes=vector)
    return spec


def _clauses_text(parsed: ParsedReport, sides: tuple) -> str:
    parts = []
    for sentence in parsed.sentences:
        kept = [c.text for c in sentence.clauses if c.side in sides]
        if kept:
            joined = "，".join(kept)
            parts.append(joined if joined.endswith("？") else joined + "。")
    return "".join(parts)


def parsed_report_columns(parsed: ParsedReport | None) -> dict[str, Any]:
    """The `REPORT_COLUMNS` of one parsed report; `None` (no usable report) gives empty texts and vectors."""
    if parsed is None:
        empty = np.zeros(len(ATTRIBUTE_VOCABULARY), dtype=np.float32)
        columns: dict[str, Any] = {name: "" for name in REPORT_COLUMNS[:5]}
        columns.update(findings_triples=[], disease_mentions=[], left_attributes=empty, right_attributes=empty.copy())
        return columns
    if not isinstance(parsed, ParsedReport):
        raise TypeError(f"expected a ParsedReport (from parse_report) or None, got {type(parsed).__name__}")
    columns = {"bilateral_text": _clauses_text(parsed, ("bilateral", None))}
    for side in EAR_SIDES:
        columns[f"{side}_text"] = parsed.side_texts[side]
        columns[f"{side}_summary"] = summarize_side(parsed, side)
        columns[f"{side}_attributes"] = attribute_vector(parsed, side)
    columns["findings_triples"] = [{name: getattr(t, name) for name in _TRIPLE_FIELDS} for t in parsed.triples]
    columns["disease_mentions"] = [{name: getattr(m, name) for name in _MENTION_FIELDS}
                                   for m in parsed.disease_mentions]
    return columns


def add_report_columns(example: Mapping[str, Any]) -> dict[str, Any]:
    """Parse `example["report"]` once and return its `REPORT_COLUMNS`: `dataset.map(add_report_columns)`.

    For datasets made by hand or built by an older version; the builder stores these columns itself.

    Example:
        >>> add_report_columns({"report": "影像所见：右侧鼓室积液。检查结论：右侧分泌性中耳炎。"})["right_summary"]
        '右侧：鼓室积液。检查结论：分泌性中耳炎'
    """
    if "report" not in example:
        raise MissingReportColumnError(f"add_report_columns needs a 'report' column; got columns {sorted(example)}")
    return parsed_report_columns(parse_report(example["report"], source="the 'report' column"))


def require_report_columns(example: Mapping[str, Any], names: Iterable[str], *, where: str) -> None:
    """Raise `MissingReportColumnError` naming the first of `names` that `example` lacks, and how to get it."""
    missing = [name for name in names if name not in example]
    if missing:
        raise MissingReportColumnError(
            f"{where}: the dataset has no {missing[0]!r} column (missing: {missing}); it was built by an older "
            "bicpl-hf version or by hand. Rebuild it with `bicpl build-dataset` (the builder parses each report "
            "once and stores these columns), or add them once with `dataset.map(bicpl_hf.data.add_report_columns)`")


def attribute_columns_vector(example: Mapping[str, Any], side: str, *, where: str) -> np.ndarray:
    """The stored attribute vector of one ear, checked against the current `ATTRIBUTE_VOCABULARY`."""
    vector = np.asarray(example[f"{side}_attributes"], dtype=np.float32)
    if vector.shape != (len(ATTRIBUTE_VOCABULARY),):
        raise ValueError(f"{where}: column '{side}_attributes' has shape {vector.shape}, but this version has "
                         f"{len(ATTRIBUTE_VOCABULARY)} attributes; rebuild the dataset (or rerun "
                         "`dataset.map(add_report_columns)`)")
    return vector


__all__ = [
    "REPORT_COLUMNS",
    "MissingReportColumnError",
    "add_report_columns",
    "attribute_columns_vector",
    "parsed_report_columns",
    "report_features",
    "require_report_columns",
]
