"""Sampling the exams of a synthetic cohort: ear-code pairs, fake patients, dates, scanners and pose.

Nothing here renders a volume, so a cohort of thousands of exams samples in well under a second
(tests check label frequencies at n = 2000 this way).

Ear-code pairs follow a joint (left, right) table that is symmetric in the two sides, whose marginals
are [`EAR_CODE_FREQUENCIES`] (DESIGN.md section 2): one diseased ear with a normal partner
((1,5), (5,1), (5,2), ...) is the most common exam, chronic otitis and secretory otitis are often
bilateral ((1,1), (3,3)), a few exams mix two diseases ((1,6), (1,2), ...) and about 2% are
normal-normal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np

from .anatomy import HeadPose
from .attributes import (
    CLASS_NAMES_ZH,
    EAR_CODE_FREQUENCIES,
    EarAttributes,
    sample_ear_attributes,
)
from .constitution import CHRONIC_CODES, PatientAnatomy, sample_patient_anatomy

# Share of exams with (disease, normal) in ONE given order; (normal, disease) has the same share.
UNILATERAL_PAIR_SHARE = {1: 0.14, 2: 0.08, 3: 0.02, 4: 0.003, 6: 0.025}
# Share of exams with two different diseases in one given order (the reverse order has the same).
MIXED_PAIR_SHARE = {(1, 2): 0.03, (1, 3): 0.015, (1, 4): 0.001, (1, 6): 0.035, (2, 3): 0.004, (2, 4): 0.0005,
                    (2, 6): 0.005, (3, 6): 0.003}
REPEAT_PATIENT_RATE = 0.01  # share of patients with a second exam
DECOY_RATE = 0.25  # exams that also carry a soft-tissue series or a scout
EXAM_PERIOD = (dt.date(2019, 1, 1), dt.date(2024, 12, 31))

SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜"
    "崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
) + ("欧阳", "司马", "诸葛", "上官")
GIVEN_NAME_CHARACTERS = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚文华红玉志宇晨雨婷俊鑫博佳琳思睿诺嘉怡然泽轩雪梅兰春国庆海燕建亮斌"
    "飞慧丹晶颖凯鹏子梓浩欣秀桂英德福永林瑶琪萱彤宏辉成"
)


@dataclass(frozen=True)
class ScannerProfile:
    """What one vendor's temporal-bone protocol writes into DICOM, and its image noise."""

    manufacturer: str
    model: str
    bone_kernel: str
    soft_kernel: str
    scout_description: str
    series_description: str
    slice_thickness_mm: float  # used by the "full" size
    noise_sigma: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# manufacturer, model, bone kernels, soft kernel, scout, description template, slice mm, noise sigma, share
VENDORS = (
    ("SIEMENS", "SOMATOM Definition AS+", ("Hr64", "B70s", "H70h"), ("Hr40", "B30f"), "Topogram 0.6 T20s",
     "Temporal Bone {slice} {kernel}", 0.6, 25.0, 0.45),
    ("GE MEDICAL SYSTEMS", "Revolution CT", ("BONEPLUS", "BONE"), ("STANDARD", "SOFT"), "Scout",
     "TEMPORAL BONE {slice}mm {kernel}", 0.625, 31.0, 0.30),
    ("UIH", "uCT 760", ("B_SHARP_C", "B_SHARP_B"), ("B_SOFT_B", "B_SOFT_C"), "Localizer",
     "Temporal_Bone_{kernel} {slice}mm", 0.5, 36.0, 0.25),
)


@dataclass(frozen=True)
class Patient:
    """A fake patient (protected health information in a real export)."""

    family_name: str
    given_name: str
    patient_id: str
    birth_date: dt.date
    sex: str  # "M" or "F", as in DICOM PatientSex

    @property
    def name(self) -> str:
        return self.family_name + self.given_name

    def to_dict(self) -> dict:
        return {"name": self.name, "family_name": self.family_name, "given_name": self.given_name,
                "patient_id": self.patient_id, "birth_date": self.birth_date.isoformat(), "sex": self.sex}


@dataclass
class ExamSpec:
    """Everything needed to render and export one exam; `seed` drives the rendering randomness.

    `decoy` is `None`, `"soft_tissue"` (a soft-kernel series of the same geometry) or
    `"scout"` (a 1-2 image localizer series). `anatomy` is what the patient's two ears share
    (`None`: drawn from `seed` at render time); its `normal_variant` list names the normal
    variants that mimic disease on one-side inspection (bilateral diploic / sclerotic mastoids,
    a dominant or high jugular bulb, an anterior sigmoid sinus).
    """

    exam_id: str
    patient: Patient
    exam_datetime: dt.datetime
    left: EarAttributes
    right: EarAttributes
    pose: HeadPose
    scanner: ScannerProfile
    seed: int
    decoy: str | None = None
    anatomy: PatientAnatomy | None = None

    @property
    def normal_variant(self) -> list[str]:
        return [] if self.anatomy is None else self.anatomy.normal_variant

    @property
    def codes(self) -> tuple[int, int]:
        return self.left.code, self.right.code

    def to_dict(self) -> dict:
        return {
            "exam_id": self.exam_id,
            "patient": self.patient.to_dict(),
            "exam_datetime": self.exam_datetime.isoformat(sep=" "),
            "codes": {"left": self.left.code, "right": self.right.code},
            "attributes": {"left": self.left.to_dict(), "right": self.right.to_dict()},
            "pose": self.pose.to_dict(),
            "scanner": self.scanner.to_dict(),
            "seed": self.seed,
            "decoy": self.decoy,
            "anatomy": None if self.anatomy is None else self.anatomy.to_dict(),
            "normal_variant": self.normal_variant,
        }


def exam_pair_probabilities() -> dict[tuple[int, int], float]:
    """Joint probability of each (left code, right code) exam; both sides have the DESIGN marginals.

    The diagonal (bilateral same disease, and normal-normal) is what remains of each code's share
    after its unilateral and mixed pairs.
    """
    table: dict[tuple[int, int], float] = {}
    for code, share in UNILATERAL_PAIR_SHARE.items():
        table[(code, 5)] = table[(5, code)] = share
    for (a, b), share in MIXED_PAIR_SHARE.items():
        table[(a, b)] = table[(b, a)] = share
    for code, marginal in EAR_CODE_FREQUENCIES.items():
        rest = marginal - sum(p for (a, _), p in table.items() if a == code)
        if rest < -1e-9:
            raise ValueError(f"pair shares of code {code} exceed its ear frequency {marginal}")
        table[(code, code)] = max(rest, 0.0)
    total = sum(table.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"EAR_CODE_FREQUENCIES must sum to 1 (pairs sum to {total:.6f})")
    return table


def _enforce_minimum(codes: np.ndarray, minimum: dict[int, int], rng: np.random.Generator) -> None:
    """Recode random ears (in place) until every code has `minimum[code]` ears; rarest code first."""
    for code in sorted(minimum, key=lambda c: EAR_CODE_FREQUENCIES[c]):
        while (codes == code).sum() < minimum[code]:
            counts = {c: int((codes == c).sum()) for c in CLASS_NAMES_ZH}
            spare = [c for c in CLASS_NAMES_ZH if c != code and counts[c] > minimum.get(c, 0)]
            candidates = np.argwhere(np.isin(codes, spare) & ~(codes == code).any(axis=1, keepdims=True))
            if len(candidates) == 0:
                raise ValueError(f"min_ears_per_code={minimum} cannot be met with {len(codes)} exams")
            exam, side = candidates[rng.integers(len(candidates))]
            codes[exam, side] = code


def _sample_patient(rng: np.random.Generator, used_ids: set[str], young: bool, on: dt.date) -> Patient:
    surname = SURNAMES[rng.integers(len(SURNAMES))]
    given = "".join(GIVEN_NAME_CHARACTERS[i] for i in rng.integers(len(GIVEN_NAME_CHARACTERS), size=rng.integers(1, 3)))
    while True:
        patient_id = f"{rng.integers(10**9):010d}"
        if patient_id not in used_ids:
            used_ids.add(patient_id)
            break
    age_days = int(rng.uniform(3, 14) * 365.25) if young else int(rng.uniform(8, 86) * 365.25)
    return Patient(surname, given, patient_id, on - dt.timedelta(days=age_days), "M" if rng.random() < 0.5 else "F")


def _sample_scanner(rng: np.random.Generator) -> ScannerProfile:
    vendor = VENDORS[rng.choice(len(VENDORS), p=[v[-1] for v in VENDORS])]
    manufacturer, model, bone, soft, scout, description, slice_mm, noise, _ = vendor
    kernel = bone[rng.integers(len(bone))]
    return ScannerProfile(
        manufacturer=manufacturer, model=model, bone_kernel=kernel, soft_kernel=soft[rng.integers(len(soft))],
        scout_description=scout, series_description=description.format(slice=slice_mm, kernel=kernel),
        slice_thickness_mm=slice_mm, noise_sigma=round(float(noise * rng.uniform(0.85, 1.15)), 2),
    )


def sample_pose(rng: np.random.Generator) -> HeadPose:
    """Yaw within +-4 deg, roll within +-2 deg, shift within +-6 mm per axis."""
    shift = tuple(round(float(v), 3) for v in rng.uniform(-6.0, 6.0, 3))
    return HeadPose(round(float(rng.uniform(-4, 4)), 3), round(float(rng.uniform(-2, 2)), 3), shift)


def _random_datetime(rng: np.random.Generator, start: dt.date, end: dt.date) -> dt.datetime:
    day = start + dt.timedelta(days=int(rng.integers((end - start).days + 1)))
    return dt.datetime.combine(day, dt.time(0)) + dt.timedelta(seconds=int(rng.integers(8 * 3600, 18 * 3600)))


def sample_cohort(n_exams: int, seed: int, min_ears_per_code: dict[int, int] | None = None) -> list[ExamSpec]:
    """Sample `n_exams` exams (codes, attributes, patients, dates, scanner, pose); renders nothing.

    Args:
        n_exams: number of exams (>= 1).
        seed: the only source of randomness.
        min_ears_per_code: e.g. `{4: 8}` guarantees 8 cholesterol-granuloma ears at small n by
            recoding random ears of codes that have ears to spare.

    Example:
        >>> exams = sample_cohort(20, seed=0, min_ears_per_code={4: 2})
        >>> sum(code == 4 for e in exams for code in e.codes) >= 2
        True
    """
    if int(n_exams) != n_exams or n_exams < 1:
        raise ValueError(f"n_exams must be a positive integer, got {n_exams!r}")
    minimum = {int(k): int(v) for k, v in (min_ears_per_code or {}).items()}
    unknown = set(minimum) - set(CLASS_NAMES_ZH)
    if unknown:
        raise ValueError(f"min_ears_per_code has unknown code(s) {sorted(unknown)}; expected {sorted(CLASS_NAMES_ZH)}")
    if sum(minimum.values()) > 2 * n_exams:
        raise ValueError(
            f"min_ears_per_code asks for {sum(minimum.values())} ears but {n_exams} exams have {2 * n_exams}"
        )
    rng = np.random.default_rng(seed)
    pairs = exam_pair_probabilities()
    keys = sorted(pairs)
    codes = np.array([keys[i] for i in rng.choice(len(keys), size=n_exams, p=[pairs[k] for k in keys])])
    _enforce_minimum(codes, minimum, rng)

    n_repeat = int(round(n_exams * REPEAT_PATIENT_RATE / (1 + REPEAT_PATIENT_RATE)))
    n_patients = n_exams - n_repeat
    owner = np.concatenate([np.arange(n_patients), rng.choice(n_patients, size=n_repeat, replace=False)])
    rng.shuffle(owner)
    first_seen: dict[int, dt.datetime] = {}
    patients: dict[int, Patient] = {}
    anatomies: dict[int, PatientAnatomy] = {}
    used_ids: set[str] = set()
    used_exam_ids: set[str] = set()
    exams = []
    for left_code, right_code, person in zip(codes[:, 0], codes[:, 1], owner):
        if person in first_seen:  # a follow-up exam at least a month after the first one
            earliest = min(first_seen[person].date() + dt.timedelta(days=30), EXAM_PERIOD[1])
            when = _random_datetime(rng, earliest, EXAM_PERIOD[1])
        else:
            when = _random_datetime(rng, *EXAM_PERIOD)
            first_seen[person] = when
            young = 3 in (left_code, right_code) and rng.random() < 0.5  # secretory otitis: often children
            patients[person] = _sample_patient(rng, used_ids, young, when.date())
            chronic = bool(set(CHRONIC_CODES) & {int(left_code), int(right_code)})
            anatomies[person] = sample_patient_anatomy(rng, chronic=chronic)
        while True:
            exam_id = f"CT{when.year}{rng.integers(10**6):06d}"
            if exam_id not in used_exam_ids:
                used_exam_ids.add(exam_id)
                break
        decoy = None
        if rng.random() < DECOY_RATE:
            decoy = "soft_tissue" if rng.random() < 0.6 else "scout"
        exams.append(
            ExamSpec(
                exam_id=exam_id,
                patient=patients[person],
                exam_datetime=when,
                left=sample_ear_attributes(int(left_code), rng, anatomies[person]),
                right=sample_ear_attributes(int(right_code), rng, anatomies[person]),
                pose=sample_pose(rng),
                scanner=_sample_scanner(rng),
                seed=int(rng.integers(2**62)),
                decoy=decoy,
                anatomy=anatomies[person],
            )
        )
    return exams
