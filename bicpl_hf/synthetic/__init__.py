"""The synthetic temporal-bone CT benchmark: head CT phantoms with per-ear lesions, Chinese reports,
and a writer for the hospital export format (xlsx + DICOM tree), see DESIGN.md section 6.

Example::

    from bicpl_hf.synthetic import make_synthetic_export
    export = make_synthetic_export("outputs/ear_ct", n_exams=50, size="small", seed=0, num_proc=2)
"""

from __future__ import annotations

from .._lazy_exports import lazy_exports

# Public name -> the submodule that owns it; loaded on first use, so `benchmark_preset` (the `bicpl benchmark`
# options' defaults) comes without the renderer's SciPy and SimpleITK.
_EXPORTS = {
    **dict.fromkeys(("EarGeometry", "HeadPose", "sample_ear_geometry"), "anatomy"),
    **dict.fromkeys(("CLASS_NAMES_ZH", "EAR_CODE_FREQUENCIES", "EarAttributes", "sample_ear_attributes"), "attributes"),
    **dict.fromkeys(("BENCHMARK_ROI", "BENCHMARK_ROI_WHOLE_BONE", "BenchmarkROI"), "benchmark_preset"),
    **dict.fromkeys(("ExamSpec", "Patient", "ScannerProfile", "exam_pair_probabilities", "sample_cohort"), "cohort"),
    **dict.fromkeys(("ANATOMY_RATES", "PatientAnatomy", "sample_patient_anatomy"), "constitution"),
    **dict.fromkeys(("COLUMNS", "SHEET_NAME", "SIZES", "RenderedExam", "SyntheticExport", "VolumeSize",
                     "make_synthetic_export", "render_exam"), "export"),
    **dict.fromkeys(("DEFINING_FINDINGS", "FINDING_RATES", "draw_findings"), "findings"),
    **dict.fromkeys(("paint_lesions", "remodel_geometry"), "lesions"),
    **dict.fromkeys(("write_report", "write_synthetic_report"), "reports"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "ANATOMY_RATES",
    "BENCHMARK_ROI",
    "BENCHMARK_ROI_WHOLE_BONE",
    "CLASS_NAMES_ZH",
    "COLUMNS",
    "DEFINING_FINDINGS",
    "EAR_CODE_FREQUENCIES",
    "FINDING_RATES",
    "SHEET_NAME",
    "SIZES",
    "BenchmarkROI",
    "EarAttributes",
    "EarGeometry",
    "ExamSpec",
    "HeadPose",
    "Patient",
    "PatientAnatomy",
    "RenderedExam",
    "ScannerProfile",
    "SyntheticExport",
    "VolumeSize",
    "draw_findings",
    "exam_pair_probabilities",
    "make_synthetic_export",
    "paint_lesions",
    "remodel_geometry",
    "render_exam",
    "sample_cohort",
    "sample_ear_attributes",
    "sample_ear_geometry",
    "sample_patient_anatomy",
    "write_report",
    "write_synthetic_report",
]
