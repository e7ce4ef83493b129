"""`BiCPLVolumeProcessor`: a head CT in, a pair of ear ROIs (left, mirrored right) out.

The processor is an [`transformers.image_processing_base.ImageProcessingMixin`], so every
setting below is written to `preprocessor_config.json` by `save_pretrained` and restored by
`from_pretrained`; training and inference therefore preprocess identically.

Pipeline per exam: [`volume_io.read_volume`] -> [`ear_localization.localize_temporal_bones`]
-> [`ear_localization.extract_ear_pair`] (left ROI, right ROI mirrored onto the left's
orientation, optional rigid registration) -> one channel per HU window, each
`clip((HU - (level - width / 2)) / width, 0, 1)`. With `coarse_roi_size_mm` a second, coarser ROI of the same
voxel shape per ear (e.g. the whole temporal bone around the fine middle-ear ROI) adds its windows as channels.

Example:
    >>> processor = BiCPLVolumeProcessor(roi_shape=(64, 64, 64), roi_size_mm=(48.0, 48.0, 48.0))
    >>> batch = processor(["exam_0001/", "exam_0002.nii.gz"])  # doctest: +SKIP
    >>> batch["pixel_values"].shape  # (batch, ear, window, D, H, W); ear 0 = patient's left  # doctest: +SKIP
    torch.Size([2, 2, 2, 64, 64, 64])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
import SimpleITK as sitk
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor

from .ear_localization import extract_ear_pair, localize_temporal_bones, orientation_matrix
from .volume_io import LoadedVolume, VolumeSource, read_volume

__all__ = ["BOOKKEEPING_KEYS", "BiCPLVolumeProcessor", "DEFAULT_WINDOWS", "apply_windows", "processor_settings"]

DEFAULT_WINDOWS = [
    {"name": "bone", "width": 4000.0, "level": 700.0},
    {"name": "soft_tissue", "width": 350.0, "level": 40.0},
]
# Written by transformers itself; everything else that is not a setting is a mistake. The one owner of
# this list: the dataset builder and the model card import it.
BOOKKEEPING_KEYS = frozenset({
    "image_processor_type", "auto_map", "_processor_class", "processor_class", "feature_extractor_type",
})


class BiCPLVolumeProcessorKwargs(TypedDict, total=False):
    """Settings `from_pretrained(..., **overrides)` may override."""

    roi_shape: list[int]
    roi_size_mm: list[float]
    windows: list[dict]
    lateral_offset_mm: float
    dense_bone_threshold_hu: float
    register: bool
    orientation: str
    align_yaw: bool
    localization_spacing_mm: float
    coarse_roi_size_mm: list[float] | None
    coarse_roi_offset_mm: list[float]


def apply_windows(hu: np.ndarray, windows: Sequence[dict]) -> np.ndarray:
    """Stack one channel per window: `clip((hu - (level - width / 2)) / width, 0, 1)`, float32.

    Example:
        >>> apply_windows(np.array([-1000.0, 40.0]), [{"name": "soft", "width": 350, "level": 40}])
        array([[0. , 0.5]], dtype=float32)
    """
    hu = np.asarray(hu, dtype=np.float32)
    channels = [
        np.clip((hu - (float(w["level"]) - float(w["width"]) / 2)) / float(w["width"]), 0.0, 1.0)
        for w in windows
    ]
    return np.stack(channels).astype(np.float32, copy=False)


def _validated_windows(windows: Sequence[dict] | None) -> list[dict]:
    if windows is None:
        return [dict(w) for w in DEFAULT_WINDOWS]
    if not isinstance(windows, (list, tuple)) or not windows:
        raise ValueError(f"windows must be a non-empty list of {{'name', 'width', 'level'}} dicts, got {windows!r}")
    checked = []
    for i, window in enumerate(windows):
        if not isinstance(window, dict) or set(window) != {"name", "width", "level"}:
            raise ValueError(f"windows[{i}] must be a dict with exactly 'name', 'width', 'level'; got {window!r}")
        width, level = float(window["width"]), float(window["level"])
        if not (width > 0 and math.isfinite(width) and math.isfinite(level)):
            raise ValueError(f"windows[{i}] ({window['name']!r}) needs a positive width and finite level, got {window}")
        checked.append({"name": str(window["name"]), "width": width, "level": level})
    return checked


def _triple(value: Sequence, name: str, cast, *, positive: bool = True) -> list:
    try:
        values = [cast(v) for v in value]
    except (TypeError, ValueError):
        values = []
    kind = "positive" if positive else "finite"
    if len(values) != 3 or not all(math.isfinite(v) and (v > 0 or not positive) for v in values):
        raise ValueError(f"{name} must be 3 {kind} values (D, H, W), got {value!r}")
    return values


class BiCPLVolumeProcessor(BaseImageProcessor):  # an ImageProcessingMixin that AutoImageProcessor accepts
    r"""Turns head CT volumes into `pixel_values` of shape `(batch, 2, channels, D, H, W)`.

    Ear index 0 is the patient's LEFT ear; index 1 the RIGHT ear mirrored across the mid-sagittal
    plane so it looks like a left ear. Channels follow `windows` (then, with a coarse ROI, the same windows
    of the coarse ROI): see `channel_names`. Values are float32 in [0, 1].

    Args:
        roi_shape: ROI size in voxels (D, H, W).
        roi_size_mm: ROI size in millimetres (D, H, W); spacing = `roi_size_mm / roi_shape`.
        windows: HU windows, one channel each: `[{"name", "width", "level"}, ...]`.
        lateral_offset_mm: how far the ROI centre is moved from the otic capsule toward the middle ear.
        dense_bone_threshold_hu: HU above which (after light smoothing) bone counts as otic capsule.
        register: rigidly register the mirrored right ROI onto the left ROI (Euler3D, correlation).
        orientation: patient directions the ROI array axes (W, H, D) increase toward, DICOM letters.
            `"LPS"`: W toward the patient's left (lateral for the left ear), H posterior, D superior.
        align_yaw: rotate the ROIs about S by the head yaw estimated from the two capsules.
        localization_spacing_mm: grid spacing used to find the ears (block averaging).
        coarse_roi_size_mm: size (D, H, W) in mm of a second, coarse ROI per ear with the same `roi_shape`
            (spacing `coarse_roi_size_mm / roi_shape`); its windows follow the fine ones as extra channels
            named `"coarse_" + name`. `None` (default): no coarse ROI.
        coarse_roi_offset_mm: the coarse ROI centre relative to the fine one, (superior, posterior, lateral)
            mm in the ear's frame (after mirroring; the array's (D, H, W) axes under `orientation="LPS"`).

    Example:
        >>> processor = BiCPLVolumeProcessor(roi_shape=(32, 32, 32), roi_size_mm=(40.0, 40.0, 40.0))
        >>> processor.save_pretrained("bicpl-processor")  # doctest: +SKIP
        >>> BiCPLVolumeProcessor.from_pretrained("bicpl-processor").roi_shape  # doctest: +SKIP
        [32, 32, 32]
    """

    model_input_names = ["pixel_values"]
    valid_kwargs = BiCPLVolumeProcessorKwargs

    def __init__(
        self,
        roi_shape: Sequence[int] = (64, 64, 64),
        roi_size_mm: Sequence[float] = (48.0, 48.0, 48.0),
        windows: Sequence[dict] | None = None,
        lateral_offset_mm: float = 6.0,
        dense_bone_threshold_hu: float = 1200.0,
        register: bool = False,
        orientation: str = "LPS",
        align_yaw: bool = True,
        localization_spacing_mm: float = 2.0,
        coarse_roi_size_mm: Sequence[float] | None = None,
        coarse_roi_offset_mm: Sequence[float] = (0.0, 0.0, 0.0),
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(kwargs) - BOOKKEEPING_KEYS)
        if unknown:
            raise TypeError(f"BiCPLVolumeProcessor got unknown settings {unknown}")
        kwargs.pop("image_processor_type", None)  # to_dict() writes the class name itself
        super().__init__(**kwargs)
        self.roi_shape = _triple(roi_shape, "roi_shape", int)
        self.roi_size_mm = _triple(roi_size_mm, "roi_size_mm", float)
        self.windows = _validated_windows(windows)
        self.lateral_offset_mm = float(lateral_offset_mm)
        self.dense_bone_threshold_hu = float(dense_bone_threshold_hu)
        self.register = bool(register)
        orientation_matrix(orientation)  # validates the code
        self.orientation = str(orientation).upper()
        self.align_yaw = bool(align_yaw)
        if not localization_spacing_mm > 0:
            raise ValueError(f"localization_spacing_mm must be positive, got {localization_spacing_mm}")
        self.localization_spacing_mm = float(localization_spacing_mm)
        self.coarse_roi_size_mm = None if coarse_roi_size_mm is None else _triple(
            coarse_roi_size_mm, "coarse_roi_size_mm", float)
        self.coarse_roi_offset_mm = _triple(coarse_roi_offset_mm, "coarse_roi_offset_mm", float, positive=False)
        if self.coarse_roi_size_mm is None and any(self.coarse_roi_offset_mm):
            raise ValueError(f"coarse_roi_offset_mm={coarse_roi_offset_mm!r} needs coarse_roi_size_mm (D, H, W mm) "
                             "to place a coarse ROI; set it, or drop the offset")

    @property
    def channel_names(self) -> list[str]:
        names = [w["name"] for w in self.windows]
        return names + [f"coarse_{name}" for name in names] if self.coarse_roi_size_mm is not None else names

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        # Without a coarse ROI the saved settings stay those of earlier versions (build caches compare them).
        if self.coarse_roi_size_mm is None:
            output.pop("coarse_roi_size_mm", None)
            output.pop("coarse_roi_offset_mm", None)
        return output

    def preprocess_image(
        self, image: sitk.Image | LoadedVolume, *, source: str | None = None, series_uid: str | None = None
    ) -> tuple[np.ndarray, list[dict]]:
        """Preprocess one already-read volume.

        Args:
            image: a float HU [`SimpleITK.Image`] (or a [`volume_io.LoadedVolume`]).
            source, series_uid: provenance written into the metadata (taken from a LoadedVolume).

        Returns:
            `(pixel_values, ear_metadata)`: float32 array `(2, channels, D, H, W)` (channels:
            `channel_names`) and two JSON-friendly dicts (left, right) with the ROI centre, the
            `index_to_lps_affine` that maps array indices `(d, h, w)` to patient LPS mm (registration
            included), etc.; with a coarse ROI also `coarse_index_to_lps_affine` and `coarse_spacing_mm`.

        Example:
            >>> values, meta = processor.preprocess_image(read_volume("ct.nii.gz"))  # doctest: +SKIP
            >>> values.shape, meta[1]["mirrored"]  # doctest: +SKIP
            ((2, 2, 64, 64, 64), True)
        """
        loaded = image if isinstance(image, LoadedVolume) else read_volume(image)
        source = source or loaded.source
        series_uid = series_uid or loaded.series_uid
        localization = localize_temporal_bones(
            loaded.image,
            dense_bone_threshold_hu=self.dense_bone_threshold_hu,
            lateral_offset_mm=self.lateral_offset_mm,
            localization_spacing_mm=self.localization_spacing_mm,
            align_yaw=self.align_yaw,
            source=source,
            header_hints=loaded.header_hints,
        )
        pair = extract_ear_pair(
            loaded.image,
            localization,
            roi_shape=self.roi_shape,
            roi_size_mm=self.roi_size_mm,
            orientation=self.orientation,
            register=self.register,
            coarse_roi_size_mm=self.coarse_roi_size_mm,
            coarse_roi_offset_mm=self.coarse_roi_offset_mm,
        )
        rois = [(pair.left, pair.right)] + ([(pair.coarse.left, pair.coarse.right)] if pair.coarse is not None else [])
        pixel_values = np.stack([
            np.concatenate([apply_windows(sitk.GetArrayViewFromImage(roi[ear]), self.windows) for roi in rois])
            for ear in (0, 1)
        ])
        affines = pair.index_to_lps_affines()
        registration = self._registration_record(pair.registration)
        warnings = list(loaded.warnings) + list(localization.warnings)
        if pair.registration is not None and pair.registration.status != "registered":
            warnings.append(f"registration {pair.registration.status}: {pair.registration.message}; "
                            "the right ear is mirrored but not registered")
        metadata = []
        for side, grid, affine in (("left", pair.left_grid, affines[0]), ("right", pair.right_grid, affines[1])):
            metadata.append({
                "side": side,
                "mirrored": side == "right",
                "centre_lps_mm": list(getattr(localization, f"{side}_centre_lps")),
                "otic_capsule_lps_mm": list(getattr(localization, f"{side}_capsule_lps")),
                "roi_shape": list(self.roi_shape),
                "spacing_mm": list(reversed(grid.spacing_xyz)),  # (D, H, W) like the array
                "index_to_lps_affine": affine.tolist(),
                "orientation": self.orientation,
                "yaw_deg": localization.yaw_deg,
                "registration": registration if side == "right" else None,
                "source": source,
                "series_uid": series_uid,
                "warnings": list(warnings),
            })
        if pair.coarse is not None:
            for ear, grid, affine in zip(metadata, (pair.coarse.left_grid, pair.coarse.right_grid),
                                         pair.coarse.index_to_lps_affines()):
                ear["coarse_spacing_mm"] = list(reversed(grid.spacing_xyz))
                ear["coarse_index_to_lps_affine"] = affine.tolist()
        return pixel_values, metadata

    @staticmethod
    def _registration_record(result) -> dict:
        if result is None:
            return {"ran": False, "status": "not requested", "metric_before": None, "metric_after": None}
        return {
            "ran": result.ran,
            "status": result.status,
            "metric_before": result.metric_before,
            "metric_after": result.metric_after,
            "rotation_deg": result.rotation_deg,
            "translation_mm": result.translation_mm,
            "message": result.message,
        }

    def __call__(
        self, volumes: VolumeSource | Sequence[VolumeSource], return_tensors: str | None = "pt", **kwargs: Any
    ) -> BatchFeature:
        """Preprocess one exam or a list of exams.

        Args:
            volumes: one source or a list of sources, anything [`volume_io.read_volume`] takes.
            return_tensors: `"pt"`, `"np"` or `None` (numpy array).

        Returns:
            [`transformers.BatchFeature`] with `pixel_values` `(batch, 2, channels, D, H, W)`
            and `ear_metadata` (a list per exam of two dicts, left then right; never converted).

        Example:
            >>> batch = processor("exam_0001/", return_tensors="pt")  # doctest: +SKIP
            >>> batch["ear_metadata"][0][0]["side"]  # doctest: +SKIP
            'left'
        """
        if kwargs:
            raise TypeError(f"BiCPLVolumeProcessor.__call__ got unexpected arguments {sorted(kwargs)}; "
                            "settings are fixed at construction so training and inference match")
        if isinstance(volumes, (list, tuple)):
            sources = list(volumes)
        else:
            sources = [volumes]
        if not sources:
            raise ValueError("BiCPLVolumeProcessor got an empty list of volumes")
        arrays, metadata = [], []
        for source in sources:
            values, meta = self.preprocess_image(read_volume(source))
            arrays.append(values)
            metadata.append(meta)
        data = {"pixel_values": np.stack(arrays), "ear_metadata": metadata}
        return BatchFeature(data=data, tensor_type=return_tensors, skip_tensor_conversion=["ear_metadata"])


def processor_settings(processor: BiCPLVolumeProcessor) -> dict:
    """The processor's settings: `to_dict()` without the `BOOKKEEPING_KEYS` transformers writes itself.

    Example:
        >>> settings = processor_settings(BiCPLVolumeProcessor())
        >>> "auto_map" in settings, settings["roi_shape"]
        (False, [64, 64, 64])
    """
    return {k: v for k, v in processor.to_dict().items() if k not in BOOKKEEPING_KEYS}


# `save_pretrained` writes the remote code and `auto_map`, so a saved folder loads without bicpl_hf.
BiCPLVolumeProcessor.register_for_auto_class("AutoImageProcessor")
