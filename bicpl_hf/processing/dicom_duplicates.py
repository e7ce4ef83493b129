"""Duplicated DICOM slices and series that share one SeriesInstanceUID (exports that copy a folder twice, PACS
that reuse a UID for two reconstructions): identical copies are dropped with a note, two series told apart by a
header field are split, and two that nothing tells apart are refused with a reason naming both files.

Flat remote-code module: only same-folder relative imports.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import SimpleITK as sitk

# Header fields that can tell apart two different series exported under one SeriesInstanceUID, in order.
_SPLIT_TAGS = ("kernel", "description", "series_number", "image_type", "acquisition_number", "slice_thickness",
               "rows", "columns", "pixel_spacing")
_MAX_SLICE_PIXELS = 8192 * 8192  # a CT slice is at most 1024 x 1024; larger claims are not decoded to compare copies


def parse_floats(text: str) -> list[float] | None:
    """The numbers of a multi-valued DICOM string (values separated by backslashes); None when one is not a number."""
    try:
        return [float(v) for v in text.strip().split("\\") if v.strip()]
    except ValueError:
        return None


def int_or_zero(text: str) -> int:
    try:
        return max(int(text), 0)
    except ValueError:
        return 0


def _pixel_digest(path: str, header: dict[str, str]) -> str:
    """Hash of a slice's decoded pixels (two copies of one slice may differ in header bytes only); of its bytes
    when it cannot be decoded or its header claims an implausibly large matrix."""
    try:
        if int_or_zero(header["rows"]) * int_or_zero(header["columns"]) > _MAX_SLICE_PIXELS:
            raise RuntimeError("matrix too large to decode for a comparison")
        image = sitk.ReadImage(path)  # kept in a name: an array view does not keep its image alive
        return "pixels:" + hashlib.sha256(sitk.GetArrayViewFromImage(image).tobytes()).hexdigest()
    except RuntimeError:  # not decodable: only a byte-identical file counts as the same slice
        with open(path, "rb") as handle:
            return "bytes:" + hashlib.file_digest(handle, "sha256").hexdigest()


def drop_identical_copies(folder: str, files: list[str], headers: list[dict[str, str]]
                           ) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """Keep one file of each set of identical slices (same SOPInstanceUID, position and pixels).

    Files sharing a SOPInstanceUID (or, without one, a position) are decoded and compared; the copy whose
    path sorts first is kept. Returns the kept files and headers and a note when copies were dropped.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, header in enumerate(headers):
        groups[f"uid {header['sop_uid']}" if header["sop_uid"] else f"position {header['position']}"].append(i)
    dropped: list[tuple[int, int]] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        first_of: dict[tuple[str, str], int] = {}
        for i in sorted(members, key=lambda m: files[m]):
            key = (headers[i]["position"], _pixel_digest(files[i], headers[i]))
            if key in first_of:
                dropped.append((i, first_of[key]))
            else:
                first_of[key] = i
    if not dropped:
        return files, headers, []
    gone = {i for i, _ in dropped}
    copy, original = sorted(dropped, key=lambda d: files[d[0]])[0]
    note = (f"{len(dropped)} duplicate file(s) ignored in {folder}: identical copies (same SOPInstanceUID, position "
            f"and pixels) of slices already in the series, e.g. {Path(files[copy]).name} is a copy of "
            f"{Path(files[original]).name}")
    keep = [i for i in range(len(files)) if i not in gone]
    return [files[i] for i in keep], [headers[i] for i in keep], [note]


def _positions_along_normal(headers: list[dict[str, str]]) -> np.ndarray | None:
    orientation = parse_floats(headers[0]["orientation"]) if headers else None
    if orientation is None or len(orientation) != 6:
        return None
    normal = np.cross(orientation[:3], orientation[3:])
    normal = normal / max(float(np.linalg.norm(normal)), 1e-12)
    positions = []
    for header in headers:
        ipp = parse_floats(header["position"])
        if ipp is None or len(ipp) != 3:
            return None
        positions.append(float(np.dot(ipp, normal)))
    return np.asarray(positions)


def _has_shared_positions(positions: np.ndarray) -> bool:
    ordered = np.sort(positions)
    return len(ordered) > 1 and bool(np.any(np.diff(ordered) < 1e-3))


def split_shared_uid(folder: str, uid: str, files: list[str], headers: list[dict[str, str]]
                      ) -> tuple[list[list[int]], str] | None:
    """Different slices at one position under one SeriesInstanceUID: two (or more) series exported with the
    same UID. Returns the file indices of each series and a note when one header field tells them apart
    (each part then has one slice per position), `None` when there is nothing to split or no field does."""
    positions = _positions_along_normal(headers)
    if positions is None or not _has_shared_positions(positions):
        return None
    for tag in _SPLIT_TAGS:
        parts: dict[str, list[int]] = defaultdict(list)
        for i, header in enumerate(headers):
            parts[header[tag]].append(i)
        if len(parts) < 2 or any(len(p) < 2 or _has_shared_positions(positions[p]) for p in parts.values()):
            continue
        told = ", ".join(f"'{value}' ({len(p)} files)" for value, p in sorted(parts.items()))
        note = (f"SeriesInstanceUID {uid} in {folder} is shared by {len(parts)} different series, told apart by "
                f"{tag}: {told}; each is treated as its own series")
        return [parts[value] for value in sorted(parts)], note
    return None


def shared_uid_problem(folder: str, uid: str, files: list[str], headers: list[dict[str, str]]) -> str:
    """The message for a series whose slices are (at least half) at shared positions and differ, when no
    header field tells the series apart ("" otherwise)."""
    positions = _positions_along_normal(headers)
    # A few shared positions are duplicate slices (reported with the slice geometry); at least half: two series.
    if positions is None or len(positions) < 4 or float(np.median(np.diff(np.sort(positions)))) >= 1e-3:
        return ""
    order = np.argsort(positions, kind="stable")
    for a, b in zip(order[:-1], order[1:]):
        if positions[b] - positions[a] < 1e-3:
            first, second = sorted((files[a], files[b]))
            return (f"two different series share SeriesInstanceUID {uid} in {folder}: {Path(first).name} and "
                    f"{Path(second).name} lie at the same slice position {positions[a]:.3f} mm with different "
                    f"pixels (or different SOPInstanceUIDs), and no header field ({', '.join(_SPLIT_TAGS)}) tells "
                    "the two series apart; the series is refused rather than mixed")
    return ""


__all__ = ["drop_identical_copies", "int_or_zero", "parse_floats", "shared_uid_problem", "split_shared_uid"]
