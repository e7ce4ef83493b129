"""Seconds and peak memory per exam: BiCPLVolumeProcessor vs a plain MONAI chain on the same file.

A full-size synthetic head CT (512 x 512 x 170 voxels at 0.4 x 0.4 x 0.6 mm, int16 NIfTI) is written
to a temporary folder. Each pipeline then runs in its own fresh process, so its peak resident memory
(`VmHWM`) is its own; times are wall-clock seconds per exam, file reading included.

- bicpl: `read_volume` + `BiCPLVolumeProcessor.preprocess_image` (default settings: two 64^3
  ROIs of 48 mm, two HU windows), with and without registration.
- monai: `LoadImage` -> `EnsureChannelFirst` -> `Orientation("RAS")` -> `Spacing` to the ROI
  spacing (0.75 mm) -> `ScaleIntensityRange` (bone window) on the whole volume.

Run on demand (not part of the tests); `--dicom` also times the processor on the same exam
written as a 170-file DICOM series:
    python benchmarks/bench_preprocessing.py --repeats 3 --dicom
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the phantom helper shared with the tests


def _memory_mib(field: str) -> float:
    """`VmHWM` (peak) or `VmRSS` (current) of this process. Unlike `ru_maxrss` the peak is not
    inherited from the parent that wrote the exam, so each child reports its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # non-Linux fallback


def _run_bicpl(path: str, repeats: int, register: bool, queue) -> None:
    from bicpl_hf.processing.image_processing_bicpl import BiCPLVolumeProcessor
    from bicpl_hf.processing.volume_io import read_volume

    processor = BiCPLVolumeProcessor(register=register)
    baseline = _memory_mib("VmRSS")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        values, metadata = processor.preprocess_image(read_volume(path))
        times.append(time.perf_counter() - start)
    queue.put({"times": times, "peak_mib": _memory_mib("VmHWM"), "baseline_mib": baseline,
               "shape": list(values.shape), "registration": metadata[1]["registration"]["status"]})


def _run_monai(path: str, repeats: int, queue) -> None:
    from monai.transforms import Compose, EnsureChannelFirst, LoadImage, Orientation, ScaleIntensityRange, Spacing

    chain = Compose([
        LoadImage(image_only=True),
        EnsureChannelFirst(),
        Orientation(axcodes="RAS"),
        Spacing(pixdim=(0.75, 0.75, 0.75), mode="bilinear"),
        ScaleIntensityRange(a_min=-1300.0, a_max=2700.0, b_min=0.0, b_max=1.0, clip=True),
    ])
    baseline = _memory_mib("VmRSS")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        output = chain(path)
        times.append(time.perf_counter() - start)
    queue.put({"times": times, "peak_mib": _memory_mib("VmHWM"), "baseline_mib": baseline, "shape": list(output.shape)})


def _in_fresh_process(target, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def _write_exam(folder: Path, with_dicom: bool) -> Path:
    import SimpleITK as sitk
    from _phantoms import full_size_exam_image

    start = time.perf_counter()
    image = full_size_exam_image()
    path = folder / "exam_full_size.nii.gz"
    sitk.WriteImage(image, str(path))
    print(f"wrote {path.name}: {image.GetSize()} voxels at {image.GetSpacing()} mm, "
          f"{path.stat().st_size / 2**20:.1f} MiB, in {time.perf_counter() - start:.1f} s")
    if with_dicom:
        from _phantoms import write_dicom_series

        write_dicom_series(image, folder / "exam_dicom")
    return path


def _report(name: str, result: dict) -> float:
    median = statistics.median(result["times"])
    print(f"{name:<22} {median:7.2f} s/exam (min {min(result['times']):.2f}, runs {len(result['times'])}) "
          f"peak RSS {result['peak_mib']:7.0f} MiB (+{result['peak_mib'] - result['baseline_mib']:.0f} over "
          f"imports)  output {result['shape']}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dicom", action="store_true", help="also time the processor on a DICOM series")
    args = parser.parse_args()
    print(f"CPU cores visible: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as folder:
        path = str(_write_exam(Path(folder), args.dicom))
        bicpl = _in_fresh_process(_run_bicpl, path, args.repeats, False)
        registered = _in_fresh_process(_run_bicpl, path, args.repeats, True)
        monai = _in_fresh_process(_run_monai, path, args.repeats)
        dicom_folder = str(Path(folder) / "exam_dicom")
        dicom = _in_fresh_process(_run_bicpl, dicom_folder, args.repeats, False) if args.dicom else None
    if dicom:
        _report("bicpl on DICOM series", dicom)
    ours = _report("bicpl processor", bicpl)
    ours_registered = _report("bicpl + registration", registered)
    print(f"{'':<22} registration status: {registered['registration']}")
    theirs = _report("monai chain", monai)
    print(f"ratio bicpl / monai: {ours / theirs:.2f} (with registration: {ours_registered / theirs:.2f})")


if __name__ == "__main__":
    main()
