"""`bicpl experiments`: train and evaluate variants on a dataset built by `build_dataset.py`."""

from __future__ import annotations

from pathlib import Path

from transformers.utils import logging as hf_logging

from ..data.splits import load_built_dataset, setting_view
from ..knowledge import attribute_texts, class_prompts, load_knowledge_base
from ..modeling.configuration_bicpl import DEFAULT_CLASS_PROMPTS
from ..processing import BiCPLProcessor, BiCPLVolumeProcessor
from ..processing.ear_classes import CLASS_CODES
from ..text.tokenization import build_char_tokenizer
from ..training.experiments import (
    BASELINE_VARIANTS,
    KNOWLEDGE_VARIANTS,
    VARIANTS,
    ExperimentBudget,
    results_table,
    run_experiments,
)
from .demo import _say, base_model_config


def run_experiment_command(dataset_dir: str, output_dir: str, *, variants=("baselines",), settings=("A", "B"),
                           seed: int = 0, contrastive_epochs: float = 6.0, prototype_epochs: float = 8.0,
                           batch_size: int = 8, unseen_false_positive_rate: float | None = 0.05) -> list:
    """`bicpl experiments`: the experiment runner on a dataset built by `build_dataset.py` (same split and seed for
    every variant); writes `results.md` / `results.json` into `output_dir` and prints the table."""
    groups = {"baselines": BASELINE_VARIANTS, "knowledge": KNOWLEDGE_VARIANTS, "all": tuple(VARIANTS)}
    names = list(dict.fromkeys(n for v in variants for n in groups.get(v, (v,))))
    hf_logging.set_verbosity_error()
    dataset = load_built_dataset(dataset_dir)
    volume_processor = BiCPLVolumeProcessor.from_pretrained(dataset_dir)
    views = {s: setting_view(dataset, s).with_format("numpy", columns=["pixel_values"], output_all_columns=True)
             for s in settings}
    corpus = list(dataset["train"]["report"]) + [p for ps in DEFAULT_CLASS_PROMPTS.values() for p in ps]
    corpus += attribute_texts() + [p for ps in class_prompts(load_knowledge_base(), list(CLASS_CODES)).values()
                                   for p in ps]
    tokenizer = build_char_tokenizer(corpus, Path(output_dir) / "tokenizer")
    processor = BiCPLProcessor(volume_processor, tokenizer)
    roi = volume_processor.roi_shape[0]
    config = base_model_config(tokenizer, roi, [16, 32, 64])
    config["vision_config"]["image_size"] = list(volume_processor.roi_shape)
    budget = ExperimentBudget(contrastive_epochs=contrastive_epochs, prototype_epochs=prototype_epochs,
                              batch_size=batch_size, unseen_false_positive_rate=unseen_false_positive_rate)
    results, _ = run_experiments(views, processor, config, output_dir, variants=names, settings=settings,
                                 budget=budget, seed=seed, progress=_say)
    print(results_table(results))
    return results


__all__ = ["run_experiment_command"]
