"""The training pipeline: recipes for the stock `Trainer` (`recipe`), evaluation, calibration and the experiment runner.

Names are loaded on first use, so `import bicpl_hf` (which needs only `calibration`) does not load the `Trainer`
stack. `from bicpl_hf.training import build_trainer` keeps working as before the package existed.
"""

from __future__ import annotations

from .._lazy_exports import lazy_exports

# Public name -> the submodule that owns it.
_EXPORTS = {
    **dict.fromkeys(
        ("BalancedSamplingTrainer", "BiCPLDataCollator", "IGNORE_INDEX", "STAGES", "build_trainer",
         "class_weights_from_counts", "codes_absent_from", "ear_code_counts", "exam_sampling_weights"),
        "recipe",
    ),
    **dict.fromkeys(("DatasetPredictions", "predict_dataset", "score_predictions"), "evaluation"),
    "calibrate_unseen_class_offset": "calibration",
    **dict.fromkeys(
        ("BASELINE_VARIANTS", "KNOWLEDGE_VARIANTS", "VARIANTS", "ExperimentBudget", "RunResult", "Variant",
         "make_variant_model", "results_table", "run_experiments", "run_one", "train_variant"),
        "experiments",
    ),
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
