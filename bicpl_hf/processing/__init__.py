"""Bi-CPL processing: raw CT exams and Chinese reports to mirrored ear pairs and tokens.

Kept flat with same-folder relative imports so `save_pretrained` can ship these files as remote code. Names are
loaded on first use, so the light modules (the class table, the report parser) come without SimpleITK and the
transformers processing stack.
"""

from __future__ import annotations

from .._lazy_exports import lazy_exports

# Public name -> the submodule that owns it.
_EXPORTS = {
    "BiCPLProcessor": "processing_bicpl",
    **dict.fromkeys(("DEFAULT_WINDOWS", "BiCPLVolumeProcessor", "apply_windows"), "image_processing_bicpl"),
    **dict.fromkeys(("Finding", "ParsedReport", "ReportParseError", "ReportSentence", "parse_report"),
                    "report_parser"),
    **dict.fromkeys(("LoadedVolume", "SeriesInfo", "VolumeReadError", "choose_series", "list_series", "numpy_volume",
                     "read_volume"), "volume_io"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "BiCPLProcessor",
    "BiCPLVolumeProcessor",
    "DEFAULT_WINDOWS",
    "Finding",
    "LoadedVolume",
    "ParsedReport",
    "ReportParseError",
    "ReportSentence",
    "SeriesInfo",
    "VolumeReadError",
    "apply_windows",
    "choose_series",
    "list_series",
    "numpy_volume",
    "parse_report",
    "read_volume",
]
