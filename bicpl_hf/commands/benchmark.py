"""`bicpl benchmark` (synthetic benchmark, cached, over seeds) and the `--seeds` path of `bicpl experiments`.

Example (CPU; add `--device cuda` and larger sizes on a GPU, see benchmarks/README.md):

```
bicpl benchmark --seeds 0 1 2 --held-out 2 --n-exams 600 --cache-dir bicpl_benchmark_cache --output-dir bench_out
bicpl experiments built/ --seeds 0 1 2 --held-out 2 --variants vision_cnn single_ear_clip bicpl
```
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..data.splits import HELD_OUT_CODE
from ..processing.ear_classes import CLASS_CODES
from ..synthetic.benchmark_preset import BENCHMARK_ROI
from ..training.benchmark_runner import (
    BENCHMARK_SALT,
    BenchmarkData,
    attach_truth_flag,
    cached_build,
    enrich_test_split,
    run_seeds,
    seeds_table,
)

BENCHMARK_VARIANTS = ("vision_cnn", "single_ear_clip", "bicpl_v2")


def _say(message: str) -> None:
    print(f"[bicpl benchmark {time.strftime('%H:%M:%S')}] {message}", flush=True)


def set_torch_threads(num_threads: int | None) -> None:
    """torch intra-op threads: `num_threads`, or (None) one thread when the CPUs are already busy.

    On a shared 2-core machine, torch's default (one thread per core) made a training step 5x slower than one
    thread (benchmarks/README.md): the threads wait on cores other processes hold."""
    import os

    import torch

    if num_threads is None:
        cpus = os.cpu_count() or 1
        busy = hasattr(os, "getloadavg") and os.getloadavg()[0] >= cpus - 0.5
        num_threads = 1 if busy else None
        if num_threads:
            _say(f"the {cpus} CPUs are busy (load {os.getloadavg()[0]:.1f}): training with 1 torch thread")
    if num_threads:
        torch.set_num_threads(int(num_threads))


def processor_and_config(dataset, volume_processor, tokenizer_dir: Path, widths=(16, 32, 64)):
    """The char tokenizer (train reports, class prompts, knowledge texts), the processor and the shared model config
    of a built dataset, as `bicpl experiments` makes them."""
    from ..knowledge import attribute_texts, class_prompts, load_knowledge_base
    from ..modeling.configuration_bicpl import DEFAULT_CLASS_PROMPTS
    from ..processing import BiCPLProcessor
    from ..text.tokenization import build_char_tokenizer
    from .demo import base_model_config

    corpus = list(dataset["train"]["report"]) + [p for ps in DEFAULT_CLASS_PROMPTS.values() for p in ps]
    corpus += attribute_texts() + [p for ps in class_prompts(load_knowledge_base(), list(CLASS_CODES)).values()
                                   for p in ps]
    tokenizer = build_char_tokenizer(corpus, tokenizer_dir)
    processor = BiCPLProcessor(volume_processor, tokenizer)
    config = base_model_config(tokenizer, volume_processor.roi_shape[0], list(widths))
    config["vision_config"]["image_size"] = list(volume_processor.roi_shape)
    return processor, config


def pretrain_setting_text_tower(dataset, processor, config: dict, held_out: int, output_dir: Path, *, objective: str,
                                epochs: float, seed: int, progress=print) -> str:
    """Pretrain the text tower for Setting B on the knowledge base and the reports of the Setting B TRAINING exams only
    (`bicpl_hf.text.pretraining`; no report of a held-out-class exam, nor of validation or test, is read), with the
    processor's tokenizer and the benchmark's text config; returns the folder (reused when it already holds one)."""
    from ..data.splits import setting_view
    from ..text.pretraining import SOURCE_DATASET, pretrain_text_tower, pretraining_corpus

    folder = output_dir / f"text-tower-heldout{held_out}-{objective}-{epochs:g}ep-seed{seed}"
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        progress(f"reusing the pretrained text tower in {folder}")
        return str(folder)
    corpus = pretraining_corpus(knowledge_base=True)
    corpus.add(SOURCE_DATASET, setting_view(dataset, "B", held_out=held_out)["train"]["report"])
    progress(f"pretraining the text tower ({objective}, {epochs:g} epochs) on {len(corpus)} texts: {corpus.counts}")
    record = pretrain_text_tower(corpus, processor.tokenizer, dict(config["text_config"]), folder, objective=objective,
                                 epochs=epochs, seed=seed)
    progress(f"text tower pretrained in {record.get('seconds', 0):.0f} s into {folder}")
    return str(folder)


def needs_pretrained_text(args, variants) -> bool:
    """Whether to pretrain a text tower: some variant starts from one and `--no-pretrain-text` was not given."""
    from ..training.experiments import VARIANTS

    return bool(args.pretrain_text) and any(VARIANTS[name].pretrained_text for name in variants if name in VARIANTS)


def _budget(args):
    from ..training.experiments import ExperimentBudget

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: torch sees no CUDA device (install a CUDA build of torch, see Makefile)")
    return ExperimentBudget(contrastive_epochs=args.contrastive_epochs, prototype_epochs=args.prototype_epochs,
                            batch_size=args.batch_size, bootstrap=args.bootstrap, device=args.device,
                            dataloader_num_workers=args.dataloader_workers,
                            unseen_false_positive_rate=None if args.no_calibration else args.unseen_false_positive_rate)


def resolve_variants(names) -> list[str]:
    """Variant names from names and group names (`baselines`, `knowledge`, `v2`, `all`, `benchmark`), in order, once
    each."""
    from ..training.experiments import BASELINE_VARIANTS, KNOWLEDGE_VARIANTS, V2_ABLATION_VARIANTS, VARIANTS

    groups = {"baselines": BASELINE_VARIANTS, "knowledge": KNOWLEDGE_VARIANTS, "all": tuple(VARIANTS),
              "v2": V2_ABLATION_VARIANTS,
              "benchmark": BENCHMARK_VARIANTS}
    return list(dict.fromkeys(n for v in names for n in groups.get(v, (v,))))


def run_seeds_on_built_dataset(args) -> dict:
    """`bicpl experiments DATASET --seeds ...`: Setting B over the seeds on a dataset built by build_dataset.py."""
    from transformers.utils import logging as hf_logging

    from ..data.splits import load_built_dataset
    from ..processing import BiCPLVolumeProcessor

    hf_logging.set_verbosity_error()
    set_torch_threads(args.num_threads)
    dataset = load_built_dataset(args.dataset)
    if args.enrich_test:
        dataset = enrich_test_split(dataset, args.held_out, seed=args.split_seed)
    processor, config = processor_and_config(dataset, BiCPLVolumeProcessor.from_pretrained(args.dataset),
                                             Path(args.output_dir) / "tokenizer")
    budget, variants = _budget(args), resolve_variants(args.variants)
    if needs_pretrained_text(args, variants):
        budget.text_model_path = pretrain_setting_text_tower(
            dataset, processor, config, args.held_out, Path(args.output_dir), objective=args.pretrain_objective,
            epochs=args.pretrain_epochs, seed=args.split_seed, progress=_say)
    document = run_seeds(dataset, processor, config, args.output_dir, variants=variants,
                         seeds=args.seeds, budget=budget, held_out=args.held_out,
                         normal_variant_column=args.normal_variant_column, progress=_say, setting=args.setting)
    print(seeds_table(document["aggregate"], args.seeds))
    return document


def run_benchmark(args) -> dict:
    """`bicpl benchmark`: cached synthetic export + build per data seed, enriched patient-level split, seeds."""
    from transformers.utils import logging as hf_logging

    from ..data.splits import load_built_dataset
    from ..processing import BiCPLVolumeProcessor

    hf_logging.set_verbosity_error()
    set_torch_threads(args.num_threads)
    started = time.time()
    out = Path(args.output_dir)
    data_seeds = args.seeds if args.vary_data_seed else [args.data_seed]
    documents = {}
    for data_seed in data_seeds:
        data = BenchmarkData(n_exams=args.n_exams, size=args.size, data_seed=data_seed,
                             min_ears_per_code={args.held_out: args.min_held_out_ears, 4: args.min_code4_ears},
                             roi_shape=tuple(args.roi_shape), roi_size_mm=tuple(args.roi_size_mm),
                             num_proc=args.num_proc)
        t = time.time()
        folder, reused = cached_build(data, args.cache_dir, progress=_say)
        data_seconds = time.time() - t
        dataset = load_built_dataset(folder / "built")
        dataset = attach_truth_flag(dataset, folder / "export" / "ground_truth.json", BENCHMARK_SALT,
                                    args.normal_variant_column)
        dataset = enrich_test_split(dataset, args.held_out, seed=data_seed,
                                    enrich_fractions=(1 - args.enriched_test_fraction - 0.1, 0.1,
                                                      args.enriched_test_fraction))
        processor, config = processor_and_config(dataset, BiCPLVolumeProcessor.from_pretrained(folder / "built"),
                                                 out / "tokenizer", widths=args.widths)
        budget = _budget(args)
        if needs_pretrained_text(args, resolve_variants(args.variants)):
            budget.text_model_path = pretrain_setting_text_tower(
                dataset, processor, config, args.held_out, out, objective=args.pretrain_objective,
                epochs=args.pretrain_epochs, seed=data_seed, progress=_say)
        seeds = [data_seed] if args.vary_data_seed else args.seeds
        target = out / f"data_seed_{data_seed}" if args.vary_data_seed else out
        documents[data_seed] = run_seeds(
            dataset, processor, config, target, variants=resolve_variants(args.variants), seeds=seeds, budget=budget,
            held_out=args.held_out, normal_variant_column=args.normal_variant_column, progress=_say,
            setting=args.setting, extra={"data": {**vars(data), "cache": str(folder), "cache_reused": reused,
                            "data_seconds": round(data_seconds, 1)}})
    if args.vary_data_seed:  # one table over all (data = model) seeds
        from ..training.benchmark_runner import aggregate_seeds

        rows = [row for d in documents.values() for row in d["runs"]]
        aggregate = aggregate_seeds(rows)
        (out / "results.md").write_text(seeds_table(aggregate, args.seeds), encoding="utf-8")
        documents = {"aggregate": aggregate, "runs": rows, "per_data_seed": documents}
    else:
        documents = documents[args.data_seed]
    documents["seconds"] = round(time.time() - started, 1)
    print((out / "results.md").read_text(encoding="utf-8"))
    _say(f"done in {documents['seconds']:.0f} s; {out / 'results.md'}")
    return documents


def add_seed_arguments(parser: argparse.ArgumentParser, *, default_seeds=None) -> None:
    """The options shared by `bicpl experiments --seeds` and `bicpl benchmark`."""
    parser.add_argument("--seeds", type=int, nargs="+", default=default_seeds,
                        help="model seeds (init, training order, bootstrap); Setting B is run once per seed and "
                             "reported as mean ± sd and per seed")
    parser.add_argument("--held-out", type=int, default=HELD_OUT_CODE, choices=CLASS_CODES,
                        help="the class Setting B holds out of training (every exam with such an ear leaves training)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None,
                        help="training device (default: a GPU when there is one)")
    parser.add_argument("--num-threads", type=int, default=None,
                        help="torch intra-op threads (default: 1 when the CPUs are already busy, else torch's)")
    parser.add_argument("--dataloader-workers", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--normal-variant-column", default="normal_variant",
                        help="boolean column marking exams with a bilateral normal variant (skipped when absent)")
    parser.add_argument("--setting", choices=["A", "B"], default="B",
                        help="B (default): the held-out class leaves training; A: supervised on codes 1, 2, 3, 5")
    parser.add_argument("--no-pretrain-text", dest="pretrain_text", action="store_false",
                        help="start every text tower from scratch; by default the variants that start from a pretrained "
                             "one (bicpl_v2 and its ablations) get a tower pretrained on the knowledge base and the "
                             "Setting B training reports, once per data seed")
    parser.add_argument("--pretrain-objective", default="mlm+simcse", choices=["mlm", "mlm+simcse"])
    parser.add_argument("--pretrain-epochs", type=float, default=8.0)


def add_benchmark_parser(commands) -> None:
    parser = commands.add_parser("benchmark", help="the synthetic benchmark's Setting B table over seeds (cached data)")
    add_seed_arguments(parser, default_seeds=[0, 1, 2])
    parser.add_argument("--output-dir", default="bicpl_benchmark")
    parser.add_argument("--cache-dir", default="bicpl_benchmark_cache",
                        help="generated exports and builds, reused across seeds, variants and runs")
    parser.add_argument("--variants", nargs="+", default=["benchmark"],
                        help="variant names, or 'benchmark' (vision_cnn, single_ear_clip, bicpl_v2) / 'v2' (bicpl_v2 and "
                             "its ablations) / 'baselines' / 'all'")
    parser.add_argument("--n-exams", type=int, default=600)
    parser.add_argument("--size", default=BENCHMARK_ROI.size,
                        help="synthetic volume size: tiny, small, benchmark (0.75 mm, the default) or full")
    parser.add_argument("--data-seed", type=int, default=0, help="cohort, images and split (fixed across seeds)")
    parser.add_argument("--vary-data-seed", action="store_true",
                        help="use each seed as data seed too (one cached build per seed)")
    parser.add_argument("--min-held-out-ears", type=int, default=190,
                        help="ears of the held-out class guaranteed in the cohort (>= 100 land in test)")
    parser.add_argument("--min-code4-ears", type=int, default=55, help="code-4 ears guaranteed (>= 25 land in test)")
    parser.add_argument("--enriched-test-fraction", type=float, default=0.6,
                        help="share of the patients with a held-out-class or code-4 ear that go to test")
    parser.add_argument("--roi-shape", type=int, nargs=3, default=list(BENCHMARK_ROI.roi_shape), metavar=("D", "H", "W"),
                        help="ear ROI in voxels (default: the benchmark preset, 0.75 mm voxels)")
    parser.add_argument("--roi-size-mm", type=float, nargs=3, default=list(BENCHMARK_ROI.roi_size_mm),
                        metavar=("D", "H", "W"), help="ear ROI in millimetres")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--contrastive-epochs", type=float, default=6.0)
    parser.add_argument("--prototype-epochs", type=float, default=8.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--unseen-false-positive-rate", type=float, default=0.05)
    parser.add_argument("--no-calibration", action="store_true")
    parser.set_defaults(func=lambda args: run_benchmark(args) and 0)


def build_parser_defaults() -> argparse.Namespace:
    """The `bicpl benchmark` defaults (the benchmark configuration), as parsed from an empty command line."""
    parser = argparse.ArgumentParser()
    add_benchmark_parser(parser.add_subparsers())
    return parser.parse_args(["benchmark"])


__all__ = ["BENCHMARK_VARIANTS", "add_benchmark_parser", "add_seed_arguments", "build_parser_defaults",
           "processor_and_config", "resolve_variants", "run_benchmark", "run_seeds_on_built_dataset", "set_torch_threads"]
