"""Converting one exam folder for the dataset builder, with a per-exam cache for resuming.

[`convert_exam`] runs in a worker process: it reads the exam's CT with
[`bicpl_hf.processing.volume_io.read_volume`] (series choice with reasons), preprocesses it with
the [`bicpl_hf.processing.image_processing_bicpl.BiCPLVolumeProcessor`], reads the patient's
identifiers from the DICOM header only to derive the patient key and to scrub them from the report
text, and writes `<work>/<exam_key>.npz` (+ `.nii.gz` with `store_volume`) and, last,
`<work>/<exam_key>.json`. The json is the completion marker: [`load_cached_result`] accepts it
only when its input signature (folder, file count and size, report text hash) still matches.

Nothing written here holds a raw exam id, patient identifier, series UID or the DICOM root path:
paths become `<date>/<exam_key>/<series folder>` and UIDs become salted keys.

Example:
    >>> result = convert_exam(job, processor, "out/.work/exams")  # doctest: +SKIP
    >>> result["status"], result["series"][0]["folder"]  # doctest: +SKIP
    ('kept', '2020-01-02/3f9a…/s1')
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..processing.dicom_series import quiet_itk_warnings
from ..processing.ear_localization import EarLocalizationError
from ..processing.image_processing_bicpl import BiCPLVolumeProcessor
from ..processing.volume_io import LoadedVolume, VolumeReadError, read_volume, scan_dicom_folder
from .deidentify import REDACTED, identifier_variants, salted_key, scrub_text

__all__ = ["CACHE_FORMAT", "ExamJob", "atomic_write_bytes", "convert_exam", "load_cached_result", "load_pixel_values"]

CACHE_FORMAT = 1
_IDENTIFIER_TAGS = {"name": "0010|0010", "id": "0010|0020", "birth_date": "0010|0030", "other_ids": "0010|1000"}


@dataclass(frozen=True)
class ExamJob:
    """Everything a worker needs for one exam. Raw ids live only in memory, never in its output.

    `input_signature` is stored with the result; a cached result whose signature differs is redone.
    """

    exam_key: str
    exam_id: str
    exam_folder: str  # an exam folder (series chosen by read_volume) or one volume file
    folder_label: str
    dicom_root: str
    findings: str
    impression: str
    store_volume: bool
    salt: str
    input_signature: dict
    max_slice_thickness_mm: float | None = None
    allow_thick_slices: bool = False


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to `path + ".tmp"` then rename, so a reader never sees half a file."""
    temporary = f"{path}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class _Sanitizer:
    """Rewrites messages: exam folder → `<date>/<exam_key>`, root → `<dicom-root>`, UIDs → keys."""

    def __init__(self, job: ExamJob) -> None:
        self.job = job
        self.pairs: list[tuple[str, str]] = []
        for folder in {job.exam_folder, os.path.realpath(job.exam_folder), os.path.abspath(job.exam_folder)}:
            self.pairs.append((folder, job.folder_label))
        for root in {job.dicom_root, os.path.realpath(job.dicom_root), os.path.abspath(job.dicom_root)}:
            self.pairs.append((root.rstrip(os.sep) or root, "<dicom-root>"))
        self.identifiers: list[str] = []

    def add_series(self, uid: str) -> str:
        key = salted_key(self.job.salt, "series", uid)
        if uid:
            self.pairs.append((uid, key))
            if "#" in uid:  # one of several series sharing a UID (`<uid>#2`): the bare UID is named in notes too
                base = uid.split("#", 1)[0]
                self.pairs.append((base, salted_key(self.job.salt, "series", base)))
        return key

    def add_series_of_folder(self) -> None:
        """Register every series UID of the exam folder, so that a failure message naming one is hashed too."""
        if Path(self.job.exam_folder).is_dir():
            try:
                for info in scan_dicom_folder(self.job.exam_folder).series:
                    self.add_series(info.series_uid)
            except (VolumeReadError, OSError):
                pass

    def __call__(self, text: str) -> str:
        for raw, safe in sorted(self.pairs, key=lambda p: len(p[0]), reverse=True):
            text = text.replace(raw, safe)
        text = re.sub(rf"(?<![0-9A-Za-z]){re.escape(self.job.exam_id)}(?![0-9A-Za-z])", self.job.exam_key, text)
        return scrub_text(text, self.identifiers)[0]

    def relative(self, folder: str) -> str:
        rel = os.path.relpath(folder, self.job.exam_folder)
        return self.job.folder_label if rel == "." else f"{self.job.folder_label}/{Path(rel).as_posix()}"


def _read_identifiers(path: str) -> tuple[dict[str, str], list[str]]:
    """Patient name, id, birth date and other ids of one file, and the tags that could not be decoded."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    reader.ReadImageInformation()
    values, undecodable = {}, []
    for name, tag in _IDENTIFIER_TAGS.items():
        try:
            values[name] = reader.GetMetaData(tag).strip() if reader.HasMetaDataKey(tag) else ""
        except UnicodeDecodeError:  # a header in a character set other than UTF-8 / ASCII
            values[name] = ""
            undecodable.append(tag)
    return values, undecodable


def _series_entries(job: ExamJob, sanitize: _Sanitizer, loaded: LoadedVolume | None, failure: str | None) -> list[dict]:
    """One entry per series found in the exam folder, plus folders in which no series was found; one entry
    for an exam that is a single volume file (no series to choose)."""
    if Path(job.exam_folder).is_file():
        status, reason = ("skipped", f"the exam could not be used: {failure}") if failure else (
            "kept", "the exam's volume file")
        return [{"folder": job.folder_label, "series_key": "", "status": status, "reason": sanitize(reason)}]
    entries = []
    if loaded is not None and loaded.series_choice is not None:
        choice = loaded.series_choice
        infos = [(choice.chosen, None)] + [(r.series, r.reason) for r in choice.rejected]
    else:
        try:
            scan = scan_dicom_folder(job.exam_folder)
        except VolumeReadError:
            scan = None
        infos = [(info, None) for info in scan.series] if scan else []
    folders_with_series = set()
    for info, rejection in infos:
        folders_with_series.add(os.path.abspath(info.folder))
        key = sanitize.add_series(info.series_uid)
        if failure is not None:
            status, reason = "skipped", f"the exam could not be used: {failure}"
        elif rejection is None:
            status, reason = "kept", f"chosen: {loaded.series_choice.reason}"
        else:
            status, reason = "skipped", f"not chosen: {rejection}"
        entries.append({"folder": sanitize.relative(info.folder), "series_key": key, "status": status, "reason": reason})
    exam_folder = Path(job.exam_folder)
    candidates = [exam_folder] + sorted(p for p in exam_folder.iterdir() if p.is_dir())
    for folder in candidates:
        if not os.access(folder, os.R_OK | os.X_OK):
            entries.append({"folder": sanitize.relative(str(folder)), "series_key": "", "status": "skipped",
                            "reason": "permission denied: this user may not list the folder"})
            continue
        has_files = any(p.is_file() for p in folder.iterdir())
        if os.path.abspath(folder) in folders_with_series or (folder == exam_folder and not has_files):
            continue
        nested = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder != exam_folder else []
        why = "holds no file" if not has_files and not nested else "no readable DICOM series in this folder"
        if nested:
            why += f"; its subfolder(s) {nested} are nested too deep (expected <date>/<exam>/<series>/*.dcm)"
        if failure is not None:
            why += f"; the exam could not be used: {failure}"
        entries.append({"folder": sanitize.relative(str(folder)), "series_key": "", "status": "skipped", "reason": why})
    for entry in entries:
        entry["reason"] = sanitize(entry["reason"])
    return entries


def _volume_nifti_bytes(image: sitk.Image, work_dir: Path, exam_key: str) -> bytes:
    """The HU volume as gzipped NIfTI built from the voxels and geometry only (no header text).

    HU stay int16 when they are whole numbers in range (plain CT), float32 otherwise; gzip with
    `mtime=0` so the bytes are the same on every run.
    """
    array = sitk.GetArrayViewFromImage(image)
    if np.all(np.mod(array, 1) == 0) and array.min() >= -32768 and array.max() <= 32767:
        clean = sitk.GetImageFromArray(array.astype(np.int16))
    else:
        clean = sitk.GetImageFromArray(np.asarray(array, dtype=np.float32))
    clean.CopyInformation(image)
    temporary = work_dir / f"{exam_key}.tmp.nii"
    sitk.WriteImage(clean, str(temporary), useCompression=False)
    try:
        return gzip.compress(temporary.read_bytes(), mtime=0)
    finally:
        temporary.unlink()


def _quiet_itk():
    """ITK prints a warning for every folder without DICOM files (exam folders holding only series
    folders); the build report already accounts for every folder, so they are muted meanwhile."""
    return quiet_itk_warnings()


def convert_exam(job: ExamJob, processor: BiCPLVolumeProcessor, work_dir: str | os.PathLike) -> dict[str, Any]:
    """Convert one exam and cache the result; returns the JSON-friendly result (also written to disk).

    The result has `status` `"kept"` or `"skipped"` with `reason`, `patient_key`, `series`
    (one entry per series), the scrubbed `findings`/`impression` and `redactions` (how many
    identifiers were removed from them), `ear_metadata`, `notes` and the cached file names.

    Example:
        >>> convert_exam(job, BiCPLVolumeProcessor(roi_shape=(16, 16, 16)), "out/.work/exams")  # doctest: +SKIP
    """
    with _quiet_itk():
        return _convert_exam(job, processor, Path(work_dir))


def _convert_exam(job: ExamJob, processor: BiCPLVolumeProcessor, work_dir: Path) -> dict[str, Any]:
    sanitize = _Sanitizer(job)
    result: dict[str, Any] = {
        "format": CACHE_FORMAT, "exam_key": job.exam_key, "input_signature": job.input_signature,
        "status": "skipped", "reason": "", "patient_key": None, "notes": [], "series": [],
        "findings": "", "impression": "", "redactions": 0, "ear_metadata": None,
        "pixel_values_file": None, "volume_file": None,
    }
    loaded, failure, pixel_values = None, None, None
    identifiers = {"name": "", "id": "", "birth_date": "", "other_ids": ""}
    try:
        loaded = read_volume(job.exam_folder, max_slice_thickness_mm=job.max_slice_thickness_mm,
                             allow_thick_slices=job.allow_thick_slices)
        undecodable = []
        if loaded.series_choice is not None:  # DICOM: the header names the patient (a volume file does not)
            identifiers, undecodable = _read_identifiers(loaded.series_choice.chosen.files[0])
        if undecodable:
            result["notes"].append(f"DICOM tag(s) {undecodable} are not in UTF-8 and could not be read; the report "
                                   "text was not searched for them")
        sanitize.identifiers = identifier_variants(identifiers["name"], identifiers["id"], identifiers["birth_date"])
        sanitize.identifiers += [i.strip() for i in identifiers["other_ids"].split("\\") if len(i.strip()) >= 2]
        series_key = sanitize.add_series(loaded.series_uid or "")
        pixel_values, ear_metadata = processor.preprocess_image(loaded, source=job.exam_key, series_uid=series_key)
    except (VolumeReadError, EarLocalizationError, RuntimeError, OSError) as error:
        failure = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if isinstance(error, OSError) and error.filename is not None and str(error.filename) not in failure:
            failure = f"{error.filename}: {error.strerror or failure}"
        sanitize.add_series_of_folder()  # the message may name series UIDs: they become keys like everywhere else
        failure = sanitize(failure)
        what = "could not locate both ears" if isinstance(error, EarLocalizationError) else "unreadable series"
        result["reason"] = f"{what}: {failure}"
        if isinstance(error, VolumeReadError):  # what kind of problem, from the reader itself, not from wording
            result["reason_code"] = error.reason_code
    result["series"] = _series_entries(job, sanitize, loaded if failure is None else None, failure)
    if failure is None:
        # The report text is kept only for usable exams: only then are the identifiers to scrub known.
        findings, n_findings = scrub_text(job.findings, [job.exam_id, *sanitize.identifiers])
        impression, n_impression = scrub_text(job.impression, [job.exam_id, *sanitize.identifiers])
        result.update(findings=findings, impression=impression, redactions=n_findings + n_impression)
        if result["redactions"]:
            result["notes"].append(f"{result['redactions']} patient identifier(s) found in the report text were "
                                   f"replaced by {REDACTED}")
        for meta in ear_metadata:
            meta["warnings"] = [sanitize(w) for w in meta["warnings"]]
        result.update(status="kept", reason="kept", ear_metadata=ear_metadata)
        thick = [sanitize(w) for w in loaded.warnings if w.startswith("thick slices:")]
        if thick:
            result["thick_slices"] = True
            result["notes"] += thick
        if loaded.series_choice is not None:  # duplicate files dropped, series sharing a UID told apart
            result["notes"] += [sanitize(n) for n in loaded.series_choice.chosen.notes]
        if identifiers["id"]:
            result["patient_key"] = salted_key(job.salt, "patient", identifiers["id"])
        else:
            result["patient_key"] = salted_key(job.salt, "patient-of-exam", job.exam_id)
            what = ("the DICOM header has no PatientID" if loaded.series_choice is not None
                    else "a volume file holds no patient id")
            result["notes"].append(f"{what}; the exam counts as its own patient in the patient-level split")
        buffer = _npz_bytes(pixel_values.astype(np.float16))
        atomic_write_bytes(work_dir / f"{job.exam_key}.npz", buffer)
        result["pixel_values_file"] = f"{job.exam_key}.npz"
        result["file_sizes"] = {result["pixel_values_file"]: len(buffer)}
        if job.store_volume:
            data = _volume_nifti_bytes(loaded.image, work_dir, job.exam_key)
            atomic_write_bytes(work_dir / f"{job.exam_key}.nii.gz", data)
            result["volume_file"] = f"{job.exam_key}.nii.gz"
            result["file_sizes"][result["volume_file"]] = len(data)
    payload = json.dumps(result, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
    atomic_write_bytes(work_dir / f"{job.exam_key}.json", payload)
    return result


def _npz_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, pixel_values=array)
    return buffer.getvalue()


def load_cached_result(work_dir: str | os.PathLike, exam_key: str, input_signature: dict) -> dict | None:
    """The cached result of an exam if it is complete and made from the same input, else `None`."""
    work_dir = Path(work_dir)
    path = work_dir / f"{exam_key}.json"
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if result.get("format") != CACHE_FORMAT or result.get("input_signature") != input_signature:
        return None
    sizes = result.get("file_sizes") or {}
    for name in (result.get("pixel_values_file"), result.get("volume_file")):
        if name and not (work_dir / name).is_file():
            return None
        if name and name in sizes and (work_dir / name).stat().st_size != sizes[name]:
            return None  # truncated or replaced since it was written (e.g. a killed copy): convert again
    if result.get("pixel_values_file") and not _intact_npz(work_dir / result["pixel_values_file"]):
        return None
    return result


def _intact_npz(path: Path) -> bool:
    """The cached pixel values are a complete zip whose members pass their CRC check and hold `pixel_values`."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "pixel_values.npy" in archive.namelist() and archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


def load_pixel_values(work_dir: str | os.PathLike, result: dict) -> np.ndarray:
    """The cached `(2, C, D, H, W)` float16 pixel values of a kept exam."""
    with np.load(Path(work_dir) / result["pixel_values_file"], allow_pickle=False) as data:
        return data["pixel_values"]
