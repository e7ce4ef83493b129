# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Finding the exams in what a hospital hands over, for inference (`bicpl diagnose`).

Accepted, in any mixture:

- a volume file (`.nii.gz`, `.nii`, `.nrrd`, `.nhdr`, `.mha`, `.mhd`): one exam;
- a DICOM series folder (slices directly inside): one exam;
- a study folder `<exam>/<series>/*.dcm` (a scout, bone and soft-tissue series side by side): **one** exam, whose
  series is chosen later exactly as the dataset builder chooses it ([`volume_io.read_volume`] on the exam folder);
- a folder of any of these, at any depth, e.g. the export tree `<root>/<YYYY-MM-DD>/<exam id>/<series id>`.

A folder whose subfolders all hold slices is one study when those series share one StudyInstanceUID (0020|000D,
read from one header per subfolder); otherwise (different studies, or series folders beside study folders) each
subfolder holding slices is an exam of its own (a folder of single-series exams).

Each exam is named after its folder (the exam id folder, never a series folder inside it) or its file name without
suffix; names that repeat (the same exam id under two dates) are prefixed with their parent folders until unique.
Nothing here reads pixel data; unreadable exams are found (and explained) when they are read.

Example:
    >>> found = find_exams(["export/dicom"])  # doctest: +SKIP
    >>> [(e.name, str(e.path)) for e in found.exams][:1]  # doctest: +SKIP
    [('CT2020001', 'export/dicom/2020-01-02/CT2020001')]
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..processing.dicom_series import looks_like_dicom
from .dicom_tree import IGNORED_NAMES

__all__ = ["VOLUME_FILE_SUFFIXES", "ExamDiscovery", "FoundExam", "find_exams"]

VOLUME_FILE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
_STUDY_UID_TAG = "0020|000d"
_MAX_DEPTH = 8


@dataclass(frozen=True)
class FoundExam:
    """One exam: its path, a unique file-system-safe name and `kind` (`"volume file"` or `"DICOM folder"`)."""

    path: Path
    name: str
    kind: str


@dataclass
class ExamDiscovery:
    """The exams found, and what was looked at but is no exam (`"<path>: <why>"`)."""

    exams: list[FoundExam]
    ignored: list[str] = field(default_factory=list)


def is_volume_file(path: Path) -> bool:
    return path.name.lower().endswith(VOLUME_FILE_SUFFIXES)


def _is_hidden(name: str) -> bool:
    return name in IGNORED_NAMES or name.startswith(".")


def _entries(directory: Path) -> tuple[list[Path], list[Path]]:
    """Visible files and subfolders, sorted by name."""
    files, folders = [], []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if _is_hidden(entry.name):
            continue
        (folders if entry.is_dir() else files).append(entry)
    return files, folders


def _dicom_files(directory: Path) -> list[Path]:
    files, _ = _entries(directory)
    return [f for f in files if not is_volume_file(f) and looks_like_dicom(f)]


def _study_uid(files: Sequence[Path]) -> str | None:
    """The StudyInstanceUID of the first readable header among the first few files (None when none says)."""
    import SimpleITK as sitk

    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        for path in files[:3]:
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            try:
                reader.ReadImageInformation()
            except RuntimeError:
                continue
            if reader.HasMetaDataKey(_STUDY_UID_TAG) and reader.GetMetaData(_STUDY_UID_TAG).strip():
                return reader.GetMetaData(_STUDY_UID_TAG).strip().rstrip("\x00")
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)
    return None


def _walk(directory: Path, depth: int, exams: list[tuple[Path, str]], ignored: list[str]) -> None:
    files, folders = _entries(directory)
    volumes = [f for f in files if is_volume_file(f)]
    slices = [f for f in files if f not in volumes and looks_like_dicom(f)]
    exams.extend((f, "volume file") for f in volumes)
    ignored.extend(f"{f}: neither a DICOM slice nor a volume file" for f in files if f not in volumes
                   and f not in slices)
    series = {folder: _dicom_files(folder) for folder in folders}
    series = {folder: found for folder, found in series.items() if found}
    if slices:  # a series folder, or a study folder with loose slices: read as one exam with its subfolders
        exams.append((directory, "DICOM folder"))
        rest = [f for f in folders if f not in series]
    elif series:
        studies = {_study_uid(found) for found in series.values()} - {None}
        others = [f for f in folders if f not in series and any(f.iterdir())]
        if len(studies) <= 1 and not others:  # one study, nothing but series: the series of one exam
            exams.append((directory, "DICOM folder"))
        else:  # series of different studies, or beside study folders: each is an exam of its own
            exams.extend((folder, "DICOM folder") for folder in series)
        rest = [f for f in folders if f not in series]
    else:
        rest = folders
    for folder in rest:
        if depth >= _MAX_DEPTH:
            ignored.append(f"{folder}: nested more than {_MAX_DEPTH} folders deep; not searched")
        else:
            before = len(exams) + len(ignored)
            _walk(folder, depth + 1, exams, ignored)
            if len(exams) + len(ignored) == before:
                ignored.append(f"{folder}: an empty folder")
    if not files and not folders and depth == 0:
        ignored.append(f"{directory}: an empty folder")


def _base_name(path: Path) -> str:
    name = path.name
    if path.is_file():
        lower = name.lower()
        name = next((name[: -len(s)] for s in VOLUME_FILE_SUFFIXES if lower.endswith(s)), path.stem)
    return _safe(name)


def _safe(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("._") or "exam"


def unique_names(paths: Sequence[Path]) -> list[str]:
    """The exam names: the folder or file name; names that repeat are prefixed with parent folders until unique
    (`2020-01-02_CT1`, `2020-01-03_CT1`), then numbered."""
    names = [_base_name(p) for p in paths]
    for level in range(1, 4):
        counts: dict[str, int] = {}
        for name in names:
            counts[name] = counts.get(name, 0) + 1
        repeated = [i for i, name in enumerate(names) if counts[name] > 1]
        if not repeated:
            return names
        for i in repeated:
            parents = paths[i].resolve().parents
            if len(parents) > level - 1 and parents[level - 1].name:
                names[i] = f"{_safe(parents[level - 1].name)}_{names[i]}"
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


def find_exams(paths: Sequence[str | os.PathLike]) -> ExamDiscovery:
    """Every exam under `paths` (see the module docstring), in the order given, each folder sorted by name.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: a file is neither a volume file nor a DICOM file, or no exam was found at all.
    """
    found: list[tuple[Path, str]] = []
    ignored: list[str] = []
    for text in paths:
        path = Path(text)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist (expected a DICOM folder, a study folder of series, "
                                    f"a {'/'.join(VOLUME_FILE_SUFFIXES)} file or a folder of exams)")
        if path.is_file():
            if not (is_volume_file(path) or looks_like_dicom(path)):
                raise ValueError(f"{path} is not a volume file ({', '.join(VOLUME_FILE_SUFFIXES)}) nor a DICOM "
                                 "folder")
            found.append((path, "volume file" if is_volume_file(path) else "DICOM file"))
            continue
        _walk(path, 0, found, ignored)
    unique: dict[Path, str] = {}
    for path, kind in found:  # the same exam reached through two arguments is diagnosed once
        unique.setdefault(path.resolve(), kind)
    if not unique:
        detail = f"; looked at {'; '.join(ignored[:3])}" if ignored else ""
        raise ValueError(f"no exam found in {', '.join(map(str, paths))} (expected DICOM folders, study folders of "
                         f"series or volume files){detail}")
    ordered = [(path, kind) for path, kind in found if unique.pop(path.resolve(), None) is not None]
    names = unique_names([path for path, _ in ordered])
    return ExamDiscovery([FoundExam(path, name, kind) for (path, kind), name in zip(ordered, names)], ignored)
