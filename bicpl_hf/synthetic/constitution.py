"""Patient-level anatomy of the synthetic benchmark: what a person's two temporal bones share.

In real temporal-bone CT the pneumatisation pattern and extent, cell size, bone density, tegmen
height, sigmoid and jugular layout, head size and the scanner's calibration are largely shared by
both sides of one person. A patient draws them once ([`sample_patient_anatomy`]); each ear
jitters around them ([`ear_geometry`]); disease then acts on its own ear
([`diseased_pneumatisation`]: a chronically inflamed ear is usually the less pneumatised one of
the pair). Normal people can be bilaterally diploic or sclerotic, and normal asymmetries (a dominant
or high-riding jugular bulb, an anteriorly placed sigmoid sinus) exist that are not disease; exams
with such a variant list it in `PatientAnatomy.normal_variant` (written to the ground truth).

Every rate below has its one-line clinical rationale in [`ANATOMY_RATES`] (the benchmark
documentation is generated from it, see `benchmark_docs.py`).

Example:
    >>> import numpy as np
    >>> anatomy = sample_patient_anatomy(np.random.default_rng(0), chronic=False)
    >>> anatomy.pattern in MASTOID_PATTERNS
    True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .anatomy import EarGeometry

MASTOID_PATTERNS = ("pneumatized", "diploic", "sclerotic")  # most to least pneumatised


@dataclass(frozen=True)
class AnatomyRate:
    """One patient-level anatomy rate and its clinical rationale."""

    value: float
    why: str


A = AnatomyRate
ANATOMY_RATES: dict[str, AnatomyRate] = {
    "pattern_pneumatized": A(0.72, "most adult mastoids are well pneumatised"),
    "pattern_diploic": A(0.18, "a diploic (marrow) mastoid is a common normal variant"),
    "pattern_sclerotic": A(0.10, "a small sclerotic mastoid also occurs in people without ear disease"),
    "chronic_pattern_pneumatized": A(0.45, "poor pneumatisation is constitutional and predisposes to chronic otitis"),
    "chronic_pattern_diploic": A(0.30, "patients with chronic otitis are more often diploic on both sides"),
    "chronic_pattern_sclerotic": A(0.25, "... or sclerotic on both sides (the partner ear included)"),
    "ear_pattern_discordance": A(0.08, "about one normal person in twelve has one ear a type less pneumatised"),
    "shift_csom": A(0.55, "chronic suppurative otitis arrests pneumatisation / scleroses the affected side"),
    "shift_cholesteatoma": A(0.60, "cholesteatoma ears are the smaller, sclerotic side more often than not"),
    "shift_som": A(0.10, "secretory otitis rarely changes the cell system (short-lived, children)"),
    "shift_granuloma": A(0.15, "cholesterol granuloma occurs in poorly ventilated, sometimes smaller mastoids"),
    "shift_tumour": A(0.00, "tumours do not change pneumatisation"),
    "extent_reduction_diseased": A(0.85, "a chronically diseased ear's cell system is ~15% smaller than its partner's"),
    "marked_jugular_dominance": A(0.25, "a markedly dominant jugular bulb is common (asymmetric sinuses)"),
    "jugular_dominance_right": A(0.70, "the dominant jugular bulb and sigmoid sinus are usually right-sided"),
    "high_jugular_bulb": A(0.08, "a high-riding bulb (above the basal turn / reaching the hypotympanum) in ~6-10%"),
    "anterior_sigmoid_sinus": A(0.06, "an anteriorly placed sigmoid sinus, usually one side, in a few percent"),
}
del A

PATTERN_SHARES = tuple(ANATOMY_RATES[f"pattern_{p}"].value for p in MASTOID_PATTERNS)
CHRONIC_PATTERN_SHARES = tuple(ANATOMY_RATES[f"chronic_pattern_{p}"].value for p in MASTOID_PATTERNS)
# Which ear codes step the ear's own mastoid a type down (toward sclerotic), and how often.
DISEASE_SHIFT = {
    1: ANATOMY_RATES["shift_csom"].value, 2: ANATOMY_RATES["shift_cholesteatoma"].value,
    3: ANATOMY_RATES["shift_som"].value, 4: ANATOMY_RATES["shift_granuloma"].value,
    5: 0.0, 6: ANATOMY_RATES["shift_tumour"].value,
}
CHRONIC_CODES = (1, 2)  # patients with one of these draw from CHRONIC_PATTERN_SHARES
# Per-ear jitter (relative sd, or mm) around the patient's value: the two ears of one person differ little.
EAR_JITTER = {"pneumatisation": 0.04, "cell_spacing": 0.04, "septum": 0.05, "bone_density": 0.015,
              "tegmen_mm": 0.4, "sigmoid_mm": 0.6, "jugular": 0.06, "eac": 0.03, "aditus": 0.05}


@dataclass(frozen=True)
class PatientAnatomy:
    """What one person's two temporal bones share (drawn once per patient, also across repeat exams)."""

    pattern: str = "pneumatized"
    pneumatisation: float = 1.0  # extent of the cell system (scales the mastoid's cell-bearing region)
    cell_spacing: float = 3.0
    septum: float = 0.5
    bone_density: float = 1.0  # multiplies petrous, capsule and mastoid bone HU
    tegmen_mm: float = 8.0  # height of the tegmen over the vestibule (ear frame z)
    sigmoid_forward: float = 0.0
    anterior_sigmoid_side: str | None = None
    jugular_scale: float = 1.0
    jugular_dominant_side: str | None = None  # side of a marked dominance
    jugular_ratio: float = 1.0  # dominant / other bulb size
    high_bulb_side: str | None = None
    eac_radius: float = 3.6
    aditus_radius: float = 1.5
    head_scale: float = 1.0
    calibration_gain: float = 1.0  # the scanner's HU calibration on the day (both ears see it)
    calibration_offset_hu: float = 0.0

    @property
    def normal_variant(self) -> list[str]:
        """Normal findings that mimic disease on one-side inspection ([] when none)."""
        variants = []
        if self.pattern != "pneumatized":
            variants.append(f"bilateral_{self.pattern}")
        if self.jugular_dominant_side:
            variants.append(f"dominant_jugular_bulb_{self.jugular_dominant_side}")
        if self.high_bulb_side:
            variants.append(f"high_jugular_bulb_{self.high_bulb_side}")
        if self.anterior_sigmoid_side:
            variants.append(f"anterior_sigmoid_sinus_{self.anterior_sigmoid_side}")
        return variants

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "normal_variant": self.normal_variant}

    @classmethod
    def from_dict(cls, data: dict) -> PatientAnatomy:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _r(x: float) -> float:
    return round(float(x), 4)


def sample_patient_anatomy(rng: np.random.Generator, *, chronic: bool) -> PatientAnatomy:
    """Draw one patient's shared anatomy; `chronic` patients (CSOM/cholesteatoma) are less pneumatised."""
    u = rng.random(22).tolist()  # one vector draw: thousands of patients sample in well under a second
    shares = np.cumsum(CHRONIC_PATTERN_SHARES if chronic else PATTERN_SHARES)
    pattern = MASTOID_PATTERNS[min(int(np.searchsorted(shares, u[0] * shares[-1], side="right")), 2)]
    right_rate = ANATOMY_RATES["jugular_dominance_right"].value
    dominant, ratio = None, 1.0 + 0.12 * u[1]
    if u[2] < ANATOMY_RATES["marked_jugular_dominance"].value:
        dominant, ratio = ("right" if u[3] < right_rate else "left"), 1.35 + 0.35 * u[4]
    high = None
    if u[5] < ANATOMY_RATES["high_jugular_bulb"].value:
        high = dominant or ("right" if u[6] < right_rate else "left")
    anterior = None
    if u[7] < ANATOMY_RATES["anterior_sigmoid_sinus"].value:
        anterior = "right" if u[8] < 0.5 else "left"

    def between(lo: float, hi: float, k: int) -> float:
        return _r(lo + (hi - lo) * u[k])

    return PatientAnatomy(
        pattern=pattern, pneumatisation=between(0.85, 1.1, 9), cell_spacing=between(2.4, 3.6, 10),
        septum=between(0.4, 0.75, 11), bone_density=between(0.94, 1.06, 12), tegmen_mm=between(6.8, 9.5, 13),
        sigmoid_forward=between(-1.5, 2.0, 14), anterior_sigmoid_side=anterior, jugular_scale=between(0.85, 1.1, 15),
        jugular_dominant_side=dominant, jugular_ratio=_r(ratio), high_bulb_side=high, eac_radius=between(3.2, 4.0, 16),
        aditus_radius=between(1.3, 1.8, 17), head_scale=between(0.94, 1.06, 18),
        calibration_gain=between(0.97, 1.03, 19), calibration_offset_hu=between(-15.0, 15.0, 20),
    )


def pattern_step(pattern: str, steps: int) -> str:
    """`pattern` moved `steps` types toward sclerotic (negative: toward pneumatised), clamped."""
    index = min(max(MASTOID_PATTERNS.index(pattern) + steps, 0), len(MASTOID_PATTERNS) - 1)
    return MASTOID_PATTERNS[index]


def ear_pneumatisation(anatomy: PatientAnatomy, code: int, rng: np.random.Generator) -> tuple[str, float]:
    """The (mastoid type, extent) of one ear: the patient's, jittered, then acted on by the ear's disease."""
    pattern = anatomy.pattern
    if rng.random() < ANATOMY_RATES["ear_pattern_discordance"].value:
        pattern = pattern_step(pattern, 1 if pattern != "sclerotic" else -1)
    extent = anatomy.pneumatisation * (1.0 + EAR_JITTER["pneumatisation"] * rng.standard_normal())
    return diseased_pneumatisation(pattern, extent, code, rng)


def diseased_pneumatisation(pattern: str, extent: float, code: int, rng: np.random.Generator) -> tuple[str, float]:
    """Disease acting on one ear's cell system: chronic disease steps it down a type and shrinks it."""
    if rng.random() < DISEASE_SHIFT[code]:
        pattern = pattern_step(pattern, 1)
        extent *= ANATOMY_RATES["extent_reduction_diseased"].value * float(rng.uniform(0.92, 1.05))
    return pattern, round(min(max(float(extent), 0.6), 1.2), 4)


def pneumatisation_score(mastoid: str, extent: float) -> float:
    """Orders ears from least (sclerotic, small) to most pneumatised; the type dominates the extent."""
    return 2.0 - MASTOID_PATTERNS.index(mastoid) + 0.5 * float(extent)


def ear_geometry(anatomy: PatientAnatomy, side: str, mastoid: str, extent: float,
                 rng: np.random.Generator) -> EarGeometry:
    """One ear's normal anatomy: the patient's values with a small per-ear jitter, plus the side's variants."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")

    def jitter(value: float, key: str) -> float:
        return float(value * (1.0 + EAR_JITTER[key] * rng.standard_normal()))

    jugular = anatomy.jugular_scale
    if anatomy.jugular_dominant_side:
        jugular *= np.sqrt(anatomy.jugular_ratio) if side == anatomy.jugular_dominant_side else 1 / np.sqrt(anatomy.jugular_ratio)
    else:  # mild asymmetry, either side
        jugular *= anatomy.jugular_ratio ** (0.5 if rng.random() < 0.6 else -0.5)
    sigmoid = anatomy.sigmoid_forward + EAR_JITTER["sigmoid_mm"] * rng.standard_normal()
    if anatomy.anterior_sigmoid_side == side:
        sigmoid += float(rng.uniform(3.5, 5.0))
    density = jitter(anatomy.bone_density, "bone_density")
    return EarGeometry(
        mastoid=mastoid,
        cells_seed=int(rng.integers(0, 2**31 - 1)),
        cell_spacing=jitter(anatomy.cell_spacing, "cell_spacing"),
        septum=jitter(anatomy.septum, "septum"),
        eac_radius=jitter(anatomy.eac_radius, "eac"),
        aditus_radius=jitter(anatomy.aditus_radius, "aditus"),
        jugular_scale=float(jitter(jugular, "jugular")),
        jugular_rise=float(rng.uniform(3.0, 4.5)) if anatomy.high_bulb_side == side else 0.0,
        sigmoid_forward=float(sigmoid),
        capsule_hu=2075.0 * density,
        petrous_hu=1150.0 * density,
        bone_density=density,
        pneumatisation=float(extent),
        tegmen_mm=float(anatomy.tegmen_mm + EAR_JITTER["tegmen_mm"] * rng.standard_normal()),
    )


__all__ = [
    "ANATOMY_RATES",
    "MASTOID_PATTERNS",
    "AnatomyRate",
    "PatientAnatomy",
    "diseased_pneumatisation",
    "ear_geometry",
    "ear_pneumatisation",
    "pattern_step",
    "pneumatisation_score",
    "sample_patient_anatomy",
]
