"""A fuzzing pass over the readers, the sheet and the builder: broken DICOM, mixed series, NaN/inf voxels,
empty and merged-header sheets, punctuation-only and 10 MB reports, thick slices. Each gives a clear error
naming the file, row or field, or is skipped with a reason in the build report; nothing is left half-written."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import SimpleITK as sitk
from _nonhead_phantoms import write_dicom
from _phantoms import make_head_phantom

from bicpl_hf.data.builder import DatasetBuildError, build_dataset
from bicpl_hf.data.export_table import ExportTableError
from bicpl_hf.processing.image_processing_bicpl import BiCPLVolumeProcessor
from bicpl_hf.processing.volume_io import VolumeReadError, numpy_volume, read_volume

SALT = "fuzz-test-salt-0123456789"
HEADER = ["检查号", "检查时间", "左侧诊断-训练", "右侧诊断-训练", "影像所见", "检查结论"]


@pytest.fixture(scope="module")
def head() -> sitk.Image:
    return make_head_phantom(size_xyz=(80, 70, 12), spacing=(2.0, 2.0, 1.0), seed=9).to_sitk()


def series(head: sitk.Image, folder: Path, **header) -> Path:
    return write_dicom(head, folder, series="TEMPORAL BONE", **header)


def processor() -> BiCPLVolumeProcessor:
    return BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(40.0, 40.0, 40.0))


# --------------------------------------------------------------------------------------------------
# Volumes
def test_zero_byte_dicom_file_is_named(head, tmp_path):
    folder = series(head, tmp_path / "s")
    (folder / "IM9999.dcm").write_bytes(b"")
    with pytest.raises(VolumeReadError, match="IM9999.dcm"):
        read_volume(folder)


def test_truncated_dicom_file_is_named(head, tmp_path):
    folder = series(head, tmp_path / "s")
    victim = folder / "IM0005.dcm"
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 3])
    with pytest.raises(VolumeReadError, match="IM0005.dcm"):
        read_volume(folder)


def test_dicom_without_pixel_data_is_named(head, tmp_path):
    folder = series(head, tmp_path / "s")
    victim = folder / "IM0003.dcm"
    data = victim.read_bytes()
    victim.write_bytes(data[: data.rindex(b"\xe0\x7f\x10\x00")])  # cut at the (7FE0,0010) PixelData element
    with pytest.raises(VolumeReadError, match="IM0003.dcm"):
        read_volume(folder)


def test_mixed_series_in_one_folder_are_told_apart(head, tmp_path):
    folder = series(head, tmp_path / "s", uid="1.2.826.0.1.3680043.8.498.81")
    other = series(head[:, :, :6], tmp_path / "other", uid="1.2.826.0.1.3680043.8.498.82")
    for path in other.iterdir():
        shutil.move(str(path), folder / f"B{path.name}")
    loaded = read_volume(folder)
    assert loaded.series_uid == "1.2.826.0.1.3680043.8.498.81"
    (rejected,) = loaded.series_choice.rejected
    assert rejected.series.series_uid.endswith(".82") and "fewer slices" in rejected.reason


def test_slices_of_one_series_that_disagree_are_refused(head, tmp_path):
    folder = series(head, tmp_path / "s")
    odd = series(sitk.Resample(head, [40, 35, 12], sitk.Transform(), sitk.sitkLinear, head.GetOrigin(),
                               [4.0, 4.0, 1.0], head.GetDirection()), tmp_path / "odd")
    shutil.copy(odd / "IM0011.dcm", folder / "IM0011.dcm")  # same series UID, other matrix and pixel size
    with pytest.raises(VolumeReadError, match="disagree on rows"):
        read_volume(folder)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_voxels_are_refused(bad, tmp_path):
    array = np.full((8, 8, 8), -1000.0, dtype=np.float32)
    array[3, 4, 5] = bad
    path = tmp_path / "bad.nii.gz"
    image = sitk.GetImageFromArray(array)
    sitk.WriteImage(image, str(path))
    with pytest.raises(VolumeReadError, match="NaN/infinite") as caught:
        read_volume(path)
    assert str(path) in str(caught.value)
    with pytest.raises(VolumeReadError, match="NaN/infinite"):
        numpy_volume(array, spacing=(1, 1, 1), origin=(0, 0, 0), direction=np.eye(3))


def test_thick_slices_are_refused_or_kept_with_a_warning(tmp_path):
    thick = make_head_phantom(size_xyz=(80, 70, 12), spacing=(2.0, 2.0, 3.2), seed=9).to_sitk()
    folder = series(thick, tmp_path / "s")
    with pytest.raises(VolumeReadError, match="3.20 mm thick, above the maximum of 1.25 mm") as caught:
        read_volume(folder, max_slice_thickness_mm=1.25)
    assert str(folder) in str(caught.value)
    kept = read_volume(folder, max_slice_thickness_mm=1.25, allow_thick_slices=True)
    assert any(w.startswith("thick slices:") for w in kept.warnings)
    nifti = tmp_path / "thick.nii.gz"
    sitk.WriteImage(thick, str(nifti))
    with pytest.raises(VolumeReadError, match="above the maximum"):
        read_volume(nifti, max_slice_thickness_mm=1.25)
    assert read_volume(nifti).image.GetSpacing()[2] == pytest.approx(3.2)  # no limit unless asked


def test_bone_series_with_a_missing_slice_does_not_fall_back_to_a_thick_one(head, tmp_path):
    exam = tmp_path / "exam"
    bone = series(head, exam / "bone", uid="1.2.826.0.1.3680043.8.498.91")
    (bone / "IM0006.dcm").unlink()
    thick = make_head_phantom(size_xyz=(80, 70, 12), spacing=(2.0, 2.0, 3.2), seed=9).to_sitk()
    write_dicom(thick, exam / "soft", series="SOFT TISSUE", uid="1.2.826.0.1.3680043.8.498.92")
    with pytest.raises(VolumeReadError) as caught:
        read_volume(exam, max_slice_thickness_mm=1.25)
    assert "missing slice(s)" in str(caught.value) and "3.20 mm thick" in str(caught.value)
    kept = read_volume(exam, max_slice_thickness_mm=1.25, allow_thick_slices=True)
    assert kept.series_uid.endswith(".92") and any(w.startswith("thick slices:") for w in kept.warnings)
    assert read_volume(exam).series_uid.endswith(".92")  # no limit: the old silent fallback


# --------------------------------------------------------------------------------------------------
# Sheets and the builder
def workbook(path: Path, rows, *, merge: str | None = None) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "影像学检查"
    sheet.append(HEADER)
    for row in rows:
        sheet.append(list(row))
    if merge:
        sheet.merge_cells(merge)
    book.save(path)
    return path


def test_empty_sheet_and_merged_header_are_clear_errors_and_write_nothing(tmp_path):
    (tmp_path / "dicom").mkdir()
    cases = {
        "header-only": (workbook(tmp_path / "header.xlsx", []), DatasetBuildError, "no exam rows"),
        "no-header": (tmp_path / "empty.csv", ExportTableError, "the file is empty"),
        "merged": (workbook(tmp_path / "merged.xlsx", [("CT1", None, "1", "5", "左侧鼓室积液", "左侧中耳炎")],
                            merge="C1:D1"), ExportTableError, "missing column '右侧诊断-训练'"),
    }
    (tmp_path / "empty.csv").write_bytes(b"")
    for name, (export, error, message) in cases.items():
        output = tmp_path / f"out-{name}"
        with pytest.raises(error, match=message) as caught:
            build_dataset(export, tmp_path / "dicom", output, processor=processor(), salt=SALT, progress=False)
        assert export.name in str(caught.value)
        assert not output.exists(), name


def write_csv(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    return path


def test_ten_megabytes_in_one_cell_is_a_clear_error(tmp_path):
    export = write_csv(tmp_path / "huge.csv", [("CTF1", None, "1", "5", "鼓" * (10 * 1024 * 1024), "左侧中耳炎。")])
    (tmp_path / "dicom").mkdir()
    with pytest.raises(ExportTableError, match="field larger than field limit") as caught:
        build_dataset(export, tmp_path / "dicom", tmp_path / "out", processor=processor(), salt=SALT, progress=False)
    assert "huge.csv" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_builder_skips_bad_reports_and_thick_series_with_reasons(head, tmp_path):
    root = tmp_path / "dicom"
    thick = make_head_phantom(size_xyz=(80, 70, 12), spacing=(2.0, 2.0, 3.2), seed=9).to_sitk()
    for exam, image in (("CTF1", head), ("CTF2", head), ("CTF3", head), ("CTF4", thick), ("CTF5", head)):
        series(image, root / "2020-01-01" / exam / "s1", uid=f"1.2.826.0.1.3680043.8.498.9{exam[-1]}")
    rows = [
        ("CTF1", None, "1", "5", "左侧鼓室软组织影。右侧中耳乳突未见异常。", "左侧中耳炎。"),
        ("CTF2", None, None, None, "。。。", "，；！"),  # only punctuation
        ("CTF3", None, None, None, "鼓" * 120_000, ""),  # far too long for a report
        ("CTF4", None, "5", "5", "双侧中耳乳突未见异常。", "双侧颞骨未见异常。"),  # a 3.2 mm series only
        ("CTF5", None, None, None, "双乳腺对称，未见占位。", "双侧乳腺未见明显异常。"),  # not an ear report
    ]
    export = write_csv(tmp_path / "export.csv", rows)
    result = build_dataset(export, root, tmp_path / "out", processor=processor(), salt=SALT, progress=False)
    report = json.loads((tmp_path / "out" / "build_report.json").read_text(encoding="utf-8"))
    by_row = {r["row"]: r for r in report["rows"]}
    assert by_row[2]["status"] == "kept"
    assert by_row[3]["reason_code"] == "no_label_no_report" and "only punctuation" in by_row[3]["reason"]
    assert by_row[4]["reason_code"] == "no_label_no_report" and "characters long" in by_row[4]["reason"]
    assert by_row[5]["reason_code"] == "thick_slices" and "3.20 mm thick" in by_row[5]["reason"]
    assert by_row[6]["reason_code"] == "no_label_no_report" and "not about the ear" in by_row[6]["reason"]
    assert result.totals["rows_report_not_ear"] == 1
    assert result.totals["rows_kept_thick_slices"] == 0
    allowed = build_dataset(export, root, tmp_path / "out-thick", processor=processor(), salt=SALT, progress=False,
                            allow_thick_slices=True)
    report = json.loads((tmp_path / "out-thick" / "build_report.json").read_text(encoding="utf-8"))
    row = next(r for r in report["rows"] if r["row"] == 5)
    assert row["status"] == "kept" and any(n.startswith("thick slices:") for n in row["notes"])
    assert allowed.totals["rows_kept_thick_slices"] == 1
    assert not list((tmp_path / "out-thick").glob(".dataset-staging-*"))
