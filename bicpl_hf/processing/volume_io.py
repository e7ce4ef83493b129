"""Reading CT volumes (DICOM series, NIfTI, NRRD, MetaImage, SimpleITK images, numpy arrays).

Everything that reaches the model passes through [`read_volume`], which returns a float32 HU
[`SimpleITK.Image`] with its full patient geometry (LPS world coordinates, as ITK keeps them)
plus where it came from. DICOM folders are scanned series by series; when an exam holds several
series (bone and soft-tissue kernels, scouts) [`choose_series`] picks one and says why every
other series was passed over, so a dataset builder can account for each of them.

Nothing is guessed: a missing slice, uneven slice spacing, a corrupt file, a non-CT series or a
volume containing NaN raises [`VolumeReadError`] naming the file or folder and the problem.

Example:
    >>> from bicpl_hf.processing.volume_io import read_volume
    >>> loaded = read_volume("exam_0001/")  # doctest: +SKIP
    >>> loaded.image.GetSpacing(), loaded.kernel, loaded.series_choice.reason  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import SimpleITK as sitk

from .dicom_series import (
    DicomFolderScan,
    SeriesChoice,
    SeriesInfo,
    SeriesRejection,
    VolumeReadError,
    _first_line,
    _permission_problem,
    _too_thick,
    choose_series,
    classify_kernel,
    list_series,
    looks_like_dicom,
    quiet_itk_warnings,
    scan_dicom_folder,
)
from .volume_limits import check_claimed_size, check_volume_file_header
from .volume_limits import max_volume_bytes as _max_volume_bytes

VOLUME_FILE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


VolumeSource = Union[str, os.PathLike, sitk.Image, "LoadedVolume"]


@dataclass
class LoadedVolume:
    """A CT volume in HU (float32 [`SimpleITK.Image`]) and its provenance.

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
    header_hints: dict[str, str] = field(default_factory=dict)

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

    try:
        stored = nibabel.load(str(path))
        floating = np.issubdtype(stored.get_data_dtype(), np.floating)
        bad = int(np.count_nonzero(~np.isfinite(np.asanyarray(stored.dataobj)))) if floating else 0
    except Exception as error:  # noqa: BLE001 - nibabel raises many classes for a broken header; each is bad input
        raise VolumeReadError(f"could not read {path}: {type(error).__name__}: {_first_line(error)}") from error
    if bad:
        raise VolumeReadError(f"{path}: volume contains {bad} NaN/infinite voxel(s); expected finite HU")


def read_dicom_series(info: SeriesInfo, *, max_volume_bytes: int | None = None) -> sitk.Image:
    """Read one series (slices in `info.files` order) as a float32 HU image.

    SimpleITK applies RescaleSlope/RescaleIntercept. If reading fails, every file is read alone
    so the error names the broken one. A series larger than the memory ceiling
    ([`volume_limits.max_volume_bytes`]) is refused before it is read.

    Example:
        >>> image = read_dicom_series(list_series("exam_0001")[0])  # doctest: +SKIP
    """
    if info.problems:
        raise VolumeReadError(f"{info.summary()} is not usable: {' | '.join(info.problems)}")
    check_claimed_size(f"DICOM series in {info.folder}", (info.columns, info.rows, info.num_slices), 2,
                       f"{info.columns} x {info.rows} x {info.num_slices} volume", _ceiling(max_volume_bytes))
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


def _ceiling(override: int | None) -> int:
    return _max_volume_bytes(override)


def _read_dicom_folder(folder: Path, series_selection: str, max_slice_thickness_mm: float | None,
                       allow_thick_slices: bool, ceiling: int | None = None) -> LoadedVolume:
    scan = scan_dicom_folder(folder)
    if not scan.series:
        what = f"{len(scan.ignored_files)} non-DICOM file(s)" if scan.ignored_files else "nothing"
        if scan.unreadable_files:
            what = "; ".join(scan.unreadable_files)
        raise VolumeReadError(f"no DICOM series found in {folder} (it holds {what})")
    if series_selection == "auto":
        choice = choose_series(scan.series, max_slice_thickness_mm=max_slice_thickness_mm,
                               allow_thick_slices=allow_thick_slices)
    else:
        matches = [s for s in scan.series if s.series_uid == series_selection]
        if not matches:
            found = ", ".join(s.series_uid for s in scan.series)
            raise VolumeReadError(f"series {series_selection} not found in {folder}; found: {found}")
        choice = SeriesChoice(matches[0], [SeriesRejection(s, "not the requested series UID")
                                           for s in scan.series if s is not matches[0]])
    chosen = choice.chosen
    warnings = list(chosen.notes) + [f"ignored non-DICOM file {p}" for p in scan.ignored_files]
    warnings += [f"folder {p} is nested too deep and was not searched" for p in scan.unsearched_folders]
    if not chosen.is_axial:
        warnings.append(f"no axial series; using {chosen.summary()}")
    if chosen.kernel_class != "bone":
        warnings.append(f"no bone-kernel series; using {chosen.kernel_class} kernel '{chosen.kernel}'")
    too_thick = _too_thick(chosen, max_slice_thickness_mm)
    if too_thick and series_selection != "auto" and not allow_thick_slices:
        raise VolumeReadError(f"series {series_selection} in {folder} has {too_thick}", reason_code="thick_slices")
    if too_thick:
        warnings.append(f"thick slices: {too_thick}; used because thick slices are allowed")
    if chosen.gantry_tilt_deg > 0.5:
        warnings.append(f"gantry tilt of {chosen.gantry_tilt_deg:.1f} degrees: the slices are sheared "
                        "and the image geometry ignores the shear")
    image = read_dicom_series(chosen, max_volume_bytes=ceiling)
    return LoadedVolume(
        image=image,
        source=str(folder),
        series_uid=chosen.series_uid,
        series_description=chosen.description,
        modality=chosen.modality,
        kernel=chosen.kernel,
        warnings=warnings + _hu_warnings(image),
        series_choice=choice,
        header_hints=chosen.header_hints,
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

    `array` is indexed `[k, j, i]` (slice, row, column: SimpleITK's `GetArrayFromImage`
    order). `spacing` and `origin` are in `(i, j, k)` order in mm and LPS world coordinates;
    `direction` is the 3x3 matrix whose column `n` is the LPS direction of index axis `n`.

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


def _check_file_thickness(image: sitk.Image, where: str, max_slice_thickness_mm: float | None,
                          allow_thick_slices: bool) -> list[str]:
    """Volume files have no slice thickness tag: their coarsest voxel spacing stands for it."""
    thickest = max(image.GetSpacing())
    if max_slice_thickness_mm is None or thickest <= max_slice_thickness_mm + 1e-3:
        return []
    message = (f"voxels {thickest:.2f} mm thick along one axis, above the maximum of {max_slice_thickness_mm:.2f} mm "
               "for temporal-bone work")
    if not allow_thick_slices:
        raise VolumeReadError(f"{where}: {message} (allow thick slices to use it anyway)", reason_code="thick_slices")
    return [f"thick slices: {message}; used because thick slices are allowed"]


def read_volume(
    source: VolumeSource,
    *,
    series_selection: str = "auto",
    max_slice_thickness_mm: float | None = None,
    allow_thick_slices: bool = False,
    max_volume_bytes: int | None = None,
) -> LoadedVolume:
    """Read a CT volume as float32 HU with its geometry and provenance.

    Args:
        source: a DICOM series folder, an exam folder holding series subfolders, a `.nii`/
            `.nii.gz`/`.nrrd`/`.nhdr`/`.mha`/`.mhd` file, a 3-D [`SimpleITK.Image`],
            or a [`LoadedVolume`] (returned as is). Wrap numpy arrays with [`numpy_volume`].
        series_selection: `"auto"` (see [`choose_series`]) or the SeriesInstanceUID to read.
        max_slice_thickness_mm: refuse a series (or a volume file whose coarsest spacing is) thicker than
            this; `None` accepts any thickness.
        allow_thick_slices: keep a too-thick volume (only when no thin series exists) with a warning
            starting `"thick slices:"` instead of refusing it.
        max_volume_bytes: the memory ceiling (bytes) for the volume; `None`: `$BICPL_MAX_VOLUME_BYTES`, else
            4 GiB (see [`volume_limits`]). Headers are checked against it, and against the file size, before
            any voxel is read.

    Returns:
        [`LoadedVolume`]; for DICOM, `series_choice` records the kept and skipped series.

    Raises:
        VolumeReadError: naming the file/folder: missing path, unsupported type, corrupt file,
            missing/duplicate/unevenly spaced slices, no usable CT series, NaN voxels, not 3-D, a header
            claiming more voxels than the file holds or the memory ceiling allows, a file this user may not read.

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
    with quiet_itk_warnings():
        return _read_path(path, series_selection, max_slice_thickness_mm, allow_thick_slices, max_volume_bytes)


def _read_path(path: Path, series_selection: str, max_slice_thickness_mm: float | None, allow_thick_slices: bool,
               ceiling: int | None) -> LoadedVolume:
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and parent != path and not os.access(parent, os.R_OK | os.X_OK):
            raise VolumeReadError(f"{path} cannot be reached: permission denied on the folder {parent}")
        raise VolumeReadError(f"{path} does not exist")
    if path.is_dir():
        return _read_dicom_folder(path, series_selection, max_slice_thickness_mm, allow_thick_slices, ceiling)
    denied = _permission_problem(path)
    if denied:
        raise VolumeReadError(denied)
    name = path.name.lower()
    if name.endswith(VOLUME_FILE_SUFFIXES):
        check_volume_file_header(path, ceiling)
        try:
            raw = sitk.ReadImage(str(path))
        except RuntimeError as error:
            raise VolumeReadError(f"could not read {path}: {_first_line(error)}") from error
        if name.endswith((".nii", ".nii.gz")):
            _refuse_nifti_nan(path)
        image = _checked_float_image(raw, str(path))
        thick = _check_file_thickness(image, str(path), max_slice_thickness_mm, allow_thick_slices)
        return LoadedVolume(image=image, source=str(path), warnings=thick + _hu_warnings(image))
    if looks_like_dicom(path):
        raise VolumeReadError(f"{path} is a single DICOM file; pass the folder holding the whole series")
    raise VolumeReadError(f"unsupported file type {path}: expected a DICOM folder or one of "
                          f"{', '.join(VOLUME_FILE_SUFFIXES)}")


__all__ = [
    "VOLUME_FILE_SUFFIXES",
    "DicomFolderScan",
    "LoadedVolume",
    "SeriesChoice",
    "SeriesInfo",
    "SeriesRejection",
    "VolumeReadError",
    "choose_series",
    "classify_kernel",
    "list_series",
    "numpy_volume",
    "read_dicom_series",
    "read_volume",
    "scan_dicom_folder",
]
