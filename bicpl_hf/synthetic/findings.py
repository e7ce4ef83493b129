"""The finding x class rate table of the synthetic benchmark: the single source of every lesion rate.

Each ear is drawn as a *profile* (its class, and for code 6 which tumour), then a set of per-ear
findings with the profile's rates below. Phantom lesions (`lesions.py`) and report sentences
(`reports.py`) are both written from the drawn findings, never from the class code, so each class's
defining findings also occur, less often and milder (`extent` < 1), in other classes, as in real
temporal-bone CT (DESIGN.md section 6): a zero-shot model can meet the parts of an unseen class in the
training classes.

A cell is `Rate(p, extent, why)`: the probability that an ear of that profile has the finding
(conditional on the `requires` finding when the row has one), the size of the finding relative to
its defining class (lesion size and erosion depth scale with `severity * extent`), and the one-line
clinical rationale. An absent cell means the finding does not occur in that profile.

Example:
    >>> import numpy as np
    >>> found = draw_findings("cholesteatoma", np.random.default_rng(0))
    >>> set(found) <= set(FINDINGS)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rate:
    """One cell of the rate table."""

    p: float
    extent: float
    why: str


@dataclass(frozen=True)
class Finding:
    """One row of the rate table: what the finding is, and the finding it needs (rates are then conditional)."""

    name: str
    zh: str
    requires: str | None = None


# Profiles: the class code of each, and how code-1, code-2 and code-6 ears split between their profiles.
PROFILE_CODES = {
    "csom": 1, "csom_inactive": 1, "cholesteatoma": 2, "cholesteatoma_nonerosive": 2, "som": 3, "granuloma": 4, "normal": 5,
    "facial_schwannoma": 6, "glomus_jugulare": 6, "glomus_tympanicum": 6,
}
TUMOUR_PROFILE_SHARES = {"facial_schwannoma": 0.40, "glomus_jugulare": 0.35, "glomus_tympanicum": 0.25}
# Why each split is what it is: PROFILE_SHARE_RATIONALE below (the documentation prints it).
CSOM_PROFILE_SHARES = {"csom": 0.65, "csom_inactive": 0.35}
CHOLESTEATOMA_PROFILE_SHARES = {"cholesteatoma": 0.80, "cholesteatoma_nonerosive": 0.20}
CODE_PROFILE_SHARES = {1: CSOM_PROFILE_SHARES, 2: CHOLESTEATOMA_PROFILE_SHARES, 6: TUMOUR_PROFILE_SHARES}
# Why each class splits into profiles (one line each; the benchmark documentation prints them).
PROFILE_SHARE_RATIONALE = {
    1: "about a third of CSOM ears referred for CT are inactive: an aerated cavity, the disease showing mainly as a "
       "mastoid less pneumatised than the partner's",
    2: "about a fifth of cholesteatomas show no bone erosion on CT: small attic, pars-tensa or congenital lesions, "
       "a soft-tissue opacity CT cannot tell from CSOM",
    6: "the tumours of code 6 in the proportions of a temporal-bone CT practice",
}
TUMOUR_SITES = {"facial_schwannoma": "facial_canal", "glomus_jugulare": "jugular_foramen", "glomus_tympanicum": "tympanic"}
# Lowest severity of a profile: a granuloma or tumour that reaches CT is never a trace finding.
SEVERITY_FLOOR = {"granuloma": 0.35, "facial_schwannoma": 0.3, "glomus_jugulare": 0.3, "glomus_tympanicum": 0.3}

FINDINGS: dict[str, Finding] = {f.name: f for f in (
    Finding("mucosal_thickening", "鼓室黏膜增厚"),
    Finding("tympanic_soft_tissue", "鼓室软组织影"),
    Finding("effusion", "鼓室积液"),
    Finding("air_fluid_level", "气液平面", requires="effusion"),
    Finding("bubbles", "气泡", requires="effusion"),
    Finding("attic_soft_tissue", "上鼓室软组织影"),
    Finding("scutum_erosion", "盾板骨质破坏"),
    Finding("ossicular_erosion", "听小骨骨质破坏"),
    Finding("aditus_widening", "鼓窦入口扩大"),
    Finding("tympanic_mass", "鼓室软组织肿块"),
    Finding("mastoid_opacification", "乳突气房密度增高"),
    Finding("expansile_lesion", "膨胀性病变"),
    Finding("bone_thinning", "骨壁变薄但完整", requires="expansile_lesion"),
    Finding("facial_canal_widening", "面神经管增宽"),
    Finding("jugular_foramen_erosion", "颈静脉孔扩大伴骨质侵蚀"),
)}

R = Rate
FINDING_RATES: dict[str, dict[str, Rate]] = {
    "mucosal_thickening": {
        "csom": R(0.90, 1.0, "mucosal inflammation is the substrate of chronic suppurative otitis"),
        "cholesteatoma": R(0.40, 0.7, "inflamed mucosa often surrounds a cholesteatoma"),
        "som": R(0.25, 0.5, "long-standing effusion thickens the mucosa"),
        "csom_inactive": R(0.30, 0.4, "residual thin mucosal thickening in inactive CSOM"),
        "cholesteatoma_nonerosive": R(0.30, 0.5, "inflamed mucosa around a small cholesteatoma"),
        "granuloma": R(0.15, 0.5, "chronic inflammation accompanies cholesterol granuloma"),
        "glomus_tympanicum": R(0.10, 0.5, "reactive mucosa next to a tympanic paraganglioma"),
    },
    "tympanic_soft_tissue": {
        "csom": R(0.85, 1.0, "granulation tissue fills the tympanic cavity in active CSOM"),
        "cholesteatoma": R(0.90, 1.0, "keratin and granulation fill the middle ear"),
        "csom_inactive": R(0.15, 0.4, "a little residual soft tissue in inactive CSOM"),
        "cholesteatoma_nonerosive": R(0.70, 0.6, "a small keratin sac with granulation: soft tissue, no bone change"),
        "granuloma": R(0.60, 0.8, "granuloma contents fill the cavity with soft-tissue density"),
        "glomus_tympanicum": R(1.00, 0.8, "the tumour itself is soft tissue in the cavity"),
        "glomus_jugulare": R(0.50, 0.7, "jugular paragangliomas reach the hypotympanum"),
        "facial_schwannoma": R(0.15, 0.5, "a tympanic-segment schwannoma bulges into the cavity"),
    },
    "effusion": {
        "som": R(1.00, 1.0, "fluid in the middle ear defines secretory otitis"),
        "csom": R(0.15, 0.7, "effusion alongside active chronic otitis"),
        "granuloma": R(0.10, 0.6, "obstructed ventilation adds serous fluid"),
        "cholesteatoma": R(0.05, 0.5, "a cholesteatoma can block ventilation behind it"),
        "glomus_jugulare": R(0.05, 0.5, "a tumour obstructing the Eustachian tube gives effusion"),
    },
    "air_fluid_level": {
        "som": R(0.65, 1.0, "air-fluid level when the cavity is partly aerated"),
        "csom": R(0.30, 1.0, "a fluid level when CSOM has effusion"),
        "granuloma": R(0.30, 1.0, "a fluid level when effusion accompanies it"),
        "cholesteatoma": R(0.30, 1.0, "a fluid level when effusion accompanies it"),
        "glomus_jugulare": R(0.30, 1.0, "a fluid level when effusion accompanies it"),
    },
    "bubbles": {
        "som": R(0.45, 1.0, "trapped air bubbles in mucoid effusion"),
        "csom": R(0.20, 1.0, "bubbles in effusion of any cause, less often"),
        "granuloma": R(0.20, 1.0, "bubbles in effusion of any cause, less often"),
        "cholesteatoma": R(0.20, 1.0, "bubbles in effusion of any cause, less often"),
        "glomus_jugulare": R(0.20, 1.0, "bubbles in effusion of any cause, less often"),
    },
    "attic_soft_tissue": {
        "cholesteatoma": R(0.85, 1.0, "pars flaccida cholesteatoma starts in Prussak's space (most cases)"),
        "cholesteatoma_nonerosive": R(0.70, 0.6, "an early pars flaccida cholesteatoma fills Prussak's space before "
                                                 "it erodes the scutum"),
        "csom": R(0.30, 0.7, "granulation tissue reaches the attic in about a third of active CSOM; without erosion "
                             "CT cannot tell it from cholesteatoma"),
        "glomus_tympanicum": R(0.25, 0.5, "a larger tympanic paraganglioma reaches the epitympanum"),
        "facial_schwannoma": R(0.15, 0.5, "a geniculate or tympanic-segment schwannoma fills the attic"),
        "granuloma": R(0.10, 0.5, "middle-ear cholesterol granuloma can occupy the attic"),
        "glomus_jugulare": R(0.10, 0.5, "extensive jugulotympanic tumours reach the attic"),
    },
    "scutum_erosion": {
        "cholesteatoma": R(0.75, 1.0, "a blunted scutum is the hallmark of attic cholesteatoma"),
        "csom": R(0.06, 0.4, "chronic otitis can blunt the scutum slightly"),
        "glomus_jugulare": R(0.08, 0.5, "aggressive jugulotympanic tumours erode the lateral wall"),
        "glomus_tympanicum": R(0.05, 0.4, "rarely a tympanic paraganglioma erodes the scutum"),
    },
    "ossicular_erosion": {
        "cholesteatoma": R(0.90, 1.0, "the chain erodes in most cholesteatomas that erode bone"),
        "csom": R(0.20, 0.5, "incus long-process erosion in a minority of CSOM"),
        "csom_inactive": R(0.10, 0.4, "healed incus erosion persists after the infection settles"),
        "glomus_tympanicum": R(0.35, 0.6, "tympanic paragangliomas envelop and erode the ossicles"),
        "glomus_jugulare": R(0.25, 0.6, "jugulotympanic extension erodes the ossicles"),
        "facial_schwannoma": R(0.20, 0.5, "a tympanic-segment schwannoma erodes the incus"),
        "granuloma": R(0.05, 0.4, "a large granuloma occasionally erodes the ossicles"),
    },
    "aditus_widening": {
        "cholesteatoma": R(0.60, 1.0, "aditus widens when cholesteatoma extends to the antrum"),
        "granuloma": R(0.10, 0.6, "an expansile granuloma near the antrum remodels the aditus"),
        "csom": R(0.04, 0.4, "long-standing chronic otitis occasionally widens the aditus"),
    },
    "tympanic_mass": {
        "glomus_tympanicum": R(1.00, 1.0, "a mass on the promontory defines glomus tympanicum"),
        "glomus_jugulare": R(0.35, 0.8, "jugulotympanic tumours present on the promontory"),
        "cholesteatoma": R(0.20, 0.7, "pars-tensa cholesteatoma sits in the mesotympanum"),
        "facial_schwannoma": R(0.10, 0.6, "a tympanic-segment schwannoma forms a mass in the cavity"),
        "cholesteatoma_nonerosive": R(0.25, 0.6, "a pars-tensa or congenital cholesteatoma is a small rounded "
                                                 "mesotympanic mass"),
        "csom": R(0.05, 0.5, "a granulation polyp on the promontory in CSOM"),
    },
    "mastoid_opacification": {
        "som": R(0.50, 1.0, "effusion extends into the mastoid cells"),
        "granuloma": R(0.50, 1.0, "granuloma contents and retained fluid fill the cells"),
        "csom": R(0.40, 1.0, "chronic mastoiditis opacifies the cells"),
        "csom_inactive": R(0.10, 0.5, "a few cells stay opacified in inactive CSOM"),
        "cholesteatoma": R(0.40, 1.0, "retained secretions or disease in the mastoid"),
        "cholesteatoma_nonerosive": R(0.25, 0.6, "retained secretions behind a small cholesteatoma"),
        "glomus_jugulare": R(0.15, 0.6, "obstructed drainage or tumour in the mastoid"),
        "glomus_tympanicum": R(0.10, 0.6, "obstructed drainage behind a tympanic tumour"),
        "facial_schwannoma": R(0.10, 0.6, "a mastoid-segment schwannoma blocks the cells"),
    },
    "expansile_lesion": {
        "granuloma": R(1.00, 1.0, "a smooth expansile lesion defines cholesterol granuloma"),
        "facial_schwannoma": R(0.30, 0.6, "schwannomas remodel bone smoothly and expansively"),
        "cholesteatoma": R(0.12, 0.6, "large (mastoid or apical) cholesteatomas expand bone"),
    },
    "bone_thinning": {
        "granuloma": R(1.00, 1.0, "the expanded bone of a granuloma is thinned but intact (its defining description)"),
        "facial_schwannoma": R(0.60, 1.0, "schwannoma scalloping thins the bone without breaching it"),
        "cholesteatoma": R(0.50, 1.0, "an expansile cholesteatoma thins its bony shell"),
    },
    "facial_canal_widening": {
        "facial_schwannoma": R(1.00, 1.0, "a widened facial canal defines facial schwannoma"),
        "glomus_jugulare": R(0.10, 0.5, "jugular paragangliomas invade the mastoid facial segment"),
    },
    "jugular_foramen_erosion": {
        "glomus_jugulare": R(1.00, 1.0, "moth-eaten jugular foramen erosion defines glomus jugulare"),
    },
}
del R

# What names each class in a report; used by the composition check (a held-out class's findings
# must occur in the training classes) and by the documentation.
DEFINING_FINDINGS: dict[int, tuple[str, ...]] = {
    1: ("mucosal_thickening", "tympanic_soft_tissue", "mastoid_opacification"),
    2: ("attic_soft_tissue", "scutum_erosion", "ossicular_erosion", "aditus_widening"),
    3: ("effusion", "air_fluid_level", "bubbles"),
    4: ("expansile_lesion", "bone_thinning"),
    5: (),
    6: ("facial_canal_widening", "jugular_foramen_erosion", "tympanic_mass"),
}


def _check_table() -> None:
    for name, row in FINDING_RATES.items():
        if name not in FINDINGS:
            raise ValueError(f"FINDING_RATES has unknown finding {name!r}; expected one of {sorted(FINDINGS)}")
        for profile, rate in row.items():
            if profile not in PROFILE_CODES:
                raise ValueError(f"FINDING_RATES[{name!r}] has unknown profile {profile!r}")
            if not (0.0 < rate.p <= 1.0 and 0.0 < rate.extent <= 1.0 and rate.why):
                raise ValueError(f"FINDING_RATES[{name!r}][{profile!r}] = {rate} needs 0 < p, extent <= 1 and a rationale")
    missing = set(FINDINGS) - set(FINDING_RATES)
    if missing:
        raise ValueError(f"findings without rates: {sorted(missing)}")


_check_table()


def profile_of(code: int, rng: np.random.Generator) -> str:
    """The profile of an ear of class `code`: the class itself, or for code 6 one of the tumours."""
    if code in CODE_PROFILE_SHARES:
        shares = CODE_PROFILE_SHARES[code]
        names = list(shares)
        return names[int(rng.choice(len(names), p=[shares[n] for n in names]))]
    for profile, profile_code in PROFILE_CODES.items():
        if profile_code == code:
            return profile
    raise ValueError(f"unknown ear code {code!r}; expected one of {sorted(set(PROFILE_CODES.values()))}")


def rate(finding: str, profile: str) -> Rate | None:
    """The table cell, or `None` when the finding does not occur in the profile."""
    return FINDING_RATES[finding].get(profile)


def draw_findings(profile: str, rng: np.random.Generator) -> dict[str, float]:
    """Draw one ear's findings: `{finding: extent}` for each finding present (table order).

    Every row is drawn (one uniform each) whether or not it can occur, so the stream stays aligned
    across profiles.
    """
    if profile not in PROFILE_CODES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(PROFILE_CODES)}")
    found: dict[str, float] = {}
    for u, (name, finding) in zip(rng.random(len(FINDINGS)).tolist(), FINDINGS.items()):
        cell = FINDING_RATES[name].get(profile)
        if cell is None or (finding.requires is not None and finding.requires not in found):
            continue
        if u < cell.p:
            found[name] = cell.extent
    return found


def marginal_rate(finding: str, profile: str) -> float:
    """Unconditional probability of `finding` in `profile` (conditional rows times their parent)."""
    cell = FINDING_RATES[finding].get(profile)
    if cell is None:
        return 0.0
    parent = FINDINGS[finding].requires
    return cell.p * (1.0 if parent is None else marginal_rate(parent, profile))


def class_rate(finding: str, code: int) -> float:
    """Unconditional probability of `finding` in an ear of class `code` (codes 1 and 6: profile mix)."""
    if code in CODE_PROFILE_SHARES:
        return sum(share * marginal_rate(finding, p) for p, share in CODE_PROFILE_SHARES[code].items())
    return marginal_rate(finding, profile_of(code, np.random.default_rng(0)))


__all__ = [
    "CHOLESTEATOMA_PROFILE_SHARES",
    "CODE_PROFILE_SHARES",
    "CSOM_PROFILE_SHARES",
    "DEFINING_FINDINGS",
    "FINDINGS",
    "FINDING_RATES",
    "PROFILE_CODES",
    "PROFILE_SHARE_RATIONALE",
    "SEVERITY_FLOOR",
    "TUMOUR_PROFILE_SHARES",
    "TUMOUR_SITES",
    "Finding",
    "Rate",
    "class_rate",
    "draw_findings",
    "marginal_rate",
    "profile_of",
    "rate",
]
