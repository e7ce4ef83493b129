"""Which lesions the ear ROIs see: per lesion type, the share of lesion centres inside the fine ROI, the coarse ROI
and either.

Ground truth is the generator's (`export/ground_truth.json`: each ear's lesion centres in world LPS mm); the ROIs
are the processor's (each ear's `index_to_lps_affine` and, with a coarse ROI, `coarse_index_to_lps_affine`). A
centre is inside an ROI when its array index lies in `[0, n - 1]` on every axis; its margin is the distance (mm) to
the nearest face of that box of voxel centres (negative: outside).

    # the ROIs a cached benchmark dataset was built with (every exam; the built data's own metadata)
    python benchmarks/lesions_in_view.py /work/bench/cache/data-<key>
    # its exported DICOMs re-processed with a preset (--max-exams, chosen round-robin over lesion types)
    python benchmarks/lesions_in_view.py /work/bench/cache/data-<key> --preset whole_bone --max-exams 100
    # a fresh cohort, generated into a temporary folder and processed with a preset
    python benchmarks/lesions_in_view.py --generate 24 --size small --preset whole_bone

Prints a markdown table; `--out FILE` (with `--append`) also writes it with the command and the data it came from.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import shlex
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bicpl_hf.synthetic.benchmark_preset import BENCHMARK_ROI, BENCHMARK_ROI_WHOLE_BONE, BenchmarkROI

PRESETS: dict[str, BenchmarkROI] = {"benchmark": BENCHMARK_ROI, "whole_bone": BENCHMARK_ROI_WHOLE_BONE}
BUILT = "built"  # not a preset: read the ROIs of the cached built dataset


def margin_mm(affine, shape, point) -> float:
    """How far (mm) the LPS `point` lies inside the ROI grid of `shape` voxels that `affine` maps (d, h, w) indices
    from: the distance to the nearest face of the box of voxel centres, negative outside."""
    affine = np.asarray(affine, dtype=float)
    index = np.linalg.solve(affine[:3, :3], np.asarray(point, dtype=float) - affine[:3, 3])
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    return float(np.min(np.minimum(index, np.asarray(shape) - 1 - index) * spacing))


def in_view(ear: dict, point) -> tuple[float, float | None]:
    """Margins (mm) of `point` in the fine ROI and in the coarse ROI (None without one) of one ear's metadata."""
    fine = margin_mm(ear["index_to_lps_affine"], ear["roi_shape"], point)
    coarse = ear.get("coarse_index_to_lps_affine")
    return fine, None if coarse is None else margin_mm(coarse, ear["roi_shape"], point)


def tally(pairs: Iterable[tuple[dict, list[dict]]]) -> dict[str, dict[str, int]]:
    """Count, per lesion type, the centres, how many of them each ROI holds and the smallest coarse-ROI margin (mm).

    `pairs`: `(ground-truth exam record, that exam's ear metadata [left, right])`.
    """
    counts: dict[str, dict] = defaultdict(lambda: {"n": 0, "fine": 0, "coarse": 0, "either": 0,
                                                   "coarse_margin_mm": math.inf})
    for truth, ears in pairs:
        for ear in ears:
            for kind, lesion in ((truth.get("lesions") or {}).get(ear["side"]) or {}).items():
                if lesion.get("centre_world") is None:  # nothing was painted (e.g. outside the scan)
                    continue
                fine_margin, coarse_margin = in_view(ear, lesion["centre_world"])
                fine, coarse = fine_margin >= -1e-6, coarse_margin is not None and coarse_margin >= -1e-6
                row = counts[kind]
                row["n"] += 1
                row["fine"] += fine
                row["coarse"] += coarse
                row["either"] += fine or coarse
                if coarse_margin is not None:
                    row["coarse_margin_mm"] = min(row["coarse_margin_mm"], coarse_margin)
    return dict(counts)


def markdown_table(counts: dict[str, dict], *, coarse: bool) -> str:
    if coarse:
        lines = ["| lesion type | centres | in fine ROI | in coarse ROI | in either "
                 "| closest to a coarse-ROI face (mm) |",
                 "|---|---:|---:|---:|---:|---:|"]
    else:
        lines = ["| lesion type | centres | in fine ROI |", "|---|---:|---:|"]
    for kind in sorted(counts):
        row = counts[kind]
        cells = [f"{row[k] / row['n']:.0%}" for k in (("fine", "coarse", "either") if coarse else ("fine",))]
        if coarse:
            cells.append(f"{row['coarse_margin_mm']:.1f}")
        lines.append(f"| {kind} | {row['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def out_of_view(counts: dict[str, dict]) -> list[str]:
    return [f"{kind} ({row['either']}/{row['n']})" for kind, row in sorted(counts.items()) if row["either"] < row["n"]]


# ----------------------------------------------------------------------------- the ROIs of a built dataset


def built_pairs(cache: Path, truth: dict) -> list[tuple[dict, list[dict]]]:
    """Ground truth and built metadata linked through the export sheet's rows and the build report."""
    import openpyxl

    from bicpl_hf.data.splits import load_built_dataset

    dataset = load_built_dataset(cache / "built")
    metadata = {}
    for split in dataset.values():
        for key, meta in zip(split["exam_key"], split["ear_metadata"]):
            metadata[key] = json.loads(meta) if isinstance(meta, str) else meta
    book = openpyxl.load_workbook(cache / "export" / "export.xlsx", read_only=True)
    exam_id_of_row = {number: row[0] for number, row in enumerate(book.active.iter_rows(values_only=True), start=1)}
    report = json.loads((cache / "built" / "build_report.json").read_text(encoding="utf-8"))
    key_of_exam = {str(exam_id_of_row[r["row"]]): r["exam_key"] for r in report["rows"] if r.get("exam_key")}
    return [(exam, metadata[key_of_exam[exam["exam_id"]]]) for exam in truth["exams"]
            if key_of_exam.get(exam["exam_id"]) in metadata]


# ----------------------------------------------------------------------------- re-processing the exported DICOMs


def select_exams(exams: list[dict], max_exams: int | None) -> list[dict]:
    """Exams with a bone series; at most `max_exams`, taken round-robin over lesion types (rarest first) so rare
    types are not left out, then in export order."""
    exams = [e for e in exams if any(s.get("role") == "bone" for s in e.get("series") or [])]
    if max_exams is None or max_exams >= len(exams):
        return exams
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, exam in enumerate(exams):
        for kind in {k for side in (exam.get("lesions") or {}).values() for k in side}:
            by_kind[kind].append(i)
    queues = [by_kind[k] for k in sorted(by_kind, key=lambda k: (len(by_kind[k]), k))]
    chosen: dict[int, None] = {}
    while len(chosen) < max_exams and any(queues):
        for queue in queues:
            while queue and queue[0] in chosen:
                queue.pop(0)
            if queue and len(chosen) < max_exams:
                chosen[queue.pop(0)] = None
    for i in range(len(exams)):  # too few lesions: fill up with the rest
        if len(chosen) >= max_exams:
            break
        chosen.setdefault(i, None)
    return [exams[i] for i in sorted(chosen)]


_PROCESSOR = None


def _process_job(series_dir: str, kwargs: dict) -> list[dict] | str:
    """One exam's ear metadata, or the error that stopped it."""
    global _PROCESSOR
    from bicpl_hf.processing.image_processing_bicpl import BiCPLVolumeProcessor
    from bicpl_hf.processing.volume_io import read_volume

    if _PROCESSOR is None:
        _PROCESSOR = BiCPLVolumeProcessor(**kwargs)
    try:
        return _PROCESSOR.preprocess_image(read_volume(series_dir))[1]
    except Exception as error:  # noqa: BLE001 - a refused exam is counted and named, not fatal
        return f"{type(error).__name__}: {error}"


def reprocessed_pairs(export_root: Path, exams: list[dict], roi: BenchmarkROI, num_proc: int = 1):
    """Process each exam's bone series with `roi`'s processor settings; returns (pairs, failures)."""
    jobs = [str(export_root / next(s for s in e["series"] if s["role"] == "bone")["dir"]) for e in exams]
    kwargs = [roi.processor_kwargs()] * len(jobs)
    if num_proc > 1:
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        with ProcessPoolExecutor(max_workers=num_proc, mp_context=context) as pool:
            results = list(pool.map(_process_job, jobs, kwargs, chunksize=4))
    else:
        results = [_process_job(job, kw) for job, kw in zip(jobs, kwargs)]
    pairs = [(exam, meta) for exam, meta in zip(exams, results) if not isinstance(meta, str)]
    failures = [f"{exam['exam_id']}: {meta}" for exam, meta in zip(exams, results) if isinstance(meta, str)]
    return pairs, failures


def _describe(roi: BenchmarkROI | None) -> str:
    if roi is None:
        return "the ROIs stored in the built dataset"
    text = f"fine ROI {roi.roi_shape} voxels over {roi.roi_size_mm} mm ({roi.spacing_mm} mm voxels)"
    if roi.coarse_roi_size_mm is not None:
        text += (f"; coarse ROI {roi.roi_shape} voxels over {roi.coarse_roi_size_mm} mm ({roi.coarse_spacing_mm} mm "
                 f"voxels), centre offset {roi.coarse_roi_offset_mm} mm (superior, posterior, lateral)")
    return text


def _measuring_args(argv: list[str]) -> list[str]:
    """The command-line arguments without those that only say where the table goes."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--out", "--title"):
            skip = True
        elif arg != "--append" and not arg.startswith(("--out=", "--title=")):
            kept.append(arg)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", nargs="?", type=Path,
                        help="a cached benchmark folder (holding export/ and, for --preset built, built/)")
    parser.add_argument("--preset", default=None, choices=[BUILT, *PRESETS],
                        help="ROIs to measure: 'built' (the cache's built dataset; default with a cache) or a preset "
                             "to re-process the exported DICOMs with (default 'whole_bone' with --generate)")
    parser.add_argument("--max-exams", type=int, default=None, help="re-process at most this many exams")
    parser.add_argument("--generate", type=int, default=None, metavar="N", help="generate a fresh cohort of N exams")
    parser.add_argument("--size", default="small", help="synthetic size of a generated cohort")
    parser.add_argument("--seed", type=int, default=0, help="seed of a generated cohort")
    parser.add_argument("--num-proc", type=int, default=1, help="worker processes (generation and processing)")
    parser.add_argument("--title", default=None, help="heading of the table in --out")
    parser.add_argument("--out", type=Path, default=None, help="also write the table (markdown) here")
    parser.add_argument("--append", action="store_true", help="append to --out instead of replacing it")
    args = parser.parse_args(argv)
    if (args.cache is None) == (args.generate is None):
        parser.error("give either a cached benchmark folder or --generate N")
    preset = args.preset or (BUILT if args.cache is not None else "whole_bone")
    if preset == BUILT and args.cache is None:
        parser.error("--preset built needs a cached benchmark folder")

    started = time.perf_counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lesions_in_view_") as scratch:
        if args.generate is not None:
            from bicpl_hf.synthetic.export import make_synthetic_export

            export_root = make_synthetic_export(Path(scratch) / "export", n_exams=args.generate, size=args.size,
                                                seed=args.seed, num_proc=args.num_proc).root
            source = f"a fresh cohort: {args.generate} exams, size {args.size!r}, seed {args.seed}"
        else:
            export_root = args.cache / "export"
            source = f"`{args.cache}`"
        truth = json.loads((export_root / "ground_truth.json").read_text(encoding="utf-8"))
        roi = None if preset == BUILT else PRESETS[preset]
        if roi is None:
            pairs = built_pairs(args.cache, truth)
        else:
            exams = select_exams(truth["exams"], args.max_exams)
            pairs, failures = reprocessed_pairs(export_root, exams, roi, args.num_proc)
    counts = tally(pairs)
    has_coarse = any("coarse_index_to_lps_affine" in ear for _, ears in pairs for ear in ears)
    table = markdown_table(counts, coarse=has_coarse)
    missing = out_of_view(counts)
    refused = f", {len(failures)} refused by the processor" if failures else ""
    summary = [
        f"Data: {source}; {len(pairs)} exams ({2 * len(pairs)} ears) measured{refused}; "
        f"{time.perf_counter() - started:.0f} s.",
        f"ROIs: {_describe(roi)}.",
        "Not fully in view: " + (", ".join(missing) if missing else "none") + ".",
    ]
    print(table)
    print("\n".join(summary))
    for failure in failures:
        print(f"refused: {failure}", file=sys.stderr)
    if args.out is not None:
        command = "python benchmarks/lesions_in_view.py " + " ".join(map(shlex.quote, _measuring_args(
            argv if argv is not None else sys.argv[1:])))
        section = [f"## {args.title or preset}", "", f"`{command}`", "", *[f"{line}  " for line in summary], "",
                   table, ""]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a" if args.append else "w", encoding="utf-8") as handle:
            handle.write("\n".join(section) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
