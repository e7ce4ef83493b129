"""Publishing: the Hub bundle and model card (`hub`), the demo's results page (`results_page`) and the Grad-CAM /
asymmetry overlays (`visualization`)."""

from .hub import (
    PHI_COLUMN_NAMES,
    BundleFile,
    BundleUpload,
    find_phi_columns,
    make_model_card,
    push_bundle,
    push_dataset,
    save_bundle,
)
from .results_page import ReportSection, write_results_page
from .visualization import asymmetry_overlay_maps, grad_cam, save_ear_overlay

__all__ = [
    "BundleFile",
    "BundleUpload",
    "PHI_COLUMN_NAMES",
    "ReportSection",
    "asymmetry_overlay_maps",
    "find_phi_columns",
    "grad_cam",
    "make_model_card",
    "push_bundle",
    "push_dataset",
    "save_bundle",
    "save_ear_overlay",
    "write_results_page",
]
