"""Scanning a DICOM folder series by series, describing each series and choosing the one to read.

An exam folder often holds several series (bone and soft-tissue kernels, scouts, thick reconstructions):
[`scan_dicom_folder`] lists them with what is wrong with each (missing slices, uneven spacing, not axial, not
CT), and [`choose_series`] picks one and says why every other series was passed over, so a dataset builder
can account for each of them. [`volume_io.read_volume`] reads the chosen one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import SimpleITK as sitk

from .dicom_duplicates import drop_identical_copies, int_or_zero, parse_floats, shared_uid_problem, split_shared_uid

_DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
_IGNORED_NAMES = {"DICOMDIR", ".DS_Store", "Thumbs.db"}
# |slice normal . z| at or above this counts as axial (allows gantry tilts up to ~35 degrees).
_AXIAL_MIN_COSINE = 0.82
_TAGS = {
    "modality": "0008|0060",
    "series_uid": "0020|000e",
    "position": "0020|0032",
    "orientation": "0020|0037",
    "kernel": "0018|1210",
    "description": "0008|103e",
    "image_type": "0008|0008",
    "rows": "0028|0010",
    "columns": "0028|0011",
    "pixel_spacing": "0028|0030",
    "frames": "0028|0008",
    "slice_thickness": "0018|0050",
    "body_part": "0018|0015",
    "study_description": "0008|1030",
    "protocol": "0018|1030",
    "sop_uid": "0008|0018",
    "series_number": "0020|0011",
    "acquisition_number": "0020|0012",
}
_BONE_WORDS = ("BONE", "SHARP", "EDGE", "LUNG", "DETAIL", "ULTRA", "HIGH", "YC", "YD", "YE", "IAC", "EAR")
_SOFT_WORDS = ("STANDARD", "STD", "SOFT", "SMOOTH", "BRAIN", "SOFT_TISSUE", "BODY")
# The dataset builder's default `max_slice_thickness_mm` (here so that `bicpl build --help` needs no builder):
# temporal-bone CT is read at <= 1 mm; 2-5 mm soft-tissue series hide 1-3 mm findings.
DEFAULT_MAX_SLICE_THICKNESS_MM = 1.25

class VolumeReadError(ValueError):
    """A volume could not be read faithfully; the message names the file or folder and the problem.

    `reason_code` says what kind of problem it is, for a build report: `"thick_slices"` when the only
    usable series are too thick, `"volume_too_large"` when a header claims more voxels than the memory
    ceiling allows, `"unreadable_series"` otherwise.
    """

    def __init__(self, message: str = "", *, reason_code: str = "unreadable_series") -> None:
        super().__init__(message)
        self.reason_code = reason_code


@contextlib.contextmanager
def quiet_itk_warnings() -> Iterator[None]:
    """Mute ITK's own `WARNING: ...` lines on stderr (e.g. GDCM's "No Series were found" for a folder
    without DICOM files): every problem they point at is reported in our messages instead."""
    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)


@dataclass(frozen=True)
class SeriesInfo:
    """One DICOM series found in a folder, with its slices ordered by position along the slice normal.

    `problems` lists every reason the series cannot be used as a CT volume (empty when usable).
    """

    folder: str
    series_uid: str
    files: tuple[str, ...]
    slice_positions_mm: tuple[float, ...]
    modality: str
    kernel: str
    description: str
    image_type: str
    slice_normal: tuple[float, float, float]
    problems: tuple[str, ...] = ()
    gantry_tilt_deg: float = 0.0
    slice_thickness_tag_mm: float | None = None
    body_part: str = ""
    study_description: str = ""
    protocol_name: str = ""
    notes: tuple[str, ...] = ()  # what was done to the series that does not make it unusable (duplicates dropped)
    rows: int = 0
    columns: int = 0

    @property
    def num_slices(self) -> int:
        return len(self.files)

    @property
    def slice_thickness_mm(self) -> float | None:
        """The thicker of SliceThickness and the step between slice positions (None when neither is known)."""
        steps = np.diff(self.slice_positions_mm)
        step = float(np.median(steps)) if len(steps) else None
        known = [v for v in (self.slice_thickness_tag_mm, step) if v is not None and v > 0]
        return max(known) if known else None

    @property
    def header_hints(self) -> dict[str, str]:
        """What the header says the series shows (see `ear_localization.check_header_hints`)."""
        return {"BodyPartExamined": self.body_part, "StudyDescription": self.study_description,
                "SeriesDescription": self.description, "ProtocolName": self.protocol_name}

    @property
    def kernel_class(self) -> str:
        """`"bone"`, `"soft"` or `"unknown"`, see [`classify_kernel`]."""
        return classify_kernel(self.kernel, self.description)

    @property
    def is_axial(self) -> bool:
        return abs(self.slice_normal[2]) >= _AXIAL_MIN_COSINE

    @property
    def usable(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line a build report can print, e.g. `series 1.2.3 in exam/s1: 48 slices, CT, ...`."""
        plane = "axial" if self.is_axial else f"non-axial (normal {_fmt_vec(self.slice_normal)})"
        return (
            f"series {self.series_uid} in {self.folder}: {self.num_slices} slice(s), modality "
            f"'{self.modality}', kernel '{self.kernel}' ({self.kernel_class}), {plane}, "
            f"description '{self.description}'"
        )


class SeriesRejection(NamedTuple):
    """A series that was not chosen and why."""

    series: SeriesInfo
    reason: str


class SeriesChoice(NamedTuple):
    """Result of [`choose_series`]; unpacks as `chosen, rejected = choose_series(infos)`."""

    chosen: SeriesInfo
    rejected: list[SeriesRejection]

    @property
    def reason(self) -> str:
        c = self.chosen
        plane = "axial" if c.is_axial else "non-axial (no axial series available)"
        return (
            f"chose {plane} CT series {c.series_uid} with {c.kernel_class} kernel '{c.kernel}' and "
            f"{c.num_slices} slices over {len(self.rejected)} other series"
        )


@dataclass
class DicomFolderScan:
    """Everything found under a DICOM folder: series, files that are broken, files ignored."""

    folder: str
    series: list[SeriesInfo]
    unreadable_files: list[str] = field(default_factory=list)
    ignored_files: list[str] = field(default_factory=list)
    unsearched_folders: list[str] = field(default_factory=list)


def classify_kernel(kernel: str, description: str = "") -> str:
    r"""Classify a ConvolutionKernel as `"bone"` (sharp), `"soft"` or `"unknown"`.

    Siemens/United-Imaging style names (`Br64`, `H70h`, `B30f`, `Hr40`) are judged by their
    number (>= 60 sharp, <= 45 soft); vendor words (GE `BONE`/`BONEPLUS`/`STANDARD`, Philips
    `YC`/`YD`, `B_SHARP_C`) by name. When the kernel says nothing, the series description is used.

    Example:
        >>> classify_kernel("Hr64\\\\3"), classify_kernel("STANDARD"), classify_kernel("", "IAC bone")
        ('bone', 'soft', 'bone')
    """
    for text in (kernel or "", description or ""):
        first = re.split(r"[\\,\[\]'\"]+", text.strip().strip("[]'\""))[0].strip().upper()
        match = re.fullmatch(r"[A-Z]{1,2}R?_?(\d{2})[A-Z]?", first)
        if match:
            number = int(match.group(1))
            if number >= 60:
                return "bone"
            if number <= 45:
                return "soft"
        words = set(re.split(r"[^A-Z0-9]+", text.upper()))
        if words & set(_BONE_WORDS) or any(w.startswith("BONE") for w in words) or "骨" in text:
            return "bone"
        if words & set(_SOFT_WORDS):
            return "soft"
    return "unknown"


def _fmt_vec(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in values) + ")"


def looks_like_dicom(path: Path) -> bool:
    """DICOM preamble, a DICOM suffix, or a suffix-less/numeric name (GE, PACS exports). Zero-byte files count:
    a broken slice makes its series unreadable, with the reason, rather than vanish."""
    suffix = path.suffix.lower()
    if suffix in _DICOM_SUFFIXES or suffix == "" or suffix[1:].isdigit():
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _read_header(path: str) -> dict[str, str]:
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    reader.ReadImageInformation()
    return {name: reader.GetMetaData(tag).strip() if reader.HasMetaDataKey(tag) else "" for name, tag in _TAGS.items()}


def _permission_problem(path: str | os.PathLike) -> str:
    """A message when the file exists but this user may not read it (else "")."""
    if os.path.exists(path) and not os.access(path, os.R_OK):
        return f"unreadable file {path}: permission denied (the file exists but this user may not read it)"
    return ""


def _slice_geometry_problems(folder: str, files: list[str], positions: np.ndarray) -> list[str]:
    """Duplicate, missing (gap > 1.5 x median step) and unevenly spaced slices."""
    steps = np.diff(positions)
    median = float(np.median(steps))
    if median < 1e-3:  # at least half of the slices share their position: the series is there twice (or more)
        shared = int(np.count_nonzero(steps < 1e-3))
        first = int(np.argmax(steps < 1e-3))
        return [f"duplicate slice positions in {folder}: {shared} of {len(files)} slices lie at the position of "
                f"another slice (e.g. {Path(files[first]).name} and {Path(files[first + 1]).name} at "
                f"{positions[first]:.3f} mm) and they are not identical copies; the slice step cannot be told"]
    problems = []
    for i, step in enumerate(steps):
        here = (f"slice positions {positions[i]:.3f} mm ({Path(files[i]).name}) and "
                f"{positions[i + 1]:.3f} mm ({Path(files[i + 1]).name})")
        if step < 1e-3:
            problems.append(f"duplicate slice position in {folder}: {here}")
        elif step > 1.5 * median:
            missing = max(1, int(round(step / median)) - 1)
            problems.append(f"missing slice(s) in {folder}: gap of {step:.3f} mm between {here}; expected "
                            f"steps of {median:.3f} mm (about {missing} slice(s) missing)")
        elif abs(step - median) > 0.05 * median + 1e-3:
            problems.append(f"uneven slice spacing in {folder}: step of {step:.3f} mm between {here}; "
                            f"expected a constant step of {median:.3f} mm")
    return problems[:5] + ([f"... and {len(problems) - 5} more"] if len(problems) > 5 else [])


def _describe_series(folder: str, uid: str, files: Sequence[str]) -> list[SeriesInfo]:
    """Describe the files GDCM grouped under one SeriesInstanceUID: identical copies are dropped (with a note),
    different series sharing the UID are split when a header field tells them apart (their UIDs get `#1`,
    `#2`, ...) and refused otherwise."""
    problems: list[str] = []
    headers, readable = [], []
    for path in files:
        denied = _permission_problem(path)
        if denied:
            problems.append(denied)
            continue
        try:
            headers.append(_read_header(path))
            readable.append(path)
        except RuntimeError as error:
            problems.append(f"corrupt DICOM file {path}: {_first_line(error)}")
    notes: list[str] = []
    if len(readable) > 1:
        readable, headers, notes = drop_identical_copies(folder, readable, headers)
        split = split_shared_uid(folder, uid, readable, headers)
        if split is not None:
            parts, note = split
            return [_describe_files(folder, f"{uid}#{n}", [readable[i] for i in part], [headers[i] for i in part],
                                    problems, [*notes, note]) for n, part in enumerate(parts, 1)]
        shared = shared_uid_problem(folder, uid, readable, headers)
        if shared:
            problems.append(shared)
    return [_describe_files(folder, uid, readable or list(files[:1]), headers, problems, notes)]


def _describe_files(folder: str, uid: str, files: list[str], headers: list[dict[str, str]], problems: list[str],
                    notes: list[str]) -> SeriesInfo:
    problems = list(problems)
    first = headers[0] if headers else dict.fromkeys(_TAGS, "")
    modality = first["modality"]
    if modality.upper() != "CT":
        problems.append(f"modality is '{modality or 'missing'}', expected 'CT'")
    if "LOCALIZER" in first["image_type"].upper():
        problems.append(f"ImageType '{first['image_type']}' marks a localizer (scout)")
    if first["frames"] not in ("", "1"):
        problems.append(f"multi-frame DICOM ({first['frames']} frames in one file) is not supported")
    for key in ("orientation", "rows", "columns", "pixel_spacing"):
        differing = [Path(f).name for f, h in zip(files, headers) if h[key] != first[key]]
        if differing:
            problems.append(f"slices disagree on {key} ({Path(files[0]).name} vs {differing[0]})")
    orientation = parse_floats(first["orientation"])
    normal = (0.0, 0.0, 1.0)
    positions = np.zeros(len(files))
    ipps = np.zeros((len(files), 3))
    if orientation is None or len(orientation) != 6:
        problems.append(f"{Path(files[0]).name} has no valid ImageOrientationPatient")
    else:
        normal_vec = np.cross(orientation[:3], orientation[3:])
        normal = tuple(float(v) for v in normal_vec / max(np.linalg.norm(normal_vec), 1e-12))
        for i, (path, header) in enumerate(zip(files, headers)):
            ipp = parse_floats(header["position"])
            if ipp is None or len(ipp) != 3:
                problems.append(f"{Path(path).name} has no valid ImagePositionPatient")
                break
            ipps[i] = ipp
            positions[i] = float(np.dot(ipp, normal))
    order = np.argsort(positions, kind="stable")
    files_sorted = [files[i] for i in order]
    positions = positions[order]
    travel = ipps[order[-1]] - ipps[order[0]]
    cosine = abs(float(np.dot(travel, normal))) / max(float(np.linalg.norm(travel)), 1e-12)
    tilt = float(np.degrees(np.arccos(min(cosine, 1.0)))) if len(files) > 1 else 0.0
    thickness = parse_floats(first["slice_thickness"])
    if len(files) == 1:
        problems.append("only 1 slice (a scout/localizer or single image, not a volume)")
    elif not problems:
        problems.extend(_slice_geometry_problems(folder, files_sorted, positions))
    return SeriesInfo(
        folder=folder,
        series_uid=uid,
        files=tuple(files_sorted),
        slice_positions_mm=tuple(float(p) for p in positions),
        modality=modality,
        kernel=first["kernel"],
        description=first["description"],
        image_type=first["image_type"],
        slice_normal=normal,
        problems=tuple(problems),
        gantry_tilt_deg=tilt,
        slice_thickness_tag_mm=thickness[0] if thickness else None,
        body_part=first["body_part"],
        study_description=first["study_description"],
        protocol_name=first["protocol"],
        notes=tuple(notes),
        rows=int_or_zero(first["rows"]),
        columns=int_or_zero(first["columns"]),
    )


def scan_dicom_folder(folder: str | os.PathLike) -> DicomFolderScan:
    """Find every DICOM series in `folder` and in its direct subfolders (`<exam>/<series>/*.dcm`).

    Files that look like DICOM (`.dcm`/`.ima`, no suffix, or a DICM preamble) but belong to no
    readable series are reported in `unreadable_files` and make every series of their folder
    unusable (they may be its missing slices); other files are listed in `ignored_files`.

    Example:
        >>> scan = scan_dicom_folder("exam_0001")  # doctest: +SKIP
        >>> [s.summary() for s in scan.series], scan.unreadable_files  # doctest: +SKIP
    """
    root = Path(folder)
    if not root.is_dir():
        raise VolumeReadError(f"{root} is not a folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise VolumeReadError(f"unreadable folder {root}: permission denied (this user may not list it)")
    with quiet_itk_warnings():
        return _scan(root)


def _scan(root: Path) -> DicomFolderScan:
    scan = DicomFolderScan(folder=str(root), series=[])
    subfolders = sorted(p for p in root.iterdir() if p.is_dir())
    for directory in [root, *subfolders]:
        if not os.access(directory, os.R_OK | os.X_OK):
            scan.unreadable_files.append(f"unreadable folder {directory}: permission denied (this user may not "
                                         "list it; it may hold a series)")
            continue
        if directory != root:
            scan.unsearched_folders.extend(str(p) for p in sorted(directory.iterdir()) if p.is_dir())
        listed: set[str] = set()
        found = []
        has_files = any(p.is_file() for p in directory.iterdir())
        # GDCM prints "No Series were found" for a folder of folders: only ask it about folders holding files.
        for uid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(directory)) if has_files else ():
            files = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(directory), uid))
            listed.update(os.path.abspath(f) for f in files)
            found.extend(_describe_series(str(directory), uid, files))
        broken = []
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            if os.path.abspath(path) in listed or path.name in _IGNORED_NAMES:
                continue
            denied = _permission_problem(path)
            if denied:
                broken.append(denied)
            elif looks_like_dicom(path):
                broken.append(f"corrupt DICOM file {path}: not readable as a DICOM image (corrupt, truncated "
                              "or not an image)")
            else:
                scan.ignored_files.append(str(path))
        scan.unreadable_files.extend(broken)
        # A broken file may be a lost slice of any series in its folder: none of them is trusted.
        scan.series.extend(dataclasses.replace(s, problems=s.problems + tuple(broken)) for s in found)
    return scan


def list_series(folder: str | os.PathLike) -> list[SeriesInfo]:
    """All DICOM series under `folder` (see [`scan_dicom_folder`]), usable or not.

    Example:
        >>> infos = list_series("exam_0001")  # doctest: +SKIP
        >>> [(s.series_uid, s.problems) for s in infos]  # doctest: +SKIP
    """
    return scan_dicom_folder(folder).series


def _rank_key(info: SeriesInfo) -> tuple:
    """Smaller is better; folder and UID break ties so the choice never depends on listing order."""
    kernel_rank = {"bone": 0, "unknown": 1, "soft": 2}[info.kernel_class]
    return (not info.is_axial, kernel_rank, -info.num_slices, info.folder, info.series_uid)


def _why_lower(info: SeriesInfo, chosen: SeriesInfo) -> str:
    if info.is_axial != chosen.is_axial:
        return f"not axial (slice normal {_fmt_vec(info.slice_normal)}); an axial series is preferred"
    if info.kernel_class != chosen.kernel_class:
        return (f"{info.kernel_class} kernel '{info.kernel}'; the {chosen.kernel_class} kernel "
                f"'{chosen.kernel}' of the chosen series is preferred")
    if info.num_slices != chosen.num_slices:
        return f"fewer slices ({info.num_slices} < {chosen.num_slices})"
    return "same rank as the chosen series; tie broken by folder and series UID"


def _too_thick(info: SeriesInfo, max_slice_thickness_mm: float | None) -> str:
    thickness = info.slice_thickness_mm
    if max_slice_thickness_mm is None or thickness is None or thickness <= max_slice_thickness_mm + 1e-3:
        return ""
    return (f"slices {thickness:.2f} mm thick, above the maximum of {max_slice_thickness_mm:.2f} mm for "
            "temporal-bone work")


def choose_series(
    infos: Sequence[SeriesInfo], *, max_slice_thickness_mm: float | None = None, allow_thick_slices: bool = False
) -> SeriesChoice:
    """Pick the series to use: usable CT, then axial, then bone kernel, then most slices.

    A series thicker than `max_slice_thickness_mm` (the thicker of SliceThickness and the slice step)
    is refused, or, with `allow_thick_slices`, used only when no thin series is usable.

    Returns `(chosen, rejected)` where `rejected` gives a reason for every other series.
    Raises [`VolumeReadError`] listing each series' problems when none is usable.

    Example:
        >>> chosen, rejected = choose_series(list_series("exam_0001"))  # doctest: +SKIP
        >>> [(r.series.series_uid, r.reason) for r in rejected]  # doctest: +SKIP
    """
    if not infos:
        raise VolumeReadError("no DICOM series to choose from")
    thick = {id(s): _too_thick(s, max_slice_thickness_mm) for s in infos}
    usable = [s for s in infos if s.usable and not (thick[id(s)] and not allow_thick_slices)]
    if not usable:
        details = "; ".join(f"{s.summary()}: {' | '.join(s.problems + ((thick[id(s)],) if thick[id(s)] else ()))}"
                            for s in infos)
        folder = os.path.commonpath([s.folder for s in infos])
        hint = " (allow thick slices to use such a series anyway)" if any(thick.values()) else ""
        # "thick_slices" only when a series is refused for its thickness alone (allowing thick slices would use it).
        code = "thick_slices" if any(s.usable and thick[id(s)] for s in infos) else "unreadable_series"
        raise VolumeReadError(f"no usable CT series in {folder}{hint}: {details}", reason_code=code)
    chosen = min(usable, key=lambda s: (bool(thick[id(s)]), *_rank_key(s)))
    others = [s for s in infos if s is not chosen]
    thinner_chosen = not thick[id(chosen)]
    return SeriesChoice(chosen, [SeriesRejection(s, "; ".join(s.problems) or (thick[id(s)] if thinner_chosen else "")
                                                 or _why_lower(s, chosen)) for s in others])


def _first_line(error: Exception) -> str:
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "ERROR" in ln or "rror" in ln]
    return (useful or lines or ["unknown error"])[-1]


__all__ = [
    "DEFAULT_MAX_SLICE_THICKNESS_MM",
    "DicomFolderScan",
    "SeriesChoice",
    "SeriesInfo",
    "SeriesRejection",
    "VolumeReadError",
    "choose_series",
    "classify_kernel",
    "list_series",
    "looks_like_dicom",
    "scan_dicom_folder",
]
