# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""`bicpl build`: a de-identified Bi-CPL dataset from a hospital export (exam sheet + DICOM tree).

Writes `<output>/dataset` (a `datasets.DatasetDict` with train / validation / test), `<output>/preprocessor_config.json`
and `<output>/build_report.{json,csv}`; see `bicpl_hf.data.builder` for the rules and the output columns.
`datasets_scripts/build_dataset.py` is the same command.

The salt keys every hash (exam, patient, series). Exam ids are short sequential numbers, so the salt must be a long
secret kept out of the dataset: pass it with `--salt` or the `BICPL_SALT` environment variable (which stays out of
the shell history). `--demo-salt` uses a public salt and is accepted only for the package's synthetic export (a
folder holding its `ground_truth.json`).

Examples:
    BICPL_SALT=$(cat ~/secret-salt) bicpl build --export export.xlsx --dicom-root /data/pacs --output built --num-proc 8
    bicpl build --export synthetic/export.xlsx --dicom-root synthetic/dicom --output built-demo --demo-salt \
        --roi-shape 32 32 32
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

# Only what the options need: `bicpl --help` imports this module; the builder is imported when it runs.
from ..data.deidentify import DEMO_SALT
from ..data.export_table import DEFAULT_SHEET_NAME, ExportColumns
from ..processing.dicom_series import DEFAULT_MAX_SLICE_THICKNESS_MM

if TYPE_CHECKING:
    from ..processing.image_processing_bicpl import BiCPLVolumeProcessor

SYNTHETIC_MARKER = "ground_truth.json"


def add_build_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The builder's options (`bicpl build` and `datasets_scripts/build_dataset.py` share them)."""
    parser.add_argument("--export", required=True, type=Path, help="the exam sheet (.xlsx, or .csv in UTF-8/GB18030)")
    parser.add_argument("--dicom-root", required=True, type=Path, help="<root>/<YYYY-MM-DD>/<exam id>/<series>/*.dcm")
    parser.add_argument("--output", required=True, type=Path, help="output folder (created; resumable)")
    sheet = parser.add_argument_group("the sheet")
    sheet.add_argument("--sheet", default=DEFAULT_SHEET_NAME, help="xlsx sheet name (default: %(default)s)")
    sheet.add_argument("--encoding", default=None, help="force a csv encoding instead of detecting it")
    defaults = ExportColumns()
    for name in ("exam_id", "exam_time", "left_label", "right_label", "findings", "impression"):
        sheet.add_argument(f"--col-{name.replace('_', '-')}", dest=f"col_{name}", default=getattr(defaults, name),
                           help="column header (default: %(default)s)")
    volumes = parser.add_argument_group("preprocessing (either --processor or the ROI settings)")
    volumes.add_argument("--processor", type=Path, help="folder with a saved BiCPLVolumeProcessor")
    volumes.add_argument("--roi-shape", type=int, nargs=3, metavar=("D", "H", "W"), help="ROI size in voxels")
    volumes.add_argument("--roi-size-mm", type=float, nargs=3, metavar=("D", "H", "W"), help="ROI size in mm")
    salts = parser.add_mutually_exclusive_group()
    salts.add_argument("--salt", help="secret salt of the hashes (default: the BICPL_SALT environment variable)")
    salts.add_argument("--demo-salt", action="store_true", help="public salt; only for the synthetic export")
    parser.add_argument("--seed", type=int, default=0, help="seed of the patient-level split (default: 0)")
    parser.add_argument("--num-proc", type=int, default=1, help="processes converting exams (default: 1)")
    parser.add_argument("--max-slice-thickness-mm", type=float, default=DEFAULT_MAX_SLICE_THICKNESS_MM,
                        help="refuse series with thicker slices (default %(default)s mm, for temporal-bone work)")
    parser.add_argument("--allow-thick-slices", action="store_true",
                        help="use a too-thick series when an exam has no thin one (counted in the build report)")
    parser.add_argument("--store-volumes", action="store_true", help="also keep each whole CT (datasets.Nifti)")
    parser.add_argument("--clean-work", action="store_true", help="delete the resume cache <output>/.work after success")
    parser.add_argument("--push-to-hub", metavar="REPO", help="push the dataset (private) and its processor to REPO")
    parser.add_argument("--no-progress", "--quiet", dest="no_progress", action="store_true", help="no progress bars")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bicpl build", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    return add_build_arguments(parser).parse_args(argv)


def _processor(args: argparse.Namespace) -> BiCPLVolumeProcessor:
    from ..processing.image_processing_bicpl import BiCPLVolumeProcessor

    if args.processor is not None:
        if args.roi_shape or args.roi_size_mm:
            raise ValueError("give either --processor or --roi-shape/--roi-size-mm, not both")
        return BiCPLVolumeProcessor.from_pretrained(str(args.processor))
    settings = {}
    if args.roi_shape:
        settings["roi_shape"] = args.roi_shape
    if args.roi_size_mm:
        settings["roi_size_mm"] = args.roi_size_mm
    return BiCPLVolumeProcessor(**settings)


def _salt(args: argparse.Namespace) -> str:
    if args.demo_salt:
        if not (args.export.parent / SYNTHETIC_MARKER).is_file():
            raise ValueError(f"--demo-salt is only for the synthetic export (a folder holding "
                             f"{SYNTHETIC_MARKER}); real data needs a secret --salt or BICPL_SALT")
        return DEMO_SALT
    salt = args.salt or os.environ.get("BICPL_SALT")
    if not salt:
        raise ValueError("pass a secret --salt (or set BICPL_SALT); --demo-salt is only for synthetic data")
    return salt


def _upload_file(path: Path, repo: str) -> None:
    from huggingface_hub import HfApi

    HfApi().upload_file(path_or_fileobj=str(path), path_in_repo=path.name, repo_id=repo, repo_type="dataset")


def run_build(args: argparse.Namespace) -> int:
    """Build the dataset the parsed options describe; prints the totals. Bad input raises a `ValueError` /
    `OSError` naming the file, row or option."""
    from ..data.builder import build_dataset
    from ..data.splits import load_built_dataset

    if args.no_progress:  # --quiet: the build's own warnings stay, INFO lines and library chatter go
        from .devices import quiet_libraries

        quiet_libraries()
    logging.basicConfig(level=logging.WARNING if args.no_progress else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    salt = _salt(args)
    columns = ExportColumns(**{name[4:]: value for name, value in vars(args).items() if name.startswith("col_")})
    result = build_dataset(
        args.export, args.dicom_root, args.output, processor=_processor(args), salt=salt, seed=args.seed,
        columns=columns, sheet_name=args.sheet, encoding=args.encoding, num_proc=args.num_proc,
        store_volumes=args.store_volumes, progress=not args.no_progress, clean_work=args.clean_work,
        max_slice_thickness_mm=args.max_slice_thickness_mm, allow_thick_slices=args.allow_thick_slices,
    )
    totals = result.totals
    print(f"kept {totals['rows_kept']} of {totals['rows_in']} rows ({totals['rows_skipped']} skipped: "
          f"{totals['rows_skipped_by_reason']}); {totals['series_kept']} of {totals['series_found']} series used; "
          f"exams per split {totals['exams_per_split']}")
    print(f"dataset: {result.dataset_dir}\nreport: {result.output_dir / 'build_report.json'}")
    if args.push_to_hub:
        load_built_dataset(result.output_dir).push_to_hub(args.push_to_hub, private=True)
        for name in ("preprocessor_config.json", "build_report.json"):
            _upload_file(result.output_dir / name, args.push_to_hub)
        print(f"pushed to the private dataset repo {args.push_to_hub}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`bicpl build ...` without the `bicpl` front end (as `datasets_scripts/build_dataset.py` runs it): one
    `error: ...` line and status 2 on bad input (`--debug`: the traceback)."""
    from .errors import run_command

    return run_command(lambda rest: run_build(parse_args(rest)), argv)


__all__ = ["SYNTHETIC_MARKER", "add_build_arguments", "main", "parse_args", "run_build"]
