"""The localiser refuses what is not a temporal-bone CT (NIfTI and DICOM written here), says which file
and what was missing, reads the DICOM header's body-region words, and still finds the ears of heads."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from _nonhead_phantoms import (
    abdomen_phantom,
    chest_phantom,
    head_above_skull_base,
    head_phantom_image,
    head_without_petrous_bones,
    write_dicom,
)

from bicpl_hf.processing.ear_localization import EarLocalizationError, localize_temporal_bones
from bicpl_hf.processing.image_processing_bicpl import BiCPLVolumeProcessor
from bicpl_hf.processing.volume_io import VolumeReadError, read_volume

REAL_HEAD_CT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real_ct" / "monai_head_ct_dicom"
NOT_EARS = {
    "abdomen": (abdomen_phantom, "not a head CT"),
    "abdomen-narrow-fov": (lambda: abdomen_phantom()[22:102, :, :], "not a pair of otic capsules"),
    "chest": (chest_phantom, "not a head CT"),
    "head-above-skull-base": (head_above_skull_base, "inside the side of the body"),
    "head-petrous-bones-cropped": (head_without_petrous_bones, "no temporal bone found"),
}


head_phantom_image = functools.lru_cache(maxsize=1)(head_phantom_image)  # noqa: F811 - rendered once


def processor() -> BiCPLVolumeProcessor:
    return BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(40.0, 40.0, 40.0))


def write(image: sitk.Image, folder: Path, kind: str, **header) -> Path:
    if kind == "nifti":
        path = folder / "volume.nii.gz"
        sitk.WriteImage(image, str(path))
        return path
    return write_dicom(image, folder / "series", **header)


@pytest.fixture(scope="module", params=sorted(NOT_EARS))
def not_ear_image(request):
    make, phrase = NOT_EARS[request.param]
    return make(), phrase


@pytest.mark.parametrize("kind", ["nifti", "dicom"])
def test_volumes_that_are_not_temporal_bone_ct_are_refused(not_ear_image, kind, tmp_path):
    image, phrase = not_ear_image
    path = write(image, tmp_path, kind)
    with pytest.raises(EarLocalizationError, match=phrase) as caught:
        processor().preprocess_image(read_volume(path))
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("kind", ["nifti", "dicom"])
def test_head_phantom_is_still_localised(kind, tmp_path):
    path = write(head_phantom_image(), tmp_path, kind, body_part="HEAD", study="CT TEMPORAL BONE")
    values, metadata = processor().preprocess_image(read_volume(path))
    assert values.shape == (2, 2, 16, 16, 16)
    assert metadata[0]["otic_capsule_lps_mm"][0] == pytest.approx(45.0, abs=2.0)
    assert metadata[1]["otic_capsule_lps_mm"][0] == pytest.approx(-45.0, abs=2.0)


def test_synthetic_exams_are_still_localised():
    from bicpl_hf.synthetic import render_exam, sample_cohort

    for size in ("tiny", "small"):
        for spec in sample_cohort(1, seed=4):
            exam = render_exam(spec, size)
            image = sitk.GetImageFromArray(exam.hu.astype(np.float32))
            image.SetSpacing(exam.spacing)
            image.SetOrigin(exam.origin)
            found = localize_temporal_bones(image, source=f"synthetic {size}")
            assert 55.0 <= np.linalg.norm(np.subtract(found.left_capsule_lps, found.right_capsule_lps)) <= 140.0


@pytest.mark.parametrize(
    "header, refused",
    [
        pytest.param({"body_part": "ABDOMEN"}, "BodyPartExamined 'ABDOMEN'", id="body-part-abdomen"),
        pytest.param({"study": "CT CHEST W/O", "protocol": "Thorax 1.0"}, "StudyDescription 'CT CHEST W/O'",
                     id="study-chest"),
        pytest.param({"series": "腹部平扫 1.0"}, "SeriesDescription", id="series-description-chinese"),
        pytest.param({"body_part": "HEAD", "study": "颞骨CT"}, None, id="head"),
        pytest.param({"body_part": "", "study": "CT 1.0 BONE"}, None, id="says-nothing"),
        pytest.param({"body_part": "CHEST", "study": "HEAD AND NECK"}, None, id="names-the-head-too"),
    ],
)
def test_dicom_header_names_the_body_region(header, refused, tmp_path):
    path = write(head_phantom_image(), tmp_path, "dicom", **header)
    if refused is None:
        processor().preprocess_image(read_volume(path))
        return
    with pytest.raises(EarLocalizationError, match=refused) as caught:
        processor().preprocess_image(read_volume(path))
    assert str(path) in str(caught.value) and "not a temporal-bone CT" in str(caught.value)


def test_a_head_header_does_not_make_an_abdomen_a_head(tmp_path):
    path = write(abdomen_phantom(), tmp_path, "dicom", body_part="HEAD", study="CT TEMPORAL BONE")
    with pytest.raises(EarLocalizationError, match="not a head CT"):
        processor().preprocess_image(read_volume(path))


def test_real_reference_series_is_refused_with_a_reason():
    if not REAL_HEAD_CT.is_dir():
        pytest.skip(f"the real reference series is not here ({REAL_HEAD_CT}); a user's clone has no ../shared")
    # 4 non-contiguous slices of 16 x 16 pixels of a real head CT: refused when read, never localised.
    with pytest.raises(VolumeReadError, match="missing slice") as caught:
        processor().preprocess_image(read_volume(REAL_HEAD_CT))
    assert str(REAL_HEAD_CT) in str(caught.value)
