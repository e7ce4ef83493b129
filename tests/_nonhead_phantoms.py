"""Synthetic CT volumes that are NOT temporal-bone CTs, for the localiser's refusals, and a DICOM writer
that sets the header fields the localiser reads (BodyPartExamined, StudyDescription, ...).

All volumes are HU arrays indexed (z, y, x) in patient LPS millimetres (identity direction), centred on
world (0, 0, 0): +x patient's left, +y posterior, +z superior.

Example:
    >>> image = abdomen_phantom()
    >>> image.GetSpacing()
    (3.0, 3.0, 3.0)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from _phantoms import make_head_phantom, write_dicom_series


def _grid(size_xyz, spacing):
    size = np.array(size_xyz)
    origin = -(size - 1) / 2 * np.array(spacing)
    axes = [origin[i] + np.arange(size[i]) * spacing[i] for i in range(3)]
    z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    return x, y, z, origin


def _image(hu: np.ndarray, spacing, origin, seed: int = 0) -> sitk.Image:
    hu = hu + np.random.default_rng(seed).normal(0.0, 12.0, hu.shape)
    image = sitk.GetImageFromArray(hu.astype(np.float32))
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetOrigin(tuple(float(o) for o in origin))
    return image


def _ellipse(x, y, cx, cy, ax, ay):
    return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1.0


def _ball(x, y, z, centre, radius):
    return (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= radius**2


def _vertebra(hu, x, y, z, cy):
    """Vertebral body (cortex 1500 HU, cancellous 250) with a dense posterior arch, along the whole z."""
    body = _ellipse(x, y, 0.0, cy, 20.0, 16.0)
    hu[body] = 1500.0
    hu[_ellipse(x, y, 0.0, cy, 16.0, 12.0)] = 250.0
    hu[_ellipse(x, y, 0.0, cy + 30.0, 6.0, 14.0)] = 1500.0  # spinous process
    for sign in (-1.0, 1.0):
        hu[_ellipse(x, y, sign * 22.0, cy + 20.0, 5.0, 9.0)] = 1500.0  # pedicle / lamina


def abdomen_phantom(spacing=(3.0, 3.0, 3.0)) -> sitk.Image:
    """Abdomen-pelvis: a 340 x 250 mm body with fat, bowel gas, the lumbar spine, iliac wings and femoral heads
    of dense cortical bone (1600-1900 HU), as an abdomen-pelvis CT stored at 3 mm."""
    x, y, z, origin = _grid((124, 100, 60), spacing)
    hu = np.full(x.shape, -1000.0)
    hu[_ellipse(x, y, 0, 0, 170, 125)] = -100.0  # subcutaneous fat
    hu[_ellipse(x, y, 0, 0, 155, 110)] = 40.0  # muscle and organs
    for cx, cy in ((-40, -40), (50, -30), (10, -70)):
        hu[_ellipse(x, y, cx, cy, 14, 10) & (z > 0)] = -900.0  # bowel gas
    _vertebra(hu, x, y, z, 55.0)
    for sign in (-1.0, 1.0):
        wing = _ellipse(x, y, sign * 95.0, 35.0, 14.0, 40.0) & (z < 20) & (z > -40)
        hu[wing] = 1600.0
        hu[_ellipse(x, y, sign * 95.0, 35.0, 8.0, 34.0) & (z < 20) & (z > -40)] = 300.0
        hu[_ball(x, y, z, (sign * 80.0, 0.0, -72.0), 22.0)] = 1900.0  # femoral head
        hu[_ball(x, y, z, (sign * 80.0, 0.0, -72.0), 16.0)] = 300.0
        hu[_ball(x, y, z, (sign * 60.0, 30.0, -10.0), 7.0)] = 1900.0  # dense acetabular roof / sclerosis
    return _image(hu, spacing, origin, seed=1)


def chest_phantom(spacing=(2.5, 2.5, 2.5)) -> sitk.Image:
    """Chest: a 320 x 220 mm body with two lungs, heart, thoracic spine, sternum and ribs."""
    x, y, z, origin = _grid((140, 100, 40), spacing)
    hu = np.full(x.shape, -1000.0)
    hu[_ellipse(x, y, 0, 0, 160, 110)] = -80.0
    hu[_ellipse(x, y, 0, 0, 148, 98)] = 40.0
    for sign in (-1.0, 1.0):
        hu[_ellipse(x, y, sign * 70.0, 5.0, 58.0, 75.0)] = -850.0  # lung
        ring = _ellipse(x, y, 0, 0, 152, 102) & ~_ellipse(x, y, 0, 0, 146, 96) & (sign * x > 20)
        hu[ring & (np.mod(z, 25.0) < 8.0)] = 1300.0  # ribs
    hu[_ellipse(x, y, 10.0, -10.0, 45.0, 40.0)] = 45.0  # heart
    hu[_ellipse(x, y, 0.0, -95.0, 12.0, 6.0)] = 1400.0  # sternum
    _vertebra(hu, x, y, z, 60.0)
    return _image(hu, spacing, origin, seed=2)


def head_above_skull_base(spacing=(1.0, 1.0, 1.0)) -> sitk.Image:
    """A head scanned 30-70 mm above the skull base: skull vault with thick dense tables (1700 HU) and two
    symmetric bony islands in the parietal bone (2000 HU, hyperostosis), brain inside. No temporal bone."""
    x, y, z, origin = _grid((170, 200, 40), spacing)
    z = z + 50.0  # the slab lies 30-70 mm above the otic capsules (z = 0)
    outer = ((x / 72.0) ** 2 + (y / 90.0) ** 2 + (z / 95.0) ** 2) <= 1.0
    inner = ((x / 65.0) ** 2 + (y / 83.0) ** 2 + (z / 88.0) ** 2) <= 1.0
    hu = np.full(x.shape, -1000.0)
    hu[outer] = 1700.0
    hu[inner] = 35.0
    for sign in (-1.0, 1.0):
        hu[_ball(x, y, z, (sign * 62.0, 0.0, 50.0), 6.0)] = 2000.0
    return _image(hu, spacing, origin, seed=3)


def head_without_petrous_bones() -> sitk.Image:
    """The test head phantom with the field of view cropped to 72 mm left-right: both petrous bones and
    otic capsules (45 mm from the midline) lie outside it."""
    image = make_head_phantom(seed=4).to_sitk()
    width = image.GetSize()[0]
    keep = 72
    return image[(width - keep) // 2 : (width + keep) // 2, :, :]


def head_phantom_image() -> sitk.Image:
    return make_head_phantom(seed=5).to_sitk()


def write_dicom(image: sitk.Image, folder: str | os.PathLike, *, body_part: str = "", study: str = "",
                series: str = "", protocol: str = "", uid: str = "1.2.826.0.1.3680043.8.498.77") -> Path:
    """One int16 file per slice (HU clamped to [-1024, 3000]) with the given header words; returns the folder."""
    clamped = sitk.Clamp(image, sitk.sitkFloat32, -1024.0, 3000.0)
    write_dicom_series(clamped, folder, series_uid=uid, description=series, shuffle_seed=None,
                       extra_tags={"0018|0015": body_part, "0008|1030": study, "0018|1030": protocol})
    return Path(folder)
