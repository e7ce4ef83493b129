"""Siamese encoder cost: both ears as ONE batch of 2B against two sequential passes, and A3B against no A3B.

The encoder is `BiCPLModel(config).vision_model` at the default vision config (3D ResNet [32, 64, 128, 256], 64^3
ROI, 2 HU windows); the text tower is never called. Each measurement is one training-mode forward + backward
(`pooled.sum().backward()`) on `(batch, 2, 2, 64, 64, 64)` inputs:

- batched: `vision_model(pixel_values)`, what the model does (stem and every stage see 2B volumes);
- sequential: the same weights applied to the left ears, then to the right ears (stem and each stage called twice
  with B volumes), the A3B blocks fed the two halves re-interleaved, so the arithmetic is identical; checked
  against batched in eval mode before timing;
- no A3B: batched with `a3b_stages=[False] * 4` (same backbone weights), to price the asymmetry blocks.

Variants are interleaved within each repeat (batched, sequential, no-A3B, batched, ...) so that a change in the
machine's load hits all of them alike. Printed: median and minimum seconds, the median of the per-repeat ratios and
the ratio of the minima (on a shared machine, load only ever adds time, so the minima are the least disturbed).
`--threads 1` keeps other processes from stalling an OpenMP team (with 2 threads on 2 busy cores, one descheduled
thread stalls the other at every barrier, which triples some repeats).

    python benchmarks/bench_siamese.py --batch-sizes 1 2 4 --repeats 7 --threads 1
    python benchmarks/bench_siamese.py --device cuda --batch-sizes 1 4 16   # on a GPU
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
from bicpl_hf.modeling.modeling_bicpl_vision import merge_ears, split_ears  # noqa: E402

# Only the vision encoder runs here; a small text tower keeps model construction cheap.
SMALL_TEXT_CONFIG = {"model_type": "bert", "vocab_size": 21128, "hidden_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "intermediate_size": 128}


def build_encoder(image_size: int, a3b: bool, seed: int = 0) -> torch.nn.Module:
    """`BiCPLModel.vision_model` of the default config at `image_size`^3, with or without its A3B blocks."""
    vision = {"image_size": [image_size] * 3}
    if not a3b:
        vision["a3b_stages"] = [False] * 4
    torch.manual_seed(seed)
    return BiCPLModel(BiCPLConfig(vision_config=vision, text_config=SMALL_TEXT_CONFIG)).vision_model


def sequential_forward(encoder: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    """The Siamese encoder with the backbone called once per ear (left batch, then right batch).

    Same weights and the same arithmetic as `encoder(pixel_values)`; returns the pooled features `(B, 2, C)`.
    """
    left = encoder.stem(pixel_values[:, 0])
    right = encoder.stem(pixel_values[:, 1])
    for stage, a3b in zip(encoder.stages, encoder.asymmetry_blocks):
        left, right = stage(left), stage(right)
        if not isinstance(a3b, torch.nn.Identity):  # A3B needs both ears of an exam side by side
            merged, _ = a3b(merge_ears(left, right))
            left, right = split_ears(merged)
    return torch.stack((encoder.pool(left).flatten(1), encoder.pool(right).flatten(1)), dim=1)


def batched_forward(encoder: torch.nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    return encoder(pixel_values)[0]


def check_equivalence(encoder: torch.nn.Module, pixel_values: torch.Tensor) -> float:
    """Max |batched - sequential| in eval mode (batch norm then uses running statistics, identical for both)."""
    encoder.eval()
    with torch.no_grad():
        difference = (batched_forward(encoder, pixel_values) - sequential_forward(encoder, pixel_values)).abs().max()
    encoder.train()
    return float(difference)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward_backward(forward, encoder, pixel_values: torch.Tensor) -> float:
    """Seconds of one training-mode forward + backward."""
    encoder.zero_grad(set_to_none=True)
    _synchronize(pixel_values.device)
    start = time.perf_counter()
    forward(encoder, pixel_values).sum().backward()
    _synchronize(pixel_values.device)
    return time.perf_counter() - start


def run(batch_size: int, image_size: int, repeats: int, device: torch.device) -> dict:
    with_a3b = build_encoder(image_size, a3b=True).to(device).train()
    without_a3b = build_encoder(image_size, a3b=False).to(device).train()
    pixel_values = torch.rand(batch_size, 2, 2, image_size, image_size, image_size,
                              generator=torch.Generator().manual_seed(0)).to(device)
    difference = check_equivalence(with_a3b, pixel_values)
    variants = {
        "batched": (batched_forward, with_a3b),
        "sequential": (sequential_forward, with_a3b),
        "batched_no_a3b": (batched_forward, without_a3b),
    }
    for forward, encoder in variants.values():  # warm-up: allocator, oneDNN/cuDNN kernel choice
        time_forward_backward(forward, encoder, pixel_values)
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (forward, encoder) in variants.items():
            times[name].append(time_forward_backward(forward, encoder, pixel_values))
    return {"batch_size": batch_size, "image_size": image_size, "max_abs_difference": difference, "times": times}


def _median_ratio(numerator: list[float], denominator: list[float]) -> float:
    return statistics.median(n / d for n, d in zip(numerator, denominator))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4], help="exams per batch")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, CPUs {os.cpu_count()}")
    print("| exams B | ROI | batched 2B s median (min) | sequential 2xB s median (min) | sequential / batched: "
          "median ratio (ratio of min) | no A3B s median (min) | A3B cost: median (of min) | max abs diff |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    raw_times = []
    for batch_size in args.batch_sizes:
        result = run(batch_size, args.image_size, args.repeats, device)
        times = result["times"]
        cell = {k: f"{statistics.median(v):.2f} ({min(v):.2f})" for k, v in times.items()}
        speedup = _median_ratio(times["sequential"], times["batched"])
        speedup_min = min(times["sequential"]) / min(times["batched"])
        a3b_cost = _median_ratio(times["batched"], times["batched_no_a3b"]) - 1.0
        a3b_cost_min = min(times["batched"]) / min(times["batched_no_a3b"]) - 1.0
        print(f"| {batch_size} | {args.image_size}^3 | {cell['batched']} | {cell['sequential']} | "
              f"{speedup:.2f}x ({speedup_min:.2f}x) | {cell['batched_no_a3b']} | "
              f"{a3b_cost:+.0%} ({a3b_cost_min:+.0%}) | {result['max_abs_difference']:.1e} |", flush=True)
        raw_times.append(f"B={batch_size}: " + "; ".join(
            f"{name} " + " ".join(f"{t:.2f}" for t in values) for name, values in times.items()))
    print("\nper-repeat seconds (interleaved in this order within each repeat):\n" + "\n".join(raw_times))


if __name__ == "__main__":
    main()
