"""The build report: every sheet row and every series, kept or skipped and why (json + csv).

`build_report.json` holds `settings`, `totals`, `rows` (one entry per sheet row, in sheet
order), `series` (one entry per series found, or per series folder of an exam that was not read)
and `unexpected_paths` (entries of the DICOM tree outside the `<date>/<exam>/<series>` layout; their
names are withheld because they may hold identifiers, and logged to the console instead).
`build_report.csv` has the same entries, one per line, with a `kind` column (`row`, `series`,
`unexpected`); it is UTF-8 with a byte-order mark so spreadsheet programs show the Chinese text.

Example:
    >>> report = json.load(open("built/build_report.json", encoding="utf-8"))  # doctest: +SKIP
    >>> report["totals"]["rows_in"] == report["totals"]["rows_kept"] + report["totals"]["rows_skipped"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .deidentify import salted_key
from .dicom_tree import UnexpectedEntry, parse_date_folder
from .exam_conversion import atomic_write_bytes

__all__ = ["CSV_COLUMNS", "BuildReportError", "remove_stale_staging", "write_build_report"]

logger = logging.getLogger(__name__)
REPORT_FORMAT = 1
CSV_COLUMNS = ("kind", "row", "exam_key", "status", "reason_code", "reason", "split", "left_code", "right_code",
               "left_code_source", "right_code_source", "folder", "series_key", "notes")


class BuildReportError(RuntimeError):
    """The bookkeeping does not add up (a row or series would be lost); never expected, always fatal."""


def _row_entry(decision) -> dict[str, Any]:
    return {
        "row": decision.row.row_number, "exam_key": decision.exam_key, "status": decision.status,
        "reason_code": decision.reason_code, "reason": decision.reason, "split": decision.split,
        "left_code": decision.codes[0], "right_code": decision.codes[1],
        "left_code_source": decision.sources[0], "right_code_source": decision.sources[1],
        "folder": decision.folder, "notes": list(decision.notes),
    }


def _unexpected_entry(entry: UnexpectedEntry, salt: str) -> dict[str, Any]:
    parts = [part if index == 0 and parse_date_folder(part) else
             f"<name withheld {salted_key(salt, 'path', part)[:10]}>" for index, part in enumerate(entry.relative_parts)]
    logger.warning("Input entry outside the source's layout (e.g. <date>/<exam>/<series>): %s (%s)",
                   "/".join(entry.relative_parts), entry.reason)
    return {"folder": "/".join(parts), "status": "skipped", "reason": entry.reason}


def _check(totals: dict, rows: list[dict], series: list[dict], dataset_sizes: dict[str, int]) -> None:
    problems = []
    if totals["rows_in"] != totals["rows_kept"] + totals["rows_skipped"]:
        problems.append(f"rows_in {totals['rows_in']} != rows_kept {totals['rows_kept']} + rows_skipped "
                        f"{totals['rows_skipped']}")
    undecided = [r["row"] for r in rows if r["status"] not in ("kept", "skipped")]
    if undecided:
        problems.append(f"rows {undecided[:10]} were neither kept nor skipped")
    if sum(dataset_sizes.values()) != totals["rows_kept"]:
        problems.append(f"the dataset holds {sum(dataset_sizes.values())} exams but {totals['rows_kept']} rows were kept")
    kept_series = Counter(s["exam_key"] for s in series if s["status"] == "kept")
    kept_rows = {r["exam_key"] for r in rows if r["status"] == "kept"}
    if set(kept_series) != kept_rows or any(n != 1 for n in kept_series.values()):
        problems.append("each kept row must have exactly one kept series")
    if any(s["status"] not in ("kept", "skipped") or not s["reason"] for s in series):
        problems.append("a series entry has no status or no reason")
    if problems:
        raise BuildReportError("the build report does not add up: " + "; ".join(problems))


_STAGING = re.compile(r"^\.dataset-(staging|previous)-(\d+)$")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0  # another user's live process, or not a pid at all
    return True


def remove_stale_staging(output: str | os.PathLike) -> list[str]:
    """Delete the `.dataset-staging-<pid>` / `.dataset-previous-<pid>` folders a killed build left under `output`.

    The dataset is written to `.dataset-staging-<pid>` and renamed into place; a build killed meanwhile (SIGKILL,
    power loss) cannot clean up, and a rerun has another pid. A folder is removed when its process is gone (or
    is this one, which is about to write its own). Returns the names removed (they are logged).
    """
    output = Path(output)
    removed = []
    if not output.is_dir():
        return removed
    for entry in sorted(output.iterdir()):
        match = _STAGING.match(entry.name)
        if match is None or not entry.is_dir():
            continue
        pid = int(match.group(2))
        if pid != os.getpid() and _process_alive(pid):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry.name)
        logger.warning("Removed %s, left under %s by an interrupted build", entry.name, output)
    return removed


def write_build_report(
    output: str | os.PathLike,
    *,
    decisions: Sequence,
    series: Sequence[dict],
    unexpected: Sequence[UnexpectedEntry],
    settings: dict,
    dataset_sizes: dict[str, int],
    salt: str,
) -> dict:
    """Write `build_report.json` and `build_report.csv` under `output`; returns the totals.

    It is written just before the dataset, so it also removes the staging folders an interrupted earlier
    build left under `output` ([`remove_stale_staging`]).

    Raises:
        BuildReportError: when `rows_in != rows_kept + rows_skipped` or another count does not add up.

    Example:
        >>> totals = write_build_report("built", decisions=decisions, series=series, unexpected=[],
        ...                             settings={}, dataset_sizes={"train": 3}, salt=salt)  # doctest: +SKIP
    """
    output = Path(output)
    rows = [_row_entry(d) for d in sorted(decisions, key=lambda d: d.row.row_number)]
    series = [{"exam_key": s["folder"].split("/")[1], **s} for s in sorted(series, key=lambda s: (s["folder"], s["series_key"]))]
    odd = [_unexpected_entry(e, salt) for e in unexpected]
    patients = {split: len({d.patient_key for d in decisions if d.split == split}) for split in dataset_sizes}
    totals = {
        "rows_in": len(decisions),
        "rows_kept": sum(r["status"] == "kept" for r in rows),
        "rows_skipped": sum(r["status"] == "skipped" for r in rows),
        "rows_skipped_by_reason": dict(sorted(Counter(r["reason_code"] for r in rows if r["status"] == "skipped").items())),
        "series_found": len(series),
        "series_kept": sum(s["status"] == "kept" for s in series),
        "series_skipped": sum(s["status"] == "skipped" for s in series),
        "unexpected_paths": len(odd),
        "exams_per_split": dict(dataset_sizes),
        "patients_per_split": patients,
        "rows_kept_thick_slices": sum(bool(getattr(d, "thick_slices", False)) and d.status == "kept" for d in decisions),
        "rows_report_not_ear": sum(bool(getattr(d, "not_ear_report", False)) for d in decisions),
        "ear_code_sources": dict(sorted(Counter(s for r in rows if r["status"] == "kept"
                                                for s in (r["left_code_source"], r["right_code_source"])).items())),
    }
    _check(totals, rows, series, dataset_sizes)
    remove_stale_staging(output)
    report = {"format": REPORT_FORMAT, "settings": settings, "totals": totals, "rows": rows, "series": series,
              "unexpected_paths": odd}
    atomic_write_bytes(output / "build_report.json",
                       json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8"))
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({"kind": "row", **row, "notes": " | ".join(row["notes"])})
    for entry in series:
        writer.writerow({"kind": "series", **entry})
    for entry in odd:
        writer.writerow({"kind": "unexpected", **entry})
    atomic_write_bytes(output / "build_report.csv", buffer.getvalue().encode("utf-8-sig"))
    return totals
