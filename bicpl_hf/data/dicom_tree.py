"""Indexing a PACS export tree `<root>/<YYYY-MM-DD>/<exam id>/<series id>/*.dcm`.

Only the folder structure is read here (no DICOM header); [`bicpl_hf.processing.volume_io`]
reads the series later. Anything that does not fit the layout (a file at the top level, a top-level
folder that is not a date, a file loose in a date folder) is listed in [`DicomTree.unexpected`]
so the build report can account for it.

**An exam under two (or more) dates** (a study that crossed midnight, or a later re-export) is
resolved by [`choose_exam_folder`], always by the same rule, in this order:

1. the date folder equal to the exam's date in the sheet (`检查时间`), when exactly one matches;
2. otherwise the folder holding the most files (the complete upload);
3. on a tie, the earliest date.

Example:
    >>> tree = index_dicom_tree("dicom_root")  # doctest: +SKIP
    >>> choice = choose_exam_folder(tree.exams["CT2020001"], exam_date=None)  # doctest: +SKIP
    >>> choice.chosen.date_folder, choice.reason  # doctest: +SKIP
    ('2020-01-02', 'the folder with the most files (412 vs 38)')
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DicomTree",
    "DicomTreeError",
    "ExamFolder",
    "ExamFolderChoice",
    "UnexpectedEntry",
    "choose_exam_folder",
    "index_dicom_tree",
    "parse_date_folder",
]

_DATE_FOLDER = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$|^(\d{4})(\d{2})(\d{2})$")
# Written by operating systems and PACS viewers; never DICOM data.
IGNORED_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", "DICOMDIR", "LOCKFILE", "VERSION"})


class DicomTreeError(ValueError):
    """The DICOM root is missing, not a folder, or holds no exam; the message names it."""


@dataclass(frozen=True)
class ExamFolder:
    """One `<date>/<exam id>` folder: its series subfolders and how many files it holds."""

    exam_id: str
    date: dt.date
    date_folder: str
    path: Path
    series_folders: tuple[str, ...]
    loose_files: int
    num_files: int

    @property
    def relative_parts(self) -> tuple[str, str]:
        return (self.date_folder, self.exam_id)


@dataclass(frozen=True)
class UnexpectedEntry:
    """Something that does not fit `<date>/<exam>/<series>`: where it sits and what was expected."""

    relative_parts: tuple[str, ...]
    is_folder: bool
    reason: str


@dataclass
class DicomTree:
    """Every exam folder by exam id (each list sorted by date) and everything that did not fit."""

    root: Path
    exams: dict[str, list[ExamFolder]]
    unexpected: list[UnexpectedEntry] = field(default_factory=list)

    @property
    def num_exam_folders(self) -> int:
        return sum(len(folders) for folders in self.exams.values())


@dataclass(frozen=True)
class ExamFolderChoice:
    """The folder used for an exam, the other folders of the same exam, and the rule that decided."""

    chosen: ExamFolder
    rejected: tuple[ExamFolder, ...]
    reason: str


def parse_date_folder(name: str) -> dt.date | None:
    """The date a folder name spells (`2021-03-04` or `20210304`), else `None`.

    Example:
        >>> parse_date_folder("2021-03-04"), parse_date_folder("misc")
        (datetime.date(2021, 3, 4), None)
    """
    match = _DATE_FOLDER.match(name)
    if match is None:
        return None
    numbers = [int(g) for g in match.groups() if g is not None]
    try:
        return dt.date(*numbers)
    except ValueError:
        return None


def _visible(entries: Sequence[os.DirEntry]) -> list[os.DirEntry]:
    return sorted((e for e in entries if e.name not in IGNORED_NAMES and not e.name.startswith("._")),
                  key=lambda e: e.name)


def _count_files(path: str) -> int:
    return sum(sum(1 for name in names if name not in IGNORED_NAMES) for _, _, names in os.walk(path))


def index_dicom_tree(root: str | os.PathLike) -> DicomTree:
    """Walk `<root>/<date>/<exam>/<series>` without reading any DICOM header.

    Raises:
        DicomTreeError: the root does not exist, is not a folder, or holds no exam folder.

    Example:
        >>> tree = index_dicom_tree("dicom_root")  # doctest: +SKIP
        >>> sorted(tree.exams)[:2], tree.unexpected  # doctest: +SKIP
    """
    root = Path(root)
    if not root.exists():
        raise DicomTreeError(f"DICOM root {root} does not exist")
    if not root.is_dir():
        raise DicomTreeError(f"DICOM root {root} is not a folder")
    exams: dict[str, list[ExamFolder]] = {}
    unexpected: list[UnexpectedEntry] = []
    with os.scandir(root) as it:
        top = _visible(list(it))
    for date_entry in top:
        date = parse_date_folder(date_entry.name) if date_entry.is_dir() else None
        if date is None:
            what = "a folder whose name is not a date" if date_entry.is_dir() else "a file"
            unexpected.append(UnexpectedEntry((date_entry.name,), date_entry.is_dir(),
                                              f"{what} at the top level; expected YYYY-MM-DD date folders"))
            continue
        with os.scandir(date_entry.path) as it:
            exam_entries = _visible(list(it))
        for exam_entry in exam_entries:
            if not exam_entry.is_dir():
                unexpected.append(UnexpectedEntry((date_entry.name, exam_entry.name), False,
                                                  "a file loose in a date folder; expected exam folders"))
                continue
            with os.scandir(exam_entry.path) as it:
                inside = _visible(list(it))
            series = tuple(e.name for e in inside if e.is_dir())
            exams.setdefault(exam_entry.name, []).append(ExamFolder(
                exam_id=exam_entry.name,
                date=date,
                date_folder=date_entry.name,
                path=Path(exam_entry.path),
                series_folders=series,
                loose_files=sum(1 for e in inside if not e.is_dir()),
                num_files=_count_files(exam_entry.path),
            ))
    if not exams:
        found = f"{len(top)} other entr{'y' if len(top) == 1 else 'ies'}" if top else "nothing"
        raise DicomTreeError(f"DICOM root {root} holds no exam folder (found {found}); expected the layout "
                             "<root>/<YYYY-MM-DD>/<exam id>/<series id>/*.dcm")
    for folders in exams.values():
        folders.sort(key=lambda f: (f.date, f.date_folder))
    return DicomTree(root=root, exams=exams, unexpected=unexpected)


def choose_exam_folder(folders: Sequence[ExamFolder], exam_date: dt.date | None) -> ExamFolderChoice:
    """Pick one folder for an exam found under several dates (see the module docstring for the rule).

    Example:
        >>> choice = choose_exam_folder(tree.exams["CT2020001"], dt.date(2020, 1, 2))  # doctest: +SKIP
        >>> choice.reason  # doctest: +SKIP
        "the date folder matching the sheet's exam time 2020-01-02"
    """
    if not folders:
        raise ValueError("choose_exam_folder needs at least one folder")
    if len(folders) == 1:
        return ExamFolderChoice(folders[0], (), "the only folder of this exam")
    matching = [f for f in folders if exam_date is not None and f.date == exam_date]
    if len(matching) == 1:
        chosen = matching[0]
        reason = f"the date folder matching the sheet's exam time {exam_date.isoformat()}"
    else:
        most = max(f.num_files for f in folders)
        chosen = min((f for f in folders if f.num_files == most), key=lambda f: (f.date, f.date_folder))
        others = sorted((f.num_files for f in folders if f is not chosen), reverse=True)
        why_not_date = ("the sheet has no exam time" if exam_date is None else
                        f"no single date folder matches the sheet's exam time {exam_date.isoformat()}")
        if all(n < most for n in others):
            reason = f"{why_not_date}; the folder with the most files ({most} vs {', '.join(map(str, others))})"
        else:
            reason = f"{why_not_date}; folders tie at {most} files, so the earliest date"
    rejected = tuple(f for f in folders if f is not chosen)
    return ExamFolderChoice(chosen, rejected, reason)
