"""The synthetic temporal-bone CT benchmark: head CT phantoms with per-ear lesions, Chinese reports,
and a writer for the hospital export format (xlsx + DICOM tree), see DESIGN.md section 6.

Example::

    from bicpl_hf.synthetic import make_synthetic_export
    export = make_synthetic_export("outputs/ear_ct", n_exams=50, size="small", seed=0, num_proc=2)
"""

from .anatomy import EarGeometry, HeadPose, sample_ear_geometry
from .attributes import (
    CLASS_NAMES_ZH,
    EAR_CODE_FREQUENCIES,
    EarAttributes,
    sample_ear_attributes,
)
from .benchmark_preset import BENCHMARK_ROI, BenchmarkROI
from .cohort import (
    ExamSpec,
    Patient,
    ScannerProfile,
    exam_pair_probabilities,
    sample_cohort,
)
from .constitution import ANATOMY_RATES, PatientAnatomy, sample_patient_anatomy
from .export import (
    COLUMNS,
    SHEET_NAME,
    SIZES,
    RenderedExam,
    SyntheticExport,
    VolumeSize,
    make_synthetic_export,
    render_exam,
)
from .findings import DEFINING_FINDINGS, FINDING_RATES, draw_findings
from .lesions import paint_lesions, remodel_geometry
from .reports import write_report, write_synthetic_report

__all__ = [
    "ANATOMY_RATES",
    "BENCHMARK_ROI",
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
