"""`bicpl experiments`: train and evaluate variants on a dataset built by `build_dataset.py`."""

from __future__ import annotations

import time
from pathlib import Path

from transformers.utils import logging as hf_logging

from ..data.splits import load_built_dataset, setting_view
from ..processing import BiCPLVolumeProcessor
from ..training.experiments import (
    ExperimentBudget,
    results_table,
    run_experiments,
)
from ..training.run_setup import processor_and_config, resolve_variants


def _say(message: str) -> None:
    print(f"[bicpl experiments {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_experiment_command(dataset_dir: str, output_dir: str, *, variants=("baselines",), settings=("A", "B"),
                           seed: int = 0, contrastive_epochs: float = 6.0, prototype_epochs: float = 8.0,
                           batch_size: int = 8, unseen_false_positive_rate: float | None = 0.05) -> list:
    """`bicpl experiments`: the experiment runner on a dataset built by `build_dataset.py` (same split and seed for
    every variant); writes `results.md` / `results.json` into `output_dir` and prints the table."""
    names = resolve_variants(variants)
    hf_logging.set_verbosity_error()
    dataset = load_built_dataset(dataset_dir)
    volume_processor = BiCPLVolumeProcessor.from_pretrained(dataset_dir)
    views = {s: setting_view(dataset, s).with_format("numpy", columns=["pixel_values"], output_all_columns=True)
             for s in settings}
    processor, config = processor_and_config(dataset, volume_processor, Path(output_dir) / "tokenizer")
    budget = ExperimentBudget(contrastive_epochs=contrastive_epochs, prototype_epochs=prototype_epochs,
                              batch_size=batch_size, unseen_false_positive_rate=unseen_false_positive_rate)
    results, _ = run_experiments(views, processor, config, output_dir, variants=names, settings=settings,
                                 budget=budget, seed=seed, progress=_say)
    print(results_table(results))
    return results


__all__ = ["run_experiment_command"]
