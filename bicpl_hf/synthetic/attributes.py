"""Per-ear lesion attributes of the synthetic temporal-bone benchmark.

Phantoms and reports are both rendered from these attributes, never from the class code directly.
The attributes are written from per-ear findings drawn with the class-dependent rates of
[`findings`] (the single rate table), so classes share findings (compositional zero-shot): soft
tissue in the tympanic cavity and attic appears in CSOM, cholesteatoma and tumours alike, ossicular
erosion in most cholesteatomas and some CSOM and tumours, and only the combination and extent
separate them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..processing.ear_classes import CLASS_NAMES_ZH, EAR_CODE_FREQUENCIES, NORMAL_CODE
from .constitution import (
    CHRONIC_CODES,
    CHRONIC_PATTERN_SHARES,
    MASTOID_PATTERNS,
    PATTERN_SHARES,
    PatientAnatomy,
    diseased_pneumatisation,
    ear_pneumatisation,
)
from .findings import FINDINGS, SEVERITY_FLOOR, TUMOUR_SITES, draw_findings, profile_of

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
    tympanic_mass: bool = False  # promontory / mesotympanic mass (glomus tympanicum, jugulotympanic, pars tensa)
    pneumatisation: float = 1.0  # extent of this ear's cell system (1 = the template's)
    profile: str | None = None  # row of the rate table this ear was drawn from (code 6: which tumour)
    findings: dict = field(default_factory=dict)  # drawn findings -> extent relative to their defining class
    extras: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EarAttributes:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"EarAttributes got unknown field(s) {sorted(unknown)}; expected a subset of {sorted(known)}")
        return cls(**data)

    @property
    def is_normal(self) -> bool:
        return self.code == NORMAL_CODE

    def extent(self, finding: str) -> float:
        """How large `finding` is drawn: the ear's severity times the finding's extent in its class."""
        return float(self.severity) * float(self.findings.get(finding, 1.0))


def _population_pattern(code: int, rng: np.random.Generator) -> str:
    shares = CHRONIC_PATTERN_SHARES if code in CHRONIC_CODES else PATTERN_SHARES
    return MASTOID_PATTERNS[int(rng.choice(len(MASTOID_PATTERNS), p=shares))]


def sample_ear_attributes(code: int, rng: np.random.Generator, anatomy: PatientAnatomy | None = None) -> EarAttributes:
    """Draw the attributes of one ear of class `code` (1-6): its profile, severity, pneumatisation and findings.

    The findings come from the single rate table ([`findings.FINDING_RATES`]), so they overlap
    across classes on purpose: some CSOM ears have attic soft tissue or partial ossicle erosion, some
    tumours erode the ossicles, some cholesteatomas are small and spare the chain. The mastoid is the
    patient's (`anatomy`, shared by both ears) when given, else drawn from the population; disease
    then acts on this ear (chronic otitis usually leaves the ear the less pneumatised of the pair).

    Example:
        >>> ear = sample_ear_attributes(2, np.random.default_rng(0))
        >>> ear.code, ear.profile
        (2, 'cholesteatoma')
    """
    if code not in CLASS_NAMES_ZH:
        raise ValueError(f"unknown ear code {code!r}; expected one of {sorted(CLASS_NAMES_ZH)}")
    profile = profile_of(code, rng)
    severity = min(max(float(rng.beta(2.2, 2.0)), 0.08), 1.0)
    severity = 0.0 if code == NORMAL_CODE else max(severity, SEVERITY_FLOOR.get(profile, 0.0))
    if anatomy is not None:
        mastoid, extent = ear_pneumatisation(anatomy, code, rng)
    else:
        mastoid, extent = diseased_pneumatisation(_population_pattern(code, rng), float(rng.uniform(0.85, 1.1)), code, rng)
    found = draw_findings(profile, rng)
    cyst_site = "petrous_apex" if rng.random() < 0.55 else "antrum"
    return attributes_from_findings(code, profile, severity, found, mastoid, extent, cyst_site=cyst_site)


def attributes_from_findings(code: int, profile: str, severity: float, found: dict[str, float], mastoid: str,
                             pneumatisation: float = 1.0, *, cyst_site: str = "petrous_apex") -> EarAttributes:
    """The [`EarAttributes`] that render `found` (`{finding: extent}`) into phantom and report."""
    unknown = set(found) - set(FINDINGS)
    if unknown:
        raise ValueError(f"unknown finding(s) {sorted(unknown)}; expected a subset of {sorted(FINDINGS)}")
    opacifying = [found[k] for k in ("tympanic_soft_tissue", "effusion") if k in found]
    opacification = max(0.1, max(opacifying) * (0.15 + 0.6 * severity)) if opacifying else 0.0
    ossicles = "intact"
    if "ossicular_erosion" in found:
        ossicles = "severe_erosion" if severity * found["ossicular_erosion"] > 0.55 else "partial_erosion"
    site = TUMOUR_SITES.get(profile)
    extras: dict = {}
    if "expansile_lesion" in found:
        extras["cyst_site"] = cyst_site
    return EarAttributes(
        code=code, severity=round(severity, 4), mastoid=mastoid, pneumatisation=pneumatisation, profile=profile,
        findings={k: round(v, 3) for k, v in found.items()},
        mucosal_thickening="mucosal_thickening" in found, opacification=round(float(opacification), 4),
        effusion="effusion" in found, air_fluid_level="air_fluid_level" in found, bubbles="bubbles" in found,
        epitympanic_mass="attic_soft_tissue" in found, scutum_erosion="scutum_erosion" in found, ossicles=ossicles,
        aditus_widened="aditus_widening" in found, mastoid_opacified="mastoid_opacification" in found,
        expansile_cyst="expansile_lesion" in found, bone_thinning="bone_thinning" in found,
        tumour_site=site, tympanic_mass="tympanic_mass" in found,  # type: ignore[arg-type]
        facial_canal_widened="facial_canal_widening" in found,
        jugular_foramen_erosion="jugular_foramen_erosion" in found, extras=extras,
    )


__all__ = [
    "CLASS_NAMES_ZH",
    "EAR_CODE_FREQUENCIES",
    "EarAttributes",
    "attributes_from_findings",
    "sample_ear_attributes",
]
