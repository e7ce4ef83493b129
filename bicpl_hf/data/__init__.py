"""Exam sources (a hospital export: sheet + DICOM tree; a NIfTI folder) to a de-identified Bi-CPL
`datasets.DatasetDict` with each report parsed once, and the collator that batches it.

Example:
    >>> from bicpl_hf.data import build_dataset, load_built_dataset, setting_view  # doctest: +SKIP
    >>> build_dataset("export.xlsx", "dicom/", "built/", processor=processor, salt=secret)  # doctest: +SKIP
    >>> setting_view(load_built_dataset("built/"), "B")  # doctest: +SKIP
"""

from __future__ import annotations

from .._lazy_exports import lazy_exports

# Public name -> the submodule that owns it; loaded on first use, so `data.splits` does not bring the builder.
_EXPORTS = {
    **dict.fromkeys(("BuildResult", "DatasetBuildError", "build_dataset", "build_dataset_from_source",
                     "dataset_features"), "builder"),
    "BiCPLDataCollator": "collator",
    **dict.fromkeys(("DEMO_SALT", "salted_key"), "deidentify"),
    **dict.fromkeys(("DicomTree", "DicomTreeError", "ExamFolder", "choose_exam_folder", "index_dicom_tree"),
                    "dicom_tree"),
    **dict.fromkeys(("ExportColumns", "ExportRow", "ExportTable", "ExportTableError", "parse_label_cell",
                     "read_export_table"), "export_table"),
    **dict.fromkeys(("REPORT_COLUMNS", "MissingReportColumnError", "add_report_columns", "parsed_report_columns",
                     "report_features"), "report_columns"),
    **dict.fromkeys(("ExamLocation", "ExamSource", "NiftiFolderSource", "SheetAndDicomTreeSource"), "sources"),
    **dict.fromkeys(("assign_patient_splits", "class_counts", "load_built_dataset", "setting_view"), "splits"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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
