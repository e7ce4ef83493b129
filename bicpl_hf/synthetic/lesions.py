"""Render [`EarAttributes`] into one temporal bone of the phantom (in place, ear frame).

Two steps, around the normal anatomy:

1. [`remodel_geometry`] changes the anatomy itself before it is painted (widened aditus, eroded
   scutum, ossicle defects, widened facial canal, enlarged jugular foramen);
2. [`paint_lesions`] paints what fills or replaces it (mucosa, effusion, masses, cysts) after the
   normal anatomy and before the ossicles.

Contents get HU drawn per ear from overlapping ranges (fluid 5-35, granulation/cholesteatoma/tumour
25-70), so an HU histogram cannot tell the classes apart; location, shape, margins, erosion and the
air-fluid interface can.

Gravity: patients lie supine, so gravity points to world +y (posterior in LPS). An air-fluid level is
therefore a plane of constant world y (a straight coronal line on axial slices), whatever the head
pose; it is computed in the ear frame from the canvas' pose.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .anatomy import (
    ANTRUM_CENTRE,
    FACIAL_CANAL_PATH,
    PETROUS_APEX_SITE,
    PROMONTORY,
    SCUTUM,
    EarGeometry,
    facial_canal,
    jugular_bulb,
    jugular_foramen,
    mastoid_region,
    middle_ear_space,
    otic_capsule,
)
from .attributes import EarAttributes
from .solids import (
    Canvas,
    Difference,
    Ellipsoid,
    HalfSpace,
    Intersection,
    Offset,
    Shell,
    Sphere,
    Union,
    air_weight,
)

GRAVITY_WORLD = (0.0, 1.0, 0.0)  # supine patient: posterior is down
PRUSSAK_SPACE = np.array([7.0, -0.3, 2.4])  # lateral epitympanum, where attic cholesteatomas start
ADITUS_MIDPOINT = np.array([6.9, 6.2, 3.4])


def remodel_geometry(geometry: EarGeometry, attributes: EarAttributes, rng: np.random.Generator) -> EarGeometry:
    """The ear's anatomy after bone remodelling by its lesions (a new geometry; the input is kept).

    Example::

        geometry = remodel_geometry(sample_ear_geometry("sclerotic", rng), attributes, rng)
    """
    extent = attributes.extent
    changes: dict = {}
    if attributes.aditus_widened:
        sev = extent("aditus_widening")
        changes["aditus_radius"] = geometry.aditus_radius * (1.5 + 0.8 * sev)
        changes["antrum_semi"] = tuple(s * (1.0 + 0.35 * sev) for s in geometry.antrum_semi)
    if attributes.scutum_erosion:
        changes["scutum_defect"] = 1.0 + 2.2 * extent("scutum_erosion")
    sev = extent("ossicular_erosion")
    if attributes.ossicles == "partial_erosion":
        defects = [((5.3, 1.25, -0.6), 0.9 + 0.8 * sev)]  # lenticular / long process of the incus
        if rng.random() < 0.5:
            defects.append(((6.9, -1.6, 3.9), 0.8 + 0.6 * sev))  # nibbled malleus head
        changes["ossicle_defects"] = tuple(defects)
    elif attributes.ossicles == "severe_erosion":
        changes["ossicle_defects"] = (
            ((5.8, 1.4, 3.0), 1.8 + 1.0 * sev),  # incus body
            ((5.4, 1.3, 0.5), 2.0),  # incus long process and stapes superstructure
            ((6.3, -1.0, 3.4), 1.0 + 0.8 * sev),  # malleus head
        )
    if attributes.facial_canal_widened:
        peak = int(rng.integers(1, 5))  # geniculate, tympanic or mastoid segment
        profile = np.exp(-0.5 * ((np.arange(len(FACIAL_CANAL_PATH)) - peak) / 0.9) ** 2)
        widening = 0.8 + 2.0 * extent("facial_canal_widening")
        changes["facial_radii"] = tuple(np.asarray(geometry.facial_radii) + widening * profile)
    if attributes.jugular_foramen_erosion:
        changes["jugular_scale"] = geometry.jugular_scale * (1.25 + 0.5 * extent("jugular_foramen_erosion"))
    return dataclasses.replace(geometry, **changes)


def _record(canvas: Canvas, stats, **extra) -> dict:
    record = {"centre_world": None if stats is None else stats.centroid_world}
    record["volume_mm3"] = None if stats is None else round(stats.volume_mm3, 3)
    record.update(extra)
    return record


def _landmark(canvas: Canvas, point, **extra) -> dict:
    return {"centre_world": tuple(canvas.frame_to_world(point).tolist()), "volume_mm3": None, **extra}


def _cover_fraction(points: np.ndarray, fraction: float, gravity: np.ndarray, rng) -> Union | None:
    """Spheres that cover about `fraction` of `points`, favouring the dependent (gravity) side."""
    if len(points) == 0 or fraction <= 0:
        return None
    covered = np.zeros(len(points), dtype=bool)
    depth = points @ gravity
    preference = np.exp((depth - depth.max()) / 2.5)
    spheres = []
    while covered.mean() < fraction and len(spheres) < 60:
        free = np.flatnonzero(~covered)
        centre = points[rng.choice(free, p=preference[free] / preference[free].sum())]
        radius = float(rng.uniform(1.4, 3.0))
        spheres.append(Sphere(centre, radius))
        covered |= np.linalg.norm(points - centre, axis=1) < radius
    return Union(*spheres)


def _lobulated(centres, radii) -> Union:
    return Union(*[Sphere(c, r) for c, r in zip(centres, radii)])


def paint_lesions(
    canvas: Canvas, geometry: EarGeometry, attributes: EarAttributes, rng: np.random.Generator
) -> dict[str, dict]:
    """Paint every lesion of `attributes` into the ear seen by `canvas`; return where each went.

    `geometry` must already be remodelled ([`remodel_geometry`]) and painted. The result maps
    lesion names to `{"centre_world": (x, y, z) mm, "volume_mm3": ...}` (partial-volume centroid and
    volume of what was painted; landmarks of bone changes have `volume_mm3=None`). Normal ears give
    `{}`.
    """
    extent = attributes.extent
    gravity = canvas.world_direction_in_frame(GRAVITY_WORLD)
    cavity = middle_ear_space(geometry)
    fluid_hu = float(rng.uniform(5.0, 35.0))
    tissue_hu = float(rng.uniform(25.0, 65.0))
    found: dict[str, dict] = {}

    if attributes.mastoid_opacified:
        # Cells fill outward from the antrum; severe disease fills the whole mastoid.
        antrum = Ellipsoid(ANTRUM_CENTRE, geometry.antrum_semi)
        filled = Intersection(Union(mastoid_region(geometry), antrum),
                              Sphere(ANTRUM_CENTRE, 8.0 + 30.0 * extent("mastoid_opacification")))
        value = fluid_hu if attributes.effusion else float(rng.uniform(15.0, 50.0))
        found["mastoid_opacification"] = _record(canvas, canvas.paint(filled, value, air_weight, measure=True))

    if attributes.mucosal_thickening:
        lining = Shell(cavity, 0.6 + 1.4 * extent("mucosal_thickening"))
        found["mucosal_thickening"] = _record(canvas, canvas.paint(lining, tissue_hu + 10.0, air_weight, measure=True))

    fluid_region = None
    if attributes.opacification > 0:
        points = canvas.inside_points(cavity)
        value = fluid_hu if attributes.effusion else tissue_hu
        if attributes.air_fluid_level and len(points):
            level = float(np.quantile(points @ gravity, 1.0 - attributes.opacification))
            fluid_region = Intersection(cavity, HalfSpace(gravity * level, -gravity))
        else:
            blobs = _cover_fraction(points, attributes.opacification, gravity, rng)
            fluid_region = None if blobs is None else Intersection(cavity, blobs)
        if fluid_region is not None:
            stats = canvas.paint(fluid_region, value, air_weight, measure=True)
            volume = max(float(len(points)) * float(np.prod(canvas.spacing)), 1e-6)
            found["opacification"] = _record(
                canvas, stats, target_fraction=round(float(attributes.opacification), 3),
                painted_fraction=round(stats.volume_mm3 / volume, 3), air_fluid_level=attributes.air_fluid_level,
            )

    if attributes.bubbles and fluid_region is not None:
        fluid_points = canvas.inside_points(fluid_region)
        if len(fluid_points):
            shallow = fluid_points[np.argsort(fluid_points @ gravity)[: max(1, len(fluid_points) // 3)]]
            picks = shallow[rng.choice(len(shallow), size=min(len(shallow), int(rng.integers(1, 5))), replace=False)]
            bubbles = Intersection(cavity, _lobulated(picks, rng.uniform(0.5, 1.1, len(picks))))
            found["bubbles"] = _record(canvas, canvas.paint(bubbles, -1000.0, measure=True), count=len(picks))

    if attributes.epitympanic_mass:
        # Attic cholesteatoma: lobulated soft tissue from Prussak's space back toward the antrum;
        # it erodes the walls it touches by up to ~1.5 mm when severe (non-eroding when mild, as in CSOM).
        sev = extent("attic_soft_tissue")
        n_lobes = 1 + int(round(3 * sev))
        path = [PRUSSAK_SPACE + (ADITUS_MIDPOINT - PRUSSAK_SPACE) * t for t in np.linspace(0, 1.0 + 0.6 * sev, n_lobes)]
        centres = [c + rng.normal(0.0, 0.5, 3) for c in path]
        radii = rng.uniform(0.8, 1.1, n_lobes) * (1.6 + 2.6 * sev)
        mass = Intersection(_lobulated(centres, radii), Offset(cavity, 0.2 + 1.3 * sev))
        found["epitympanic_mass"] = _record(canvas, canvas.paint(mass, float(rng.uniform(25.0, 50.0)), measure=True))

    if attributes.tympanic_mass or attributes.tumour_site == "tympanic":
        centres = [PROMONTORY + rng.normal(0.0, 0.6, 3) for _ in range(3)]
        radii = rng.uniform(0.8, 1.1, 3) * (1.5 + 2.5 * extent("tympanic_mass"))
        mass = Intersection(_lobulated(centres, radii), Offset(cavity, 0.4))
        found["tympanic_mass"] = _record(canvas, canvas.paint(mass, float(rng.uniform(40.0, 70.0)), measure=True))

    if attributes.facial_canal_widened:
        peak = int(np.argmax(geometry.facial_radii))
        swelling = Intersection(
            facial_canal(geometry), Sphere(FACIAL_CANAL_PATH[peak], geometry.facial_radii[peak] + 3.0)
        )
        stats = canvas.paint(swelling, float(rng.uniform(35.0, 60.0)), measure=True)
        found["facial_canal_mass"] = _record(canvas, stats)

    if attributes.jugular_foramen_erosion:
        # Moth-eaten erosion: irregular lobules around the bulb climbing toward the hypotympanum.
        sev = extent("jugular_foramen_erosion")
        bulb = jugular_bulb(geometry)
        n_lobes = 4 + int(round(6 * sev))
        toward = np.array([0.35, -0.2, 0.9])
        centres = [bulb + toward * rng.uniform(0, 3 + 7 * sev) + rng.normal(0, 1.6, 3) for _ in range(n_lobes)]
        radii = rng.uniform(1.5, 3.0, n_lobes) * (0.7 + sev)
        mass = Difference(Union(jugular_foramen(geometry), _lobulated(centres, radii)), otic_capsule())
        stats = canvas.paint(mass, float(rng.uniform(35.0, 60.0)), measure=True)
        found["jugular_foramen_mass"] = _record(canvas, stats)

    if attributes.expansile_cyst:
        recorded = attributes.extras.get("cyst_site")
        apex = recorded == "petrous_apex" if recorded is not None else rng.random() < 0.55
        site = PETROUS_APEX_SITE if apex else ANTRUM_CENTRE + np.array([0.5, 1.5, 0.0])
        cyst = Sphere(site, 2.8 + 4.0 * extent("expansile_lesion"))
        rim, rim_hu = (0.5, 800.0) if attributes.bone_thinning else (1.1, 1250.0)
        # The rim bulges past the old bone contour (mild expansion) but stays closed (bone intact).
        canvas.paint(Difference(Offset(cyst, rim), otic_capsule()), rim_hu)
        stats = canvas.paint(Difference(cyst, otic_capsule()), float(rng.uniform(25.0, 45.0)), measure=True)
        found["expansile_cyst"] = _record(canvas, stats, rim_mm=rim, rim_hu=rim_hu)

    if attributes.scutum_erosion:
        found["scutum_erosion"] = _landmark(canvas, SCUTUM, defect_radius_mm=round(geometry.scutum_defect, 3))
    if attributes.aditus_widened:
        found["aditus_widening"] = _landmark(canvas, ADITUS_MIDPOINT, radius_mm=round(geometry.aditus_radius, 3))
    for k, (centre, radius) in enumerate(geometry.ossicle_defects):
        found[f"ossicle_erosion_{k}"] = _landmark(canvas, centre, defect_radius_mm=round(radius, 3))
    return found
