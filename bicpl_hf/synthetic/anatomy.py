"""Head and temporal-bone anatomy of the synthetic CT phantom, painted in Hounsfield units (HU).

Frames:

- world: DICOM LPS mm (+x patient's left, +y posterior, +z superior);
- head: world with the head pose undone, mid-sagittal plane `x = 0`;
- ear: mm of a template ear, `(a, p, s)` = (lateral, posterior, superior), origin at the vestibule.
  The right ear is the same template mirrored (`a = -x`), so both ears come from one code path.

HU targets: otic capsule ~1900-2150 (the densest bone in the head), skull tables ~1400-1450, petrous
bone ~1050-1250, ossicles ~1500, diploe/marrow ~300-650, brain 35, soft tissue 40-50, fat -90,
labyrinth fluid 10, air -1000.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.special import expit

from .solids import (
    AirCells,
    Canvas,
    Difference,
    Ellipsoid,
    HalfSpace,
    Intersection,
    Offset,
    Shape,
    Sphere,
    Spiral,
    Torus,
    Tube,
    Union,
    frame_from_normal,
    unit,
)

# ----------------------------------------------------------------------------- head pose


@dataclass(frozen=True)
class HeadPose:
    """Rigid head pose: yaw about S, roll about the anterior-posterior axis, then a shift (mm).

    Example: `HeadPose(2.0, -1.0, (3.0, 0.0, -2.0)).head_to_world([45, 10, 0])`.
    """

    yaw_deg: float = 0.0
    roll_deg: float = 0.0
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def rotation(self) -> np.ndarray:
        cy, sy = math.cos(math.radians(self.yaw_deg)), math.sin(math.radians(self.yaw_deg))
        cr, sr = math.cos(math.radians(self.roll_deg)), math.sin(math.radians(self.roll_deg))
        yaw = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
        roll = np.array([[cr, 0, sr], [0, 1, 0], [-sr, 0, cr]])
        return yaw @ roll

    def head_to_world(self, point) -> np.ndarray:
        return self.rotation() @ np.asarray(point, dtype=np.float64) + np.asarray(self.shift_mm)

    def world_to_head_affine(self) -> np.ndarray:
        rot_t = self.rotation().T
        return np.concatenate([rot_t, (-rot_t @ np.asarray(self.shift_mm))[:, None]], axis=1)

    def to_dict(self) -> dict:
        return {"yaw_deg": self.yaw_deg, "roll_deg": self.roll_deg, "shift_mm": list(self.shift_mm)}


# ----------------------------------------------------------------------------- head


def skull_base_floor(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height (head-frame z, mm) of the cranial floor: middle fossa in front of the petrous ridge
    (higher laterally, over the tegmen), the deep posterior fossa behind it."""
    ax = np.abs(x)
    middle = -12.0 + 17.0 * expit((ax - 40.0) / 6.0)
    behind_ridge = expit((y - (-15.0 + 0.9 * (ax - 20.0))) / 4.0)
    return middle * (1 - behind_ridge) - 40.0 * behind_ridge


HEAD_CENTRE = (0.0, 8.0, 15.0)
SKULL = Ellipsoid(HEAD_CENTRE, (69.0, 89.0, 94.0))  # outer table; other layers are offsets of it


def _head_fields(p: np.ndarray) -> dict:
    return {"skull": SKULL.sdf(p), "floor": skull_base_floor(p[0], p[1]) - p[2]}


def _in_skull(offset: float, floor_offset: float):
    return lambda f: np.maximum(f["skull"] + offset, f["floor"] + floor_offset)


def paint_head(canvas: Canvas) -> None:
    """Scalp, skull (tables and diploe) down to the skull base, brain, and midline skull-base bone."""
    canvas.paint_layers(
        _head_fields,
        [
            (lambda f: f["skull"] - 7.0, 40.0),  # skin
            (lambda f: f["skull"] - 5.0, -90.0),  # subcutaneous fat
            (lambda f: f["skull"] - 3.0, 45.0),  # galea, temporalis; below the skull base: neck muscles
            (_in_skull(0.0, -8.0), 1450.0),  # outer table, skull-base cortex
            (_in_skull(2.0, -6.5), 650.0),  # diploe
            (_in_skull(4.0, -1.5), 1400.0),  # inner table
            (_in_skull(5.5, 0.0), 35.0),  # brain
        ],
    )
    canvas.paint(Ellipsoid((0, 30, -14), (5, 4, 7)), 8.0)  # fourth ventricle
    canvas.paint(Ellipsoid((0, -12, -20), (11, 9, 22)), 1300.0)  # clivus cortex
    canvas.paint(Ellipsoid((0, -12, -20), (9.5, 7.5, 20.5)), 450.0)  # clivus marrow
    canvas.paint(Ellipsoid((0, -40, 2), (13, 10, 10)), 1200.0)  # sphenoid body
    canvas.paint(Ellipsoid((0, -40, 2), (11.5, 8.5, 8.5)), -1000.0)  # sphenoid sinus
    canvas.paint(Ellipsoid((0, -42, -34), (13, 8, 9)), 45.0)  # nasopharyngeal mucosa
    canvas.paint(Ellipsoid((0, -42, -34), (11, 6, 7.5)), -1000.0)  # nasopharynx


# ----------------------------------------------------------------------------- ear template

# Template positions (ear frame, mm; origin at the vestibule).
CAPSULE_CENTRE = np.array([-1.0, -2.5, -0.5])
PETROUS_AXES = np.stack([unit([-0.66, -0.75, 0.0]), unit([0.75, -0.66, 0.0]), [0.0, 0.0, 1.0]])
TM_AXES = frame_from_normal([1.0, -0.3, -0.6])
TM_CENTRE = np.array([7.9, -0.3, -2.2])
SCUTUM = np.array([8.9, 0.0, 2.3])
EPITYMPANUM_CENTRE = np.array([6.0, 0.5, 3.0])
MESOTYMPANUM_CENTRE = np.array([5.5, 0.5, -2.0])
PROMONTORY = np.array([4.0, -0.8, -2.2])
ANTRUM_CENTRE = np.array([7.8, 11.5, 2.8])
JUGULAR_BULB = np.array([0.5, 5.5, -12.5])
PETROUS_APEX_SITE = np.array([-14.0, -13.0, -1.0])
FACIAL_CANAL_PATH = np.array(
    [[-1.2, -1.5, 1.5], [0.8, -5.2, 2.2], [3.5, -2.0, 1.0], [4.3, 2.5, 0.2], [5.3, 6.0, -2.5],
     [6.0, 7.0, -10.0], [6.5, 7.5, -19.0]]
)  # fundus, geniculate, tympanic segment, second genu, mastoid segment, stylomastoid foramen
MASTOID_SHAPES = {  # centre, semi-axes of the cell-bearing part of the mastoid per pneumatisation type
    "pneumatized": ((11.0, 15.0, -5.0), (9.0, 12.0, 13.0)),
    "diploic": ((10.5, 14.0, -5.0), (7.5, 10.0, 11.0)),
    "sclerotic": ((10.0, 13.0, -4.0), (6.0, 8.0, 9.0)),
}


@dataclass
class EarGeometry:
    """Per-ear anatomical variation; lesions remodel it (see `lesions.remodel_geometry`).

    Example: `sample_ear_geometry("pneumatized", np.random.default_rng(0))`.
    """

    mastoid: str = "pneumatized"
    cells_seed: int = 0
    cell_spacing: float = 3.0
    septum: float = 0.5
    eac_radius: float = 3.6
    aditus_radius: float = 1.5
    antrum_semi: tuple[float, float, float] = (3.2, 3.2, 2.8)
    facial_radii: tuple[float, ...] = (0.7,) * len(FACIAL_CANAL_PATH)
    jugular_scale: float = 1.0
    sigmoid_forward: float = 0.0  # anterior displacement of the sigmoid sinus (mm)
    scutum_defect: float = 0.0  # radius of the scutum erosion (0 = sharp intact scutum)
    ossicle_defects: tuple[tuple[tuple[float, float, float], float], ...] = ()
    capsule_hu: float = 2000.0
    petrous_hu: float = 1150.0
    bone_density: float = 1.0  # multiplies the mastoid bone HU (the patient's bone density)
    pneumatisation: float = 1.0  # scales the mastoid's cell-bearing region (the ear's cell-system extent)
    jugular_rise: float = 0.0  # a high-riding jugular bulb sits this many mm higher
    tegmen_mm: float = 9.5  # tegmen height over the vestibule; above it the middle fossa (brain)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def sample_ear_geometry(mastoid: str, rng: np.random.Generator) -> EarGeometry:
    """Normal anatomical variation of one ear with the given mastoid pneumatisation type."""
    if mastoid not in MASTOID_SHAPES:
        raise ValueError(f"unknown mastoid type {mastoid!r}; expected one of {sorted(MASTOID_SHAPES)}")
    return EarGeometry(
        mastoid=mastoid,
        cells_seed=int(rng.integers(0, 2**31 - 1)),
        cell_spacing=float(rng.uniform(2.4, 3.6)),
        septum=float(rng.uniform(0.4, 0.75)),
        eac_radius=float(rng.uniform(3.2, 4.0)),
        aditus_radius=float(rng.uniform(1.3, 1.8)),
        jugular_scale=float(rng.uniform(0.8, 1.25)),
        sigmoid_forward=float(rng.uniform(-1.5, 2.5)),
        capsule_hu=float(rng.uniform(1950.0, 2200.0)),
        petrous_hu=float(rng.uniform(1050.0, 1250.0)),
        tegmen_mm=float(rng.uniform(6.8, 9.5)),
    )


def temporal_block() -> Ellipsoid:
    return Ellipsoid((7.0, 6.0, -6.0), (13.0, 20.0, 15.0))


def petrous_pyramid() -> Ellipsoid:
    return Ellipsoid((-8.0, -6.0, -1.0), (22.0, 8.5, 9.0), PETROUS_AXES)


def otic_capsule() -> Shape:
    """The dense bone around the labyrinth: the densest structure in the head."""
    return Union(Ellipsoid(CAPSULE_CENTRE, (5.6, 7.6, 5.4)), Offset(semicircular_canals(), 1.6))


def cochlea() -> Spiral:
    return Spiral((-2.5, -4.5, -1.5), (0.6, -0.7, -0.25), (0.3, 1.0, -0.5), 2.5, (3.6, 1.0), 4.0, (0.95, 0.55))


def semicircular_canals() -> Union:
    return Union(
        Torus((2.6, 3.2, 1.2), (0.0, 0.2, 1.0), 2.9, 0.5),  # lateral (horizontal)
        Torus((0.0, -1.0, 4.3), -PETROUS_AXES[0], 3.2, 0.5),  # superior
        Torus((1.15, 3.14, -0.99), PETROUS_AXES[1], 3.1, 0.5),  # posterior
    )


def labyrinth() -> Union:
    return Union(Ellipsoid((0, 0, 0), (1.6, 2.6, 2.0)), cochlea(), semicircular_canals())


def tympanic_membrane_side() -> HalfSpace:
    """Medial side of the tympanic membrane plane (the middle ear's lateral limit)."""
    return HalfSpace(TM_CENTRE, TM_AXES[0])


def middle_ear_space(geometry: EarGeometry) -> Union:
    """Tympanic cavity (meso-, hypo-, epitympanum), scutum defect, aditus and antrum."""
    parts = [
        Intersection(Ellipsoid(MESOTYMPANUM_CENTRE, (2.6, 5.0, 3.5)), tympanic_membrane_side()),
        Ellipsoid((5.0, 0.5, -5.5), (1.8, 3.5, 2.0)),
        Ellipsoid(EPITYMPANUM_CENTRE, (2.5, 4.5, 2.5)),
        Tube([(6.5, 4.0, 3.4), (7.3, 8.5, 3.4)], geometry.aditus_radius),
        Ellipsoid(ANTRUM_CENTRE, geometry.antrum_semi),
    ]
    if geometry.scutum_defect > 0:
        parts.append(Sphere(SCUTUM, geometry.scutum_defect))
    return Union(*parts)


def epitympanum() -> Ellipsoid:
    return Ellipsoid(EPITYMPANUM_CENTRE, (2.5, 4.5, 2.5))


def mastoid_shape(geometry: EarGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Centre and semi-axes of the cell-bearing mastoid: its type's shape scaled by the ear's extent."""
    centre, semi = (np.asarray(v, dtype=np.float64) for v in MASTOID_SHAPES[geometry.mastoid])
    return centre, semi * float(geometry.pneumatisation)


def mastoid_region(geometry: EarGeometry) -> Shape:
    centre, semi = mastoid_shape(geometry)
    return Intersection(Ellipsoid(centre, semi), Offset(temporal_block(), -1.5))


def mastoid_cells(geometry: EarGeometry) -> AirCells:
    """Air cells: a dense honeycomb (pneumatised), a few near the antrum (diploic) or almost none."""
    rng = np.random.default_rng(geometry.cells_seed)
    region = mastoid_region(geometry)
    centre, semi = mastoid_shape(geometry)
    spacing = geometry.cell_spacing
    axes = [np.arange(c - s, c + s + spacing, spacing) for c, s in zip(centre, semi)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    seeds = grid + rng.uniform(-0.4, 0.4, grid.shape) * spacing
    # Dropped seeds merge neighbouring cells; the biggest cells sit next to the antrum.
    keep = rng.random(len(seeds)) > 0.2 + 0.35 * np.exp(-np.linalg.norm(seeds - ANTRUM_CENTRE, axis=1) / 6.0)
    seeds = seeds[keep]
    # Diploic: scattered small cells in marrow; sclerotic: a few tiny cells next to the antrum.
    reach, cell_size = {"pneumatized": (np.inf, 0.75), "diploic": (10.0, 0.4), "sclerotic": (5.0, 0.3)}[
        geometry.mastoid
    ]
    seeds = seeds[np.linalg.norm(seeds - ANTRUM_CENTRE, axis=1) < reach]
    return AirCells(region, seeds, septum=geometry.septum, max_radius=cell_size * spacing)


def facial_canal(geometry: EarGeometry, extra: float = 0.0) -> Tube:
    return Tube(FACIAL_CANAL_PATH, np.asarray(geometry.facial_radii) + extra)


def jugular_bulb(geometry: EarGeometry) -> np.ndarray:
    """Dome of the jugular bulb; a high-riding bulb climbs toward the hypotympanum."""
    return JUGULAR_BULB + np.array([0.0, 0.0, geometry.jugular_rise])


def jugular_foramen(geometry: EarGeometry, extra: float = 0.0) -> Union:
    k, bulb = geometry.jugular_scale, jugular_bulb(geometry)
    return Union(
        Ellipsoid(bulb, (3.8 * k + extra, 3.5 * k + extra, 3.5 * k + extra)),
        Tube([bulb, (-1.0, 4.0, -40.0)], 3.4 * k + extra),
    )


def sigmoid_sinus(geometry: EarGeometry, extra: float = 0.0) -> Tube:
    f = geometry.sigmoid_forward
    bulb = jugular_bulb(geometry)
    path = [(3.0, 30.0 - f, 8.0), (3.0, 22.0 - f, 0.0), (2.5, 16.0 - f, -6.0),
            (1.0, 10.0, -11.0 + 0.5 * geometry.jugular_rise), bulb]
    return Tube(path, 3.3 + extra)


def ossicles(geometry: EarGeometry) -> Shape:
    """Malleus and incus (head/body in the epitympanum, the 'ice-cream cone') and the stapes."""
    chain = Union(
        Sphere((6.3, -1.0, 3.2), 1.2),  # malleus head
        Tube([(6.3, -1.0, 3.0), (7.4, -0.4, -2.0)], (0.55, 0.4)),  # manubrium, on the drum
        Ellipsoid((5.8, 1.4, 3.0), (1.2, 1.5, 1.3)),  # incus body
        Tube([(5.8, 1.6, 3.2), (6.0, 3.8, 3.4)], (0.7, 0.4)),  # incus short process
        Tube([(5.8, 1.6, 2.4), (5.2, 1.2, -1.2)], (0.5, 0.4)),  # incus long process
        Tube([(5.2, 1.2, -1.2), (2.0, 0.8, -0.8)], (0.4, 0.35)),  # stapes
    )
    defects = [Sphere(c, r) for c, r in geometry.ossicle_defects]
    return Difference(chain, Union(*defects)) if defects else chain


def paint_ear(canvas: Canvas, geometry: EarGeometry) -> None:
    """Paint one normal temporal bone (all but the ossicles, which go on after the lesions)."""
    cortex = 1450.0
    block, pyramid = temporal_block(), petrous_pyramid()
    for solid in (block, pyramid):
        canvas.paint(solid, cortex)
    for solid in (block, pyramid):
        canvas.paint(Offset(solid, -1.3), geometry.petrous_hu)
    # Temporomandibular joint in front of the external auditory canal.
    canvas.paint(Ellipsoid((12.0, -14.0, -7.5), (6.2, 5.7, 7.5)), 50.0)
    canvas.paint(Ellipsoid((12.0, -14.0, -8.0), (5.0, 4.5, 6.5)), 1250.0)
    canvas.paint(Ellipsoid((12.0, -14.0, -8.0), (3.8, 3.3, 5.3)), 380.0)

    region = mastoid_region(geometry)
    bone = {"pneumatized": 950.0, "diploic": 320.0, "sclerotic": 1250.0}[geometry.mastoid] * geometry.bone_density
    canvas.paint(region, bone)
    canvas.paint(mastoid_cells(geometry), -1000.0)
    # Tegmen: a cortical plate at the ear's tegmen height, the middle cranial fossa above it.
    roof = HalfSpace((0.0, 0.0, geometry.tegmen_mm), (0.0, 0.0, -1.0))
    canvas.paint(Intersection(block, roof), 1450.0)
    canvas.paint(Intersection(block, HalfSpace((0.0, 0.0, geometry.tegmen_mm + 1.0), (0.0, 0.0, -1.0))), 35.0)

    for vessel in (sigmoid_sinus(geometry), jugular_foramen(geometry)):
        canvas.paint(Offset(vessel, 1.0), 1300.0)  # sinus plate / foramen rim
    carotid = Tube([(-1.0, -7.5, -40.0), (-1.0, -7.5, -9.0), (-4.0, -11.0, -6.0), (-16.0, -19.0, -4.0)], 2.5)
    canvas.paint(Offset(carotid, 1.0), 1300.0)
    for vessel in (sigmoid_sinus(geometry), jugular_foramen(geometry), carotid):
        canvas.paint(vessel, 45.0)

    canvas.paint(otic_capsule(), geometry.capsule_hu)
    canvas.paint(Tube([(-1.5, -1.5, 0.5), (-16.0, 0.5, 0.3)], 2.1), 12.0)  # internal auditory canal
    canvas.paint(labyrinth(), 10.0)

    eac = Intersection(
        Tube([(7.0, -0.5, -2.0), (16.0, -1.5, -1.2), (26.0, -0.5, -2.2), (50.0, 0.5, -2.5)],
             (geometry.eac_radius, geometry.eac_radius, geometry.eac_radius + 0.5, geometry.eac_radius + 1.0)),
        HalfSpace(TM_CENTRE, -TM_AXES[0]),
    )
    canvas.paint(eac, -1000.0)
    canvas.paint(middle_ear_space(geometry), -1000.0)
    eustachian = Tube([(5.0, -4.0, -2.5), (1.0, -14.0, -6.0), (-6.0, -24.0, -9.0)], (1.4, 1.0, 0.8))
    canvas.paint(eustachian, -1000.0)
    canvas.paint(Ellipsoid(TM_CENTRE, (0.35, 4.3, 4.1), TM_AXES), 45.0)  # tympanic membrane

    canvas.paint(facial_canal(geometry, 0.6), 1300.0)  # bony fallopian canal
    canvas.paint(facial_canal(geometry), 40.0)  # facial nerve


def paint_ossicles(canvas: Canvas, geometry: EarGeometry) -> None:
    canvas.paint(ossicles(geometry), 1500.0)


def ear_canvas(hu, origin, spacing, pose: HeadPose, side: str, capsule_centre_head, scale: float = 1.0) -> Canvas:
    """Canvas in the ear frame of `side`: the template's capsule centre lands on `capsule_centre_head`.

    `side` is `"left"` (head x > 0) or `"right"` (mirrored: template lateral = world -x).
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    mirror = np.diag([1.0 if side == "left" else -1.0, 1.0, 1.0])
    head = pose.world_to_head_affine()
    vestibule = mirror @ np.asarray(capsule_centre_head, dtype=np.float64) - scale * CAPSULE_CENTRE
    affine = np.concatenate([mirror @ head[:, :3], (mirror @ head[:, 3] - vestibule)[:, None]], axis=1)
    return Canvas(hu, origin, spacing, affine, scale=scale)


def apply_scanner_model(
    hu: np.ndarray, *, noise_sigma: float, rng: np.random.Generator, blur_voxels: float = 0.5, texture_hu: float = 70.0
) -> np.ndarray:
    """Bone micro-texture, point-spread blur and quantum noise; returns int16 HU clipped to the CT range.

    `blur_voxels` ~0.5 suits sharp bone kernels; soft-tissue kernels blur more and are less noisy.
    """
    texture = ndimage.gaussian_filter(rng.standard_normal(hu.shape, dtype=np.float32), 0.8)
    texture *= np.float32(texture_hu / max(float(texture.std()), 1e-6))
    hu = hu + texture * np.clip((hu - 150.0) / 900.0, 0.0, 1.0)  # trabecular pattern in bone only
    hu = ndimage.gaussian_filter(hu, blur_voxels)
    hu += rng.standard_normal(hu.shape, dtype=np.float32) * np.float32(noise_sigma)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
