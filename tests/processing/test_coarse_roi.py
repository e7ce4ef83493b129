"""The coarse second ROI per ear: shapes and names, geometry, left/right and mirroring, off = unchanged, round trip,
errors, and the whole-bone preset against the synthetic anatomy."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk
from _benchmark_scripts import load_benchmark_script
from _phantoms import make_head_phantom
from scipy import ndimage

from bicpl_hf.processing.ear_localization import extract_ear_pair, localize_temporal_bones
from bicpl_hf.processing.image_processing_bicpl import BiCPLVolumeProcessor, apply_windows
from bicpl_hf.synthetic import anatomy
from bicpl_hf.synthetic.attributes import EarAttributes
from bicpl_hf.synthetic.benchmark_preset import BENCHMARK_ROI, BENCHMARK_ROI_WHOLE_BONE
from bicpl_hf.synthetic.cohort import sample_cohort
from bicpl_hf.synthetic.export import render_exam

FINE = {"roi_shape": (16, 16, 16), "roi_size_mm": (24.0, 24.0, 24.0)}
# 12 mm medial of the fine ROI, 40 mm tall, 64 mm front to back: inside the phantom (160 x 140 x 48 mm) for both
# heads, so a direct crop needs no padding rule.
COARSE = {**FINE, "coarse_roi_size_mm": (40.0, 64.0, 56.0), "coarse_roi_offset_mm": (0.0, 0.0, -12.0)}
SOFT = 1  # channel of the default soft-tissue window
MARKER_MM = np.array([41.0, 22.0, 0.0])  # left ear: in the coarse box, 22 mm behind the fine one (brain)


@pytest.fixture(scope="module")
def phantoms() -> dict:
    return {"plain": make_head_phantom(seed=5), "moved": make_head_phantom(shift_mm=(8.0, -6.0, 3.0), yaw_deg=5.0,
                                                                           seed=4)}


def _with_air_marker(phantom, centre_lps, radius_mm: float = 3.0):
    """A copy of `phantom` with an air pocket (-1000 HU) around `centre_lps`."""
    array = phantom.array.copy()
    zyx = np.meshgrid(*[o + s * np.arange(n) for o, s, n in zip(phantom.origin[::-1], phantom.spacing[::-1],
                                                                 array.shape)], indexing="ij")
    distance = np.sqrt(sum((axis - c) ** 2 for axis, c in zip(zyx, np.asarray(centre_lps)[::-1])))
    array[distance <= radius_mm] = -1000.0
    return dataclasses.replace(phantom, array=array)


def _direct_crop(phantom, affine, shape) -> np.ndarray:
    """HU at every ROI index (d, h, w) -> LPS (through `affine`) -> phantom voxel, by scipy's linear interpolation."""
    index = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
    world = index @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]
    voxel_zyx = ((world - phantom.origin) / phantom.spacing)[:, ::-1].T
    return ndimage.map_coordinates(phantom.array, voxel_zyx, order=1, mode="constant", cval=-1024.0).reshape(shape)


def _index(affine, point) -> np.ndarray:
    return np.linalg.solve(np.asarray(affine), [*point, 1.0])[:3]


def test_shapes_channel_names_and_metadata(phantoms):
    processor = BiCPLVolumeProcessor(**COARSE)
    assert processor.channel_names == ["bone", "soft_tissue", "coarse_bone", "coarse_soft_tissue"]
    batch = processor(phantoms["plain"].to_sitk(), return_tensors="np")
    values, metadata = batch["pixel_values"], batch["ear_metadata"][0]
    assert values.shape == (1, 2, 4, 16, 16, 16) and values.dtype == np.float32
    assert 0.0 <= values.min() and values.max() <= 1.0
    for ear in metadata:
        assert ear["coarse_spacing_mm"] == [2.5, 4.0, 3.5] and ear["spacing_mm"] == [1.5, 1.5, 1.5]
        linear = np.asarray(ear["coarse_index_to_lps_affine"])[:3, :3]
        np.testing.assert_allclose(np.linalg.norm(linear, axis=0), [2.5, 4.0, 3.5], atol=1e-9)
    json.dumps(metadata)
    # Both coarse centres sit 12 mm medial of the fine ones: toward the midline on each side.
    for ear, sign in zip(metadata, (1.0, -1.0)):
        centre = (np.asarray(ear["roi_shape"]) - 1) / 2
        fine = np.asarray(ear["index_to_lps_affine"]) @ [*centre, 1.0]
        coarse = np.asarray(ear["coarse_index_to_lps_affine"]) @ [*centre, 1.0]
        np.testing.assert_allclose(coarse[:3] - fine[:3], 12.0 * -sign * np.asarray(
            [math.cos(math.radians(ear["yaw_deg"])), math.sin(math.radians(ear["yaw_deg"])), 0.0]), atol=1e-6)


@pytest.mark.parametrize("register", [False, True], ids=["plain", "registered"])
def test_coarse_channels_equal_a_direct_crop_at_the_coarse_affine(phantoms, register):
    """The coarse channels are the windows of the CT sampled at `coarse_index_to_lps_affine`: for the left ear, and
    for the mirrored right one with the registration's transform (the moved head registers)."""
    phantom = phantoms["moved"]
    processor = BiCPLVolumeProcessor(**COARSE, register=register)
    values, metadata = processor.preprocess_image(phantom.to_sitk())
    assert metadata[1]["registration"]["status"] == ("registered" if register else "not requested")
    for ear in (0, 1):
        expected = apply_windows(_direct_crop(phantom, metadata[ear]["coarse_index_to_lps_affine"], (16, 16, 16)),
                                 processor.windows)
        np.testing.assert_allclose(values[ear, 2:], expected, atol=1e-4)


@pytest.mark.parametrize("side", ["left", "right"])
def test_marker_in_one_ears_coarse_only_region_shows_in_that_ear_only(phantoms, side):
    phantom = phantoms["plain"]
    marker = MARKER_MM * [1.0 if side == "left" else -1.0, 1.0, 1.0]
    processor = BiCPLVolumeProcessor(**COARSE)
    baseline, _ = processor.preprocess_image(phantom.to_sitk())
    values, metadata = processor.preprocess_image(_with_air_marker(phantom, marker).to_sitk())
    ear = 0 if side == "left" else 1
    # Ear 1 is mirrored: the right-ear marker lands on the very index the left-ear marker would.
    index = _index(metadata[ear]["coarse_index_to_lps_affine"], marker)
    np.testing.assert_allclose(index, _index(metadata[0]["coarse_index_to_lps_affine"], MARKER_MM), atol=0.5)
    assert np.all(index > 1) and np.all(index < 14)
    d, h, w = np.round(index).astype(int)
    assert values[ear, 2 + SOFT, d, h, w] < 0.1 < 0.4 < baseline[ear, 2 + SOFT, d, h, w]  # air where brain was
    changed = np.abs(values - baseline) > 1e-6
    assert changed[ear, 2:].any() and not changed[ear, :2].any()  # coarse-only: the fine ROI never saw it
    assert not changed[1 - ear].any()  # the other ear is untouched


def test_off_is_byte_identical_and_the_fine_channels_do_not_depend_on_the_coarse_roi(phantoms):
    image = phantoms["moved"].to_sitk()
    for register in (False, True):
        off = BiCPLVolumeProcessor(**FINE, register=register)
        default = BiCPLVolumeProcessor(**FINE, register=register, coarse_roi_size_mm=None,
                                       coarse_roi_offset_mm=(0, 0, 0))
        values, metadata = off.preprocess_image(image)
        # The fine-only pipeline spelled out as it stood before the coarse ROI existed.
        localization = localize_temporal_bones(image)
        pair = extract_ear_pair(image, localization, roi_shape=FINE["roi_shape"], roi_size_mm=FINE["roi_size_mm"],
                                register=register)
        reference = np.stack([apply_windows(sitk.GetArrayViewFromImage(roi), off.windows)
                              for roi in (pair.left, pair.right)])
        assert pair.coarse is None and values.tobytes() == reference.tobytes() and values.dtype == reference.dtype
        assert default.preprocess_image(image)[0].tobytes() == values.tobytes()
        assert not any(key.startswith("coarse") for ear in metadata for key in ear)
        assert default.to_dict() == off.to_dict() and not any(k.startswith("coarse") for k in off.to_dict())
        coarse_values, coarse_metadata = BiCPLVolumeProcessor(**COARSE, register=register).preprocess_image(image)
        assert coarse_values[:, :2].tobytes() == values.tobytes()
        assert [{k: v for k, v in ear.items() if not k.startswith("coarse")} for ear in coarse_metadata] == metadata


def test_save_pretrained_round_trip_and_old_configs(phantoms, tmp_path):
    processor = BiCPLVolumeProcessor(**COARSE, register=True)
    processor.save_pretrained(tmp_path / "coarse")
    saved = json.loads((tmp_path / "coarse" / "preprocessor_config.json").read_text())
    assert saved["coarse_roi_size_mm"] == [40.0, 64.0, 56.0] and saved["coarse_roi_offset_mm"] == [0.0, 0.0, -12.0]
    reloaded = BiCPLVolumeProcessor.from_pretrained(tmp_path / "coarse")
    assert reloaded.to_dict() == processor.to_dict() and reloaded.channel_names == processor.channel_names
    image = phantoms["plain"].to_sitk()
    assert reloaded.preprocess_image(image)[0].tobytes() == processor.preprocess_image(image)[0].tobytes()
    # A folder saved without the coarse fields (every earlier one) loads with the coarse ROI off; it can be
    # switched on at load time like any other setting.
    BiCPLVolumeProcessor(**FINE).save_pretrained(tmp_path / "fine")
    assert "coarse_roi_size_mm" not in json.loads((tmp_path / "fine" / "preprocessor_config.json").read_text())
    old = BiCPLVolumeProcessor.from_pretrained(tmp_path / "fine")
    assert old.coarse_roi_size_mm is None and old.channel_names == ["bone", "soft_tissue"]
    switched = BiCPLVolumeProcessor.from_pretrained(tmp_path / "fine", coarse_roi_size_mm=[48, 48, 48])
    assert switched.coarse_roi_size_mm == [48.0, 48.0, 48.0] and len(switched.channel_names) == 4


REMOTE_SCRIPT = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "").lower()]
try:
    import bicpl_hf
    raise SystemExit(f"bicpl_hf is importable from {bicpl_hf.__file__}")
except ModuleNotFoundError:
    pass
import numpy as np
from transformers import AutoImageProcessor

folder, volume, expected = sys.argv[1:]
processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
assert type(processor).__module__.startswith("transformers_modules."), type(processor).__module__
batch = processor(volume, return_tensors="np")
assert batch["pixel_values"].tobytes() == np.load(expected).tobytes(), "remote output differs"
print("REMOTE-OK", processor.channel_names)
"""


def test_remote_code_copy_gives_the_same_coarse_channels(phantoms, tmp_path):
    """`save_pretrained` ships processing/ flat as remote code; the copy alone runs the coarse ROI, identically."""
    processor = BiCPLVolumeProcessor(**COARSE)
    processor.save_pretrained(tmp_path / "saved")
    sitk.WriteImage(phantoms["plain"].to_sitk(), str(tmp_path / "ct.nii.gz"))
    np.save(tmp_path / "expected.npy", processor(tmp_path / "ct.nii.gz", return_tensors="np")["pixel_values"])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    result = subprocess.run(
        [sys.executable, "-c", REMOTE_SCRIPT, str(tmp_path / "saved"), str(tmp_path / "ct.nii.gz"),
         str(tmp_path / "expected.npy")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "REMOTE-OK ['bone', 'soft_tissue', 'coarse_bone', 'coarse_soft_tissue']" in result.stdout


@pytest.mark.parametrize(
    "settings, message",
    [({"coarse_roi_size_mm": (48.0, 72.0)}, r"coarse_roi_size_mm must be 3 positive values \(D, H, W\), got \(48"),
     ({"coarse_roi_size_mm": (48.0, -1.0, 60.0)}, "coarse_roi_size_mm must be 3 positive values"),
     ({"coarse_roi_size_mm": (48.0, math.inf, 60.0)}, "coarse_roi_size_mm must be 3 positive values"),
     ({"coarse_roi_size_mm": "big"}, "coarse_roi_size_mm must be 3 positive values"),
     ({"coarse_roi_size_mm": (48, 72, 60), "coarse_roi_offset_mm": (1.0, 2.0)},
      "coarse_roi_offset_mm must be 3 finite values"),
     ({"coarse_roi_size_mm": (48, 72, 60), "coarse_roi_offset_mm": (0.0, math.nan, 0.0)},
      "coarse_roi_offset_mm must be 3 finite values"),
     ({"coarse_roi_offset_mm": (-6.0, 4.0, -6.0)}, "needs coarse_roi_size_mm")],
)
def test_invalid_coarse_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        BiCPLVolumeProcessor(**settings)


def test_whole_bone_preset():
    assert BENCHMARK_ROI_WHOLE_BONE.processor_kwargs() == {
        **BENCHMARK_ROI.processor_kwargs(), "coarse_roi_size_mm": [48.0, 72.0, 60.0],
        "coarse_roi_offset_mm": [-6.0, 4.0, -6.0]}
    assert BENCHMARK_ROI_WHOLE_BONE.coarse_spacing_mm == (1.5, 1.5, 1.5)
    assert BENCHMARK_ROI.coarse_roi_size_mm is None and "coarse_roi_size_mm" not in BENCHMARK_ROI.processor_kwargs()
    assert len(BiCPLVolumeProcessor(**BENCHMARK_ROI_WHOLE_BONE.processor_kwargs()).channel_names) == 4


def _template_sites() -> dict[str, np.ndarray]:
    """Ear-frame (lateral, posterior, superior) mm points the whole-bone ROI must hold, with each lesion's reach."""
    sites = {"petrous_apex": anatomy.PETROUS_APEX_SITE, "jugular_bulb": anatomy.JUGULAR_BULB,
             "mesotympanum": anatomy.MESOTYMPANUM_CENTRE, "epitympanum": anatomy.EPITYMPANUM_CENTRE,
             "antrum": anatomy.ANTRUM_CENTRE, "tympanic_membrane": anatomy.TM_CENTRE,
             "tegmen": np.array([5.0, 0.0, 9.5])}
    sites.update({f"facial_canal_{i}": p for i, p in enumerate(anatomy.FACIAL_CANAL_PATH)})
    apex_cyst = 2.8 + 4.0  # the largest petrous-apex cyst's radius
    sites["petrous_apex_cyst_front"] = anatomy.PETROUS_APEX_SITE + [0.0, -apex_cyst, 0.0]
    sites["petrous_apex_cyst_medial"] = anatomy.PETROUS_APEX_SITE + [-apex_cyst, 0.0, 0.0]
    sites["jugular_mass_low"] = anatomy.JUGULAR_BULB + [0.0, 0.0, -8.0]  # centroid pulled down the foramen
    for kind, (centre, semi) in anatomy.MASTOID_SHAPES.items():
        semi = np.asarray(semi) * 1.15  # the most pneumatised ears
        for axis, sign, name in ((2, -1, "tip"), (1, 1, "back"), (0, 1, "lateral")):
            sites[f"mastoid_{kind}_{name}"] = np.asarray(centre) + sign * semi[axis] * np.eye(3)[axis]
    return sites


def test_whole_bone_preset_holds_the_template_anatomy():
    """Every named site, seen from the fine ROI centre (the measured capsule offset +- 1 mm, heads 0.93-1.08x the
    template), lies inside the coarse box with room to spare; the apex and jugular foramen lie outside the fine one."""
    preset = BENCHMARK_ROI_WHOLE_BONE
    half_coarse, half_fine = np.asarray(preset.coarse_roi_size_mm) / 2, np.asarray(preset.roi_size_mm) / 2
    offset = np.asarray(preset.coarse_roi_offset_mm)
    capsule_from_centre = np.array([-0.48, -2.11, -5.99])  # measured on the benchmark cohort, (D, H, W) mm
    assert np.all(np.abs(offset) + half_fine <= half_coarse)  # the coarse box holds the fine one
    for (name, site), scale, jitter in itertools.product(_template_sites().items(), (0.93, 1.08),
                                                         itertools.product((-1.0, 1.0), repeat=3)):
        dhw = scale * (site - anatomy.CAPSULE_CENTRE)[::-1] + capsule_from_centre + jitter
        margin = half_coarse - np.abs(dhw - offset)
        assert margin.min() >= 3.0, (name, scale, jitter, dhw, margin)
    for name in ("petrous_apex", "jugular_bulb"):
        dhw = (_template_sites()[name] - anatomy.CAPSULE_CENTRE)[::-1] + capsule_from_centre
        assert np.any(np.abs(dhw) > half_fine), f"{name} is inside the fine ROI: the coarse one would not be needed"


def _every_lesion(cyst_site: str) -> EarAttributes:
    return EarAttributes(
        code=2, severity=0.8, mastoid="pneumatized", mucosal_thickening=True, opacification=0.5, effusion=True,
        air_fluid_level=True, bubbles=True, epitympanic_mass=True, scutum_erosion=True, ossicles="severe_erosion",
        aditus_widened=True, mastoid_opacified=True, expansile_cyst=True, bone_thinning=True, tumour_site="tympanic",
        facial_canal_widened=True, jugular_foramen_erosion=True, extras={"cyst_site": cyst_site},
    )


def test_every_lesion_type_of_a_tiny_cohort_is_in_view_with_the_whole_bone_preset():
    """Tiny rendered exams with every lesion type in both ears (petrous-apex and antral cysts), processed with the
    preset's millimetres at half its voxels (the tiny size's resolution); counted by benchmarks/lesions_in_view.py."""
    in_view = load_benchmark_script("lesions_in_view")
    settings = BENCHMARK_ROI_WHOLE_BONE.processor_kwargs()
    processor = BiCPLVolumeProcessor(**{**settings, "roi_shape": [n // 2 for n in settings["roi_shape"]]})
    pairs = []
    for k, spec in enumerate(sample_cohort(3, seed=7)):
        sites = ("petrous_apex", "antrum")[:: 1 if k % 2 == 0 else -1]
        exam = render_exam(dataclasses.replace(spec, left=_every_lesion(sites[0]), right=_every_lesion(sites[1]),
                                               decoy=None), "tiny")
        image = sitk.GetImageFromArray(exam.hu.astype(np.float32))
        image.SetSpacing(exam.spacing)
        image.SetOrigin(exam.origin)
        pairs.append((exam.ground_truth, processor.preprocess_image(image)[1]))
    counts = in_view.tally(pairs)
    assert {"expansile_cyst", "jugular_foramen_mass", "facial_canal_mass", "mastoid_opacification",
            "tympanic_mass", "epitympanic_mass"} <= set(counts)
    assert in_view.out_of_view(counts) == [], in_view.markdown_table(counts, coarse=True)
    assert counts["expansile_cyst"]["fine"] < counts["expansile_cyst"]["n"]  # the check can fail without the coarse ROI


def test_dataset_features_and_collator_take_the_coarse_channels():
    """`bicpl build` declares `pixel_values` from `channel_names` (a 2-channel declaration writes a dataset that then
    fails to read back); the collator stacks whatever channels the examples hold."""
    from bicpl_hf.data.builder import dataset_features
    from bicpl_hf.data.collator import BiCPLDataCollator

    processor = BiCPLVolumeProcessor(**COARSE)
    assert dataset_features(processor)["pixel_values"].shape == (2, 4, 16, 16, 16)
    assert dataset_features(BiCPLVolumeProcessor(**FINE))["pixel_values"].shape == (2, 2, 16, 16, 16)
    examples = [{"pixel_values": np.full((2, 4, 16, 16, 16), k, np.float16), "left_code": 1, "right_code": 5}
                for k in range(2)]
    batch = BiCPLDataCollator(processor=None, include_text=False)(examples)
    assert tuple(batch["pixel_values"].shape) == (2, 2, 4, 16, 16, 16) and float(batch["pixel_values"][1].min()) == 1
