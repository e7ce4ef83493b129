"""A small synthetic head CT phantom for the volume-layer tests, and writers for it.

The phantom lives in patient LPS millimetres (+x = patient's left, +y = posterior, +z = superior).
Each ear: a petrous bone with a dense otic capsule at x = +-45 mm from the mid-sagittal plane, an
air-filled middle ear 9 mm lateral to the capsule, an external auditory canal running outward and
posterior mastoid air cells. A marker lesion (soft tissue filling the middle ear) can be put in one
ear. The head can be shifted and rotated about the S axis.

Example:
    >>> phantom = make_head_phantom(lesion_side="left")
    >>> phantom.array.shape  # (z, y, x)
    (48, 140, 160)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

CAPSULE_X_MM = 45.0
MIDDLE_EAR_LATERAL_MM = 9.0
LESION_HU = 45.0


@dataclass
class HeadPhantom:
    """HU array indexed (z, y, x) with identity (LPS) direction, plus ground-truth landmarks."""

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    landmarks: dict[str, np.ndarray]

    def to_sitk(self, dtype=None) -> sitk.Image:
        """The phantom as an image; `dtype` (e.g. `np.int16`, as scanners store HU) rounds to that type."""
        image = sitk.GetImageFromArray(self.array if dtype is None else np.round(self.array).astype(dtype))
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        return image


def _ellipsoid(q: np.ndarray, centre: Sequence[float], semi_axes: Sequence[float]) -> np.ndarray:
    d = (q - np.asarray(centre, dtype=np.float32)) / np.asarray(semi_axes, dtype=np.float32)
    return np.einsum("...i,...i->...", d, d) <= 1.0


def make_head_phantom(
    *,
    size_xyz: Sequence[int] = (160, 140, 48),
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    shift_mm: Sequence[float] = (0.0, 0.0, 0.0),
    yaw_deg: float = 0.0,
    lesion_side: str | None = None,
    noise_hu: float = 15.0,
    seed: int = 0,
    dtype=np.float32,
) -> HeadPhantom:
    """Render the phantom slab by slab (keeps memory low for full-size benchmark volumes).

    Example:
        >>> p = make_head_phantom(size_xyz=(100, 90, 20), lesion_side="right")
        >>> sorted(p.landmarks)[:2]
        ['left_capsule', 'left_middle_ear']
    """
    size = np.array(size_xyz, dtype=int)
    spacing_arr = np.array(spacing, dtype=float)
    origin = -(size - 1) / 2 * spacing_arr  # world (0, 0, 0) at the volume centre
    theta = math.radians(yaw_deg)
    rotation = np.array([[math.cos(theta), -math.sin(theta), 0], [math.sin(theta), math.cos(theta), 0], [0, 0, 1]])
    shift = np.asarray(shift_mm, dtype=float)
    head_to_world = lambda q: rotation @ np.asarray(q, dtype=float) + shift  # noqa: E731
    landmarks = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        landmarks[f"{side}_capsule"] = head_to_world((sign * CAPSULE_X_MM, 0.0, 0.0))
        landmarks[f"{side}_middle_ear"] = head_to_world((sign * (CAPSULE_X_MM + MIDDLE_EAR_LATERAL_MM), -1.0, 0.0))
    rng = np.random.default_rng(seed)
    array = np.empty(tuple(size[::-1]), dtype=dtype)
    xs = (origin[0] + np.arange(size[0]) * spacing_arr[0]).astype(np.float32)
    ys = (origin[1] + np.arange(size[1]) * spacing_arr[1]).astype(np.float32)
    slab = 16
    for z0 in range(0, size[2], slab):
        zs = (origin[2] + np.arange(z0, min(z0 + slab, size[2])) * spacing_arr[2]).astype(np.float32)
        world = np.stack(np.meshgrid(zs, ys, xs, indexing="ij")[::-1], axis=-1) - shift.astype(np.float32)
        q = world @ rotation.astype(np.float32)  # head coordinates: q = R^T (p - shift)
        array[z0 : z0 + len(zs)] = _render_head(q, lesion_side)
    array = ndimage.gaussian_filter(array, sigma=0.6 / spacing_arr[::-1], output=dtype)  # partial volume
    array += rng.normal(0.0, noise_hu, array.shape).astype(dtype) if noise_hu > 0 else 0
    return HeadPhantom(array, tuple(spacing_arr.tolist()), tuple(origin.tolist()), landmarks)


def full_size_exam_image() -> sitk.Image:
    """The benchmarks' full-size exam: 512 x 512 x 170 voxels at 0.4 x 0.4 x 0.6 mm, shifted and turned, a lesion in
    the left middle ear, int16 HU."""
    phantom = make_head_phantom(size_xyz=(512, 512, 170), spacing=(0.4, 0.4, 0.6), shift_mm=(3.0, -4.0, 2.0),
                                yaw_deg=3.0, lesion_side="left", noise_hu=20.0, seed=0)
    return phantom.to_sitk(np.int16)


def _render_head(q: np.ndarray, lesion_side: str | None) -> np.ndarray:
    hu = np.full(q.shape[:-1], -1000.0, dtype=np.float32)
    outer = (75.0, 88.0, 95.0)
    hu[_ellipsoid(q, (0, 0, 0), outer)] = 1300.0  # outer table
    hu[_ellipsoid(q, (0, 0, 0), [a - 2 for a in outer])] = 600.0  # diploe
    hu[_ellipsoid(q, (0, 0, 0), [a - 5 for a in outer])] = 1300.0  # inner table
    hu[_ellipsoid(q, (0, 0, 0), [a - 7 for a in outer])] = 35.0  # brain
    for side, sign in (("left", 1.0), ("right", -1.0)):
        capsule = (sign * CAPSULE_X_MM, 0.0, 0.0)
        # Petrous ridge pointing antero-medially, the capsule inside it.
        hu[_ellipsoid(q, (sign * 38.0, -6.0, 0.0), (16.0, 8.0, 7.0))] = 1000.0
        hu[_ellipsoid(q, capsule, (5.5, 4.5, 4.5))] = 2000.0
        hu[_ellipsoid(q, (sign * 44.0, 0.5, 0.5), (1.5, 2.5, 1.5))] = 20.0  # vestibule/cochlea fluid
        mastoid = _ellipsoid(q, (sign * 54.0, 14.0, 0.0), (6.0, 7.0, 7.0))
        hu[mastoid] = -600.0
        eac = (np.abs(q[..., 1] + 1.0) ** 2 + q[..., 2] ** 2 <= 3.5**2) & (sign * q[..., 0] > 56.0) & (
            sign * q[..., 0] < 80.0
        )
        hu[eac] = -1000.0
        middle_ear = _ellipsoid(q, (sign * (CAPSULE_X_MM + MIDDLE_EAR_LATERAL_MM), -1.0, 0.0), (3.5, 5.0, 5.0))
        hu[middle_ear] = LESION_HU if lesion_side == side else -1000.0
    return hu


def _slice_tags(
    modality: str, series_uid: str, kernel: str, description: str, image_type: str
) -> dict[str, str]:
    return {
        "0008|0060": modality,
        "0020|000e": series_uid,
        "0020|000d": "1.2.826.0.1.3680043.8.498.1",
        "0018|1210": kernel,
        "0008|103e": description,
        "0008|0008": image_type,
        "0028|1052": "-1024",
        "0028|1053": "1",
        "0008|0070": "PHANTOM",
    }


def write_dicom_series(
    image: sitk.Image,
    folder: str | os.PathLike,
    *,
    series_uid: str = "1.2.826.0.1.3680043.8.498.10",
    kernel: str = "BONE",
    modality: str = "CT",
    description: str = "TEMPORAL BONE",
    image_type: str = "ORIGINAL\\PRIMARY\\AXIAL",
    shuffle_seed: int | None = 0,
    slice_positions: Sequence[float] | None = None,
    extra_tags: Mapping[str, str] | None = None,
) -> list[Path]:
    """One file per slice (int16 HU via RescaleIntercept -1024). File names and InstanceNumbers are
    shuffled so only ImagePositionPatient gives the order. ``slice_positions`` (mm along the slice
    normal) overrides positions, e.g. to make uneven spacing. ``extra_tags`` (DICOM tag -> value) are written on
    every slice after the defaults. Returns paths in slice order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    n = image.GetSize()[2]
    order = np.random.default_rng(shuffle_seed).permutation(n) if shuffle_seed is not None else np.arange(n)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    paths = []
    hu = sitk.Cast(sitk.Round(image) if image.GetPixelID() != sitk.sitkInt16 else image, sitk.sitkInt16)
    for k in range(n):
        position = np.array(image.TransformIndexToPhysicalPoint((0, 0, k)))
        if slice_positions is not None:
            position = np.array(image.GetOrigin()) + direction[:, 2] * slice_positions[k]
        tile = hu[:, :, k]
        for tag, value in _slice_tags(modality, series_uid, kernel, description, image_type).items():
            tile.SetMetaData(tag, value)
        tile.SetMetaData("0020|0032", "\\".join(f"{v:.4f}" for v in position))
        tile.SetMetaData("0020|0037", "\\".join(f"{v:.6f}" for v in direction[:, :2].T.ravel()))
        tile.SetMetaData("0020|0013", str(int(order[k]) + 1))
        tile.SetMetaData("0018|0050", f"{image.GetSpacing()[2]:.3f}")
        tile.SetMetaData("0008|0018", f"{series_uid}.{k + 1}")
        for tag, value in (extra_tags or {}).items():
            tile.SetMetaData(tag, value)
        path = folder / f"IM{int(order[k]):04d}.dcm"
        writer.SetFileName(str(path))
        writer.Execute(tile)
        paths.append(path)
    return paths


def ras_stored_image(image: sitk.Image) -> sitk.Image:
    """The same volume stored the NIfTI/RAS way: x and y flipped, direction diag(-1, -1, 1)."""
    flipped = sitk.Flip(image, [True, True, False])
    assert np.allclose(flipped.GetDirection(), np.diag([-1.0, -1.0, 1.0]).ravel())
    return flipped


def permuted_axes_image(image: sitk.Image) -> tuple[np.ndarray, dict]:
    """Array with axes permuted and one flipped, with the matching geometry for ``numpy_volume``.

    New index axes (i', j', k') = (old z, old x reversed, old y). Returns the (k', j', i') array and
    ``spacing``, ``origin``, ``direction`` keyword arguments.
    """
    old = sitk.GetArrayFromImage(image)  # (z, y, x)
    new = np.ascontiguousarray(np.transpose(old, (1, 2, 0))[:, ::-1, :])  # (y, x reversed, z) = (k', j', i')
    d_old = np.array(image.GetDirection()).reshape(3, 3)
    sx, sy, sz = image.GetSpacing()
    direction = np.stack([d_old[:, 2], -d_old[:, 0], d_old[:, 1]], axis=1)
    last_x = image.GetSize()[0] - 1
    origin = np.array(image.TransformIndexToPhysicalPoint((last_x, 0, 0)))
    return new, {"spacing": (sz, sx, sy), "origin": tuple(origin), "direction": direction}
