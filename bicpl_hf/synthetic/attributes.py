"""Per-ear lesion attributes of the synthetic temporal-bone benchmark.

Phantoms and reports are both rendered from these attributes, never from the class code directly, so
classes share attributes (compositional zero-shot): soft tissue in the tympanic cavity appears in
CSOM, cholesteatoma and tumours alike, and only the combination (erosion, epitympanic location,
expansile margins, an air-fluid level) separates them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..processing.ear_classes import CLASS_NAMES_ZH, EAR_CODE_FREQUENCIES, NORMAL_CODE

MastoidType = Literal["pneumatized", "diploic", "sclerotic"]
OssicleState = Literal["intact", "partial_erosion", "severe_erosion"]
TumourSite = Literal["facial_canal", "jugular_foramen", "tympanic"]


@dataclass
class EarAttributes:
    """What one ear looks like; every field has a visible counterpart in the phantom and the report.

    `severity` in [0, 1] scales lesion size/extent; below ~0.3 a lesion is borderline.
    """

    code: int = NORMAL_CODE
    severity: float = 0.0
    mastoid: MastoidType = "pneumatized"
    mucosal_thickening: bool = False
    opacification: float = 0.0  # fraction of the tympanic cavity filled with soft tissue / fluid
    effusion: bool = False  # fluid (not soft-tissue) density
    air_fluid_level: bool = False
    bubbles: bool = False
    epitympanic_mass: bool = False
    scutum_erosion: bool = False
    ossicles: OssicleState = "intact"
    aditus_widened: bool = False
    mastoid_opacified: bool = False
    expansile_cyst: bool = False  # smooth, expansile, bone thinned but intact
    bone_thinning: bool = False
    tumour_site: TumourSite | None = None
    facial_canal_widened: bool = False
    jugular_foramen_erosion: bool = False
    extras: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "EarAttributes":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"EarAttributes got unknown field(s) {sorted(unknown)}; expected a subset of {sorted(known)}")
        return cls(**data)

    @property
    def is_normal(self) -> bool:
        return self.code == NORMAL_CODE


def sample_ear_attributes(code: int, rng: np.random.Generator) -> EarAttributes:
    """Draw the attributes of one ear of class `code` (1-6) with a random severity.

    The draws overlap on purpose: some normal ears have sclerotic mastoids, some CSOM ears show partial
    ossicle erosion, some cholesteatomas are small, so no single attribute (and no HU histogram) gives
    the class away.
    """
    if code not in CLASS_NAMES_ZH:
        raise ValueError(f"unknown ear code {code!r}; expected one of {sorted(CLASS_NAMES_ZH)}")
    severity = float(np.clip(rng.beta(2.2, 2.0), 0.08, 1.0))
    mastoid_draw = lambda probs: str(rng.choice(["pneumatized", "diploic", "sclerotic"], p=probs))  # noqa: E731

    if code == NORMAL_CODE:
        return EarAttributes(code=NORMAL_CODE, severity=0.0, mastoid=mastoid_draw([0.72, 0.18, 0.10]))
    if code == 1:  # CSOM: mucosal disease, sclerotic mastoid, ossicles mostly kept
        return EarAttributes(
            code=1,
            severity=severity,
            mastoid=mastoid_draw([0.12, 0.28, 0.60]),
            mucosal_thickening=True,
            opacification=float(0.15 + 0.6 * severity),
            effusion=bool(rng.random() < 0.12),
            ossicles="partial_erosion" if rng.random() < 0.15 * (0.5 + severity) else "intact",
            mastoid_opacified=bool(rng.random() < 0.35),
        )
    if code == 2:  # cholesteatoma: epitympanic mass with erosion
        return EarAttributes(
            code=2,
            severity=severity,
            mastoid=mastoid_draw([0.15, 0.30, 0.55]),
            mucosal_thickening=bool(rng.random() < 0.4),
            opacification=float(0.25 + 0.55 * severity),
            epitympanic_mass=True,
            scutum_erosion=bool(rng.random() < 0.55 + 0.4 * severity),
            ossicles="severe_erosion" if severity > 0.55 else "partial_erosion",
            aditus_widened=bool(rng.random() < 0.3 + 0.6 * severity),
            mastoid_opacified=bool(rng.random() < 0.4),
        )
    if code == 3:  # secretory otitis media: fluid, air-fluid level, no erosion
        level = bool(rng.random() < 0.65)
        return EarAttributes(
            code=3,
            severity=severity,
            mastoid=mastoid_draw([0.70, 0.22, 0.08]),
            mucosal_thickening=bool(rng.random() < 0.25),
            opacification=float(0.2 + 0.6 * severity),
            effusion=True,
            air_fluid_level=level,
            bubbles=bool(rng.random() < (0.5 if level else 0.25)),
            mastoid_opacified=bool(rng.random() < 0.5),
        )
    if code == 4:  # cholesterol granuloma: expansile smooth cyst, bone thinned but intact
        return EarAttributes(
            code=4,
            severity=max(severity, 0.35),
            mastoid=mastoid_draw([0.45, 0.35, 0.20]),
            opacification=float(0.3 + 0.5 * severity),
            expansile_cyst=True,
            bone_thinning=True,
            mastoid_opacified=bool(rng.random() < 0.5),
        )
    # code 6, other: a tumour at one of three sites
    site = str(rng.choice(["facial_canal", "jugular_foramen", "tympanic"], p=[0.4, 0.35, 0.25]))
    return EarAttributes(
        code=6,
        severity=max(severity, 0.3),
        mastoid=mastoid_draw([0.5, 0.3, 0.2]),
        opacification=float(0.1 + 0.4 * severity) if site != "facial_canal" else 0.05,
        tumour_site=site,  # type: ignore[arg-type]
        facial_canal_widened=site == "facial_canal",
        jugular_foramen_erosion=site == "jugular_foramen",
        ossicles="partial_erosion" if site == "tympanic" and rng.random() < 0.4 else "intact",
    )


# CLASS_NAMES_ZH / EAR_CODE_FREQUENCIES come from the class table (processing/ear_classes.py).
__all__ = ["CLASS_NAMES_ZH", "EAR_CODE_FREQUENCIES", "EarAttributes", "MastoidType", "OssicleState", "TumourSite",
           "sample_ear_attributes"]
