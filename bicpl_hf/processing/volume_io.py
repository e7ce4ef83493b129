"""Reading CT volumes (DICOM series, NIfTI, NRRD, MetaImage, SimpleITK images, numpy arrays).

Everything that reaches the model passes through :func:`read_volume`, which returns a float32 HU
:class:`SimpleITK.Image` with its full patient geometry (LPS world coordinates, as ITK keeps them)
plus where it came from. DICOM folders are scanned series by series; when an exam holds several
series (bone and soft-tissue kernels, scouts) :func:`choose_series` picks one and says why every
other series was passed over, so a dataset builder can account for each of them.

Nothing is guessed: a missing slice, uneven slice spacing, a corrupt file, a non-CT series or a
volume containing NaN raises :class:`VolumeReadError` naming the file or folder and the problem.

Example:
    >>> from bicpl_hf.processing.volume_io import read_volume
    >>> loaded = read_volume("exam_0001/")  # doctest: +SKIP
    >>> loaded.image.GetSpacing(), loaded.kernel, loaded.series_choice.reason  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Sequence, Union

import numpy as np
import SimpleITK as sitk

__all__ = [
    "DicomFolderScan", "LoadedVolume", "SeriesChoice", "SeriesInfo", "SeriesRejection", "VolumeReadError",
    "VOLUME_FILE_SUFFIXES", "choose_series", "classify_kernel", "list_series", "numpy_volume",
    "read_dicom_series", "read_volume", "scan_dicom_folder",
]

VOLUME_FILE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
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
}
_BONE_WORDS = ("BONE", "SHARP", "EDGE", "LUNG", "DETAIL", "ULTRA", "HIGH", "YC", "YD", "YE", "IAC", "EAR")
_SOFT_WORDS = ("STANDARD", "STD", "SOFT", "SMOOTH", "BRAIN", "SOFT_TISSUE", "BODY")

VolumeSource = Union[str, os.PathLike, sitk.Image, "LoadedVolume"]


class VolumeReadError(ValueError):
    """A volume could not be read faithfully; the message names the file or folder and the problem."""


@dataclass(frozen=True)
class SeriesInfo:
    """One DICOM series found in a folder, with its slices ordered by position along the slice normal.

    ``problems`` lists every reason the series cannot be used as a CT volume (empty when usable).
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

    @property
    def num_slices(self) -> int:
        return len(self.files)

    @property
    def kernel_class(self) -> str:
        """``"bone"``, ``"soft"`` or ``"unknown"``, see :func:`classify_kernel`."""
        return classify_kernel(self.kernel, self.description)

    @property
    def is_axial(self) -> bool:
        return abs(self.slice_normal[2]) >= _AXIAL_MIN_COSINE

    @property
    def usable(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line a build report can print, e.g. ``series 1.2.3 in exam/s1: 48 slices, CT, ...``."""
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
    """Result of :func:`choose_series`; unpacks as ``chosen, rejected = choose_series(infos)``."""

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


@dataclass
class LoadedVolume:
    """A CT volume in HU (float32 :class:`SimpleITK.Image`) and its provenance.

    Example:
        >>> import numpy as np
        >>> vol = numpy_volume(np.zeros((4, 5, 6)), spacing=(1, 1, 2), origin=(0, 0, 0),
        ...                    direction=np.eye(3))
        >>> vol.image.GetSize()
        (6, 5, 4)
    """

    image: sitk.Image
    source: str
    series_uid: str | None = None
    series_description: str | None = None
    modality: str | None = None
    kernel: str | None = None
    warnings: list[str] = field(default_factory=list)
    series_choice: SeriesChoice | None = None


def classify_kernel(kernel: str, description: str = "") -> str:
    """Classify a ConvolutionKernel as ``"bone"`` (sharp), ``"soft"`` or ``"unknown"``.

    Siemens/United-Imaging style names (``Br64``, ``H70h``, ``B30f``, ``Hr40``) are judged by their
    number (>= 60 sharp, <= 45 soft); vendor words (GE ``BONE``/``BONEPLUS``/``STANDARD``, Philips
    ``YC``/``YD``, ``B_SHARP_C``) by name. When the kernel says nothing, the series description is used.

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


def _parse_floats(text: str) -> list[float] | None:
    try:
        return [float(v) for v in text.strip().split("\\") if v.strip()]
    except ValueError:
        return None


def _looks_like_dicom(path: Path) -> bool:
    """DICOM preamble, a DICOM suffix, or a suffix-less/numeric name (GE, PACS exports)."""
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


def _slice_geometry_problems(folder: str, files: list[str], positions: np.ndarray) -> list[str]:
    """Duplicate, missing (gap > 1.5 x median step) and unevenly spaced slices."""
    steps = np.diff(positions)
    median = float(np.median(steps))
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


def _describe_series(folder: str, uid: str, files: Sequence[str]) -> SeriesInfo:
    problems: list[str] = []
    headers, readable = [], []
    for path in files:
        try:
            headers.append(_read_header(path))
            readable.append(path)
        except RuntimeError as error:
            problems.append(f"corrupt DICOM file {path}: {_first_line(error)}")
    files = readable or list(files[:1])
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
    orientation = _parse_floats(first["orientation"])
    normal = (0.0, 0.0, 1.0)
    positions = np.zeros(len(files))
    ipps = np.zeros((len(files), 3))
    if orientation is None or len(orientation) != 6:
        problems.append(f"{Path(files[0]).name} has no valid ImageOrientationPatient")
    else:
        normal_vec = np.cross(orientation[:3], orientation[3:])
        normal = tuple(float(v) for v in normal_vec / max(np.linalg.norm(normal_vec), 1e-12))
        for i, (path, header) in enumerate(zip(files, headers)):
            ipp = _parse_floats(header["position"])
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
    )


def scan_dicom_folder(folder: str | os.PathLike) -> DicomFolderScan:
    """Find every DICOM series in ``folder`` and in its direct subfolders (``<exam>/<series>/*.dcm``).

    Files that look like DICOM (``.dcm``/``.ima``, no suffix, or a DICM preamble) but belong to no
    readable series are reported in ``unreadable_files`` and make every series of their folder
    unusable (they may be its missing slices); other files are listed in ``ignored_files``.

    Example:
        >>> scan = scan_dicom_folder("exam_0001")  # doctest: +SKIP
        >>> [s.summary() for s in scan.series], scan.unreadable_files  # doctest: +SKIP
    """
    root = Path(folder)
    if not root.is_dir():
        raise VolumeReadError(f"{root} is not a folder")
    scan = DicomFolderScan(folder=str(root), series=[])
    subfolders = sorted(p for p in root.iterdir() if p.is_dir())
    for directory in [root, *subfolders]:
        if directory != root:
            scan.unsearched_folders.extend(str(p) for p in sorted(directory.iterdir()) if p.is_dir())
        listed: set[str] = set()
        found = []
        has_files = any(p.is_file() for p in directory.iterdir())
        # GDCM prints "No Series were found" for a folder of folders: only ask it about folders holding files.
        for uid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(directory)) if has_files else ():
            files = list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(directory), uid))
            listed.update(os.path.abspath(f) for f in files)
            found.append(_describe_series(str(directory), uid, files))
        broken = []
        for path in sorted(p for p in directory.iterdir() if p.is_file()):
            if os.path.abspath(path) in listed or path.name in _IGNORED_NAMES:
                continue
            if _looks_like_dicom(path):
                broken.append(f"corrupt DICOM file {path}: not readable as a DICOM image (corrupt, truncated "
                              "or not an image)")
            else:
                scan.ignored_files.append(str(path))
        scan.unreadable_files.extend(broken)
        # A broken file may be a lost slice of any series in its folder: none of them is trusted.
        scan.series.extend(dataclasses.replace(s, problems=s.problems + tuple(broken)) for s in found)
    return scan


def list_series(folder: str | os.PathLike) -> list[SeriesInfo]:
    """All DICOM series under ``folder`` (see :func:`scan_dicom_folder`), usable or not.

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


def choose_series(infos: Sequence[SeriesInfo]) -> SeriesChoice:
    """Pick the series to use: usable CT, then axial, then bone kernel, then most slices.

    Returns ``(chosen, rejected)`` where ``rejected`` gives a reason for every other series.
    Raises :class:`VolumeReadError` listing each series' problems when none is usable.

    Example:
        >>> chosen, rejected = choose_series(list_series("exam_0001"))  # doctest: +SKIP
        >>> [(r.series.series_uid, r.reason) for r in rejected]  # doctest: +SKIP
    """
    if not infos:
        raise VolumeReadError("no DICOM series to choose from")
    usable = [s for s in infos if s.usable]
    if not usable:
        details = "; ".join(f"{s.summary()}: {' | '.join(s.problems)}" for s in infos)
        folder = os.path.commonpath([s.folder for s in infos])
        raise VolumeReadError(f"no usable CT series in {folder}: {details}")
    chosen = min(usable, key=_rank_key)
    others = [s for s in infos if s is not chosen]
    return SeriesChoice(chosen, [SeriesRejection(s, "; ".join(s.problems) or _why_lower(s, chosen)) for s in others])


def _checked_float_image(image: sitk.Image, where: str) -> sitk.Image:
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise VolumeReadError(f"{where}: expected a scalar (grey-level) volume, got "
                              f"{image.GetNumberOfComponentsPerPixel()} components per voxel")
    if image.GetDimension() == 4 and image.GetSize()[3] == 1:
        image = sitk.Extract(image, [*image.GetSize()[:3], 0], [0, 0, 0, 0])
    if image.GetDimension() != 3:
        raise VolumeReadError(f"{where}: expected a 3-D volume, got {image.GetDimension()}-D size "
                              f"{image.GetSize()}")
    if min(image.GetSize()) < 2:
        raise VolumeReadError(f"{where}: volume of size {image.GetSize()} has a single slice; expected 3-D")
    image = sitk.Cast(image, sitk.sitkFloat32)
    values = sitk.GetArrayViewFromImage(image)
    low, high = float(values.min()), float(values.max())  # min/max propagate NaN
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise VolumeReadError(f"{where}: volume contains {bad} NaN/infinite voxel(s); expected finite HU")
    return image


def _hu_warnings(image: sitk.Image) -> list[str]:
    low = float(sitk.GetArrayViewFromImage(image).min())
    if low > -500:
        return [f"minimum value is {low:.0f}; air should be near -1000 HU (is this volume in HU?)"]
    return []


def _refuse_nifti_nan(path: Path) -> None:
    """ITK's NIfTI reader silently turns NaN into 0, so float NIfTI files are checked with nibabel."""
    try:
        import nibabel
    except ImportError as error:  # the remote code's one lazy dependency: say which package and why
        raise ImportError(f"reading the NIfTI file {path} needs nibabel (to refuse NaN voxels): pip install "
                          "nibabel") from error

    stored = nibabel.load(str(path))
    if np.issubdtype(stored.get_data_dtype(), np.floating):
        bad = int(np.count_nonzero(~np.isfinite(np.asanyarray(stored.dataobj))))
        if bad:
            raise VolumeReadError(f"{path}: volume contains {bad} NaN/infinite voxel(s); expected finite HU")


def read_dicom_series(info: SeriesInfo) -> sitk.Image:
    """Read one series (slices in ``info.files`` order) as a float32 HU image.

    SimpleITK applies RescaleSlope/RescaleIntercept. If reading fails, every file is read alone
    so the error names the broken one.

    Example:
        >>> image = read_dicom_series(list_series("exam_0001")[0])  # doctest: +SKIP
    """
    if info.problems:
        raise VolumeReadError(f"{info.summary()} is not usable: {' | '.join(info.problems)}")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(info.files))
    try:
        image = reader.Execute()
    except RuntimeError as error:
        for path in info.files:
            try:
                sitk.ReadImage(path)
            except RuntimeError as file_error:
                raise VolumeReadError(f"corrupt DICOM file {path}: {_first_line(file_error)}") from error
        raise VolumeReadError(f"could not read DICOM series in {info.folder}: {_first_line(error)}") from error
    if image.GetDimension() != 3 or image.GetSize()[2] != info.num_slices:
        raise VolumeReadError(f"DICOM series in {info.folder} read as size {image.GetSize()}, "
                              f"expected {info.num_slices} slices")
    return _checked_float_image(image, f"DICOM series in {info.folder}")


def _first_line(error: Exception) -> str:
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "ERROR" in ln or "rror" in ln]
    return (useful or lines or ["unknown error"])[-1]


def _read_dicom_folder(folder: Path, series_selection: str) -> LoadedVolume:
    scan = scan_dicom_folder(folder)
    if not scan.series:
        what = f"{len(scan.ignored_files)} non-DICOM file(s)" if scan.ignored_files else "nothing"
        if scan.unreadable_files:
            what = "; ".join(scan.unreadable_files)
        raise VolumeReadError(f"no DICOM series found in {folder} (it holds {what})")
    if series_selection == "auto":
        choice = choose_series(scan.series)
    else:
        matches = [s for s in scan.series if s.series_uid == series_selection]
        if not matches:
            found = ", ".join(s.series_uid for s in scan.series)
            raise VolumeReadError(f"series {series_selection} not found in {folder}; found: {found}")
        choice = SeriesChoice(matches[0], [SeriesRejection(s, "not the requested series UID")
                                           for s in scan.series if s is not matches[0]])
    chosen = choice.chosen
    warnings = [f"ignored non-DICOM file {p}" for p in scan.ignored_files]
    warnings += [f"folder {p} is nested too deep and was not searched" for p in scan.unsearched_folders]
    if not chosen.is_axial:
        warnings.append(f"no axial series; using {chosen.summary()}")
    if chosen.kernel_class != "bone":
        warnings.append(f"no bone-kernel series; using {chosen.kernel_class} kernel '{chosen.kernel}'")
    if chosen.gantry_tilt_deg > 0.5:
        warnings.append(f"gantry tilt of {chosen.gantry_tilt_deg:.1f} degrees: the slices are sheared "
                        "and the image geometry ignores the shear")
    image = read_dicom_series(chosen)
    return LoadedVolume(
        image=image,
        source=str(folder),
        series_uid=chosen.series_uid,
        series_description=chosen.description,
        modality=chosen.modality,
        kernel=chosen.kernel,
        warnings=warnings + _hu_warnings(image),
        series_choice=choice,
    )


def numpy_volume(
    array: np.ndarray,
    *,
    spacing: Sequence[float],
    origin: Sequence[float],
    direction: Sequence[float] | np.ndarray,
    source: str = "numpy array",
) -> LoadedVolume:
    """Wrap a HU array with its geometry; nothing about the geometry is assumed.

    ``array`` is indexed ``[k, j, i]`` (slice, row, column: SimpleITK's ``GetArrayFromImage``
    order). ``spacing`` and ``origin`` are in ``(i, j, k)`` order in mm and LPS world coordinates;
    ``direction`` is the 3x3 matrix whose column ``n`` is the LPS direction of index axis ``n``.

    Example:
        >>> vol = numpy_volume(np.full((3, 4, 5), -1000.0), spacing=(0.5, 0.5, 1.0),
        ...                    origin=(0.0, 0.0, 0.0), direction=np.diag([-1.0, -1.0, 1.0]))
        >>> vol.image.GetDirection()[0]
        -1.0
    """
    array = np.asarray(array)
    if array.ndim != 3:
        raise VolumeReadError(f"{source}: expected a 3-D array, got shape {array.shape}")
    spacing_arr = np.asarray(spacing, dtype=float)
    origin_arr = np.asarray(origin, dtype=float)
    direction_arr = np.asarray(direction, dtype=float).reshape(3, 3)
    if spacing_arr.shape != (3,) or not np.all(spacing_arr > 0):
        raise VolumeReadError(f"{source}: spacing must be 3 positive numbers (mm), got {spacing}")
    if origin_arr.shape != (3,) or not np.all(np.isfinite(origin_arr)):
        raise VolumeReadError(f"{source}: origin must be 3 finite numbers (mm), got {origin}")
    if not np.allclose(direction_arr.T @ direction_arr, np.eye(3), atol=1e-4):
        raise VolumeReadError(f"{source}: direction must be an orthonormal 3x3 matrix, got {direction_arr.tolist()}")
    image = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.float32))
    image.SetSpacing(spacing_arr.tolist())
    image.SetOrigin(origin_arr.tolist())
    image.SetDirection(direction_arr.ravel().tolist())
    image = _checked_float_image(image, source)
    return LoadedVolume(image=image, source=source, warnings=_hu_warnings(image))


def read_volume(source: VolumeSource, *, series_selection: str = "auto") -> LoadedVolume:
    """Read a CT volume as float32 HU with its geometry and provenance.

    Args:
        source: a DICOM series folder, an exam folder holding series subfolders, a ``.nii``/
            ``.nii.gz``/``.nrrd``/``.nhdr``/``.mha``/``.mhd`` file, a 3-D :class:`SimpleITK.Image`,
            or a :class:`LoadedVolume` (returned as is). Wrap numpy arrays with :func:`numpy_volume`.
        series_selection: ``"auto"`` (see :func:`choose_series`) or the SeriesInstanceUID to read.

    Returns:
        :class:`LoadedVolume`; for DICOM, ``series_choice`` records the kept and skipped series.

    Raises:
        VolumeReadError: naming the file/folder: missing path, unsupported type, corrupt file,
            missing/duplicate/unevenly spaced slices, no usable CT series, NaN voxels, not 3-D.

    Example:
        >>> loaded = read_volume("ct.nii.gz")  # doctest: +SKIP
        >>> loaded.image.GetPixelIDTypeAsString()  # doctest: +SKIP
        '32-bit float'
    """
    if isinstance(source, LoadedVolume):
        return source
    if isinstance(source, sitk.Image):
        image = _checked_float_image(source, "SimpleITK image")
        return LoadedVolume(image=image, source="SimpleITK image", warnings=_hu_warnings(image))
    if isinstance(source, np.ndarray):
        raise TypeError("read_volume got a numpy array without geometry; wrap it with "
                        "numpy_volume(array, spacing=..., origin=..., direction=...)")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"read_volume cannot read a {type(source).__name__}; expected a path, a "
                        "SimpleITK.Image or a LoadedVolume")
    path = Path(source)
    if not path.exists():
        raise VolumeReadError(f"{path} does not exist")
    if path.is_dir():
        return _read_dicom_folder(path, series_selection)
    name = path.name.lower()
    if name.endswith(VOLUME_FILE_SUFFIXES):
        try:
            raw = sitk.ReadImage(str(path))
        except RuntimeError as error:
            raise VolumeReadError(f"could not read {path}: {_first_line(error)}") from error
        if name.endswith((".nii", ".nii.gz")):
            _refuse_nifti_nan(path)
        image = _checked_float_image(raw, str(path))
        return LoadedVolume(image=image, source=str(path), warnings=_hu_warnings(image))
    if _looks_like_dicom(path):
        raise VolumeReadError(f"{path} is a single DICOM file; pass the folder holding the whole series")
    raise VolumeReadError(f"unsupported file type {path}: expected a DICOM folder or one of "
                          f"{', '.join(VOLUME_FILE_SUFFIXES)}")
