"""Exam sources (a hospital export: sheet + DICOM tree; a NIfTI folder) to a de-identified Bi-CPL
`datasets.DatasetDict` with each report parsed once, and the collator that batches it.

Example:
    >>> from bicpl_hf.data import build_dataset, load_built_dataset, setting_view  # doctest: +SKIP
    >>> build_dataset("export.xlsx", "dicom/", "built/", processor=processor, salt=secret)  # doctest: +SKIP
    >>> setting_view(load_built_dataset("built/"), "B")  # doctest: +SKIP
"""

from .builder import BuildResult, DatasetBuildError, build_dataset, build_dataset_from_source, dataset_features
from .collator import BiCPLDataCollator
from .deidentify import DEMO_SALT, salted_key
from .dicom_tree import DicomTree, DicomTreeError, ExamFolder, choose_exam_folder, index_dicom_tree
from .export_table import ExportColumns, ExportRow, ExportTable, ExportTableError, parse_label_cell, read_export_table
from .report_columns import (
    REPORT_COLUMNS,
    MissingReportColumnError,
    add_report_columns,
    parsed_report_columns,
    report_features,
)
from .sources import ExamLocation, ExamSource, NiftiFolderSource, SheetAndDicomTreeSource
from .splits import assign_patient_splits, class_counts, load_built_dataset, setting_view

__all__ = [
    "DEMO_SALT",
    "REPORT_COLUMNS",
    "BiCPLDataCollator",
    "BuildResult",
    "DatasetBuildError",
    "DicomTree",
    "DicomTreeError",
    "ExamFolder",
    "ExamLocation",
    "ExamSource",
    "ExportColumns",
    "ExportRow",
    "ExportTable",
    "ExportTableError",
    "MissingReportColumnError",
    "NiftiFolderSource",
    "SheetAndDicomTreeSource",
    "add_report_columns",
    "assign_patient_splits",
    "build_dataset",
    "build_dataset_from_source",
    "choose_exam_folder",
    "class_counts",
    "dataset_features",
    "index_dicom_tree",
    "load_built_dataset",
    "parse_label_cell",
    "parsed_report_columns",
    "read_export_table",
    "report_features",
    "salted_key",
    "setting_view",
]
