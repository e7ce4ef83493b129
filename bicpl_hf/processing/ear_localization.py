"""Finding both temporal bones in a head CT, cutting one ROI per ear, mirroring the right ear.

World coordinates are DICOM/ITK patient LPS millimetres: +x toward the patient's LEFT, +y toward
POSTERIOR, +z toward SUPERIOR. The otic capsule is the densest bone of the head, so each ear is found
as the densest compact component of smoothed bone above `dense_bone_threshold_hu` on its side of
the mid-sagittal plane. An ROI is then resampled around `capsule + lateral_offset_mm` (toward the
middle ear). The right ear's grid has its left-right axis reflected across the mid-sagittal plane,
so its array looks like a left ear (lateral on the same array side). Optionally the mirrored right
ear is rigidly registered onto the left one.

Example:
    >>> loc = localize_temporal_bones(image)  # doctest: +SKIP
    >>> pair = extract_ear_pair(image, loc, roi_shape=(64, 64, 64), roi_size_mm=(48, 48, 48))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from .ear_plausibility import (
    HEAD_WIDTH_RANGE_MM,
    EarLocalizationError,
    check_header_hints,
    fmt_mm,
    head_body,
    implausible_pair,
)

__all__ = [
    "EarLocalization",
    "EarLocalizationError",
    "EarRoiPair",
    "check_header_hints",
    "RegistrationResult",
    "RoiGrid",
    "ear_roi_grid",
    "extract_ear_pair",
    "extract_roi",
    "localize_temporal_bones",
    "orientation_matrix",
    "register_mirrored_right",
    "reorient_to_lps",
    "roi_to_image",
]

AIR_HU = -1024.0
_AXIS_LETTERS = {"L": (1, 0, 0), "R": (-1, 0, 0), "P": (0, 1, 0), "A": (0, -1, 0), "S": (0, 0, 1), "I": (0, 0, -1)}
_MIN_COMPONENT_MM3 = 20.0
_MAX_COMPONENT_EXTENT_MM = 60.0
_MIN_LEFT_RIGHT_EXTENT_MM = 60.0
_METAL_CLAMP_HU = 3000.0
def orientation_matrix(code: str) -> np.ndarray:
    """3x3 matrix whose column `n` is the LPS direction array axis `n` (x, y, z) increases toward.

    The code follows DICOM/SimpleITK `DICOMOrient`: letter `n` names the patient direction of
    increasing index along axis `n`; `"LPS"` is the identity.

    Example:
        >>> orientation_matrix("RAS").diagonal().tolist()
        [-1.0, -1.0, 1.0]
    """
    code = str(code).upper()
    if len(code) != 3 or any(c not in _AXIS_LETTERS for c in code):
        raise ValueError(f"orientation code {code!r} must be 3 letters from L/R, P/A, S/I, e.g. 'LPS'")
    matrix = np.array([_AXIS_LETTERS[c] for c in code], dtype=float).T
    if not np.allclose(np.abs(matrix).sum(axis=1), 1.0):
        raise ValueError(f"orientation code {code!r} must name each of the three patient axes once")
    return matrix


def reorient_to_lps(image: sitk.Image) -> sitk.Image:
    """Permute/flip axes so array x runs toward the patient's left, y posterior, z superior.

    World positions are unchanged; only the index order changes (`SimpleITK.DICOMOrient`).

    Example:
        >>> img = sitk.Image(4, 4, 4, sitk.sitkFloat32); img.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
        >>> reorient_to_lps(img).GetDirection()
        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    """
    return sitk.DICOMOrient(image, "LPS")


@dataclass(frozen=True)
class EarLocalization:
    """Where the ears are, in patient LPS mm.

    `*_capsule_lps` is the dense-bone centroid, `*_centre_lps` the ROI centre (capsule moved
    `lateral_offset_mm` outward), `yaw_deg` the head rotation about the S axis used for the ROIs.
    """

    left_capsule_lps: tuple[float, float, float]
    right_capsule_lps: tuple[float, float, float]
    left_centre_lps: tuple[float, float, float]
    right_centre_lps: tuple[float, float, float]
    midline_x_lps: float
    yaw_deg: float
    warnings: tuple[str, ...] = ()


def _coarse_bone_map(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    """Block-average to ~`spacing_mm`, reorient to LPS, clamp metal, smooth lightly (sigma 1 mm)."""
    factors = [max(1, int(round(spacing_mm / s))) for s in image.GetSpacing()]
    coarse = sitk.BinShrink(image, factors) if max(factors) > 1 else image
    coarse = reorient_to_lps(sitk.Clamp(coarse, sitk.sitkFloat32, AIR_HU, _METAL_CLAMP_HU))
    if min(coarse.GetSize()) < 4:
        return coarse
    return sitk.SmoothingRecursiveGaussian(coarse, 1.0)


def _dense_candidates(coarse: sitk.Image, threshold: float, midline_x: float) -> dict[str, tuple]:
    """Best compact dense component per side: `side -> (score, centre of gravity)`."""
    labels = sitk.ConnectedComponent(sitk.BinaryThreshold(coarse, threshold, 1e9, 1, 0), True)
    stats = sitk.LabelIntensityStatisticsImageFilter()
    stats.Execute(labels, coarse)
    spacing = np.array(coarse.GetSpacing())
    best: dict[str, tuple] = {}
    for label in stats.GetLabels():
        extent = np.array(stats.GetBoundingBox(label)[3:]) * spacing
        # The skull vault forms long thin rings; the otic capsule is compact.
        if stats.GetPhysicalSize(label) < _MIN_COMPONENT_MM3 or extent.max() > _MAX_COMPONENT_EXTENT_MM:
            continue
        excess_mass = (stats.GetSum(label) - threshold * stats.GetNumberOfPixels(label)) * spacing.prod()
        centre = tuple(float(v) for v in stats.GetCenterOfGravity(label))
        side = "left" if centre[0] > midline_x else "right"  # LPS: +x is the patient's left
        if side not in best or excess_mass > best[side][0]:
            best[side] = (excess_mass, centre)
    return best


def _refine_capsule_centre(image: sitk.Image, centre: Sequence[float], rounds: int = 2) -> np.ndarray:
    """Centroid of the densest bone (within 500 HU of the local maximum) in a 33 mm cube at 1 mm.

    The coarse component also holds petrous bone that may pass the threshold; this pulls the
    centre onto the otic capsule itself.
    """
    centre = np.asarray(centre, dtype=float)
    for _ in range(rounds):
        grid = RoiGrid((33, 33, 33), (1.0, 1.0, 1.0), tuple((centre - 16.0).tolist()), tuple(np.eye(3).ravel()))
        cube = sitk.Clamp(extract_roi(image, grid), sitk.sitkFloat32, AIR_HU, _METAL_CLAMP_HU)
        values = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(cube, 1.0))
        weights = np.clip(values - (values.max() - 500.0), 0.0, None)
        index_zyx = np.argwhere(weights > 0)
        mean_zyx = np.average(index_zyx, axis=0, weights=weights[weights > 0])
        centre = np.asarray(grid.origin_lps) + mean_zyx[::-1]
    return centre


def localize_temporal_bones(
    image: sitk.Image,
    *,
    dense_bone_threshold_hu: float = 1200.0,
    lateral_offset_mm: float = 6.0,
    localization_spacing_mm: float = 2.0,
    align_yaw: bool = True,
    max_yaw_deg: float = 15.0,
    source: str = "image",
    header_hints: dict[str, str] | None = None,
) -> EarLocalization:
    """Find the left and right otic capsules and the two ROI centres.

    The mid-sagittal plane is first taken through the head's centroid to split sides; the densest
    compact component above the threshold (raised by 300 and 600 HU if the first one only finds the
    skull) is taken on each side. The yaw of the line joining the two capsules is estimated and,
    when `align_yaw` and it is below `max_yaw_deg`, used for the lateral direction and the ROIs.

    Nothing else than a temporal-bone CT is accepted: a header (`header_hints`, see
    [`check_header_hints`]) that names another body region, a body with no slice narrow enough
    to be a head, or a pair of dense components unlike two otic capsules (their distance, height,
    mirror symmetry, depth inside a head of plausible width: the `*_RANGE_MM` constants) is refused.

    Raises:
        EarLocalizationError: naming `source` and what was missing: the volume is too small for both
            ears, the header or the body outline is not a head's, a side has no candidate, or the pair
            found is not a pair of temporal bones.

    Example:
        >>> loc = localize_temporal_bones(read_volume("ct.nii.gz").image)  # doctest: +SKIP
        >>> loc.left_capsule_lps  # doctest: +SKIP
    """
    check_header_hints(header_hints, source)
    coarse = _coarse_bone_map(image, localization_spacing_mm)
    width = coarse.GetSize()[0] * coarse.GetSpacing()[0]
    if width < _MIN_LEFT_RIGHT_EXTENT_MM or min(coarse.GetSize()) < 4:
        raise EarLocalizationError(
            f"volume too small to hold both ears in {source}: it spans {width:.0f} mm left-right and "
            f"{coarse.GetSize()} coarse voxels; expected at least {_MIN_LEFT_RIGHT_EXTENT_MM:.0f} mm"
        )
    body = head_body(coarse, source)
    midline_x = body.midline_x
    narrowest = body.narrowest_width()
    if narrowest > HEAD_WIDTH_RANGE_MM[1]:
        raise EarLocalizationError(
            f"not a head CT in {source}: the body is at least {narrowest:.0f} mm wide in every axial slice, wider "
            f"than a head ({HEAD_WIDTH_RANGE_MM[0]:.0f}-{HEAD_WIDTH_RANGE_MM[1]:.0f} mm at the skull base); "
            "expected a CT of the temporal bones"
        )
    found: dict[str, tuple] = {}
    for threshold in (dense_bone_threshold_hu, dense_bone_threshold_hu + 300, dense_bone_threshold_hu + 600):
        for side, candidate in _dense_candidates(coarse, threshold, midline_x).items():
            found.setdefault(side, candidate)
        if len(found) == 2:
            break
    for side in ("left", "right"):
        if side not in found:
            raise EarLocalizationError(
                f"no temporal bone found on the patient's {side} side in {source}: no compact bone "
                f"denser than {dense_bone_threshold_hu:.0f} HU (after light smoothing) lies on that "
                f"side of the mid-sagittal plane x = {midline_x:.1f} mm (LPS)"
            )
    left, right = (_refine_capsule_centre(image, found[side][1]) for side in ("left", "right"))
    problems = implausible_pair(body, left, right)
    if problems:
        raise EarLocalizationError(
            f"no pair of temporal bones found in {source}: the densest compact bone on each side (left at "
            f"{fmt_mm(left)}, right at {fmt_mm(right)} mm LPS) is not a pair of otic capsules: "
            + "; ".join(problems)
        )
    interaural = left - right
    yaw = math.degrees(math.atan2(interaural[1], interaural[0]))
    warnings = []
    if abs(yaw) > max_yaw_deg:
        warnings.append(f"estimated head yaw {yaw:.1f} deg exceeds {max_yaw_deg:.0f} deg; ROIs not yaw-aligned")
    used_yaw = yaw if align_yaw and abs(yaw) <= max_yaw_deg else 0.0
    if abs(interaural[2]) > 15.0:
        warnings.append(f"the two ears differ by {interaural[2]:.1f} mm in height: head roll or mislocalisation")
    lateral = np.array([math.cos(math.radians(used_yaw)), math.sin(math.radians(used_yaw)), 0.0])
    return EarLocalization(
        left_capsule_lps=tuple(left.tolist()),
        right_capsule_lps=tuple(right.tolist()),
        left_centre_lps=tuple((left + lateral_offset_mm * lateral).tolist()),
        right_centre_lps=tuple((right - lateral_offset_mm * lateral).tolist()),
        midline_x_lps=float((left[0] + right[0]) / 2),
        yaw_deg=float(used_yaw),
        warnings=tuple(warnings),
    )


@dataclass(frozen=True)
class RoiGrid:
    """A resampling grid in SimpleITK order: `size_xyz`, `spacing_xyz`, `origin_lps`, `direction`."""

    size_xyz: tuple[int, int, int]
    spacing_xyz: tuple[float, float, float]
    origin_lps: tuple[float, float, float]
    direction: tuple[float, ...]

    def index_to_lps_affine(self) -> np.ndarray:
        """4x4 matrix mapping a numpy index `(d, h, w, 1)` (array order) to LPS mm."""
        linear = np.array(self.direction).reshape(3, 3) @ np.diag(self.spacing_xyz)
        affine = np.eye(4)
        affine[:3, :3] = linear[:, ::-1]  # numpy index order is (z, y, x)
        affine[:3, 3] = self.origin_lps
        return affine


def ear_roi_grid(
    centre_lps: Sequence[float],
    *,
    roi_shape: Sequence[int],
    roi_size_mm: Sequence[float],
    yaw_deg: float = 0.0,
    mirror: bool = False,
    orientation: str = "LPS",
    offset_mm: Sequence[float] = (0.0, 0.0, 0.0),
) -> RoiGrid:
    """Grid of `roi_shape` (D, H, W) voxels covering `roi_size_mm` (D, H, W) around `centre_lps` + `offset_mm`.

    Axes follow `orientation` rotated by `yaw_deg` about S; `mirror` reflects the left-right
    axis (for the right ear), which equals reflecting across the yaw-rotated mid-sagittal plane.
    `offset_mm` moves the grid centre (superior, posterior, lateral) in that ear's frame, whatever
    `orientation` says, so one offset reaches the same anatomy in both ears.

    Example:
        >>> grid = ear_roi_grid((50, 0, 0), roi_shape=(4, 4, 4), roi_size_mm=(8, 8, 8))
        >>> grid.spacing_xyz, grid.origin_lps
        ((2.0, 2.0, 2.0), (47.0, -3.0, -3.0))
        >>> ear_roi_grid((-50, 0, 0), roi_shape=(4, 4, 4), roi_size_mm=(8, 8, 8), mirror=True,
        ...              offset_mm=(0, 0, 10)).origin_lps  # 10 mm lateral of a right ear: toward -x
        (-57.0, -3.0, -3.0)
    """
    if len(roi_shape) != 3 or len(roi_size_mm) != 3 or len(offset_mm) != 3:
        raise ValueError(f"roi_shape {roi_shape}, roi_size_mm {roi_size_mm} and offset_mm {offset_mm} must each "
                         "have 3 values (D, H, W)")
    size_xyz = tuple(int(v) for v in reversed(roi_shape))
    spacing_xyz = tuple(float(mm) / n for mm, n in zip(reversed(roi_size_mm), size_xyz))
    theta = math.radians(yaw_deg)
    rotation = np.array([[math.cos(theta), -math.sin(theta), 0], [math.sin(theta), math.cos(theta), 0], [0, 0, 1]])
    reflection = np.diag([-1.0 if mirror else 1.0, 1.0, 1.0])
    ear_frame = rotation @ reflection  # columns: lateral, posterior, superior of this ear, in LPS
    direction = ear_frame @ orientation_matrix(orientation)
    half_extent = (np.array(size_xyz) - 1) / 2 * np.array(spacing_xyz)
    centre = np.asarray(centre_lps, dtype=float) + ear_frame @ np.asarray(offset_mm, dtype=float)[::-1]
    origin = centre - direction @ half_extent
    return RoiGrid(size_xyz, spacing_xyz, tuple(origin.tolist()), tuple(direction.ravel().tolist()))


def extract_roi(image: sitk.Image, grid: RoiGrid, *, transform: sitk.Transform | None = None) -> sitk.Image:
    """Linear resampling of `image` onto `grid` (air, -1024 HU, outside the scan).

    Example:
        >>> roi = extract_roi(image, ear_roi_grid(loc.left_centre_lps, roi_shape=(64,) * 3,
        ...                                        roi_size_mm=(48.0,) * 3))  # doctest: +SKIP
    """
    return sitk.Resample(
        image, grid.size_xyz, transform or sitk.Transform(), sitk.sitkLinear, grid.origin_lps,
        grid.spacing_xyz, grid.direction, AIR_HU, sitk.sitkFloat32,
    )


@dataclass(frozen=True)
class RegistrationResult:
    """Outcome of [`register_mirrored_right`].

    `status` is `"registered"`, `"rejected"` (ran but the result was implausible or no better),
    `"failed"` (ITK raised) or `"skipped"` (an ROI has no contrast). `world_transform` is the
    4x4 map from a point of the mirrored-right grid to the LPS point sampled (identity unless
    registered). Metrics are ITK correlation values over all ROI voxels (-1 best, 0 unrelated).
    """

    status: str
    metric_before: float | None
    metric_after: float | None
    rotation_deg: float
    translation_mm: float
    world_transform: np.ndarray = field(default_factory=lambda: np.eye(4))
    message: str = ""

    @property
    def ran(self) -> bool:
        return self.status in ("registered", "rejected")


def _local_copy(roi: sitk.Image) -> sitk.Image:
    local = sitk.Image(roi)
    local.SetOrigin((0.0, 0.0, 0.0))
    local.SetDirection(np.eye(3).ravel().tolist())
    return local


def _correlation(fixed: sitk.Image, moving: sitk.Image, transform: sitk.Transform) -> float:
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsCorrelation()
    method.SetInterpolator(sitk.sitkLinear)
    method.SetInitialTransform(transform)
    return float(method.MetricEvaluate(fixed, moving))


def register_mirrored_right(
    left_roi: sitk.Image,
    right_roi: sitk.Image,
    right_grid: RoiGrid,
    *,
    iterations: int = 40,
    max_rotation_deg: float = 12.0,
    max_translation_mm: float = 8.0,
) -> RegistrationResult:
    """Rigid (Euler3D) registration of the mirrored right ROI onto the left ROI.

    Optimises mean squares of HU on a fixed-seed 10% voxel sample over two resolution levels, then
    judges the result by the normalised correlation over all voxels (before vs after). Never raises:
    on an ITK error, an implausible result (beyond `max_rotation_deg` / `max_translation_mm`) or
    no improvement, the status says so and the identity is kept.

    Example:
        >>> result = register_mirrored_right(left, right, pair.right_grid)  # doctest: +SKIP
        >>> result.status, result.metric_before, result.metric_after  # doctest: +SKIP
    """
    fixed, moving = _local_copy(left_roi), _local_copy(right_roi)
    for name, roi in (("left", fixed), ("mirrored right", moving)):
        if float(np.std(sitk.GetArrayViewFromImage(roi))) < 1.0:
            return RegistrationResult("skipped", None, None, 0.0, 0.0, message=f"{name} ROI has no contrast")
    initial = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY
    )
    before = _correlation(fixed, moving, initial)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMeanSquares()  # same scanner, same HU scale; several times faster than correlation
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.1, 20240611)  # fixed seed: reproducible preprocessing
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(1.0, 1e-3, iterations, relaxationFactor=0.5)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([2, 1])
    method.SetSmoothingSigmasPerLevel([1.0, 0.0])
    method.SetInitialTransform(initial, inPlace=False)
    try:
        found = method.Execute(fixed, moving)
    except RuntimeError as error:
        message = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown ITK error"
        return RegistrationResult("failed", before, None, 0.0, 0.0, message=message)
    if found.GetName() == "CompositeTransform":
        found = sitk.CompositeTransform(found).GetNthTransform(0)
    euler = sitk.Euler3DTransform(found)
    after = _correlation(fixed, moving, euler)
    matrix = np.array(euler.GetMatrix()).reshape(3, 3)
    rotation = math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(matrix) - 1) / 2))))
    translation = float(np.linalg.norm(euler.GetTranslation()))
    problems = []
    if rotation > max_rotation_deg:
        problems.append(f"rotation {rotation:.1f} deg > {max_rotation_deg} deg")
    if translation > max_translation_mm:
        problems.append(f"translation {translation:.1f} mm > {max_translation_mm} mm")
    if after > before:
        problems.append(f"correlation metric got worse ({before:.4f} -> {after:.4f})")
    if problems:
        return RegistrationResult("rejected", before, after, rotation, translation, message="; ".join(problems))
    # Local map y = A x + b, expressed in world coordinates of the mirrored-right grid.
    centre = np.array(euler.GetCenter())
    offset = np.array(euler.GetTranslation()) + centre - matrix @ centre
    direction = np.array(right_grid.direction).reshape(3, 3)
    origin = np.array(right_grid.origin_lps)
    world = np.eye(4)
    world[:3, :3] = direction @ matrix @ direction.T
    world[:3, 3] = origin + direction @ offset - world[:3, :3] @ origin
    return RegistrationResult("registered", before, after, rotation, translation, world, "ok")


@dataclass(frozen=True)
class EarRoiPair:
    """The two ROIs in HU: `left` and `right` (mirrored, optionally registered onto `left`).

    `coarse` is the pair of coarse ROIs when one was asked for: the same mirroring and registration
    (`registration` is shared), another grid.
    """

    left: sitk.Image
    right: sitk.Image
    left_grid: RoiGrid
    right_grid: RoiGrid
    registration: RegistrationResult | None
    coarse: EarRoiPair | None = None

    def index_to_lps_affines(self) -> tuple[np.ndarray, np.ndarray]:
        """For each ear, 4x4 map from array index `(d, h, w, 1)` to the LPS point actually sampled."""
        right_world = self.registration.world_transform if self.registration else np.eye(4)
        return self.left_grid.index_to_lps_affine(), right_world @ self.right_grid.index_to_lps_affine()


def extract_ear_pair(
    image: sitk.Image,
    localization: EarLocalization,
    *,
    roi_shape: Sequence[int],
    roi_size_mm: Sequence[float],
    orientation: str = "LPS",
    register: bool = False,
    coarse_roi_size_mm: Sequence[float] | None = None,
    coarse_roi_offset_mm: Sequence[float] = (0.0, 0.0, 0.0),
) -> EarRoiPair:
    """Resample the left ROI and the mirrored right ROI (and register it when `register`).

    With `coarse_roi_size_mm`, a second pair of `roi_shape` voxels covering that many mm is cut around
    each ROI centre moved by `coarse_roi_offset_mm` (superior, posterior, lateral in the ear's frame),
    mirrored and registered with the fine pair's transform, so both pairs see the same anatomy.

    Example:
        >>> pair = extract_ear_pair(image, loc, roi_shape=(64,) * 3, roi_size_mm=(48.0,) * 3)  # doctest: +SKIP
        >>> sitk.GetArrayFromImage(pair.right).shape  # doctest: +SKIP
        (64, 64, 64)
    """
    kwargs = dict(roi_shape=roi_shape, yaw_deg=localization.yaw_deg, orientation=orientation)
    left_grid = ear_roi_grid(localization.left_centre_lps, roi_size_mm=roi_size_mm, mirror=False, **kwargs)
    right_grid = ear_roi_grid(localization.right_centre_lps, roi_size_mm=roi_size_mm, mirror=True, **kwargs)
    left, right = extract_roi(image, left_grid), extract_roi(image, right_grid)
    registration, transform = None, None
    if register:
        registration = register_mirrored_right(left, right, right_grid)
        if registration.status == "registered":
            transform = sitk.AffineTransform(3)
            transform.SetMatrix(registration.world_transform[:3, :3].ravel().tolist())
            transform.SetTranslation(registration.world_transform[:3, 3].tolist())
            right = extract_roi(image, right_grid, transform=transform)
    coarse = None
    if coarse_roi_size_mm is not None:
        coarse_kwargs = dict(roi_size_mm=coarse_roi_size_mm, offset_mm=coarse_roi_offset_mm, **kwargs)
        coarse_left_grid = ear_roi_grid(localization.left_centre_lps, mirror=False, **coarse_kwargs)
        coarse_right_grid = ear_roi_grid(localization.right_centre_lps, mirror=True, **coarse_kwargs)
        coarse = EarRoiPair(
            extract_roi(image, coarse_left_grid), extract_roi(image, coarse_right_grid, transform=transform),
            coarse_left_grid, coarse_right_grid, registration,
        )
    return EarRoiPair(left, right, left_grid, right_grid, registration, coarse)


def roi_to_image(
    values: np.ndarray, index_to_lps: np.ndarray | Sequence, reference: sitk.Image, *, default_value: float = 0.0
) -> sitk.Image:
    """Map an ROI-shaped array (e.g. a heat map) back onto the grid of the original CT `reference`.

    `index_to_lps` is the ear's `index_to_lps_affine` from the processor's `ear_metadata`.

    Example:
        >>> overlay = roi_to_image(heat[0], meta[0]["index_to_lps_affine"], loaded.image)  # doctest: +SKIP
    """
    affine = np.asarray(index_to_lps, dtype=float)
    roi = sitk.GetImageFromArray(np.ascontiguousarray(values, dtype=np.float32))  # index (x, y, z) = (w, h, d)
    xyz_affine = affine.copy()
    xyz_affine[:3, :3] = affine[:3, :3][:, ::-1]
    inverse = np.linalg.inv(xyz_affine)
    transform = sitk.AffineTransform(3)
    transform.SetMatrix(inverse[:3, :3].ravel().tolist())
    transform.SetTranslation(inverse[:3, 3].tolist())
    return sitk.Resample(roi, reference, transform, sitk.sitkLinear, default_value, sitk.sitkFloat32)
