"""Bi-CPL processing: raw CT exams and Chinese reports to mirrored ear pairs and tokens.

Kept flat with same-folder relative imports so `save_pretrained` can ship these files as remote code.
"""

from .image_processing_bicpl import DEFAULT_WINDOWS, BiCPLVolumeProcessor, apply_windows
from .processing_bicpl import BiCPLProcessor
from .report_parser import Finding, ParsedReport, ReportParseError, ReportSentence, parse_report
from .volume_io import LoadedVolume, SeriesInfo, VolumeReadError, choose_series, list_series, numpy_volume, read_volume

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
