"""The benchmark's acquisition size and ear ROI: one named preset the runner and the checks import.

The ROI keeps voxels of 0.75 mm (<= 0.8 mm, DESIGN.md section 6) over the tympanic cavity, attic,
aditus and antrum. It is not cubic: the processor centres it `lateral_offset_mm` lateral of the otic
capsule, and the middle ear + antrum span ~12 mm from the capsule forward to ~17 mm behind it (A-P,
the H axis), the EAC / mastoid lateral to it (W) and the hypotympanum up to the tegmen (D), so
(D, H, W) = (24, 36, 30) mm at 0.75 mm = (32, 48, 40) voxels: 61,440 voxels, 1.9x the demo's 32^3
(1.125 mm) ROI, where a 36 mm cube at 0.75 mm would cost 3.4x.

Example:
    >>> from bicpl_hf.synthetic.benchmark_preset import BENCHMARK_ROI
    >>> BENCHMARK_ROI.spacing_mm
    (0.75, 0.75, 0.75)
    >>> sorted(BENCHMARK_ROI.processor_kwargs())
    ['roi_shape', 'roi_size_mm']
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchmarkROI:
    """Synthetic acquisition size plus the processor's ROI (D, H, W) in voxels and millimetres."""

    size: str
    roi_shape: tuple[int, int, int]
    roi_size_mm: tuple[float, float, float]

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        return tuple(round(mm / n, 6) for mm, n in zip(self.roi_size_mm, self.roi_shape))  # type: ignore[return-value]

    def processor_kwargs(self) -> dict:
        """Keyword arguments of `BiCPLVolumeProcessor` for this ROI."""
        return {"roi_shape": list(self.roi_shape), "roi_size_mm": list(self.roi_size_mm)}


BENCHMARK_ROI = BenchmarkROI(size="benchmark", roi_shape=(32, 48, 40), roi_size_mm=(24.0, 36.0, 30.0))
# The demo's former ROI, kept for comparison: 32^3 voxels of 1.125 mm on the "small" size.
DEMO_ROI = BenchmarkROI(size="small", roi_shape=(32, 32, 32), roi_size_mm=(36.0, 36.0, 36.0))

__all__ = ["BENCHMARK_ROI", "DEMO_ROI", "BenchmarkROI"]
