"""The benchmark's acquisition size and ear ROI: one named preset the runner and the checks import.

The ROI keeps voxels of 0.75 mm (<= 0.8 mm, DESIGN.md section 6) over the tympanic cavity, attic,
aditus and antrum. It is not cubic: the processor centres it `lateral_offset_mm` lateral of the otic
capsule, and the middle ear + antrum span ~12 mm from the capsule forward to ~17 mm behind it (A-P,
the H axis), the EAC / mastoid lateral to it (W) and the hypotympanum up to the tegmen (D), so
(D, H, W) = (24, 36, 30) mm at 0.75 mm = (32, 48, 40) voxels: 61,440 voxels, 1.9x the demo's 32^3
(1.125 mm) ROI, where a 36 mm cube at 0.75 mm would cost 3.4x.

`BENCHMARK_ROI_WHOLE_BONE` keeps that ROI and adds a coarse one of the same voxel shape at 1.5 mm,
(48, 72, 60) mm, over the whole temporal bone: the petrous apex (~13 mm in front of and ~19 mm medial of
the fine ROI centre), the jugular bulb and foramen (~12-18 mm below), the facial canal down to the
stylomastoid foramen and the mastoid tip (~19 mm below), which the fine ROI misses.

Example:
    >>> from bicpl_hf.synthetic.benchmark_preset import BENCHMARK_ROI, BENCHMARK_ROI_WHOLE_BONE
    >>> BENCHMARK_ROI.spacing_mm
    (0.75, 0.75, 0.75)
    >>> sorted(BENCHMARK_ROI.processor_kwargs())
    ['roi_shape', 'roi_size_mm']
    >>> BENCHMARK_ROI_WHOLE_BONE.coarse_spacing_mm
    (1.5, 1.5, 1.5)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchmarkROI:
    """Synthetic acquisition size plus the processor's ROI (D, H, W) in voxels and millimetres.

    `coarse_roi_size_mm` / `coarse_roi_offset_mm` (optional) add the processor's coarse ROI: same voxel
    shape, that size, its centre that far from the fine one (superior, posterior, lateral mm).
    """

    size: str
    roi_shape: tuple[int, int, int]
    roi_size_mm: tuple[float, float, float]
    coarse_roi_size_mm: tuple[float, float, float] | None = None
    coarse_roi_offset_mm: tuple[float, float, float] | None = None

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        return tuple(round(mm / n, 6) for mm, n in zip(self.roi_size_mm, self.roi_shape))  # type: ignore[return-value]

    @property
    def coarse_spacing_mm(self) -> tuple[float, float, float] | None:
        if self.coarse_roi_size_mm is None:
            return None
        sizes = zip(self.coarse_roi_size_mm, self.roi_shape)
        return tuple(round(mm / n, 6) for mm, n in sizes)  # type: ignore[return-value]

    def processor_kwargs(self) -> dict:
        """Keyword arguments of `BiCPLVolumeProcessor` for this ROI (the coarse ones only when set)."""
        kwargs = {"roi_shape": list(self.roi_shape), "roi_size_mm": list(self.roi_size_mm)}
        if self.coarse_roi_size_mm is not None:
            kwargs["coarse_roi_size_mm"] = list(self.coarse_roi_size_mm)
            kwargs["coarse_roi_offset_mm"] = list(self.coarse_roi_offset_mm or (0.0, 0.0, 0.0))
        return kwargs


BENCHMARK_ROI = BenchmarkROI(size="benchmark", roi_shape=(32, 48, 40), roi_size_mm=(24.0, 36.0, 30.0))
# The coarse offset comes from the template anatomy (synthetic/anatomy.py) seen from the fine ROI centre, which
# sits ~6 mm lateral, ~2 mm anterior of the capsule. In (superior, posterior, lateral) mm the named sites span
# superior -19 (mastoid tip, stylomastoid foramen) .. +9.5 (tegmen), posterior -19 (a petrous-apex cyst's front
# edge) .. +27 (the pneumatised mastoid's back), lateral -26 (that cyst's medial edge) .. +15 (mastoid cortex).
# (-6, +4, -6) centres the 48 x 72 x 60 mm box on that span with >= 8 mm to spare on every side (>= 5 mm for a
# 1.08x head with a 1.15x mastoid); the box holds the fine ROI and stays ~15 mm off the mid-sagittal plane.
BENCHMARK_ROI_WHOLE_BONE = BenchmarkROI(
    size="benchmark", roi_shape=(32, 48, 40), roi_size_mm=(24.0, 36.0, 30.0),
    coarse_roi_size_mm=(48.0, 72.0, 60.0), coarse_roi_offset_mm=(-6.0, 4.0, -6.0),
)
# The demo's former ROI, kept for comparison: 32^3 voxels of 1.125 mm on the "small" size.
DEMO_ROI = BenchmarkROI(size="small", roi_shape=(32, 32, 32), roi_size_mm=(36.0, 36.0, 36.0))

__all__ = ["BENCHMARK_ROI", "BENCHMARK_ROI_WHOLE_BONE", "DEMO_ROI", "BenchmarkROI"]
