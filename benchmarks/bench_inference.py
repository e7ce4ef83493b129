"""End-to-end inference seconds per exam, DICOM folder -> per-ear probabilities, split into read / preprocess / model.

A full-size synthetic head CT (512 x 512 x 170 voxels at 0.4 x 0.4 x 0.6 mm, the phantom of the tests) is written as
a 170-file DICOM series to a temporary folder. Each repeat then runs what `bicpl_hf.zero_shot.diagnose` does for one
exam, timing each part:

- read: `read_volume(folder)` (series scan and choice, slice ordering and geometry checks, SimpleITK read);
- preprocess: `BiCPLVolumeProcessor().preprocess_image` (ear localisation, two 64^3 ROIs, mirroring, HU windows);
- model: `BiCPLModel` forward in eval mode on `(1, 2, 2, 64, 64, 64)`, softmax over the prototypes and the A3B map
  upsampled to the ROI (the text tower is not run: the class prototypes are computed once, not per exam), in fp32
  and under bf16 autocast.

The model is the default vision config with a small text tower (it does not affect the timing). One warm-up exam
is run first and not counted.

    python benchmarks/bench_inference.py --repeats 5
    python benchmarks/bench_inference.py --device cuda   # model part on a GPU
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the phantom helper shared with the tests
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bicpl_hf import BiCPLConfig, BiCPLModel, BiCPLVolumeProcessor, read_volume  # noqa: E402
from bicpl_hf.zero_shot import upsampled_asymmetry_map  # noqa: E402

SMALL_TEXT_CONFIG = {"model_type": "bert", "vocab_size": 21128, "hidden_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "intermediate_size": 128}


def write_exam(folder: Path) -> Path:
    """A full-size head CT phantom with a lesion in the left middle ear, as a DICOM series; returns its folder."""
    from _phantoms import full_size_exam_image, write_dicom_series

    start = time.perf_counter()
    image = full_size_exam_image()
    series = folder / "exam_dicom"
    write_dicom_series(image, series)
    size = sum(p.stat().st_size for p in series.iterdir()) / 2**20
    print(f"wrote {series.name}: {image.GetSize()} voxels, {len(list(series.iterdir()))} files, {size:.0f} MiB, "
          f"in {time.perf_counter() - start:.1f} s")
    return series


def model_seconds(model: BiCPLModel, pixel_values: torch.Tensor, bf16: bool) -> tuple[float, np.ndarray]:
    """Forward + softmax + upsampled asymmetry map, as `diagnose` does; returns seconds and the probabilities."""
    device = pixel_values.device
    start = time.perf_counter()
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        output = model(pixel_values=pixel_values)
        probabilities = output.logits.float().softmax(-1).cpu().numpy()
        upsampled_asymmetry_map(output.asymmetry_maps, pixel_values.shape[-3:]).cpu()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, probabilities


def one_exam(folder: Path, processor: BiCPLVolumeProcessor, model: BiCPLModel, device: torch.device) -> dict:
    start = time.perf_counter()
    loaded = read_volume(folder)
    read = time.perf_counter() - start
    start = time.perf_counter()
    values, _ = processor.preprocess_image(loaded)
    preprocess = time.perf_counter() - start
    pixel_values = torch.from_numpy(values)[None].to(device)
    fp32, probabilities = model_seconds(model, pixel_values, bf16=False)
    bf16, probabilities_bf16 = model_seconds(model, pixel_values, bf16=True)
    return {"read": read, "preprocess": preprocess, "model_fp32": fp32, "model_bf16": bf16,
            "bf16_max_probability_difference": float(np.abs(probabilities - probabilities_bf16).max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, CPUs {os.cpu_count()}")
    torch.manual_seed(0)
    model = BiCPLModel(BiCPLConfig(text_config=SMALL_TEXT_CONFIG)).to(device).eval()
    processor = BiCPLVolumeProcessor()
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_exam(Path(tmp))
        one_exam(folder, processor, model, device)  # warm-up
        runs = [one_exam(folder, processor, model, device) for _ in range(args.repeats)]
    parts = ("read", "preprocess", "model_fp32", "model_bf16")
    medians = {part: statistics.median(run[part] for run in runs) for part in parts}
    total = sum(medians[p] for p in ("read", "preprocess", "model_fp32"))
    print(f"\n{args.repeats} exams after 1 warm-up; seconds per exam (median, min)")
    print("| part | median s | min s | share of fp32 total |")
    print("|---|---:|---:|---:|")
    for part in parts:
        share = f"{medians[part] / total:.0%}" if part != "model_bf16" else "(instead of model fp32)"
        print(f"| {part} | {medians[part]:.3f} | {min(run[part] for run in runs):.3f} | {share} |")
    print(f"| total (read + preprocess + model fp32) | {total:.3f} | | 100% |")
    print(f"exams per hour on this machine: {3600 / total:.0f}; bf16 autocast changes the probabilities by at most "
          f"{max(run['bf16_max_probability_difference'] for run in runs):.1e}")


if __name__ == "__main__":
    main()
