"""Render synthetic exams and write them as a hospital export (xlsx + DICOM tree + ground truth).

The export has the layout of DESIGN.md section 2, so the dataset builder reads it exactly as it would
read a real PACS/HIS export::

    <out_dir>/export.xlsx                 sheet 影像学检查: 检查号, 检查时间, 左侧诊断-训练, 右侧诊断-训练, 影像所见, 检查结论
    <out_dir>/dicom/<YYYY-MM-DD>/<exam id>/<series number>/IM00001.dcm ...
    <out_dir>/ground_truth.json           codes, attributes, pose, ear centres, injected anomalies

`ground_truth.json` is for evaluation and tests only; the builder must not read it (it also holds
the fake PHI of every exam).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .anatomy import (
    CAPSULE_CENTRE,
    apply_scanner_model,
    ear_canvas,
    paint_ear,
    paint_head,
    paint_ossicles,
)
from .attributes import CLASS_NAMES_ZH
from .cohort import ExamSpec, sample_cohort
from .constitution import ear_geometry, sample_patient_anatomy
from .lesions import paint_lesions, remodel_geometry
from .solids import Canvas

SHEET_NAME = "影像学检查"
COLUMNS = ("检查号", "检查时间", "左侧诊断-训练", "右侧诊断-训练", "影像所见", "检查结论")
ANOMALY_KINDS = ("duplicate_row", "two_dates", "row_without_images", "images_without_row", "empty_labels")
ANOMALY_RATE = 0.01  # exams per anomaly kind (at least one each when the cohort has room)
# Label cell formats and their shares; "empty" cells are rare and recorded in the ground truth.
LABEL_FORMATS = (("full_width_colon", 0.60), ("half_width_colon", 0.22), ("code_only", 0.15), ("empty", 0.03))


@dataclass(frozen=True)
class VolumeSize:
    """Acquisition grid of one size preset. `slice_mm=None` uses the scanner's own slice thickness."""

    name: str
    pixel_mm: float
    slice_mm: float | None
    matrix_xy: tuple[int, int]
    coverage_z_mm: float
    fov_centre_mm: tuple[float, float, float]  # world point at the centre of the grid
    pixel_jitter: float  # relative in-plane spacing variation between exams (reconstruction FOV)


SIZES = {
    "tiny": VolumeSize("tiny", 1.25, 2.0, (128, 96), 48.0, (0.0, 10.0, 0.0), 0.0),
    "small": VolumeSize("small", 0.8, 1.0, (224, 184), 64.0, (0.0, 10.0, 0.0), 0.04),
    "full": VolumeSize("full", 0.4, None, (512, 512), 102.0, (0.0, 5.0, 0.0), 0.06),
    # The benchmark's acquisition: voxels <= 0.78 mm in all three axes (small's 1 mm slices would blur
    # the 1-3 mm scutum / ossicle / aditus findings), a 180 x 147 x 60 mm field of view.
    "benchmark": VolumeSize("benchmark", 0.75, 0.75, (240, 196), 60.0, (0.0, 10.0, 0.0), 0.04),
}


@dataclass
class RenderedExam:
    """One rendered CT: HU `(z, y, x)` int16, spacing/origin in (x, y, z) mm, identity LPS direction.

    `soft_tissue_hu` is the same acquisition through a soft-tissue kernel (only for exams whose
    decoy is `"soft_tissue"`). `ground_truth` holds the ear centres and lesion centres (world mm).
    """

    hu: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    soft_tissue_hu: np.ndarray | None = None
    ground_truth: dict = field(default_factory=dict)


@dataclass
class SyntheticExport:
    """Where an export was written and what it holds."""

    root: Path
    xlsx_path: Path
    dicom_root: Path
    ground_truth_path: Path
    exam_ids: list[str]
    anomalies: list[dict]
    seconds: float


def _grid(spec: ExamSpec, size: VolumeSize, rng: np.random.Generator):
    pixel = size.pixel_mm * (1.0 + rng.uniform(-size.pixel_jitter, size.pixel_jitter))
    slice_mm = size.slice_mm if size.slice_mm is not None else spec.scanner.slice_thickness_mm
    shape_xyz = np.array([size.matrix_xy[0], size.matrix_xy[1], int(round(size.coverage_z_mm / slice_mm))])
    spacing = np.array([pixel, pixel, slice_mm])
    origin = np.asarray(size.fov_centre_mm) - (shape_xyz - 1) / 2.0 * spacing
    return np.round(spacing, 6), np.round(origin, 4), shape_xyz


def render_exam(spec: ExamSpec, size: str | VolumeSize = "small") -> RenderedExam:
    """Render one exam's CT (both ears, lesions, scanner blur and noise); deterministic in `spec.seed`.

    Example:
        >>> from bicpl_hf.synthetic.cohort import sample_cohort
        >>> exam = render_exam(sample_cohort(1, seed=0)[0], "tiny")
        >>> exam.hu.shape, exam.hu.dtype
        ((24, 96, 128), dtype('int16'))
    """
    if isinstance(size, str):
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; expected one of {sorted(SIZES)}")
        size = SIZES[size]
    streams = np.random.SeedSequence(spec.seed).spawn(4)
    head_rng, left_rng, right_rng, scan_rng = (np.random.default_rng(s) for s in streams)
    spacing, origin, shape_xyz = _grid(spec, size, head_rng)
    phantom = np.full(shape_xyz[::-1], -1000.0, dtype=np.float32)
    paint_head(Canvas(phantom, origin, spacing, spec.pose.world_to_head_affine()))

    # Otic capsule centres (head frame): x = +-(43..47), y = 7..13, z = -1..1; the ears differ slightly.
    left_centre = np.array([head_rng.uniform(43, 47), head_rng.uniform(7, 13), head_rng.uniform(-1, 1)])
    right_centre = left_centre * [-1, 1, 1] + head_rng.uniform(-0.8, 0.8, 3) * [1, 1, 0.6]
    anatomy = spec.anatomy if spec.anatomy is not None else sample_patient_anatomy(head_rng, chronic=False)
    scale = anatomy.head_scale
    truth: dict = {"capsule_centres_world": {}, "lesions": {}, "geometry": {}}
    ears = (("left", spec.left, left_centre, left_rng), ("right", spec.right, right_centre, right_rng))
    for side, ear, centre, rng in ears:
        normal = ear_geometry(anatomy, side, ear.mastoid, ear.pneumatisation, rng)
        geometry = remodel_geometry(normal, ear, rng)
        canvas = ear_canvas(phantom, origin, spacing, spec.pose, side, centre, scale * float(rng.uniform(0.985, 1.015)))
        paint_ear(canvas, geometry)
        truth["lesions"][side] = paint_lesions(canvas, geometry, ear, rng)
        paint_ossicles(canvas, geometry)
        truth["capsule_centres_world"][side] = [round(float(v), 3) for v in canvas.frame_to_world(CAPSULE_CENTRE)]
        truth["geometry"][side] = {"scale": round(canvas.scale, 4), **geometry.to_dict()}

    if anatomy.calibration_gain != 1.0 or anatomy.calibration_offset_hu != 0.0:  # the scanner's HU calibration
        phantom = phantom * np.float32(anatomy.calibration_gain) + np.float32(anatomy.calibration_offset_hu)
    soft = None
    if spec.decoy == "soft_tissue":
        soft_rng = np.random.default_rng(np.random.SeedSequence(spec.seed).spawn(5)[4])
        soft = apply_scanner_model(phantom, noise_sigma=0.45 * spec.scanner.noise_sigma, rng=soft_rng, blur_voxels=1.0)
    hu = apply_scanner_model(phantom, noise_sigma=spec.scanner.noise_sigma, rng=scan_rng)
    truth.update(
        spacing=[float(v) for v in spacing], origin=[float(v) for v in origin], shape_xyz=[int(v) for v in shape_xyz],
        size=size.name, anatomy=anatomy.to_dict(),
    )
    return RenderedExam(hu=hu, spacing=tuple(truth["spacing"]), origin=tuple(truth["origin"]), soft_tissue_hu=soft,
                        ground_truth=truth)


def derive_uid(seed: int, *parts: object) -> str:
    """A DICOM UID (`2.25.<128-bit int>`) that depends only on the seed and `parts`."""
    digest = hashlib.sha256("|".join(str(p) for p in (seed, *parts)).encode()).hexdigest()
    return f"2.25.{int(digest[:32], 16)}"


def label_cell(code: int, style: str) -> str | int | None:
    """One diagnosis cell as hospitals write it: `1：慢性化脓性中耳炎`, `1:...`, `1` or empty."""
    if style == "full_width_colon":
        return f"{code}：{CLASS_NAMES_ZH[code]}"
    if style == "half_width_colon":
        return f"{code}:{CLASS_NAMES_ZH[code]}"
    if style == "code_only":
        return code
    if style == "empty":
        return None
    raise ValueError(f"unknown label style {style!r}; expected one of {[s for s, _ in LABEL_FORMATS]}")


def _plan_anomalies(n_exams: int, rng: np.random.Generator) -> tuple[dict[int, str], str | None]:
    """Exam index -> anomaly kind (each exam gets at most one), or why none were injected."""
    per_kind = max(1, int(round(ANOMALY_RATE * n_exams)))
    if n_exams < 2 * len(ANOMALY_KINDS):
        return {}, f"{n_exams} exams are too few to inject anomalies (need {2 * len(ANOMALY_KINDS)})"
    chosen = rng.choice(n_exams, size=per_kind * len(ANOMALY_KINDS), replace=False)
    return {int(i): ANOMALY_KINDS[k // per_kind] for k, i in enumerate(chosen)}, None


def _exam_job(spec: ExamSpec, size: str, dicom_root: str, seed: int, date_dirs: list[str]) -> dict:
    """Render one exam and write its series under every date folder; returns its ground-truth part."""
    exam = render_exam(spec, size)
    series = []
    study_uid = derive_uid(seed, spec.exam_id, "study")
    frame_uid = derive_uid(seed, spec.exam_id, "frame")
    number_rng = np.random.default_rng(np.random.SeedSequence(spec.seed).spawn(6)[5])
    bone_number = int(number_rng.choice([2, 3, 4, 5, 201, 602]))
    plan = [("bone", bone_number, exam.hu, spec.scanner.bone_kernel, spec.scanner.series_description)]
    if spec.decoy == "soft_tissue":
        description = spec.scanner.series_description.replace(spec.scanner.bone_kernel, spec.scanner.soft_kernel)
        plan.append(("soft_tissue", bone_number + 1, exam.soft_tissue_hu, spec.scanner.soft_kernel, description))
    for date_dir in date_dirs:
        exam_dir = Path(dicom_root) / date_dir / spec.exam_id
        for role, number, volume, kernel, description in plan:
            uid = derive_uid(seed, spec.exam_id, role)
            paths = write_ct_series(
                exam_dir / str(number), volume, exam.spacing, exam.origin, spec=spec, study_uid=study_uid,
                series_uid=uid, frame_uid=frame_uid, series_number=number, kernel=kernel, description=description,
                sop_uid=lambda instance, role=role: derive_uid(seed, spec.exam_id, role, instance),
            )
            series.append({"role": role, "series_uid": uid, "series_number": number, "kernel": kernel,
                           "description": description, "n_slices": len(paths), "dir": str(Path(paths[0]).parent)})
        if spec.decoy == "scout":
            uid = derive_uid(seed, spec.exam_id, "scout")
            paths = write_scout_series(
                exam_dir / "1", exam.hu, exam.spacing, exam.origin, spec=spec, study_uid=study_uid, series_uid=uid,
                frame_uid=frame_uid, n_images=1 + int(number_rng.random() < 0.5),
                sop_uid=lambda instance: derive_uid(seed, spec.exam_id, "scout", instance),
            )
            series.append({"role": "scout", "series_uid": uid, "series_number": 1, "kernel": None,
                           "description": spec.scanner.scout_description, "n_slices": len(paths),
                           "dir": str(Path(paths[0]).parent)})
    for entry in series:
        entry["dir"] = str(Path(entry["dir"]).relative_to(Path(dicom_root).parent))
    return {**exam.ground_truth, "series": series}


# ----------------------------------------------------------------------------- DICOM

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _series_tags(spec: ExamSpec, study_uid: str, series_uid: str, frame_uid: str, number: int, description: str):
    when, patient = spec.exam_datetime, spec.patient
    birth = patient.birth_date
    age = when.year - birth.year - ((when.month, when.day) < (birth.month, birth.day))
    date, clock = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
    return [
        ("0008|0005", "ISO_IR 192"), ("0008|0016", CT_IMAGE_STORAGE), ("0008|0020", date), ("0008|0030", clock),
        ("0008|0021", date), ("0008|0031", clock), ("0008|0023", date), ("0008|0033", clock),
        ("0008|0050", spec.exam_id), ("0008|0060", "CT"), ("0008|0070", spec.scanner.manufacturer),
        ("0008|1090", spec.scanner.model), ("0008|103e", description),
        ("0010|0010", f"{patient.family_name}^{patient.given_name}"), ("0010|0020", patient.patient_id),
        ("0010|0030", patient.birth_date.strftime("%Y%m%d")), ("0010|0040", patient.sex), ("0010|1010", f"{age:03d}Y"),
        ("0018|0060", "120"), ("0018|5100", "HFS"), ("0020|000d", study_uid), ("0020|000e", series_uid),
        ("0020|0052", frame_uid), ("0020|0010", "1"), ("0020|0011", str(number)),
    ]


def _write_slice(path: Path, pixels: np.ndarray, spacing, origin, direction, tags, writer) -> None:
    image = sitk.GetImageFromArray(pixels[None])
    image.SetSpacing([float(v) for v in spacing])
    image.SetOrigin([float(v) for v in origin])
    image.SetDirection([float(v) for v in direction])
    for key, value in tags:
        image.SetMetaData(key, value)
    writer.SetFileName(str(path))
    writer.Execute(image)


def _ds(value: float) -> str:
    return f"{value:.6g}"


def write_ct_series(series_dir: Path, hu: np.ndarray, spacing, origin, *, spec: ExamSpec, study_uid: str,
                    series_uid: str, frame_uid: str, series_number: int, kernel: str, description: str,
                    sop_uid) -> list[Path]:
    """Write an axial CT series, one file per slice, superior slice first (InstanceNumber 1).

    Pixels are stored as HU + 1024 with RescaleIntercept -1024 (as scanners do); ImagePositionPatient
    and SliceLocation give each slice's z, so readers must sort by position, not by file name.
    """
    series_dir.mkdir(parents=True, exist_ok=True)
    sx, sy, sz = spacing
    tags = _series_tags(spec, study_uid, series_uid, frame_uid, series_number, description) + [
        ("0008|0008", "ORIGINAL\\PRIMARY\\AXIAL"), ("0018|1210", kernel), ("0018|0050", _ds(sz)),
        ("0018|0088", _ds(sz)), ("0028|0030", f"{_ds(sy)}\\{_ds(sx)}"), ("0020|0037", "1\\0\\0\\0\\1\\0"),
        ("0028|1050", "700"), ("0028|1051", "4000"), ("0028|1052", "-1024"), ("0028|1053", "1"), ("0028|1054", "HU"),
    ]
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    paths = []
    for instance, k in enumerate(range(hu.shape[0] - 1, -1, -1), start=1):
        z = float(origin[2]) + k * float(sz)
        position = (float(origin[0]), float(origin[1]), z)
        slice_tags = tags + [
            ("0020|0032", "\\".join(_ds(v) for v in position)), ("0020|1041", _ds(z)),
            ("0020|0013", str(instance)), ("0008|0018", sop_uid(instance)),
        ]
        path = series_dir / f"IM{instance:05d}.dcm"
        _write_slice(path, hu[k], spacing, position, np.eye(3).ravel(), slice_tags, writer)
        paths.append(path)
    return paths


def write_scout_series(series_dir: Path, hu: np.ndarray, spacing, origin, *, spec: ExamSpec, study_uid: str,
                       series_uid: str, frame_uid: str, n_images: int, sop_uid) -> list[Path]:
    """Write a localizer series: an AP (and optionally a lateral) projection of the volume."""
    series_dir.mkdir(parents=True, exist_ok=True)
    attenuation = np.clip(hu.astype(np.float32) + 1000.0, 0.0, None)[::-1]  # rows run superior -> inferior
    sx, sy, sz = spacing
    top = float(origin[2]) + (hu.shape[0] - 1) * float(sz)
    views = [  # (projection, pixel spacing (column, row), origin, direction columns: col axis, row axis, normal)
        (attenuation.sum(axis=1), (sx, sz), (origin[0], 0.0, top), np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]]).T),
        (attenuation.sum(axis=2), (sy, sz), (0.0, origin[1], top), np.array([[0, 1, 0], [0, 0, -1], [-1, 0, 0]]).T),
    ]
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    base = _series_tags(spec, study_uid, series_uid, frame_uid, 1, spec.scanner.scout_description)
    paths = []
    for instance, (projection, pixel, position, direction) in enumerate(views[:n_images], start=1):
        pixels = np.rint(projection / max(float(projection.max()), 1.0) * 4095.0).astype(np.int16)
        orientation = "\\".join(str(int(v)) for v in np.concatenate([direction[:, 0], direction[:, 1]]))
        tags = base + [
            ("0008|0008", "ORIGINAL\\PRIMARY\\LOCALIZER"), ("0020|0037", orientation),
            ("0020|0032", "\\".join(_ds(float(v)) for v in position)),
            ("0028|0030", f"{_ds(pixel[1])}\\{_ds(pixel[0])}"),
            ("0020|0013", str(instance)), ("0008|0018", sop_uid(instance)),
        ]
        path = series_dir / f"IM{instance:05d}.dcm"
        _write_slice(path, pixels, (pixel[0], pixel[1], 1.0), position, direction.ravel(), tags, writer)
        paths.append(path)
    return paths


def _write_xlsx(path: Path, rows: list[tuple]) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET_NAME
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append(list(row))
        sheet.cell(row=sheet.max_row, column=2).number_format = "yyyy-mm-dd hh:mm:ss"
    workbook.save(path)


def make_synthetic_export(
    out_dir: str | Path,
    *,
    n_exams: int,
    size: str = "small",
    seed: int = 0,
    num_proc: int = 1,
    min_ears_per_code: dict[int, int] | None = None,
    anomalies: bool = True,
    progress: bool = True,
) -> SyntheticExport:
    """Sample a cohort, render it and write the hospital-format export into `out_dir`.

    Args:
        out_dir: target folder; must not already hold an export.
        n_exams: number of exams sampled (rows/exams of the export before anomalies).
        size: `"tiny"` (tests), `"small"` (demo) or `"full"` (real resolution), see [`SIZES`].
        seed: the only source of randomness: cell values, pixel data and UIDs repeat for a seed.
        num_proc: worker processes for rendering and writing.
        min_ears_per_code: guaranteed ear counts per code, e.g. `{4: 8}`.
        anomalies: inject realistic export problems (duplicate row, exam under two dates, row without
            images, images without row, row with empty labels) at ~1% of exams per kind; each is
            recorded in `ground_truth.json`.
        progress: a progress bar over the exams rendered (on stderr). Also off wherever datasets' progress bars are:
            `datasets.disable_progress_bars()` (which a command's `--quiet` calls) or `HF_DATASETS_DISABLE_PROGRESS_BARS=1`.

    Example:
        >>> export = make_synthetic_export("/tmp/ear_ct", n_exams=12, size="tiny", seed=0)  # doctest: +SKIP
        >>> export.xlsx_path.name  # doctest: +SKIP
        'export.xlsx'
    """
    from datasets.utils import tqdm  # off wherever datasets' own bars are (`--quiet`: quiet_libraries)

    from .reports import pick_report_style, write_synthetic_report

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {sorted(SIZES)}")
    if int(num_proc) < 1:
        raise ValueError(f"num_proc must be >= 1, got {num_proc!r}")
    root = Path(out_dir)
    xlsx_path, dicom_root, truth_path = root / "export.xlsx", root / "dicom", root / "ground_truth.json"
    existing = [p for p in (xlsx_path, dicom_root, truth_path) if p.exists()]
    if existing:
        names = ", ".join(p.name for p in existing)
        raise FileExistsError(f"{root} already holds an export ({names}); use an empty folder")
    started = time.perf_counter()
    specs = sample_cohort(n_exams, seed, min_ears_per_code)
    rng = np.random.default_rng([seed, 104])
    planned, skipped_reason = _plan_anomalies(len(specs), rng) if anomalies else ({}, "anomalies=False")

    rows, jobs, records = [], [], []
    for index, spec in enumerate(specs):
        kind = planned.get(index)
        report_rng = np.random.default_rng([seed, 7, index])  # the report's own rng: no image draw depends on it
        report_style = pick_report_style(report_rng)
        findings, impression = write_synthetic_report(spec.left, spec.right, report_rng, style=report_style)
        styles = [LABEL_FORMATS[i][0] for i in rng.choice(len(LABEL_FORMATS), 2, p=[p for _, p in LABEL_FORMATS])]
        if kind == "empty_labels":
            styles = ["empty", "empty"]
        cells = [label_cell(code, style) for code, style in zip(spec.codes, styles)]
        row = (spec.exam_id, spec.exam_datetime, cells[0], cells[1], findings, impression)
        date_dirs = [spec.exam_datetime.date().isoformat()]
        if kind == "two_dates":
            date_dirs.append((spec.exam_datetime.date() + dt.timedelta(days=1)).isoformat())
        if kind != "images_without_row":
            rows.append(row)
        if kind == "duplicate_row":
            rows.append(row)
        if kind != "row_without_images":
            jobs.append((spec, size, str(dicom_root), seed, date_dirs))
        records.append({**spec.to_dict(), "label_cells": {"left": cells[0], "right": cells[1]},
                        "label_styles": {"left": styles[0], "right": styles[1]},
                        "report": {"findings": findings, "impression": impression}, "report_style": report_style,
                        "dicom_dates": date_dirs if kind != "row_without_images" else [],
                        "in_sheet": kind != "images_without_row", "anomaly": kind})

    dicom_root.mkdir(parents=True, exist_ok=True)
    bar = {"total": len(jobs), "desc": "Rendering exams", "unit": "exam", "disable": not progress}
    if num_proc == 1 or len(jobs) <= 1:
        results = list(tqdm(itertools.starmap(_exam_job, jobs), **bar))
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)  # workers need no torch
        with ProcessPoolExecutor(max_workers=int(num_proc), mp_context=context) as pool:
            results = list(tqdm(pool.map(_exam_job, *zip(*jobs)), **bar))
    by_id = {job[0].exam_id: result for job, result in zip(jobs, results)}
    for record in records:
        record.update(by_id.get(record["exam_id"], {"series": []}))

    _write_xlsx(xlsx_path, rows)
    injected = [{"kind": r["anomaly"], "exam_id": r["exam_id"]} for r in records if r["anomaly"]]
    for entry in injected:
        if entry["kind"] == "two_dates":
            entry["dates"] = next(r["dicom_dates"] for r in records if r["exam_id"] == entry["exam_id"])
    truth = {
        "seed": seed, "size": size, "n_exams": len(specs), "columns": list(COLUMNS), "sheet": SHEET_NAME,
        "gravity_world": [0.0, 1.0, 0.0], "anomalies": injected, "anomalies_skipped": skipped_reason,
        "exams": records,
    }
    truth_path.write_text(json.dumps(truth, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return SyntheticExport(root=root, xlsx_path=xlsx_path, dicom_root=dicom_root, ground_truth_path=truth_path,
                           exam_ids=[s.exam_id for s in specs], anomalies=injected,
                           seconds=round(time.perf_counter() - started, 3))
