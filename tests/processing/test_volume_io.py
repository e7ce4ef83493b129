"""Reading CT volumes: DICOM series (choice, ordering, HU), NIfTI, numpy, and every bad-input error."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from _phantoms import write_dicom_series

from bicpl_hf.processing.volume_io import (
    LoadedVolume,
    VolumeReadError,
    choose_series,
    classify_kernel,
    list_series,
    numpy_volume,
    read_volume,
    scan_dicom_folder,
)

REAL_GE_SERIES = Path(__file__).resolve().parents[2].parent / "shared/data/real_ct/monai_head_ct_dicom"


@pytest.fixture(scope="module")
def small_ct() -> sitk.Image:
    """10 slices of 24 x 20 random HU with non-trivial geometry."""
    rng = np.random.default_rng(7)
    values = rng.integers(-1024, 2500, size=(10, 20, 24)).astype(np.int16)
    image = sitk.GetImageFromArray(values)
    image.SetSpacing((0.5, 0.45, 0.6))
    image.SetOrigin((-5.0, 12.0, 30.3))
    return image


def _assert_same_world(a: sitk.Image, b: sitk.Image) -> None:
    """Values at the same patient LPS points agree (geometry kept, whatever the storage order)."""
    for index in [(0, 0, 0), (3, 5, 7), (a.GetSize()[0] - 1, a.GetSize()[1] - 1, a.GetSize()[2] - 1)]:
        point = a.TransformIndexToPhysicalPoint(index)
        assert b.GetPixel(b.TransformPhysicalPointToIndex(point)) == pytest.approx(a.GetPixel(index))


def test_dicom_series_is_read_in_position_order_with_geometry_and_hu(tmp_path, small_ct):
    paths = write_dicom_series(small_ct, tmp_path / "series", shuffle_seed=3, kernel="BONE")
    assert [p.name for p in paths] != sorted(p.name for p in paths)  # names do not give the order
    loaded = read_volume(tmp_path / "series")
    assert isinstance(loaded, LoadedVolume)
    assert loaded.image.GetPixelID() == sitk.sitkFloat32
    np.testing.assert_array_equal(sitk.GetArrayFromImage(loaded.image), sitk.GetArrayFromImage(small_ct))
    np.testing.assert_allclose(loaded.image.GetSpacing(), small_ct.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(loaded.image.GetOrigin(), small_ct.GetOrigin(), atol=1e-3)
    assert (loaded.modality, loaded.kernel, loaded.series_uid) == ("CT", "BONE", "1.2.826.0.1.3680043.8.498.10")
    assert [Path(f).name for f in loaded.series_choice.chosen.files] == [p.name for p in paths]


def test_dicom_slices_stacked_against_the_normal_keep_world_positions(tmp_path, small_ct):
    flipped = sitk.Image(small_ct)
    flipped.SetDirection((1, 0, 0, 0, -1, 0, 0, 0, -1))  # rows toward anterior, slices toward inferior
    write_dicom_series(flipped, tmp_path / "series")
    _assert_same_world(flipped, read_volume(tmp_path / "series").image)


def test_nifti_files_keep_patient_geometry_including_ras_storage(tmp_path, small_ct):
    sitk.WriteImage(small_ct, str(tmp_path / "lps.nii.gz"))
    ras = sitk.Flip(small_ct, [True, True, False])
    assert np.allclose(ras.GetDirection(), np.diag([-1, -1, 1]).ravel())
    sitk.WriteImage(ras, str(tmp_path / "ras.nii"))
    sitk.WriteImage(small_ct, str(tmp_path / "vol.nrrd"))
    for name in ("lps.nii.gz", "ras.nii", "vol.nrrd"):
        _assert_same_world(small_ct, read_volume(tmp_path / name).image)


def test_numpy_volume_needs_and_keeps_explicit_geometry(small_ct):
    array = sitk.GetArrayFromImage(small_ct)
    with pytest.raises(TypeError, match="numpy_volume"):
        read_volume(array)
    loaded = numpy_volume(array, spacing=small_ct.GetSpacing(), origin=small_ct.GetOrigin(), direction=np.eye(3))
    _assert_same_world(small_ct, read_volume(loaded).image)
    with pytest.raises(VolumeReadError, match="spacing must be 3 positive"):
        numpy_volume(array, spacing=(1, 0, 1), origin=(0, 0, 0), direction=np.eye(3))
    with pytest.raises(VolumeReadError, match="orthonormal"):
        numpy_volume(array, spacing=(1, 1, 1), origin=(0, 0, 0), direction=np.eye(3) * 2)
    warned = numpy_volume(np.full((3, 4, 5), 100.0), spacing=(1, 1, 1), origin=(0, 0, 0), direction=np.eye(3))
    assert any("air should be near -1000 HU" in w for w in warned.warnings)


def test_exam_folder_chooses_bone_series_and_reports_the_others(tmp_path, small_ct):
    exam = tmp_path / "exam"
    bone = small_ct[:, :, :9]  # fewer slices than the soft series: the kernel must still win
    write_dicom_series(bone, exam / "s1", series_uid="1.2.3.1", kernel="Hr64\\3", description="IAC")
    write_dicom_series(small_ct, exam / "s2", series_uid="1.2.3.2", kernel="STANDARD", description="brain")
    write_dicom_series(small_ct[:, :, 4:5], exam / "s3", series_uid="1.2.3.3", kernel="STANDARD",
                       image_type="ORIGINAL\\PRIMARY\\LOCALIZER", description="scout")
    infos = list_series(exam)
    assert sorted(s.series_uid for s in infos) == ["1.2.3.1", "1.2.3.2", "1.2.3.3"]
    chosen, rejected = choose_series(infos)
    assert chosen.series_uid == "1.2.3.1" and chosen.kernel_class == "bone"
    reasons = {r.series.series_uid: r.reason for r in rejected}
    assert "soft kernel 'STANDARD'" in reasons["1.2.3.2"]
    assert "only 1 slice" in reasons["1.2.3.3"] and "LOCALIZER" in reasons["1.2.3.3"]
    loaded = read_volume(exam)
    assert loaded.series_uid == "1.2.3.1" and loaded.image.GetSize()[2] == 9
    assert "bone kernel 'Hr64\\3'" in loaded.series_choice.reason
    assert read_volume(exam, series_selection="1.2.3.2").kernel == "STANDARD"
    with pytest.raises(VolumeReadError, match="series 9.9 not found in .*exam"):
        read_volume(exam, series_selection="9.9")


@pytest.mark.parametrize(
    "kernel, description, expected",
    [("BONE", "", "bone"), ("BONEPLUS", "", "bone"), ("B70f", "", "bone"), ("Br64d\\3", "", "bone"),
     ("H70h", "", "bone"), ("YC", "", "bone"), ("B_SHARP_C", "", "bone"), ("STANDARD", "", "soft"),
     ("SOFT", "", "soft"), ("B30f", "", "soft"), ("H30s", "", "soft"), ("", "颞骨 骨算法", "bone"),
     ("XYZ", "", "unknown")],
)
def test_kernel_classification(kernel, description, expected):
    assert classify_kernel(kernel, description) == expected


def _break_file(path: Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes(b"this is not DICOM" * 20 if how == "garbage" else data[: len(data) // 2])


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_corrupt_dicom_file_is_named(tmp_path, small_ct, how):
    paths = write_dicom_series(small_ct, tmp_path / "series")
    _break_file(paths[5], how)
    with pytest.raises(VolumeReadError, match=f"corrupt DICOM file .*{paths[5].name}"):
        read_volume(tmp_path / "series")
    assert str(paths[5]) in scan_dicom_folder(tmp_path / "series").unreadable_files[0]


def test_corrupt_file_only_disqualifies_the_series_of_its_folder(tmp_path, small_ct):
    exam = tmp_path / "exam"
    write_dicom_series(small_ct, exam / "bone", series_uid="1.2.3.1", kernel="BONE")
    soft = write_dicom_series(small_ct, exam / "soft", series_uid="1.2.3.2", kernel="STANDARD")
    _break_file(soft[2], "garbage")
    loaded = read_volume(exam)
    assert loaded.series_uid == "1.2.3.1"
    (rejection,) = loaded.series_choice.rejected
    assert rejection.series.series_uid == "1.2.3.2" and f"corrupt DICOM file {soft[2]}" in rejection.reason


def test_missing_slice_names_folder_and_positions(tmp_path, small_ct):
    paths = write_dicom_series(small_ct, tmp_path / "series")
    paths[4].unlink()
    z3, z5 = small_ct.GetOrigin()[2] + 3 * 0.6, small_ct.GetOrigin()[2] + 5 * 0.6
    expected = (rf"missing slice\(s\) in .*series: gap of 1.200 mm between slice positions {z3:.3f} mm .* and "
                rf"{z5:.3f} mm .*expected steps of 0.600 mm")
    with pytest.raises(VolumeReadError, match=expected):
        read_volume(tmp_path / "series")


def test_uneven_and_duplicate_slice_spacing_is_refused(tmp_path, small_ct):
    uneven = [0.0, 0.6, 1.2, 1.8, 2.6, 3.2, 3.8, 4.4, 5.0, 5.6]
    write_dicom_series(small_ct, tmp_path / "uneven", slice_positions=uneven)
    with pytest.raises(VolumeReadError, match=r"uneven slice spacing in .*uneven: step of 0.800 mm .*expected a const"):
        read_volume(tmp_path / "uneven")
    duplicate = [0.0, 0.6, 1.2, 1.2, 1.8, 2.4, 3.0, 3.6, 4.2, 4.8]
    write_dicom_series(small_ct, tmp_path / "dup", slice_positions=duplicate)
    with pytest.raises(VolumeReadError, match="duplicate slice position in .*dup"):
        read_volume(tmp_path / "dup")


def test_mr_and_single_slice_series_are_refused(tmp_path, small_ct):
    write_dicom_series(small_ct, tmp_path / "mr", modality="MR")
    with pytest.raises(VolumeReadError, match=r"no usable CT series in .*mr: .*modality is 'MR', expected 'CT'"):
        read_volume(tmp_path / "mr")
    write_dicom_series(small_ct[:, :, 2:3], tmp_path / "one")
    with pytest.raises(VolumeReadError, match=r"no usable CT series in .*one: .*only 1 slice"):
        read_volume(tmp_path / "one")


@pytest.mark.parametrize("name", ["has_nan.nii.gz", "has_nan.mha"])
def test_nan_volume_is_refused_naming_the_file(tmp_path, name):
    values = np.zeros((4, 5, 6), dtype=np.float32)
    values[1, 2, 3] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(values), str(tmp_path / name))
    with pytest.raises(VolumeReadError, match=rf"{name}: volume contains 1 NaN"):
        read_volume(tmp_path / name)
    with pytest.raises(VolumeReadError, match=r"my array: volume contains 1 NaN"):
        numpy_volume(values, spacing=(1, 1, 1), origin=(0, 0, 0), direction=np.eye(3), source="my array")


def test_paths_that_are_not_volumes_are_refused(tmp_path, small_ct):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VolumeReadError, match=r"no DICOM series found in .*empty \(it holds nothing\)"):
        read_volume(tmp_path / "empty")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no images here")
    with pytest.raises(VolumeReadError, match=r"no DICOM series found in .*notes \(it holds 1 non-DICOM file"):
        read_volume(tmp_path / "notes")
    (tmp_path / "scan.png").write_bytes(b"\x89PNG")
    with pytest.raises(VolumeReadError, match=r"unsupported file type .*scan.png"):
        read_volume(tmp_path / "scan.png")
    with pytest.raises(VolumeReadError, match=r"nowhere.nii does not exist"):
        read_volume(tmp_path / "nowhere.nii")
    paths = write_dicom_series(small_ct, tmp_path / "series")
    with pytest.raises(VolumeReadError, match=rf"{paths[0].name} is a single DICOM file; pass the folder"):
        read_volume(paths[0])
    (tmp_path / "series" / "notes.txt").write_text("exported by PACS")
    assert any("ignored non-DICOM file" in w for w in read_volume(tmp_path / "series").warnings)


def _real_series_or_skip() -> Path:
    if not REAL_GE_SERIES.is_dir():
        pytest.skip(f"real reference DICOM not available at {REAL_GE_SERIES}")
    return REAL_GE_SERIES


def test_real_ge_series_is_ordered_by_position_not_file_name(tmp_path):
    real = _real_series_or_skip()
    originals = sorted(real.iterdir())  # 7106, 7136, 7166, 7196: ascending z
    for i, path in enumerate(originals):  # reversed, suffix-less names like the GE export
        shutil.copy(path, tmp_path / f"{len(originals) - i:04d}")
    (info,) = list_series(tmp_path)
    assert [Path(f).name for f in info.files] == ["0004", "0003", "0002", "0001"]
    assert info.slice_positions_mm == pytest.approx((-99.48, 103.02, 104.27, 105.52), abs=1e-3)
    assert (info.modality, info.kernel, info.kernel_class, info.is_axial) == ("CT", "STANDARD", "soft", True)


def test_real_ge_series_gap_is_reported():
    real = _real_series_or_skip()
    with pytest.raises(VolumeReadError, match=r"missing slice\(s\) in .*monai_head_ct_dicom: gap of 202.500 mm "
                                              r"between slice positions -99.480 mm \(7106\) and 103.020 mm \(7136\)"):
        read_volume(real)


def _stored_pixels(path: Path) -> np.ndarray:
    """Raw stored values of an uncompressed little-endian 16x16 int16 slice (explicit VR 'OW')."""
    raw = path.read_bytes()
    start = raw.rfind(b"\xe0\x7f\x10\x00OW")
    length = int.from_bytes(raw[start + 8 : start + 12], "little")
    return np.frombuffer(raw[start + 12 : start + 12 + length], "<i2").reshape(16, 16)


def test_real_ge_contiguous_slices_read_with_hu_rescale(tmp_path):
    real = _real_series_or_skip()
    for name in ("7196", "7136", "7166"):
        shutil.copy(real / name, tmp_path / name)
    loaded = read_volume(tmp_path)
    assert loaded.image.GetSize() == (16, 16, 3)
    assert loaded.image.GetSpacing()[2] == pytest.approx(1.25, abs=1e-3)
    assert loaded.image.GetOrigin()[2] == pytest.approx(103.02, abs=1e-3)
    values = sitk.GetArrayFromImage(loaded.image)
    for k, name in enumerate(("7136", "7166", "7196")):  # ascending z; RescaleIntercept is -1024
        np.testing.assert_array_equal(values[k], _stored_pixels(real / name) - 1024.0)
    assert any("no bone-kernel series" in w for w in loaded.warnings)
