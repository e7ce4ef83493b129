"""BiCPLVolumeProcessor and ear localisation: left/right, mirroring, robustness, round trip, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from _phantoms import make_head_phantom, permuted_axes_image, ras_stored_image, write_dicom_series

from bicpl_hf.processing.ear_localization import (
    EarLocalizationError,
    localize_temporal_bones,
    reorient_to_lps,
    roi_to_image,
)
from bicpl_hf.processing.image_processing_bicpl import BiCPLVolumeProcessor
from bicpl_hf.processing.volume_io import numpy_volume, read_volume

SOFT, BONE = 1, 0  # channel order of the default windows
DENSE_BONE = (1500 - (700 - 2000)) / 4000  # 1500 HU in the bone window


@pytest.fixture(scope="module")
def processor() -> BiCPLVolumeProcessor:
    return BiCPLVolumeProcessor(roi_shape=(24, 24, 24), roi_size_mm=(48.0, 48.0, 48.0))


@pytest.fixture(scope="module")
def phantoms() -> dict:
    return {
        "left": make_head_phantom(lesion_side="left", seed=1),
        "right": make_head_phantom(lesion_side="right", seed=2),
        "symmetric": make_head_phantom(seed=3),
        "moved": make_head_phantom(shift_mm=(8.0, -6.0, 3.0), yaw_deg=5.0, seed=4),
    }


def _roi_index(meta: dict, point_lps) -> np.ndarray:
    """(d, h, w) ROI index of an LPS point, through the metadata's index_to_lps_affine."""
    return np.linalg.solve(np.array(meta["index_to_lps_affine"]), [*point_lps, 1.0])[:3]


def _region_mean(channel: np.ndarray, index: np.ndarray) -> float:
    d, h, w = np.round(index).astype(int)
    return float(channel[d - 1 : d + 2, h - 1 : h + 2, w - 1 : w + 2].mean())


@pytest.mark.parametrize(
    "direction",
    [np.diag([-1.0, -1.0, 1.0]), np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])],
    ids=["ras", "permuted"],
)
def test_dicom_orient_lps_means_left_posterior_superior(direction):
    size, spacing, origin = np.array([5, 6, 7]), np.array([1.0, 2.0, 3.0]), np.array([3.0, -4.0, 5.0])
    index = np.stack(np.meshgrid(*[np.arange(n) for n in size], indexing="ij"), axis=-1)  # (x, y, z, 3)
    world = origin + (index * spacing) @ direction.T
    for axis, (numpy_axis, name) in enumerate([(2, "left"), (1, "posterior"), (0, "superior")]):
        image = sitk.GetImageFromArray(np.transpose(world[..., axis], (2, 1, 0)).astype(np.float32))
        image.SetSpacing(spacing.tolist())
        image.SetOrigin(origin.tolist())
        image.SetDirection(direction.ravel().tolist())
        reoriented = reorient_to_lps(image)
        np.testing.assert_allclose(reoriented.GetDirection(), np.eye(3).ravel(), atol=1e-9)
        values = sitk.GetArrayFromImage(reoriented)  # value = LPS world coordinate `axis`
        assert np.all(np.diff(values, axis=numpy_axis) > 0), f"array axis does not run toward the {name}"
        point = image.TransformIndexToPhysicalPoint((1, 2, 3))
        assert reoriented.GetPixel(reoriented.TransformPhysicalPointToIndex(point)) == pytest.approx(point[axis])


def _as_source(phantom, storage: str, tmp_path):
    image = phantom.to_sitk()
    if storage == "dicom":
        write_dicom_series(image, tmp_path / "series")
        return tmp_path / "series"
    if storage == "nifti":
        sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))
        return tmp_path / "ct.nii.gz"
    if storage == "nifti_ras":
        sitk.WriteImage(ras_stored_image(image), str(tmp_path / "ct_ras.nii"))
        return tmp_path / "ct_ras.nii"
    array, geometry = permuted_axes_image(image)
    if storage == "numpy_permuted":
        return numpy_volume(array, **geometry)
    permuted = numpy_volume(array, **geometry).image
    sitk.WriteImage(permuted, str(tmp_path / "ct_permuted.mha"))
    return tmp_path / "ct_permuted.mha"


@pytest.mark.parametrize(
    "storage, lesion_side",
    [("dicom", "left"), ("dicom", "right"), ("nifti", "left"), ("nifti_ras", "left"),
     ("numpy_permuted", "left"), ("mha_permuted", "right")],
)
def test_lesion_lands_in_the_ear_of_its_side(processor, phantoms, tmp_path, storage, lesion_side):
    phantom = phantoms[lesion_side]
    batch = processor(_as_source(phantom, storage, tmp_path), return_tensors="np")
    values, (left_meta, right_meta) = batch["pixel_values"][0], batch["ear_metadata"][0]
    left_index = _roi_index(left_meta, phantom.landmarks["left_middle_ear"])
    right_index = _roi_index(right_meta, phantom.landmarks["right_middle_ear"])
    # Mirroring puts both middle ears at the same ROI voxel, on the lateral (high W) side.
    np.testing.assert_allclose(left_index, right_index, atol=1.5)
    assert left_index[2] > 12
    left_mean = _region_mean(values[0, SOFT], left_index)
    right_mean = _region_mean(values[1, SOFT], left_index)
    lesion_mean, clear_mean = (left_mean, right_mean) if lesion_side == "left" else (right_mean, left_mean)
    assert lesion_mean > 0.4 and clear_mean < 0.1, (storage, lesion_side, left_mean, right_mean)


def test_mirrored_right_matches_left_on_a_symmetric_head(processor, phantoms):
    values = processor(phantoms["symmetric"].to_sitk(), return_tensors="np")["pixel_values"][0]
    for channel in (BONE, SOFT):
        left, right = values[0, channel].ravel(), values[1, channel]
        assert np.corrcoef(left, right.ravel())[0, 1] > 0.9
        # Control: without the mirror the ears do not match, so the check above can fail.
        assert np.corrcoef(left, right[:, :, ::-1].ravel())[0, 1] < 0.5


def test_orientation_setting_changes_roi_axes(phantoms):
    ras = BiCPLVolumeProcessor(roi_shape=(24, 24, 24), roi_size_mm=(48.0, 48.0, 48.0), orientation="RAS")
    batch = ras(phantoms["left"].to_sitk(), return_tensors="np")
    left_index = _roi_index(batch["ear_metadata"][0][0], phantoms["left"].landmarks["left_middle_ear"])
    right_index = _roi_index(batch["ear_metadata"][0][1], phantoms["left"].landmarks["right_middle_ear"])
    assert left_index[2] < 11 and right_index[2] < 11  # W now runs medially for both ears
    assert _region_mean(batch["pixel_values"][0, 0, SOFT], left_index) > 0.4


def test_shifted_and_rotated_head_keeps_both_ears_centred(processor, phantoms):
    phantom = phantoms["moved"]
    batch = processor(phantom.to_sitk(), return_tensors="np")
    values, metadata = batch["pixel_values"][0], batch["ear_metadata"][0]
    assert metadata[0]["yaw_deg"] == pytest.approx(5.0, abs=1.5)
    for ear, side in enumerate(("left", "right")):
        capsule = _roi_index(metadata[ear], phantom.landmarks[f"{side}_capsule"])
        dense = np.argwhere(values[ear, BONE] > DENSE_BONE)
        assert len(dense) > 20, f"{side} otic capsule not in its ROI"
        # Within 1.5 voxels (3 mm) of the true capsule, which sits 3 voxels medial of the ROI centre.
        np.testing.assert_allclose(dense.mean(axis=0), capsule, atol=1.5)
        np.testing.assert_allclose(capsule, [11.5, 11.5, 8.5], atol=1.5)


def test_registration_runs_records_metric_and_is_deterministic(phantoms):
    registering = BiCPLVolumeProcessor(roi_shape=(24, 24, 24), roi_size_mm=(48.0, 48.0, 48.0), register=True)
    plain = BiCPLVolumeProcessor(roi_shape=(24, 24, 24), roi_size_mm=(48.0, 48.0, 48.0))
    image = phantoms["moved"].to_sitk()
    first, second = registering(image, return_tensors="np"), registering(image, return_tensors="np")
    record = first["ear_metadata"][0][1]["registration"]
    assert record["ran"] and record["status"] == "registered"
    assert record["metric_after"] <= record["metric_before"]
    np.testing.assert_array_equal(first["pixel_values"], second["pixel_values"])
    unregistered = plain(image, return_tensors="np")["pixel_values"][0]
    assert not np.array_equal(unregistered[1], first["pixel_values"][0, 1])
    np.testing.assert_array_equal(unregistered[0], first["pixel_values"][0, 0])  # left is never moved


def test_registration_failure_falls_back_with_a_warning(phantoms, monkeypatch):
    def broken_execute(self, fixed, moving):
        raise RuntimeError("ITK ERROR: optimizer diverged")

    monkeypatch.setattr(sitk.ImageRegistrationMethod, "Execute", broken_execute)
    registering = BiCPLVolumeProcessor(roi_shape=(24, 24, 24), roi_size_mm=(48.0, 48.0, 48.0), register=True)
    plain = BiCPLVolumeProcessor(roi_shape=(24, 24, 24), roi_size_mm=(48.0, 48.0, 48.0))
    image = phantoms["moved"].to_sitk()
    batch = registering(image, return_tensors="np")
    right = batch["ear_metadata"][0][1]
    assert right["registration"]["status"] == "failed" and "diverged" in right["registration"]["message"]
    assert any("registration failed" in w for w in right["warnings"])
    np.testing.assert_array_equal(batch["pixel_values"], plain(image, return_tensors="np")["pixel_values"])


def test_save_pretrained_round_trip_gives_identical_tensors(phantoms, tmp_path):
    custom = BiCPLVolumeProcessor(
        roi_shape=(24, 20, 22), roi_size_mm=(44.0, 40.0, 42.0), lateral_offset_mm=5.0,
        windows=[{"name": "bone", "width": 3000, "level": 600}, {"name": "soft_tissue", "width": 400, "level": 50},
                 {"name": "air", "width": 1000, "level": -500}],
    )
    custom.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["roi_shape"] == [24, 20, 22] and saved["image_processor_type"] == "BiCPLVolumeProcessor"
    reloaded = BiCPLVolumeProcessor.from_pretrained(tmp_path)
    assert reloaded.to_dict() == custom.to_dict()
    image = phantoms["left"].to_sitk()
    expected, actual = custom(image)["pixel_values"], reloaded(image)["pixel_values"]
    assert expected.shape == (1, 2, 3, 24, 20, 22)
    assert torch.equal(expected, actual)
    assert BiCPLVolumeProcessor.from_pretrained(tmp_path, register=True).register is True


def test_batch_output_contract(processor, phantoms, tmp_path):
    sitk.WriteImage(phantoms["symmetric"].to_sitk(), str(tmp_path / "b.nii.gz"))
    batch = processor([phantoms["left"].to_sitk(), tmp_path / "b.nii.gz"]).to(torch.float32)
    values = batch["pixel_values"]
    assert values.shape == (2, 2, 2, 24, 24, 24) and values.dtype == torch.float32
    assert float(values.min()) >= 0.0 and float(values.max()) <= 1.0
    metadata = batch["ear_metadata"]
    assert [[m["side"] for m in exam] for exam in metadata] == [["left", "right"]] * 2
    assert [m["mirrored"] for m in metadata[1]] == [False, True]
    assert metadata[1][0]["source"].endswith("b.nii.gz") and metadata[1][0]["spacing_mm"] == [2.0, 2.0, 2.0]
    json.dumps(metadata)  # JSON-friendly
    assert isinstance(processor(tmp_path / "b.nii.gz", return_tensors="np")["pixel_values"], np.ndarray)


def test_roi_heat_map_maps_back_onto_the_original_ct(processor, phantoms):
    phantom = phantoms["symmetric"]
    image = phantom.to_sitk()
    batch = processor(image, return_tensors="np")
    for ear, side in enumerate(("left", "right")):
        heat = (batch["pixel_values"][0, ear, BONE] > DENSE_BONE).astype(np.float32)
        affine = batch["ear_metadata"][0][ear]["index_to_lps_affine"]
        overlay = sitk.GetArrayFromImage(roi_to_image(heat, affine, image))
        hot = np.argwhere(overlay > 0.5)[:, ::-1].mean(axis=0)  # (x, y, z) index in the original CT
        centre = image.TransformContinuousIndexToPhysicalPoint(hot.tolist())
        np.testing.assert_allclose(centre, phantom.landmarks[f"{side}_capsule"], atol=2.0)


def test_volume_without_both_ears_is_refused_naming_the_source(processor, phantoms, tmp_path):
    image = phantoms["symmetric"].to_sitk()
    left_half = image[70:, :, :]  # keeps the patient's left ear and a little of the midline
    sitk.WriteImage(left_half, str(tmp_path / "left_only.nii.gz"))
    with pytest.raises(EarLocalizationError, match=r"no temporal bone found on the patient's right side in .*left_onl"):
        processor(tmp_path / "left_only.nii.gz")
    sitk.WriteImage(image[120:160, :, :], str(tmp_path / "sliver.nii.gz"))
    with pytest.raises(EarLocalizationError, match=r"volume too small to hold both ears in .*sliver.nii.gz"):
        localize_temporal_bones(read_volume(tmp_path / "sliver.nii.gz").image, source=str(tmp_path / "sliver.nii.gz"))


@pytest.mark.parametrize(
    "settings, message",
    [({"roi_shape": (24, 24)}, "roi_shape must be 3 positive"),
     ({"windows": [{"name": "bone", "width": 0, "level": 700}]}, "positive width"),
     ({"windows": [{"name": "bone", "level": 700}]}, "exactly 'name', 'width', 'level'"),
     ({"orientation": "LLS"}, "each of the three patient axes once"),
     ({"roi_size": (1, 2, 3)}, "unknown settings")],
)
def test_invalid_settings_are_refused(settings, message):
    with pytest.raises((ValueError, TypeError), match=message):
        BiCPLVolumeProcessor(**settings)
