"""A3B modes priced against each other: parameters and time of the ear encoder with the cross-attention block (at
its defaults, with 4 heads, attending on at most 512 voxels), the v1 gate and no A3B, in the same run.

Two encoders (`BiCPLModel(config).vision_model`; the text tower is never called):

- tiny: the tests' config, ROI 16^3, stem 8, widths [8, 16], stage strides [1, 2];
- benchmark: the benchmark command's, ROI 32x48x40, stem 8 (stride 2), widths [16, 32, 64], strides [1, 2, 2]; its
  stages have 7,680 / 960 / 120 voxels per ear, so the cross-attention of stage 0 runs on a 2x-pooled grid (960
  tokens) with the default `a3b_max_tokens=2048`.

Each repeat times, interleaved per mode, one eval-mode forward under `torch.no_grad()` and one training-mode
forward + backward (`pooled.sum().backward()`) on `(batch, 2, 2, D, H, W)` inputs. Printed: parameters (encoder
and A3B blocks), median and minimum seconds, and the median per-repeat ratio against the gate.

    python benchmarks/bench_a3b.py --batch-size 8 --repeats 5 --threads 1
    python benchmarks/bench_a3b.py --device cuda --batch-size 32   # on a GPU
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from bicpl_hf import BiCPLConfig, BiCPLModel  # noqa: E402

SMALL_TEXT_CONFIG = {"model_type": "bert", "vocab_size": 128, "hidden_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "intermediate_size": 64}
ENCODERS = {
    "tiny": {"image_size": [16, 16, 16], "stem_channels": 8, "hidden_sizes": [8, 16], "depths": [1, 1],
             "stage_strides": [1, 2]},
    "benchmark": {"image_size": [32, 48, 40], "stem_channels": 8, "hidden_sizes": [16, 32, 64], "depths": [1, 1, 1],
                  "stage_strides": [1, 2, 2]},
}
# Row -> the A3B fields of the vision config: the two modes at their defaults, the cross-attention's cost levers
# (heads: the softmax over heads x tokens^2 dominates on CPU; max tokens: the grid it attends on), and no A3B.
MODES = {
    "gate": {"a3b_mode": "gate"},
    "cross_attention": {"a3b_mode": "cross_attention"},
    "cross_attention, 4 heads": {"a3b_mode": "cross_attention", "a3b_heads": 4},
    "cross_attention, max 512 tokens": {"a3b_mode": "cross_attention", "a3b_max_tokens": 512},
    "none": {"a3b_mode": "gate", "a3b_stages": False},
}


def build_encoder(vision: dict, mode: str, seed: int = 0) -> torch.nn.Module:
    """The ear encoder with the A3B blocks of the `MODES` row `mode` after every stage."""
    fields = dict(MODES[mode])
    with_a3b = fields.pop("a3b_stages", True)
    vision = {**vision, **fields, "a3b_stages": [with_a3b] * len(vision["hidden_sizes"])}
    torch.manual_seed(seed)
    # gamma = 0 at init changes no cost: the block's arithmetic runs whatever its value.
    return BiCPLModel(BiCPLConfig(vision_config=vision, text_config=SMALL_TEXT_CONFIG)).vision_model


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_inference(encoder: torch.nn.Module, pixel_values: torch.Tensor) -> float:
    encoder.eval()
    _synchronize(pixel_values.device)
    start = time.perf_counter()
    with torch.no_grad():
        encoder(pixel_values)
    _synchronize(pixel_values.device)
    return time.perf_counter() - start


def time_training(encoder: torch.nn.Module, pixel_values: torch.Tensor) -> float:
    encoder.train()
    encoder.zero_grad(set_to_none=True)
    _synchronize(pixel_values.device)
    start = time.perf_counter()
    encoder(pixel_values)[0].sum().backward()
    _synchronize(pixel_values.device)
    return time.perf_counter() - start


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def run(name: str, batch_size: int, repeats: int, device: torch.device) -> None:
    vision = ENCODERS[name]
    encoders = {mode: build_encoder(vision, mode).to(device) for mode in MODES}
    pixel_values = torch.rand(batch_size, 2, 2, *vision["image_size"],
                              generator=torch.Generator().manual_seed(0)).to(device)
    timers = {"forward (eval, no_grad)": time_inference, "forward + backward (train)": time_training}
    times = {(mode, t): [] for mode in MODES for t in timers}
    for mode, encoder in encoders.items():  # warm-up: allocator, oneDNN/cuDNN kernel choice
        for timer in timers.values():
            timer(encoder, pixel_values)
    for _ in range(repeats):
        for timer_name, timer in timers.items():
            for mode, encoder in encoders.items():
                times[mode, timer_name].append(timer(encoder, pixel_values))
    print(f"\n### {name}: ROI {'x'.join(map(str, vision['image_size']))}, widths {vision['hidden_sizes']}, "
          f"batch {batch_size} exams ({2 * batch_size} ears)\n")
    print("| A3B mode | encoder params | A3B params | " + " | ".join(
        f"{t} s median (min) | vs gate" for t in timers) + " |")
    print("|---|---:|---:|" + "---:|---:|" * len(timers))
    for mode, encoder in encoders.items():
        cells = []
        for timer_name in timers:
            values = times[mode, timer_name]
            ratio = statistics.median(v / g for v, g in zip(values, times["gate", timer_name]))
            cells.append(f"{statistics.median(values):.3f} ({min(values):.3f}) | {ratio:.2f}x")
        print(f"| {mode} | {count(encoder):,} | {count(encoder.asymmetry_blocks):,} | " + " | ".join(cells) + " |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=list(ENCODERS))
    parser.add_argument("--batch-size", type=int, default=8, help="exams per batch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, CPUs {os.cpu_count()}")
    for name in args.encoders:
        run(name, args.batch_size, args.repeats, device)


if __name__ == "__main__":
    main()
