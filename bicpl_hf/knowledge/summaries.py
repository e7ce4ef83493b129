# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Normalised per-ear summaries of a report (BrgSA semantic summarisation, rule-based by default).

A summary keeps what the report says is abnormal about one ear, in canonical words and in the
radiologists' order, and drops the normal boilerplate and the wording noise of the raw report:

    左侧：上鼓室软组织影、扩大，听小骨骨质破坏；乳突硬化。检查结论：中耳胆脂瘤

Groups (外耳道；鼓膜/鼓室/听骨链；乳突；内耳及周围) are separated by "；", the findings of one group by
"，", and the attributes of one structure by "、". The findings are the non-negated triples of
`soft_labels.ATTRIBUTE_VOCABULARY` (so a summary and `attribute_vector` describe the same findings);
the conclusion lists the non-negated disease names of that ear (hedged ones followed by 可能). A side
with no finding and no disease reads "左侧：中耳未见明显异常". The other ear's findings never appear.

`side_texts_for` picks the text each ear is aligned with: the raw side text, the summary, or both; a
`summarizer=` callable (e.g. a local LLM) replaces the rule-based summary.

Example:
    >>> from bicpl_hf.processing import parse_report
    >>> r = parse_report(findings="左侧上鼓室内见软组织影，听小骨骨质吸收。左侧乳突呈硬化型。右侧鼓室清晰。",
    ...                  impression="左侧中耳胆脂瘤；右侧中耳未见明显异常。")
    >>> summarize_report(r)
    ('左侧：上鼓室软组织影，听小骨骨质破坏；乳突硬化。检查结论：中耳胆脂瘤', '右侧：中耳未见明显异常')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from ..processing.report_parser import EAR_SIDES, ParsedReport, parse_report
from .soft_labels import ATTRIBUTE_VOCABULARY, side_findings

SIDE_HEADERS = {"left": "左侧", "right": "右侧"}
NORMAL_SUMMARY = "中耳未见明显异常"
SideTextMode = Literal["raw", "summary", "both", "findings"]
# "findings": the summary's findings alone, without side header or disease name (`finding_vocabulary`).
SIDE_TEXT_MODES: tuple[str, ...] = ("raw", "summary", "both", "findings")
Summarizer = Callable[[str, str], str]

# Canonical words of the parser's entity keys, grouped in the radiologists' reading order.
ENTITY_GROUPS: tuple[dict[str, str], ...] = (
    {"external_canal": "外耳道"},
    {"tympanic_membrane": "鼓膜", "middle_ear": "中耳", "epitympanum": "上鼓室", "tympanic_cavity": "鼓室",
     "scutum": "盾板", "tegmen": "鼓室天盖", "aditus": "鼓窦入口", "antrum": "鼓窦", "ossicles": "听小骨"},
    {"mastoid": "乳突"},
    {"inner_ear": "内耳", "internal_auditory_canal": "内听道", "facial_canal": "面神经管",
     "jugular_foramen": "颈静脉孔", "petrous_apex": "岩尖", "sigmoid_sinus": "乙状窦", "temporal_bone": "颞骨"},
)
ATTRIBUTE_WORDS: dict[str, str] = {
    "soft_tissue": "软组织影", "soft_tissue_mass": "软组织肿块", "abnormal_density": "异常密度影", "effusion": "积液",
    "air_fluid_level": "气液平面", "bubbles": "气泡", "bone_erosion": "骨质破坏", "expansile": "膨胀性改变",
    "bone_thinning": "骨壁变薄", "widened": "扩大", "thickening": "增厚", "mucosal_thickening": "黏膜增厚",
    "increased_density": "密度增高", "opacified": "混浊", "filling": "充填", "sclerotic": "硬化",
    "poorly_pneumatized": "气化不良", "smooth_margin": "边缘光滑", "irregular_margin": "边缘毛糙", "perforation": "穿孔",
    "retraction": "内陷", "stenosis": "狭窄",
}
if set(ATTRIBUTE_WORDS) != set(ATTRIBUTE_VOCABULARY):
    raise RuntimeError("summaries.ATTRIBUTE_WORDS must name exactly the keys of soft_labels.ATTRIBUTE_VOCABULARY")
_ENTITY_GROUP = {key: g for g, group in enumerate(ENTITY_GROUPS) for key in group}
_ENTITY_WORD = {key: word for group in ENTITY_GROUPS for key, word in group.items()}


def summarize_side(parsed: ParsedReport, side: str, *, with_impression: bool = True) -> str:
    """Rule-based summary of one ear: "<side>：<findings>[。检查结论：<diseases>]".

    Args:
        parsed: a `ParsedReport` from `parse_report`.
        side: "left" or "right".
        with_impression: append the ear's non-negated disease names as 检查结论.

    Example:
        >>> from bicpl_hf.processing import parse_report
        >>> summarize_side(parse_report(findings="右侧鼓室积液，可见气液平面。", impression="右侧分泌性中耳炎可能。"), "right")
        '右侧：鼓室积液、气液平面。检查结论：分泌性中耳炎可能'
    """
    findings = side_findings(parsed, side)  # validates side and type
    structures: dict[str, list[str]] = {}  # entity key -> attribute keys, in order of first mention
    for triple in findings:
        attributes = structures.setdefault(triple.entity_key, [])
        if triple.attribute_key not in attributes:
            attributes.append(triple.attribute_key)
    groups: list[list[str]] = [[] for _ in ENTITY_GROUPS]
    for entity_key, attributes in structures.items():
        attributes.sort(key=ATTRIBUTE_VOCABULARY.index)
        word = _ENTITY_WORD.get(entity_key, entity_key)
        groups[_ENTITY_GROUP.get(entity_key, len(ENTITY_GROUPS) - 1)].append(
            word + "、".join(ATTRIBUTE_WORDS[a] for a in attributes))
    body = "；".join("，".join(phrases) for phrases in groups if phrases)

    diseases: list[str] = []
    if with_impression:
        for mention in parsed.disease_mentions:
            if mention.side in (side, "bilateral") and not mention.negated:
                name = mention.term + ("可能" if mention.uncertain else "")
                if name not in diseases:
                    diseases.append(name)
    conclusion = "检查结论：" + "，".join(diseases) if diseases else ""
    if not body:
        body = conclusion or NORMAL_SUMMARY
    elif conclusion:
        body = f"{body}。{conclusion}"
    return f"{SIDE_HEADERS[side]}：{body}"


def summarize_report(parsed: ParsedReport, *, with_impression: bool = True) -> tuple[str, str]:
    """`(left summary, right summary)` of one parsed report (see `summarize_side`)."""
    left, right = (summarize_side(parsed, side, with_impression=with_impression) for side in EAR_SIDES)
    return left, right


def check_side_text_mode(mode: str, name: str = "mode", summarizer: Summarizer | None = None, *,
                         where: str = "") -> None:
    """The one check of an ear-text mode (`SIDE_TEXT_MODES`) and of the summarizer that goes with it.

    Example:
        >>> check_side_text_mode("llm", "text_mode")
        Traceback (most recent call last):
        ...
        ValueError: text_mode must be one of 'raw', 'summary', 'both', 'findings', got 'llm'
    """
    if mode not in SIDE_TEXT_MODES:
        raise ValueError(f"{where}{name} must be one of {', '.join(map(repr, SIDE_TEXT_MODES))}, got {mode!r}")
    if summarizer is not None and not callable(summarizer):
        raise TypeError(f"{where}summarizer must be a callable (report_text, side) -> str, got {summarizer!r}")
    if summarizer is not None and mode == "raw":
        raise ValueError(f"{where}a summarizer is only used with {name}='summary' or 'both', not 'raw'")


def _stored_texts(report: Mapping, mode: str, summarizer: Summarizer | None) -> tuple[dict, str] | None:
    """A dataset row's stored side texts / summaries (`bicpl_hf.data.report_columns`), or None when absent."""
    needed = [] if mode == "summary" else [f"{side}_text" for side in EAR_SIDES]
    if mode != "raw":
        needed += ["report"] if summarizer is not None else [f"{side}_summary" for side in EAR_SIDES]
    if not all(name in report for name in needed):
        return None
    return report, report.get("report", "")


def _parse_item(report, index: int) -> tuple[ParsedReport, str]:
    """(parsed report, its text as given to a summarizer) for one item of `side_texts_for`."""
    source = f"reports[{index}]"
    if isinstance(report, ParsedReport):
        return report, report.normalized_text
    if isinstance(report, str):
        return parse_report(report, source=source), report
    if isinstance(report, Mapping) and ("findings" in report or "impression" in report):
        findings, impression = report.get("findings"), report.get("impression")
    elif isinstance(report, Sequence) and len(report) == 2:
        findings, impression = report
    else:
        raise TypeError(f"{source}: expected a report string, a ParsedReport, a (findings, impression) pair or a "
                        f"mapping with 'findings'/'impression' (a dataset row), got {type(report).__name__}")
    parsed = parse_report(findings=findings, impression=impression, source=source)
    return parsed, parsed.normalized_text


def join_side_texts(summary: str, raw: str) -> str:
    """Summary first, then the raw side text (`mode="both"`), so truncation keeps the summary."""
    if not raw:
        return summary
    return summary + ("" if summary[-1] in "。；！？" else "。") + raw


def side_texts_for(
    reports: Sequence,
    mode: SideTextMode = "raw",
    summarizer: Summarizer | None = None,
) -> list[tuple[str, str]]:
    r"""The `(left, right)` text each exam's ears are aligned with, for `BiCPLProcessor(side_texts=...)`.

    Args:
        reports: one item per exam: a report string (with 影像所见/检查结论 headers), a `ParsedReport`, a
            `(findings, impression)` pair, or a mapping with "findings"/"impression" (a dataset row). A row
            with the builder's parsed-report columns (`left_text`, `left_summary`, …) is read, not parsed.
        mode: "raw" (`ParsedReport.side_texts`: the report's sentences about that ear), "summary" (the
            per-ear summary), "both" (summary first, then the raw side text, so truncation keeps the summary) or
            "findings" (the summary's findings alone: negation-aware, no side header, no disease name).
        summarizer: any callable `(report_text, side) -> str` (e.g. a local LLM) used instead of
            `summarize_side`; it gets the report text (a string as given, the row's "report" column, else
            `ParsedReport.normalized_text`: "影像所见：…\\n检查结论：…") and "left" or "right".

    Raises:
        ValueError: unknown `mode`, a summarizer given with mode "raw", or a summarizer that returns
            no text (the message names the report index and side).

    Example:
        >>> side_texts_for([("左侧鼓室积液。右侧鼓室清晰。", "左侧分泌性中耳炎。")], mode="summary")
        [('左侧：鼓室积液。检查结论：分泌性中耳炎', '右侧：中耳未见明显异常')]
        >>> side_texts_for(["影像所见：双侧鼓室清晰。检查结论：未见异常。"], "summary", summarizer=lambda text, side: side)
        [('left', 'right')]
    """
    check_side_text_mode(mode, "mode", summarizer, where="side_texts_for: ")
    pairs: list[tuple[str, str]] = []
    for index, report in enumerate(reports):
        stored = _stored_texts(report, mode, summarizer) if isinstance(report, Mapping) else None
        if stored is None:
            parsed, text = _parse_item(report, index)
            raw_texts = parsed.side_texts
            summaries = None if mode == "raw" or summarizer is not None else summarize_report(parsed)
        else:  # a dataset row with the builder's parsed-report columns: nothing to parse
            row, text = stored
            raw_texts = {side: row.get(f"{side}_text", "") for side in EAR_SIDES}
            summaries = None if mode == "raw" or summarizer is not None else tuple(
                row[f"{side}_summary"] for side in EAR_SIDES)
        texts = []
        for side_index, side in enumerate(EAR_SIDES):
            raw = raw_texts[side]
            if mode == "raw":
                texts.append(raw)
                continue
            summary = summarizer(text, side) if summarizer is not None else summaries[side_index]
            if not isinstance(summary, str) or not summary.strip():
                raise ValueError(f"side_texts_for: the summarizer returned {summary!r} for reports[{index}] side "
                                 f"{side!r}; expected a non-empty string")
            if mode == "findings":
                from .finding_vocabulary import side_findings_text

                texts.append(side_findings_text(summary.strip()))
            else:
                texts.append(summary.strip() if mode == "summary" else join_side_texts(summary.strip(), raw))
        pairs.append((texts[0], texts[1]))
    return pairs


__all__ = [
    "ATTRIBUTE_WORDS",
    "ENTITY_GROUPS",
    "NORMAL_SUMMARY",
    "SIDE_HEADERS",
    "SIDE_TEXT_MODES",
    "check_side_text_mode",
    "join_side_texts",
    "side_texts_for",
    "summarize_report",
    "summarize_side",
]
