"""What the probes share: the cached benchmark build, split and processed as `bicpl benchmark` does.

Probes shape choices, so they follow the zero-shot protocol (`bicpl_hf.training.zero_shot_protocol`): they hold out
the development class on a development cohort and measure on the VALIDATION split (`PROBE_SPLIT`); a test class or a
test cohort is refused."""

from __future__ import annotations

import argparse
from pathlib import Path

PROBE_SPLIT = "validation"


def probe_arguments(description: str, default_variant: str) -> argparse.ArgumentParser:
    """The options every probe takes: the cached build, the variant, the held-out class, the seed, the outputs."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--build", required=True, help="a cached benchmark folder (holds built/)")
    parser.add_argument("--variant", default=default_variant)
    parser.add_argument("--held-out", type=int, default=3, help="the development class (3); test classes are refused")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="probe.json")
    parser.add_argument("--work", default="/tmp/probe_work")
    return parser


def setting_b_inputs(build_folder: str | Path, held_out: int, work_dir: str | Path):
    """`(dataset, Setting B view, processor, model config)` of a cached benchmark folder (holding `built/`): the
    enriched patient-level split of its data seed and the char tokenizer / config of `bicpl benchmark`. Measure on
    `view[PROBE_SPLIT]`, never on test."""
    import json

    from bicpl_hf.data.splits import load_built_dataset, setting_view
    from bicpl_hf.processing import BiCPLVolumeProcessor
    from bicpl_hf.training.benchmark_runner import enrich_test_split
    from bicpl_hf.training.run_setup import processor_and_config
    from bicpl_hf.training.zero_shot_protocol import check_protocol

    build = Path(build_folder) / "built"
    marker = Path(build_folder) / "complete.json"
    data_seed = json.loads(marker.read_text(encoding="utf-8"))["data"]["data_seed"] if marker.is_file() else None
    if data_seed is None:
        raise SystemExit(f"error: {marker} is missing: probes need a cached benchmark folder (its data seed)")
    if held_out in (2, 4):
        raise SystemExit(f"error: code {held_out} is a test class: probes hold out the development class 3")
    check_protocol(held_out, [data_seed])
    dataset = enrich_test_split(load_built_dataset(build), held_out, seed=data_seed)
    view = setting_view(dataset, "B", held_out=held_out)
    view = view.with_format("numpy", columns=["pixel_values"], output_all_columns=True)
    processor, config = processor_and_config(dataset, BiCPLVolumeProcessor.from_pretrained(build), Path(work_dir),
                                             held_out=held_out)
    return dataset, view, processor, config
