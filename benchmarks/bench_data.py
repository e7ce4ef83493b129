"""Examples per second into training: the built dataset through a `DataLoader`, against reading NIfTI files.

Three ways to feed `BiCPLDataCollator` batches of `pixel_values` `(B, 2, 2, 64, 64, 64)` float32 plus ear codes:

- dataset: a `datasets.Dataset` saved with `save_to_disk`, `pixel_values` an `Array5D((2, 2, 64, 64, 64),
  "float16")` column like `bicpl_hf.data.builder` writes, read back with `load_from_disk` in numpy format (memory
  mapped Arrow);
- roi_nifti: the same preprocessed ear ROIs, one float32 `.nii.gz` per exam (4 volumes: ear x window), read with
  SimpleITK: a folder of preprocessed crops, the usual MONAI-style layout;
- raw_exam: no build step: each example reads the full-size exam NIfTI (512 x 512 x 170, int16 `.nii.gz`) and runs
  `BiCPLVolumeProcessor` on it, as a dataset would that preprocesses on the fly.

The ROI contents are real processor output (the test phantom) plus noise per exam, so compression behaves like CT.
Each loader runs `--epochs` full passes with `num_workers` 0 and 2 (worker start-up included, as in an epoch
without persistent workers); the files sit in the page cache after the first pass for all three alike.

    python benchmarks/bench_data.py --n-exams 64 --n-raw-exams 8
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
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from torch.utils.data import Dataset as TorchDataset  # noqa: E402

from bicpl_hf import BiCPLVolumeProcessor, read_volume  # noqa: E402
from bicpl_hf.data import BiCPLDataCollator  # noqa: E402

ROI = 64
CODES = [(1, 5), (5, 2), (5, 5), (3, 3)]


def reference_rois() -> np.ndarray:
    """`(2, 2, 64, 64, 64)` float32 ear ROIs of the test phantom, from the real processor."""
    from _phantoms import make_head_phantom

    phantom = make_head_phantom(lesion_side="left", seed=0)
    values, _ = BiCPLVolumeProcessor().preprocess_image(phantom.to_sitk())
    return values


def exam_rois(reference: np.ndarray, index: int) -> np.ndarray:
    rng = np.random.default_rng(index)
    return np.clip(reference + rng.normal(0.0, 0.01, reference.shape).astype(np.float32), 0.0, 1.0)


def build_arrow_dataset(folder: Path, reference: np.ndarray, n_exams: int) -> Path:
    from datasets import Array5D, Dataset, Features, Value

    features = Features({"pixel_values": Array5D((2, 2, ROI, ROI, ROI), "float16"), "report": Value("string"),
                         "left_code": Value("int64"), "right_code": Value("int64")})

    def rows():
        for i in range(n_exams):
            left, right = CODES[i % len(CODES)]
            yield {"pixel_values": exam_rois(reference, i).astype(np.float16), "report": "影像所见：……",
                   "left_code": left, "right_code": right}

    path = folder / "dataset"
    Dataset.from_generator(rows, features=features, cache_dir=str(folder / "cache")).save_to_disk(str(path))
    return path


def write_roi_niftis(folder: Path, reference: np.ndarray, n_exams: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(n_exams):
        image = sitk.GetImageFromArray(exam_rois(reference, i).reshape(4, ROI, ROI, ROI))  # 4D: (ear x window) first
        path = folder / f"exam_{i:04d}.nii.gz"
        sitk.WriteImage(image, str(path))
        paths.append(path)
    return paths


def write_raw_exam(folder: Path) -> Path:
    from _phantoms import full_size_exam_image

    path = folder / "exam_full_size.nii.gz"
    sitk.WriteImage(full_size_exam_image(), str(path))
    return path


class RoiNiftiDataset(TorchDataset):
    """Preprocessed ROIs, one `(4, D, H, W)` NIfTI per exam."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        values = sitk.GetArrayFromImage(sitk.ReadImage(str(self.paths[index])))
        left, right = CODES[index % len(CODES)]
        return {"pixel_values": values.reshape(2, 2, ROI, ROI, ROI), "left_code": left, "right_code": right}


class RawExamDataset(TorchDataset):
    """Full-size exams preprocessed on the fly (`n_exams` items, all reading `path`)."""

    def __init__(self, path: Path, n_exams: int):
        self.path, self.n_exams = path, n_exams
        self.processor = BiCPLVolumeProcessor()

    def __len__(self) -> int:
        return self.n_exams

    def __getitem__(self, index: int) -> dict:
        values, _ = self.processor.preprocess_image(read_volume(self.path))
        left, right = CODES[index % len(CODES)]
        return {"pixel_values": values, "left_code": left, "right_code": right}


def examples_per_second(dataset, num_workers: int, epochs: int, batch_size: int) -> list[float]:
    collator = BiCPLDataCollator(processor=None, include_text=False)  # volumes only: no tokenizer needed
    rates = []
    for _ in range(epochs):
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collator)
        start = time.perf_counter()
        count = 0
        for batch in loader:
            assert batch["pixel_values"].shape[1:] == (2, 2, ROI, ROI, ROI)
            count += batch["pixel_values"].shape[0]
        rates.append(count / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-exams", type=int, default=64)
    parser.add_argument("--n-raw-exams", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    from datasets import load_from_disk

    torch.set_num_threads(1)  # the collator does no maths; keep the comparison about I/O and decoding
    print(f"CPUs {os.cpu_count()}, batch {args.batch_size}, {args.epochs} epochs per setting")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        reference = reference_rois()
        arrow_path = build_arrow_dataset(folder, reference, args.n_exams)
        roi_paths = write_roi_niftis(folder / "rois", reference, args.n_exams)
        raw_path = write_raw_exam(folder)
        arrow_mib = sum(p.stat().st_size for p in arrow_path.rglob("*") if p.is_file()) / 2**20
        nifti_mib = sum(p.stat().st_size for p in roi_paths) / 2**20
        print(f"wrote {args.n_exams} exams: Arrow {arrow_mib:.0f} MiB, ROI NIfTI {nifti_mib:.0f} MiB; raw exam "
              f"{raw_path.stat().st_size / 2**20:.0f} MiB; in {time.perf_counter() - start:.0f} s")
        dataset = load_from_disk(str(arrow_path)).with_format("numpy", columns=["pixel_values"],
                                                              output_all_columns=True)
        sources = {
            "dataset (Arrow, float16)": dataset,
            "roi_nifti (.nii.gz, float32)": RoiNiftiDataset(roi_paths),
            "raw_exam (.nii.gz + processor)": RawExamDataset(raw_path, args.n_raw_exams),
        }
        print("\n| source | workers | examples/s median | examples/s max |")
        print("|---|---:|---:|---:|")
        medians = {}
        for name, source in sources.items():
            for workers in args.workers:
                rates = examples_per_second(source, workers, args.epochs, args.batch_size)
                medians[name, workers] = statistics.median(rates)
                print(f"| {name} | {workers} | {medians[name, workers]:.1f} | {max(rates):.1f} |", flush=True)
    names = list(sources)
    for workers in args.workers:
        print(f"workers {workers}: dataset / roi_nifti x{medians[names[0], workers] / medians[names[1], workers]:.1f}, "
              f"dataset / raw_exam x{medians[names[0], workers] / medians[names[2], workers]:.0f}")


if __name__ == "__main__":
    main()
