"""What the probes of issue 14 share: the cached benchmark build, split and processed as `bicpl benchmark` does."""

from __future__ import annotations

import argparse
from pathlib import Path


def probe_arguments(description: str, default_variant: str) -> argparse.ArgumentParser:
    """The options every probe takes: the cached build, the variant, the held-out class, the seed, the outputs."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--build", required=True, help="a cached benchmark folder (holds built/)")
    parser.add_argument("--variant", default=default_variant)
    parser.add_argument("--held-out", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="probe.json")
    parser.add_argument("--work", default="/tmp/probe_work")
    return parser


def setting_b_inputs(build_folder: str | Path, held_out: int, work_dir: str | Path):
    """`(dataset, Setting B view, processor, model config)` of a cached benchmark folder (holding `built/`): the
    enriched patient-level split of data seed 0 and the char tokenizer / config of `bicpl benchmark`."""
    from bicpl_hf.commands.benchmark import processor_and_config
    from bicpl_hf.data.splits import load_built_dataset, setting_view
    from bicpl_hf.processing import BiCPLVolumeProcessor
    from bicpl_hf.training.benchmark_runner import enrich_test_split

    build = Path(build_folder) / "built"
    dataset = enrich_test_split(load_built_dataset(build), held_out, seed=0)
    view = setting_view(dataset, "B", held_out=held_out)
    view = view.with_format("numpy", columns=["pixel_values"], output_all_columns=True)
    processor, config = processor_and_config(dataset, BiCPLVolumeProcessor.from_pretrained(build), Path(work_dir))
    return dataset, view, processor, config
