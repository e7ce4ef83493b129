"""Where the time of one benchmark training run goes, and what the runner's throughput options buy.

On a cached benchmark build (`bicpl_hf.training.benchmark_runner.cached_build`, made here on first use) and at the benchmark's
shapes (ROI 32^3, widths 16-32-64, batch 8, full Bi-CPL), one epoch of the prototype stage is split into:

- fetch: rows from Arrow into numpy, as the Trainer's DataLoader does (`Dataset.__getitems__`, one batch at a time)
  against the row-by-row `dataset[i]` that `predict_dataset` used;
- collate: float16 -> float32 stack + tokenising the reports and side texts (`BiCPLDataCollator`);
- forward / backward / optimizer step (AdamW), timed with the same batches.

Then the options, each measured in this process on the same batches, interleaved over `--repeats` rounds (a shared
machine's load hits them alike; medians reported): torch intra-op threads 1 vs the default, channels_last_3d on
the vision tower vs contiguous, and the evaluation loop (`predict_dataset`) row-by-row vs batched fetch.

    python benchmarks/profile_benchmark_run.py --cache-dir bicpl_benchmark_cache --n-exams 64 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    from bicpl_hf.synthetic.benchmark_preset import BENCHMARK_ROI

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", default="bicpl_benchmark_cache")
    parser.add_argument("--n-exams", type=int, default=64)
    parser.add_argument("--size", default=BENCHMARK_ROI.size)
    parser.add_argument("--roi-shape", type=int, nargs=3, default=list(BENCHMARK_ROI.roi_shape))
    parser.add_argument("--roi-size-mm", type=float, nargs=3, default=list(BENCHMARK_ROI.roi_size_mm))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6, help="training steps per timed configuration")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from transformers.utils import logging as hf_logging

    from bicpl_hf.data import BiCPLDataCollator
    from bicpl_hf.data.splits import load_built_dataset, setting_view
    from bicpl_hf.processing import BiCPLVolumeProcessor
    from bicpl_hf.training.benchmark_runner import BenchmarkData, cached_build
    from bicpl_hf.training.evaluation import predict_dataset
    from bicpl_hf.training.experiments import VARIANTS, make_variant_model
    from bicpl_hf.training.run_setup import processor_and_config

    hf_logging.set_verbosity_error()
    folder, reused = cached_build(BenchmarkData(n_exams=args.n_exams, size=args.size, roi_shape=tuple(args.roi_shape),
                                                roi_size_mm=tuple(args.roi_size_mm),
                                                min_ears_per_code={2: 20, 4: 6}), args.cache_dir)
    dataset = load_built_dataset(folder / "built")
    view = setting_view(dataset, "B")["train"].with_format("numpy", columns=["pixel_values"], output_all_columns=True)
    processor, config = processor_and_config(dataset, BiCPLVolumeProcessor.from_pretrained(folder / "built"),
                                             Path(args.cache_dir) / "profile_tokenizer")
    print(f"build {'reused' if reused else 'made'}: {folder}; train exams (Setting B) {len(view)}; "
          f"torch threads (default) {torch.get_num_threads()}")
    bs = args.batch_size
    indices = [list(range(s, min(s + bs, len(view)))) for s in range(0, len(view), bs)][: args.steps]
    collator = BiCPLDataCollator(processor, include_labels=True, include_text=True)

    fetch_batched = _median_time(lambda: [view.__getitems__(ix) for ix in indices], args.repeats)
    fetch_rows = _median_time(lambda: [[view[i] for i in ix] for ix in indices], args.repeats)
    examples = [view.__getitems__(ix) for ix in indices]
    collate = _median_time(lambda: [collator(ex) for ex in examples], args.repeats)
    batches = [collator(ex) for ex in examples]

    torch.manual_seed(0)
    model = make_variant_model(VARIANTS["bicpl"], config, processor.tokenizer, seed=0).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step_parts(channels_last: bool) -> dict:
        parts = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}
        for batch in batches:
            pixel_values = batch["pixel_values"]
            if channels_last:  # (B, 2, C, D, H, W): the vision tower sees (B*2, C, D, H, W)
                pixel_values = pixel_values.flatten(0, 1).contiguous(memory_format=torch.channels_last_3d).unflatten(
                    0, pixel_values.shape[:2])
            inputs = {**batch, "pixel_values": pixel_values}
            t0 = time.perf_counter()
            loss = model(**inputs, return_loss=True).loss
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            t3 = time.perf_counter()
            parts["forward"] += t1 - t0
            parts["backward"] += t2 - t1
            parts["optimizer"] += t3 - t2
        return parts

    default_threads = torch.get_num_threads()
    rounds: dict[str, list[dict]] = {}
    for _ in range(args.repeats):
        for name, threads, channels_last in ((f"torch default ({default_threads} threads)", default_threads, False),
                                             ("1 thread", 1, False),
                                             ("1 thread + channels_last_3d", 1, True),
                                             (f"{default_threads} threads + channels_last_3d", default_threads, True)):
            torch.set_num_threads(threads)
            if channels_last:
                model.to(memory_format=torch.channels_last_3d)
            rounds.setdefault(name, []).append(step_parts(channels_last))
            if channels_last:
                model.to(memory_format=torch.contiguous_format)
    torch.set_num_threads(default_threads)

    test = dataset["test"].with_format("numpy", columns=["pixel_values"], output_all_columns=True)
    model.eval()
    predict = _median_time(lambda: predict_dataset(model, processor, test, batch_size=bs), args.repeats)

    n = len(indices)
    print(f"\n### One training step, batch {bs} exams, torch default threads (median of {args.repeats}; "
          "seconds per step)\n")
    print("| part | seconds / step | share |")
    print("|---|---|---|")
    first = next(iter(rounds))
    base = {k: statistics.median(r[k] for r in rounds[first]) / n for k in ("forward", "backward", "optimizer")}
    parts = {"fetch from Arrow (batched)": fetch_batched / n, "collate (stack + tokenise)": collate / n, **base}
    total = sum(parts.values())
    for name, value in parts.items():
        print(f"| {name} | {value:.3f} | {value / total:.0%} |")
    print(f"| total | {total:.3f} | |")
    print(f"\nfetch row by row (`dataset[i]`): {fetch_rows / n:.3f} s / batch vs batched "
          f"{fetch_batched / n:.3f} s / batch (x{fetch_rows / max(fetch_batched, 1e-9):.1f})")
    print(f"\n### Compute options (forward + backward + optimizer, seconds / step, median of {args.repeats})\n")
    print("| option | seconds / step | vs default |")
    print("|---|---|---|")
    ref = None
    for name, rs in rounds.items():
        value = statistics.median(sum(r.values()) for r in rs) / n
        ref = ref or value
        print(f"| {name} | {value:.3f} | {value / ref:.2f} |")
    print(f"\npredict_dataset on the test split ({len(test)} exams): {predict:.2f} s")


if __name__ == "__main__":
    main()
