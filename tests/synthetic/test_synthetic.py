"""Tests of the synthetic temporal-bone CT benchmark: cohort sampling, phantoms, lesions, and the
hospital-format export (xlsx + DICOM tree + ground truth), read back with openpyxl and SimpleITK."""

from __future__ import annotations

import dataclasses
import datetime as dt
import filecmp
import importlib.util
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from bicpl_hf.synthetic import (
    COLUMNS,
    EAR_CODE_FREQUENCIES,
    SHEET_NAME,
    EarAttributes,
    HeadPose,
    exam_pair_probabilities,
    make_synthetic_export,
    render_exam,
    sample_cohort,
)
from bicpl_hf.synthetic.anatomy import ear_canvas, middle_ear_space, paint_ear, sample_ear_geometry
from bicpl_hf.synthetic.export import label_cell, write_ct_series
from bicpl_hf.synthetic.lesions import paint_lesions, remodel_geometry

EXPORT_SEED = 3
REPO = Path(__file__).resolve().parents[2]
LABEL_PATTERN = re.compile(r"^[1-6][：:](慢性化脓性中耳炎|中耳胆脂瘤|分泌性中耳炎|胆固醇肉芽肿|正常|其他)$")


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """12 tiny exams written with two worker processes (exercises the process pool)."""
    root = tmp_path_factory.mktemp("synthetic") / "export"
    result = make_synthetic_export(root, n_exams=12, size="tiny", seed=EXPORT_SEED, num_proc=2)
    truth = json.loads(result.ground_truth_path.read_text(encoding="utf-8"))
    return result, truth


def _sheet_rows(xlsx_path: Path) -> tuple[str, list, list[tuple]]:
    from openpyxl import load_workbook

    workbook = load_workbook(xlsx_path)
    sheet = workbook.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    return sheet.title, list(rows[0]), rows[1:]


def _read_series(directory: Path) -> tuple[sitk.Image, list[str]]:
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(directory))
    return sitk.ReadImage(files), list(files)


def _tag(path: str, key: str) -> str | None:
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    reader.ReadImageInformation()
    return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else None


# ----------------------------------------------------------------------------- cohort


def test_pair_table_has_design_marginals_and_is_side_symmetric():
    table = exam_pair_probabilities()
    assert sum(table.values()) == pytest.approx(1.0)
    for code, share in EAR_CODE_FREQUENCIES.items():
        assert sum(p for (left, _), p in table.items() if left == code) == pytest.approx(share, abs=1e-9)
        assert sum(p for (_, right), p in table.items() if right == code) == pytest.approx(share, abs=1e-9)
    assert all(table[(a, b)] == table[(b, a)] for a, b in table)
    assert table[(5, 5)] > 0  # some normal-normal exams


def test_cohort_code_frequencies_and_common_pairs_at_2000():
    exams = sample_cohort(2000, seed=0)
    ears = Counter(code for exam in exams for code in exam.codes)
    for code, share in EAR_CODE_FREQUENCIES.items():
        assert ears[code] / 4000 == pytest.approx(share, abs=0.025), code
    assert 5 <= ears[4] <= 45
    pairs = [pair for pair, _ in Counter(exam.codes for exam in exams).most_common()]
    assert set(pairs[:3]) == {(1, 5), (5, 1), (1, 1)}
    assert {(2, 5), (5, 2), (3, 3), (1, 6)} <= set(pairs[:8])
    som_ears_bilateral = sum(2 for e in exams if e.codes == (3, 3)) / ears[3]
    assert som_ears_bilateral > 0.5  # SOM is mostly bilateral
    assert all(exam.left.code == exam.codes[0] and exam.right.code == exam.codes[1] for exam in exams)


def test_cohort_patients_ids_dates_pose_and_decoys():
    exams = sample_cohort(2000, seed=1)
    ids = [exam.exam_id for exam in exams]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"CT\d{10}", i) for i in ids)
    assert all(dt.datetime(2019, 1, 1) <= e.exam_datetime <= dt.datetime(2024, 12, 31, 23, 59) for e in exams)
    by_patient: dict[str, list] = {}
    for exam in exams:
        by_patient.setdefault(exam.patient.patient_id, []).append(exam)
    repeat = [v for v in by_patient.values() if len(v) > 1]
    assert 0.003 < len(repeat) / len(by_patient) < 0.03
    assert all(v[0].exam_datetime < v[1].exam_datetime for v in repeat)  # follow-ups come later
    assert all(len(v) <= 2 and len({e.patient for e in v}) == 1 for v in by_patient.values())
    names = [exam.patient.name for exam in exams]
    assert all(2 <= len(n) <= 4 and all("\u4e00" <= ch <= "\u9fff" for ch in n) for n in names)
    assert all(e.patient.birth_date < e.exam_datetime.date() for e in exams)
    assert {e.patient.sex for e in exams} == {"M", "F"}
    assert all(abs(e.pose.yaw_deg) <= 4 and abs(e.pose.roll_deg) <= 2 for e in exams)
    assert all(max(map(abs, e.pose.shift_mm)) <= 6 for e in exams)
    decoys = Counter(e.decoy for e in exams)
    assert 0.2 < (decoys["soft_tissue"] + decoys["scout"]) / len(exams) < 0.3 and decoys["scout"] > 0


def test_cohort_is_deterministic_and_honours_minimum_ears():
    first, again = sample_cohort(30, seed=4), sample_cohort(30, seed=4)
    assert [e.to_dict() for e in first] == [e.to_dict() for e in again]
    assert [e.codes for e in sample_cohort(30, seed=5)] != [e.codes for e in first]
    rare = sample_cohort(12, seed=4, min_ears_per_code={4: 5})
    assert sum(code == 4 for e in rare for code in e.codes) >= 5
    with pytest.raises(ValueError, match="min_ears_per_code"):
        sample_cohort(2, seed=0, min_ears_per_code={4: 5})
    with pytest.raises(ValueError, match="unknown code"):
        sample_cohort(5, seed=0, min_ears_per_code={9: 1})
    with pytest.raises(ValueError, match="n_exams"):
        sample_cohort(0, seed=0)


# ----------------------------------------------------------------------------- phantom and lesions


def _ear_volume(attributes: EarAttributes, pose: HeadPose, seed: int = 0):
    """Render one left ear alone on a 0.5 mm grid (background soft tissue); returns HU and world grids."""
    spacing, shape = np.array([0.5, 0.5, 0.5]), (50, 80, 70)  # z, y, x
    origin = np.array([35.0, -12.0, -12.0]) + pose.shift_mm
    hu = np.full(shape, 40.0, dtype=np.float32)
    rng = np.random.default_rng(seed)
    geometry = remodel_geometry(sample_ear_geometry(attributes.mastoid, rng), attributes, rng)
    canvas = ear_canvas(hu, origin, spacing, pose, "left", (45.0, 10.0, 0.0))
    paint_ear(canvas, geometry)
    lesions = paint_lesions(canvas, geometry, attributes, rng)
    return hu, canvas, geometry, lesions


def test_every_lesion_attribute_is_painted_and_normal_ears_get_none():
    pose = HeadPose(3.0, -1.5, (2.0, -3.0, 1.0))
    everything = EarAttributes(
        code=2, severity=0.8, mastoid="pneumatized", mucosal_thickening=True, opacification=0.5, effusion=True,
        air_fluid_level=True, bubbles=True, epitympanic_mass=True, scutum_erosion=True, ossicles="severe_erosion",
        aditus_widened=True, mastoid_opacified=True, expansile_cyst=True, bone_thinning=True, tumour_site="tympanic",
        facial_canal_widened=True, jugular_foramen_erosion=True,
    )
    _, _, geometry, lesions = _ear_volume(everything, pose)
    painted = {"mastoid_opacification", "mucosal_thickening", "opacification", "bubbles", "epitympanic_mass",
               "tympanic_mass", "facial_canal_mass", "jugular_foramen_mass", "expansile_cyst"}
    assert painted <= set(lesions)
    assert all(lesions[name]["volume_mm3"] > 0 for name in painted)
    assert {"scutum_erosion", "aditus_widening", "ossicle_erosion_0"} <= set(lesions)
    assert geometry.scutum_defect > 0 and len(geometry.ossicle_defects) == 3 and max(geometry.facial_radii) > 1.5
    assert all(lesions[name]["centre_world"][0] > 25 for name in lesions)  # all in the left ear (x > 0)
    _, _, _, normal = _ear_volume(EarAttributes(code=5), pose)
    assert normal == {}


def test_air_fluid_level_is_a_plane_of_constant_world_y_despite_head_yaw():
    pose = HeadPose(4.0, 2.0, (0.0, 0.0, 0.0))
    base = dict(code=3, severity=0.5, opacification=0.5, effusion=True, air_fluid_level=True)
    with_fluid, canvas, geometry, lesions = _ear_volume(EarAttributes(**base), pose)
    dry, _, _, _ = _ear_volume(EarAttributes(code=3, severity=0.5), pose)
    assert 0.35 < lesions["opacification"]["painted_fraction"] < 0.65
    cavity = np.zeros(dry.shape, dtype=bool)
    points = canvas.inside_points(middle_ear_space(geometry))
    world = np.array([canvas.frame_to_world(p) for p in points])
    index = np.round((world - canvas.origin) / canvas.spacing).astype(int)[:, ::-1]
    cavity[tuple(index.T)] = True
    cavity &= ndimage.binary_erosion(cavity, iterations=2)  # away from partial-volume walls
    y = canvas.origin[1] + canvas.spacing[1] * np.indices(dry.shape)[1]
    was_air = cavity & (dry < -800)  # not the facial nerve or other walls bulging into the cavity
    fluid, air = was_air & (with_fluid > -200), was_air & (with_fluid < -800)
    assert fluid.sum() > 50 and air.sum() > 50
    assert y[fluid].min() >= y[air].max() - 1.0  # fluid lies posterior (dependent) to air, level in y


def test_render_exam_contract_tiny():
    spec = sample_cohort(3, seed=2)[0]
    exam = render_exam(spec, "tiny")
    again = render_exam(spec, "tiny")
    assert exam.hu.dtype == np.int16 and exam.hu.shape == (24, 96, 128)
    assert np.array_equal(exam.hu, again.hu)
    assert exam.spacing == (1.25, 1.25, 2.0) and exam.direction == (1, 0, 0, 0, 1, 0, 0, 0, 1)
    assert -1024 <= exam.hu.min() and exam.hu.max() <= 3071
    rotation, shift = spec.pose.rotation(), np.asarray(spec.pose.shift_mm)
    for side, sign in (("left", 1), ("right", -1)):
        head = rotation.T @ (np.asarray(exam.ground_truth["capsule_centres_world"][side]) - shift)
        assert 42 <= sign * head[0] <= 48 and 5 <= head[1] <= 15 and abs(head[2]) <= 2
    with pytest.raises(ValueError, match="unknown size"):
        render_exam(spec, "huge")


def test_otic_capsule_is_the_densest_blob_on_each_side(export):
    _, truth = export
    for record in truth["exams"]:
        bone = [s for s in record["series"] if s["role"] == "bone"]
        if not bone:
            continue
        image, _ = _read_series(Path(export[0].root) / bone[0]["dir"])
        hu = sitk.GetArrayFromImage(image).astype(np.float32)
        spacing, origin = np.array(image.GetSpacing()), np.array(image.GetOrigin())
        smooth = ndimage.gaussian_filter(hu, 1.5 / spacing[::-1])
        x = origin[0] + spacing[0] * np.arange(hu.shape[2])
        for side, half in (("left", x > 0), ("right", x < 0)):
            masked = np.where(half[None, None, :], smooth, -np.inf)
            peak = origin + spacing * np.array(np.unravel_index(np.argmax(masked), masked.shape)[::-1])
            distance = np.linalg.norm(peak - record["capsule_centres_world"][side])
            assert distance < 8.0, (record["exam_id"], side, distance)


def test_left_lesion_is_at_positive_world_x_in_the_written_dicom(tmp_path):
    spec = sample_cohort(1, seed=9)[0]
    left = dataclasses.replace(EarAttributes(code=2, severity=0.9, mastoid="pneumatized"), opacification=0.8,
                               epitympanic_mass=True, ossicles="severe_erosion", scutum_erosion=True)
    spec = dataclasses.replace(spec, left=left, right=EarAttributes(code=5), decoy=None,
                               pose=HeadPose(3.5, -1.5, (4.0, -3.0, 2.0)))
    exam = render_exam(spec, "tiny")
    write_ct_series(tmp_path / "2", exam.hu, exam.spacing, exam.origin, spec=spec, study_uid="2.25.1",
                    series_uid="2.25.2", frame_uid="2.25.3", series_number=2, kernel="Hr64",
                    description="test", sop_uid=lambda i: f"2.25.{100 + i}")
    image, _ = _read_series(tmp_path / "2")
    hu = sitk.GetArrayFromImage(image).astype(np.float32)
    assert np.array_equal(hu, exam.hu)
    centres = exam.ground_truth["capsule_centres_world"]
    lesion = np.asarray(exam.ground_truth["lesions"]["left"]["epitympanic_mass"]["centre_world"])
    assert lesion[0] > 0 and exam.ground_truth["lesions"]["right"] == {}
    mirrored = np.asarray(centres["right"]) + (lesion - centres["left"]) * [-1, 1, 1]
    grid = [np.asarray(image.GetOrigin())[i] + image.GetSpacing()[i] * np.arange(hu.shape[2 - i]) for i in range(3)]
    zz, yy, xx = np.meshgrid(grid[2], grid[1], grid[0], indexing="ij")

    def soft_tissue_share(point):  # voxels of soft-tissue density within 3 mm
        near = hu[(xx - point[0]) ** 2 + (yy - point[1]) ** 2 + (zz - point[2]) ** 2 < 3.0**2]
        return float(((near > -150) & (near < 200)).mean())

    assert soft_tissue_share(lesion) > 0.45 and soft_tissue_share(mirrored) < 0.25


# ----------------------------------------------------------------------------- export


def test_sheet_columns_rows_and_label_formats(export):
    result, truth = export
    title, header, rows = _sheet_rows(result.xlsx_path)
    assert title == SHEET_NAME and tuple(header) == COLUMNS
    records = {r["exam_id"]: r for r in truth["exams"]}
    kinds = {a["kind"]: a["exam_id"] for a in truth["anomalies"]}
    expected = [r["exam_id"] for r in truth["exams"] if r["in_sheet"]] + [kinds["duplicate_row"]]
    assert sorted(row[0] for row in rows) == sorted(expected)
    for exam_id, when, left, right, findings, impression in rows:
        record = records[exam_id]
        assert isinstance(when, dt.datetime) and when.isoformat(sep=" ") == record["exam_datetime"]
        for cell, code in ((left, record["codes"]["left"]), (right, record["codes"]["right"])):
            assert cell is None or cell == code or (LABEL_PATTERN.match(cell) and cell.startswith(str(code)))
        assert findings == record["report"]["findings"] and impression == record["report"]["impression"]
        assert findings.endswith("。") and impression
    assert [row[2:4] for row in rows if row[0] == kinds["empty_labels"]] == [(None, None)]
    assert any(isinstance(c, str) and "：" in c for row in rows for c in row[2:4])  # full-width colon present


def test_dicom_tree_layout_and_anomalies(export):
    result, truth = export
    assert {a["kind"] for a in truth["anomalies"]} == {
        "duplicate_row", "two_dates", "row_without_images", "images_without_row", "empty_labels"}
    kinds = {a["kind"]: a["exam_id"] for a in truth["anomalies"]}
    found: dict[str, set] = {}
    for path in result.dicom_root.rglob("*.dcm"):
        date, exam_id, series, name = path.relative_to(result.dicom_root).parts
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", date) and series.isdigit() and re.fullmatch(r"IM\d{5}\.dcm", name)
        found.setdefault(exam_id, set()).add(date)
    records = {r["exam_id"]: r for r in truth["exams"]}
    for exam_id, record in records.items():
        if exam_id == kinds["row_without_images"]:
            assert exam_id not in found and record["series"] == []
        else:
            assert found[exam_id] == set(record["dicom_dates"])
            assert record["exam_datetime"].startswith(sorted(found[exam_id])[0])
    assert len(found[kinds["two_dates"]]) == 2
    _, _, rows = _sheet_rows(result.xlsx_path)
    assert kinds["images_without_row"] in found and kinds["images_without_row"] not in {r[0] for r in rows}


def test_dicom_headers_geometry_and_pixels(export):
    result, truth = export
    record = next(r for r in truth["exams"] if r["series"] and r["anomaly"] is None)
    bone = next(s for s in record["series"] if s["role"] == "bone")
    image, files = _read_series(result.root / bone["dir"])
    assert image.GetSpacing() == pytest.approx(record["spacing"])
    assert image.GetOrigin() == pytest.approx(record["origin"], abs=1e-3)
    assert image.GetDirection() == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    z = [float(_tag(f, "0020|0032").split("\\")[2]) for f in files]
    assert np.allclose(np.diff(z), record["spacing"][2])  # sorted, evenly spaced, nothing missing
    assert len(files) == bone["n_slices"] == record["shape_xyz"][2]
    top = next(f for f in files if _tag(f, "0020|0013") == "1")
    assert float(_tag(top, "0020|0032").split("\\")[2]) == pytest.approx(max(z))  # instance 1 is superior
    patient = record["patient"]
    expected = {
        "0010|0010": f"{patient['family_name']}^{patient['given_name']}", "0010|0020": patient["patient_id"],
        "0010|0030": patient["birth_date"].replace("-", ""), "0010|0040": patient["sex"],
        "0008|0050": record["exam_id"], "0008|0060": "CT", "0018|1210": record["scanner"]["bone_kernel"],
        "0008|0070": record["scanner"]["manufacturer"], "0020|000e": bone["series_uid"],
        "0008|0020": record["exam_datetime"][:10].replace("-", ""), "0028|1052": "-1024", "0028|1053": "1",
        "0020|0037": "1\\0\\0\\0\\1\\0",
    }
    assert {key: _tag(files[0], key) for key in expected} == expected
    spec = next(s for s in sample_cohort(12, EXPORT_SEED) if s.exam_id == record["exam_id"])
    assert np.array_equal(sitk.GetArrayFromImage(image), render_exam(spec, "tiny").hu)  # lossless, deterministic


def test_decoy_series_are_written_next_to_the_bone_series(export):
    result, truth = export
    decoys = [(r, s) for r in truth["exams"] for s in r["series"] if s["role"] != "bone"]
    assert decoys, "seed chosen so that the 12-exam export holds a decoy"
    for record, series in decoys:
        files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(result.root / series["dir"]))
        if series["role"] == "soft_tissue":
            assert _tag(files[0], "0018|1210") == record["scanner"]["soft_kernel"] != record["scanner"]["bone_kernel"]
            assert len(files) == record["shape_xyz"][2]
        else:
            assert 1 <= len(files) <= 2 and _tag(files[0], "0008|0008") == "ORIGINAL\\PRIMARY\\LOCALIZER"
        assert _tag(files[0], "0008|0050") == record["exam_id"]


def test_export_is_deterministic_across_worker_counts(tmp_path):
    first = make_synthetic_export(tmp_path / "a", n_exams=3, size="tiny", seed=21, num_proc=1)
    second = make_synthetic_export(tmp_path / "b", n_exams=3, size="tiny", seed=21, num_proc=2)
    files = sorted(p.relative_to(first.root) for p in first.root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second.root) for p in second.root.rglob("*") if p.is_file())
    for relative in files:
        if relative.suffix != ".xlsx":  # xlsx zips carry a save timestamp; compare its cells instead
            assert filecmp.cmp(first.root / relative, second.root / relative, shallow=False), relative
    assert _sheet_rows(first.xlsx_path) == _sheet_rows(second.xlsx_path)
    truth = json.loads(first.ground_truth_path.read_text(encoding="utf-8"))
    assert truth["anomalies"] == [] and "too few" in truth["anomalies_skipped"]  # recorded, not silent
    with pytest.raises(FileExistsError, match="already holds an export"):
        make_synthetic_export(tmp_path / "a", n_exams=1, size="tiny", seed=0)


def test_label_cell_formats_and_bad_style():
    assert label_cell(1, "full_width_colon") == "1：慢性化脓性中耳炎"
    assert label_cell(2, "half_width_colon") == "2:中耳胆脂瘤"
    assert label_cell(3, "code_only") == 3 and label_cell(4, "empty") is None
    with pytest.raises(ValueError, match="unknown label style"):
        label_cell(1, "roman")


def test_cli_writes_an_export(tmp_path, capsys):
    script = REPO / "datasets_scripts" / "make_synthetic_ear_ct.py"
    spec = importlib.util.spec_from_file_location("make_synthetic_ear_ct", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--out", str(tmp_path / "cli"), "--size", "tiny", "--n-exams", "2", "--seed", "1",
                 "--min-ears", "4:1"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_exams"] == 2 and Path(summary["xlsx"]).is_file()
    truth = json.loads(Path(summary["ground_truth"]).read_text(encoding="utf-8"))
    assert sum(code == 4 for r in truth["exams"] for code in r["codes"].values()) >= 1
