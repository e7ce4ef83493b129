"""Training-step time and peak memory at the default input, with and without activation checkpointing, fp32 and bf16.

One training step = forward of `BiCPLModel` on a batch of exams (both ears, two HU windows, default 64^3 ROI, the
whole report and the two side texts), the full loss (ear- and exam-level InfoNCE, prototype, symmetry, drift),
backward and an AdamW step. Vision tower: the default `BiCPLVisionConfig` (3D ResNet [32, 64, 128, 256] + A3B).
Text tower: `--text small` (default: BERT, 4 layers, hidden 256, the 21,128-token Chinese vocabulary) or
`--text base` (the default config's BERT-base, 12 x 768). Text lengths: 256 tokens per report, 128 per side text
(the processor's truncation limits). Checkpointing = `model.activation_checkpointing_enable()` (vision stages and
BERT layers).

Each configuration runs in two FRESH processes (spawn), so every memory figure is the configuration's own:
- time process (default allocator): one untimed step, then `--repeats` timed steps; `peak RSS` is its `VmHWM`
  from the first step on (model, batch, gradients, AdamW state, activations and what glibc keeps of freed memory).
- memory process: started with `MALLOC_MMAP_THRESHOLD_=131072`, so glibc maps every block above 128 KiB on its own
  and unmaps it when freed: RSS then follows the live tensors. `live step peak` = `VmHWM` over one training step
  minus the RSS just before it (activations, gradients, AdamW state, backward temporaries). `saved activations` =
  the distinct storages autograd holds for backward at the end of the forward (`saved_tensors_hooks`, parameters
  excluded), an exact count of what checkpointing is meant to cut. With glibc's default adaptive threshold, memory
  freed by the forward stays resident and the backward's new blocks add to it, so `peak RSS` overstates the live
  peak and understates what checkpointing saves.
On CUDA the memory figures come from `torch.cuda.max_memory_allocated`.

    python benchmarks/bench_training_step.py                  # checkpointing x precision table + scaling tables
    python benchmarks/bench_training_step.py --only main --precisions fp32 --batch-size 4
    python benchmarks/bench_training_step.py --device cuda --batch-sizes 1 4 16 32 --text base
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

TEXT_CONFIGS = {
    "small": {"model_type": "bert", "vocab_size": 21128, "hidden_size": 256, "num_hidden_layers": 4,
              "num_attention_heads": 4, "intermediate_size": 1024},
    "base": None,  # BiCPLConfig's default: BERT-base with the Chinese vocabulary
}
REPORT_TOKENS, SIDE_TOKENS = 256, 128
TRAINABLE_CODES = [1, 2, 3, 5, 6]  # code 4's prototype is frozen (text-only) by default


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"/proc/self/status has no {field}: run this benchmark on Linux")


def _reset_peak_rss() -> None:
    """Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current RSS."""
    Path("/proc/self/clear_refs").write_text("5")


def make_batch(batch_size: int, image_size: int, vocab_size: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    report = torch.randint(5, vocab_size, (batch_size, REPORT_TOKENS), generator=g)
    side = torch.randint(5, vocab_size, (batch_size, 2, SIDE_TOKENS), generator=g)
    codes = torch.tensor(TRAINABLE_CODES)
    return {
        "pixel_values": torch.rand(batch_size, 2, 2, image_size, image_size, image_size, generator=g),
        "input_ids": report,
        "attention_mask": torch.ones_like(report),
        "side_input_ids": side,
        "side_attention_mask": torch.ones_like(side),
        "labels": codes[torch.randint(len(codes), (batch_size, 2), generator=g)],
    }


def saved_activation_mib(model, batch: dict, dtype) -> float:
    """MiB of the distinct tensor storages autograd saves for backward during one forward (parameters excluded)."""
    import torch

    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        with torch.autocast(batch["pixel_values"].device.type, dtype=dtype, enabled=dtype != torch.float32):
            model(**batch).loss.detach()
    return sum(saved.values()) / 2**20


def measure(setting: dict, queue) -> None:
    """Child process: build the model and a batch, then time steps (`mode="time"`) or measure one step's memory."""
    import torch

    from bicpl_hf import BiCPLConfig, BiCPLModel

    device = torch.device(setting["device"])
    cuda = device.type == "cuda"
    if setting.get("threads"):
        torch.set_num_threads(setting["threads"])
    torch.manual_seed(0)
    config = BiCPLConfig(vision_config={"image_size": [setting["image_size"]] * 3},
                         text_config=TEXT_CONFIGS[setting["text"]])
    model = BiCPLModel(config).to(device).train()
    if setting["checkpointing"]:
        model.activation_checkpointing_enable()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = {k: v.to(device) for k, v in make_batch(setting["batch_size"], setting["image_size"],
                                                     config.text_config.vocab_size).items()}
    dtype = torch.bfloat16 if setting["precision"] == "bf16" else torch.float32

    def step() -> float:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        return loss.detach().item()

    def memory_now() -> float:
        return torch.cuda.memory_allocated() / 2**20 if cuda else _status_mib("VmRSS")

    def reset_peak() -> None:
        torch.cuda.reset_peak_memory_stats() if cuda else _reset_peak_rss()

    def peak() -> float:
        return torch.cuda.max_memory_allocated() / 2**20 if cuda else _status_mib("VmHWM")

    result = {**setting, "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6}
    if setting["mode"] == "memory":
        before = memory_now()
        reset_peak()
        step()
        result["live_step_peak_mib"] = peak() - before
        result["saved_activations_mib"] = saved_activation_mib(model, batch, dtype)
    else:
        reset_peak()
        step()  # not timed: optimizer state creation, oneDNN kernel selection
        times = []
        for _ in range(setting["repeats"]):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        result.update(times=times, peak_rss_mib=peak())
    queue.put(result)


def in_fresh_process(setting: dict) -> dict:
    """Run `measure` in a spawned interpreter; the memory mode gets the mmap threshold that makes RSS track tensors."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=measure, args=(setting, queue))
    previous = os.environ.get("MALLOC_MMAP_THRESHOLD_")
    if setting["mode"] == "memory":
        os.environ["MALLOC_MMAP_THRESHOLD_"] = "131072"  # read by glibc when the child starts
    try:
        process.start()
    finally:
        if previous is None:
            os.environ.pop("MALLOC_MMAP_THRESHOLD_", None)
        else:
            os.environ["MALLOC_MMAP_THRESHOLD_"] = previous
    result = queue.get()
    process.join()
    return result


def run_configuration(setting: dict, modes: list[str]) -> dict:
    result = dict(setting)
    for mode in modes:
        result.update(in_fresh_process({**setting, "mode": mode}))
    return result


def _cells(result: dict) -> str:
    times = result.get("times")
    timing = f"{statistics.median(times):.2f} | {min(times):.2f}" if times else "- | -"
    memory = (f"{result['live_step_peak_mib']:.0f} | {result['saved_activations_mib']:.0f}"
              if "live_step_peak_mib" in result else "- | -")
    rss = f"{result['peak_rss_mib']:.0f}" if "peak_rss_mib" in result else "-"
    return f"{timing} | {memory} | {rss} |"


HEADER = "s/step median | s/step min | live step peak MiB | saved activations MiB | peak RSS MiB |"
RULE = "---:|---:|---:|---:|---:|"


def _saving(off: dict, on: dict, key: str) -> str:
    return f"{1 - on[key] / off[key]:.0%}" if key in off and key in on else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--text", choices=sorted(TEXT_CONFIGS), default="small")
    parser.add_argument("--batch-size", type=int, default=2, help="exams per step in the main table")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"])
    parser.add_argument("--modes", nargs="+", choices=("time", "memory"), default=["time", "memory"])
    parser.add_argument("--roi-sizes", type=int, nargs="+", default=[32, 48, 64, 80])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=("main", "scaling"), default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    base = {"device": args.device, "text": args.text, "repeats": args.repeats, "image_size": args.image_size,
            "batch_size": args.batch_size, "precision": "fp32", "checkpointing": False, "threads": args.threads}
    print(f"device {args.device}, CPUs {os.cpu_count()}, threads {args.threads or 'default'}, text tower {args.text}, "
          f"{REPORT_TOKENS}-token reports, {SIDE_TOKENS}-token side texts")
    if args.only in (None, "main"):
        print(f"\nbatch {args.batch_size} exams, ROI {args.image_size}^3, {args.repeats} timed steps after 1 untimed")
        print(f"| precision | checkpointing | {HEADER}")
        print(f"|---|---|{RULE}")
        results = {}
        for precision in args.precisions:
            for checkpointing in (False, True):
                result = run_configuration({**base, "precision": precision, "checkpointing": checkpointing},
                                           args.modes)
                results[precision, checkpointing] = result
                print(f"| {precision} | {checkpointing} | {_cells(result)}", flush=True)
        print(f"(parameters: {results[args.precisions[0], False]['parameters_m']:.1f} M)")
        for precision in args.precisions:
            off, on = results[precision, False], results[precision, True]
            slower = (f"{statistics.median(on['times']) / statistics.median(off['times']):.2f}"
                      if "times" in off else "n/a")
            print(f"{precision}: checkpointing cuts saved activations by {_saving(off, on, 'saved_activations_mib')}, "
                  f"the live step peak by {_saving(off, on, 'live_step_peak_mib')}, the peak RSS by "
                  f"{_saving(off, on, 'peak_rss_mib')}; step time x{slower}")
    if args.only in (None, "scaling"):
        print(f"\nscaling with the ROI size (batch {args.batch_size} exams, fp32, no checkpointing)")
        print(f"| ROI | {HEADER}")
        print(f"|---|{RULE}")
        for size in args.roi_sizes:
            result = run_configuration({**base, "image_size": size}, args.modes)
            print(f"| {size}^3 | {_cells(result)}", flush=True)
        print(f"\nscaling with the batch size (ROI {args.image_size}^3, fp32, no checkpointing)")
        print(f"| exams per step | {HEADER}")
        print(f"|---:|{RULE}")
        for batch_size in args.batch_sizes:
            result = run_configuration({**base, "batch_size": batch_size}, args.modes)
            print(f"| {batch_size} | {_cells(result)}", flush=True)


if __name__ == "__main__":
    main()
