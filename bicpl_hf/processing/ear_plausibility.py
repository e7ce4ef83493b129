"""Is it a temporal-bone CT? Checks the ear localiser (`ear_localization.py`) runs on what it found.

A CT of the abdomen, the chest or the top of the head has dense bone too (spine, pelvis, femoral heads,
thick skull), so the densest compact bone on each side of the midline is not enough. A pair is taken
for the two otic capsules only when the header does not name another body region, the body is as
narrow as a head somewhere, and the pair lies like two temporal bones: at a plausible distance from
each other and from the mid-sagittal plane, at similar height, mirror-symmetric, deep inside a head of
plausible width. Each failed check is one phrase of the `EarLocalizationError` message.

Example:
    >>> check_header_hints({"BodyPartExamined": "HEAD"}, "exam_0001")  # passes silently
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

__all__ = [
    "CAPSULE_DEPTH_RANGE_MM", "CAPSULE_DISTANCE_RANGE_MM", "CAPSULE_MIDLINE_RANGE_MM", "EarLocalizationError",
    "HEAD_HEADER_WORDS", "HEAD_THRESHOLD_HU", "HEAD_WIDTH_RANGE_MM", "MAX_CAPSULE_HEIGHT_DIFFERENCE_MM",
    "MAX_MIDLINE_ASYMMETRY_MM", "NON_HEAD_HEADER_WORDS", "check_header_hints", "fmt_mm", "head_body",
    "implausible_pair",
]

HEAD_THRESHOLD_HU = -400.0  # the body outline: anything denser than lung and fat-free air
# What makes a pair of dense components a pair of temporal bones (adult and child heads, head yaw and roll
# up to ~15 degrees). Measured on the body outline (> -400 HU) at the height of the capsules.
HEAD_WIDTH_RANGE_MM = (100.0, 240.0)  # left-right width of a head at the skull base; a trunk is 280+ mm
CAPSULE_DEPTH_RANGE_MM = (18.0, 70.0)  # from the capsule out to the side of the head
CAPSULE_MIDLINE_RANGE_MM = (25.0, 75.0)  # from the capsule to the head's mid-sagittal plane
CAPSULE_DISTANCE_RANGE_MM = (55.0, 140.0)  # between the two capsules
MAX_CAPSULE_HEIGHT_DIFFERENCE_MM = 25.0
MAX_MIDLINE_ASYMMETRY_MM = 25.0
# Header words (BodyPartExamined, StudyDescription, SeriesDescription, ProtocolName). A header that names
# only a region outside the head (and nothing of the head) is refused before any image analysis.
HEAD_HEADER_WORDS = re.compile(
    r"HEAD|SKULL|BRAIN|TEMPORAL|TEMP\.? ?BONE|\bEAR|IAC|PETROUS|MASTOID|COCHLEA|CRANI|CEREBR|SINUS|"
    r"头|颅|颞|耳|乳突|岩",
    re.IGNORECASE,
)
NON_HEAD_HEADER_WORDS = re.compile(
    r"ABDOM|PELVI|CHEST|THORA|LUNG|LIVER|KIDNEY|RENAL|SPINE|LUMBAR|THORACIC|CARDIAC|HEART|CORONARY|BREAST|"
    r"KNEE|HIP|SHOULDER|ANKLE|WRIST|EXTREMIT|LEG\b|ARM\b|COLON|ENTEROGRAPH|UROGRAM|"
    r"腹|盆|胸|肺|肝|肾|脊|腰椎|胸椎|心脏|冠脉|乳腺|膝|髋|肩|踝|四肢",
    re.IGNORECASE,
)


class EarLocalizationError(ValueError):
    """The two temporal bones could not be found; the message names the source and the side."""


def check_header_hints(header_hints: dict[str, str] | None, source: str) -> None:
    """Refuse a series whose header names a body region outside the head and nothing of the head.

    `header_hints` maps DICOM keywords (`BodyPartExamined`, `StudyDescription`,
    `SeriesDescription`, `ProtocolName`) to their values; empty or missing values say nothing.

    Example:
        >>> check_header_hints({"BodyPartExamined": "HEAD", "StudyDescription": "CT TEMPORAL BONE"}, "exam")
        >>> check_header_hints({"BodyPartExamined": "ABDOMEN"}, "exam")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        bicpl_hf.processing.ear_plausibility.EarLocalizationError: not a temporal-bone CT in exam: ...
    """
    said = {k: str(v).strip() for k, v in (header_hints or {}).items() if v and str(v).strip()}
    if not said or any(HEAD_HEADER_WORDS.search(v) for v in said.values()):
        return
    elsewhere = {k: v for k, v in said.items() if NON_HEAD_HEADER_WORDS.search(v)}
    if elsewhere:
        what = ", ".join(f"{k} {v!r}" for k, v in elsewhere.items())
        raise EarLocalizationError(f"not a temporal-bone CT in {source}: the DICOM header says {what} and names "
                                   "nothing of the head")


@dataclass(frozen=True)
class _Body:
    """The body outline (largest component above -400 HU) of the coarse map, LPS-oriented."""

    mask: np.ndarray  # (z, y, x) bool
    image: sitk.Image
    midline_x: float

    def x_extent_at(self, z_mm: float) -> tuple[float, float] | None:
        """Left-right extent (world x, mm) of the body in the axial slice nearest `z_mm`."""
        k = int(round(self.image.TransformPhysicalPointToContinuousIndex((0.0, 0.0, z_mm))[2]))
        if not 0 <= k < self.mask.shape[0] or not self.mask[k].any():
            return None
        columns = np.flatnonzero(self.mask[k].any(axis=0))
        xs = [self.image.TransformContinuousIndexToPhysicalPoint((float(i), 0.0, float(k)))[0]
              for i in (columns[0] - 0.5, columns[-1] + 0.5)]
        return min(xs), max(xs)

    def narrowest_width(self) -> float:
        widths = [np.ptp(np.flatnonzero(s.any(axis=0))) + 1 for s in self.mask if s.any()]
        return float(min(widths)) * self.image.GetSpacing()[0]


def head_body(coarse: sitk.Image, source: str) -> _Body:
    head = sitk.ConnectedComponent(sitk.BinaryThreshold(coarse, HEAD_THRESHOLD_HU, 1e9, 1, 0))
    head = sitk.RelabelComponent(head)  # label 1 = largest, i.e. the head rather than table or noise
    shape = sitk.LabelShapeStatisticsImageFilter()
    shape.Execute(head)
    if 1 not in shape.GetLabels():
        raise EarLocalizationError(f"no head found in {source}: no voxel above {HEAD_THRESHOLD_HU:.0f} HU")
    return _Body(sitk.GetArrayFromImage(head) == 1, coarse, float(shape.GetCentroid(1)[0]))


def fmt_mm(point: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.0f}" for v in point) + ")"


def implausible_pair(body: _Body, left: np.ndarray, right: np.ndarray) -> list[str]:
    """What makes the two dense components found unlike a pair of temporal bones (empty when plausible)."""
    problems = []
    distance = float(np.linalg.norm(left - right))
    low, high = CAPSULE_DISTANCE_RANGE_MM
    if not low <= distance <= high:
        problems.append(f"they are {distance:.0f} mm apart (two otic capsules are {low:.0f}-{high:.0f} mm apart)")
    height = abs(float(left[2] - right[2]))
    if height > MAX_CAPSULE_HEIGHT_DIFFERENCE_MM:
        problems.append(f"they differ by {height:.0f} mm in height (at most {MAX_CAPSULE_HEIGHT_DIFFERENCE_MM:.0f} mm "
                        "for two ears)")
    from_midline = {"left": float(left[0] - body.midline_x), "right": float(body.midline_x - right[0])}
    low, high = CAPSULE_MIDLINE_RANGE_MM
    for side, mm in from_midline.items():
        if not low <= mm <= high:
            problems.append(f"the {side} one lies {mm:.0f} mm from the mid-sagittal plane (an otic capsule lies "
                            f"{low:.0f}-{high:.0f} mm from it)")
    if abs(from_midline["left"] - from_midline["right"]) > MAX_MIDLINE_ASYMMETRY_MM:
        problems.append(f"they are not mirror images across the mid-sagittal plane ({from_midline['left']:.0f} mm "
                        f"and {from_midline['right']:.0f} mm from it)")
    extent = body.x_extent_at(float(left[2] + right[2]) / 2)
    if extent is None:
        problems.append("no body outline surrounds them")
        return problems
    width = extent[1] - extent[0]
    low, high = HEAD_WIDTH_RANGE_MM
    if not low <= width <= high:
        problems.append(f"the body around them is {width:.0f} mm wide (a head at the skull base is {low:.0f}-{high:.0f} "
                        "mm wide)")
    depth = {"left": extent[1] - float(left[0]), "right": float(right[0]) - extent[0]}
    low, high = CAPSULE_DEPTH_RANGE_MM
    for side, mm in depth.items():
        if not low <= mm <= high:
            problems.append(f"the {side} one lies {mm:.0f} mm inside the side of the body (an otic capsule lies "
                            f"{low:.0f}-{high:.0f} mm deep in the skull base)")
    return problems
