# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""`bicpl diagnose`: per-ear probabilities, the top class per ear and an overlay picture for each exam.

An exam is a volume file (NIfTI / NRRD / MHA), a DICOM series folder, or a study folder of series
(`<exam>/<series>/*.dcm`: the series is chosen as the dataset builder chooses it: usable axial CT, bone kernel, most
slices; a scout is passed over). A PATH may also be a folder of exams at any depth, e.g. the export tree
`<root>/<YYYY-MM-DD>/<exam id>/<series id>`, or a mixture. Exams are named after their folder (the exam id, not the
series) or file; a name found twice (the same exam id under two dates) is prefixed with its parent folder. They are
diagnosed `--batch-size` at a time, with a progress bar.

An exam that cannot be read (a broken slice, only a scout, ears not found) is skipped with its reason; the run ends
with a summary line and status 0 when at least one exam was diagnosed (2 when none, or with `--strict` when any was
skipped).

Classes: the model's own by default; `--labels 胆脂瘤,正常,...` names diseases of the knowledge base (Chinese or
English, resolved to its prompt ensembles); `--prompts FILE` is a JSON object of class code -> prompt list (or
-> {"name": ..., "prompts": [...]}) of free text. Either is encoded as the model was trained to score a prompt (its
`config.prompt_style`: composed into findings for a Bi-CPL v2 model), as the pipeline and the benchmark do.

Writes `<output>/predictions.json` (one entry per exam: `status` "diagnosed" or "skipped", `reason`, `warnings`, e.g.
a tie in the series choice, and the per-ear results), `<output>/predictions.csv` (one row per ear, one row per
skipped exam) and `<output>/overlays/<exam>.png` (axial slices of both ears with the asymmetry map). Both prediction
files are rewritten after each batch, so an interrupted run keeps what it did; no empty folder is left behind.

Example:
    $ bicpl diagnose scans/ --model runs/bicpl/final --labels 胆脂瘤,胆固醇肉芽肿,正常 --output diagnosis/
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
from pathlib import Path

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
EXIT_NONE_DIAGNOSED = 2


def find_exams(paths: list[str]) -> list[Path]:
    """Every exam under `paths` (see `bicpl_hf.data.exam_discovery.find_exams`, which also names them)."""
    from ..data.exam_discovery import find_exams as discover

    return [exam.path for exam in discover(paths).exams]


def read_class_prompts(path: str) -> tuple[dict[int, list[str]], dict[int, str]]:
    """`--prompts FILE`: {"code": ["prompt", ...]} or {"code": {"name": "...", "prompts": [...]}}."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"--prompts {path}: cannot read a JSON object ({error})") from error
    if not isinstance(data, dict) or not data:
        raise ValueError(f"--prompts {path}: expected a non-empty JSON object of class code -> prompts")
    prompts, names = {}, {}
    for key, value in data.items():
        if not str(key).strip().lstrip("-").isdigit():
            raise ValueError(f"--prompts {path}: key {key!r} is not an integer class code")
        code = int(key)
        if isinstance(value, dict):
            names[code] = str(value.get("name", code))
            value = value.get("prompts")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(p, str) and p.strip() for p in value):
            raise ValueError(f"--prompts {path}: class {key} needs a non-empty list of prompt strings, got {value!r}")
        prompts[code] = value
    return prompts, names


def series_tie_warning(choice, exam_folder: Path) -> str | None:
    """A warning when the chosen series ranked the same as another (the reader broke the tie by folder and UID)."""
    if choice is None:
        return None
    tied = [r.series for r in choice.rejected if "tie broken" in r.reason]
    if not tied:
        return None

    def where(info) -> str:
        folder = Path(info.folder)
        place = "the exam folder" if folder == exam_folder else f"folder '{folder.name}'"
        return f"series {info.series_uid} in {place} ('{info.description}', {info.num_slices} slices)"

    others = "; ".join(where(s) for s in tied)
    return (f"series choice was a tie: {where(choice.chosen)} was used, but {others} ranked the same (plane, kernel, "
            "number of slices); the tie was broken by folder and series UID: check the intended series was read")


def _read_exam(path: Path, processor):
    """`(pixel_values (2, C, D, H, W), ear_metadata)` of one exam; raises when the exam cannot be read."""
    import SimpleITK as sitk

    from ..processing.volume_io import read_volume

    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # the reason is in the error; no ITK chatter per slice
    try:
        loaded = read_volume(path)
        tie = series_tie_warning(loaded.series_choice, path)
        if tie:
            loaded.warnings.append(tie)
        image_processor = getattr(processor, "image_processor", processor)
        return image_processor.preprocess_image(loaded)
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)


def _skip_reason(error: Exception, exam: Path) -> str:
    """The first line of the error, with the exam's own path shortened to `<exam>` (its `path` is beside it)."""
    from ..processing.ear_plausibility import EarLocalizationError
    from ..processing.volume_io import VolumeReadError

    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = lines[0] if lines else type(error).__name__
    message = message.replace(str(exam), "<exam>")
    if isinstance(error, EarLocalizationError):
        return f"could not locate both ears: {message}"
    if isinstance(error, VolumeReadError):
        return f"unreadable: {message}"
    return f"could not be processed ({type(error).__name__}): {message}"


def run_diagnose(args: argparse.Namespace) -> int:
    """Handler of `bicpl diagnose`."""
    import numpy as np
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModel, AutoProcessor
    from transformers.utils.logging import disable_progress_bar

    from ..data.exam_discovery import find_exams as discover
    from ..publishing.visualization import save_ear_overlay
    from ..zero_shot.candidate_labels import candidate_label_prompts
    from ..zero_shot.pipeline import diagnose_pixel_values, resolve_classes

    if args.prompts and args.labels:
        raise ValueError("give either --prompts FILE or --labels NAMES, not both")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    labels = [label.strip() for label in re.split(r"[,，]", args.labels) if label.strip()] if args.labels else None
    if labels is not None:
        try:
            candidate_label_prompts(labels)  # an unknown name fails here, before exams are searched
        except ValueError as error:  # the Python API's advice (class_prompts=...) in the command line's words
            message = re.sub(r"For free text use class_prompts=.*", "For free text give --prompts FILE instead "
                             "(a JSON file of class code -> prompts, e.g. {\"1\": [\"...\"]})", str(error))
            raise ValueError(f"--labels: {message}") from None
    discovery = discover(args.paths)
    exams = discovery.exams
    model_dir = Path(args.model)
    if not (model_dir / "config.json").is_file() and not (model_dir / "adapter_config.json").is_file():
        raise FileNotFoundError(f"--model {model_dir} is not a saved Bi-CPL model: config.json is missing")
    class_prompts, class_names = read_class_prompts(args.prompts) if args.prompts else (None, None)
    if args.quiet:
        disable_progress_bar()
    if (model_dir / "config.json").is_file():
        model = AutoModel.from_pretrained(model_dir, dtype=getattr(torch, args.dtype))
    else:  # a checkpoint of a `bicpl train --lora_r` run: peft's adapter on the run's base model
        from ..text.lora import load_lora_checkpoint

        model = load_lora_checkpoint(model_dir, dtype=getattr(torch, args.dtype))
    model = model.to(args.device).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    codes, class_names, prototypes, findings = resolve_classes(model, processor.tokenizer, class_prompts, class_names,
                                                               labels, with_findings=True)
    output = Path(args.output)
    created = [p for p in (output, *output.parents) if not p.exists()]  # removed again if left empty
    rows: list[dict | None] = [None] * len(exams)
    pending: list[tuple[int, np.ndarray, list[dict]]] = []

    def write() -> None:
        _write_outputs([row for row in rows if row is not None], output, codes)

    def flush() -> None:
        if not pending:
            return
        pixel_values = torch.as_tensor(np.stack([values for _, values, _ in pending]))
        diagnoses = diagnose_pixel_values(model, pixel_values, codes, class_names, prototypes,
                                          [meta for _, _, meta in pending], findings)
        for (index, values, meta), result in zip(pending, diagnoses):
            exam = exams[index]
            maps = ({"asymmetry (A3B)": np.stack([result.left.asymmetry_map, result.right.asymmetry_map])}
                    if result.left.asymmetry_map is not None else {"(no A3B map)": np.zeros_like(values[:, 0])})
            overlay = save_ear_overlay(values, maps, output / "overlays" / f"{exam.name}.png",
                                       title=f"{exam.name}: left class {result.left.top_code} "
                                             f"({result.left.top_probability:.2f}), right class "
                                             f"{result.right.top_code} ({result.right.top_probability:.2f})")
            rows[index] = {"exam": exam.name, "path": str(exam.path), "status": "diagnosed", "reason": "",
                           "overlay": overlay.relative_to(output).as_posix(),
                           "warnings": list(dict.fromkeys(w for side in meta for w in side.get("warnings", []))),
                           **result.to_dict()}
        pending.clear()
        write()

    try:
        with tqdm(total=len(exams), desc="diagnosing", unit="exam", disable=args.quiet) as progress:
            for index, exam in enumerate(exams):
                try:
                    values, meta = _read_exam(exam.path, processor)
                except Exception as error:  # noqa: BLE001 - one unreadable exam must not end the run
                    reason = _skip_reason(error, exam.path)
                    rows[index] = {"exam": exam.name, "path": str(exam.path), "status": "skipped", "reason": reason,
                                   "overlay": None, "warnings": [], "left": None, "right": None}
                    if not args.quiet:
                        progress.write(f"{exam.name}: skipped, {_shorten(reason)}", file=sys.stderr)
                    write()
                else:
                    pending.append((index, values, meta))
                    if len(pending) == args.batch_size:
                        flush()
                progress.update(1)
            flush()
    finally:
        _remove_if_empty([output / "overlays", *created])
    done = [row for row in rows if row["status"] == "diagnosed"]
    skipped = [row for row in rows if row["status"] == "skipped"]
    if not args.quiet:
        for row in done:
            print(f"{row['exam']}: left {row['left']['top_name']} ({row['left']['top_probability']:.2f}), "
                  f"right {row['right']['top_name']} ({row['right']['top_probability']:.2f})"
                  + (f" [{len(row['warnings'])} warning(s)]" if row["warnings"] else ""))
    if discovery.ignored and not args.quiet:
        print(f"not an exam, ignored: {'; '.join(discovery.ignored[:5])}"
              + (f" and {len(discovery.ignored) - 5} more" if len(discovery.ignored) > 5 else ""))
    print(f"diagnosed {len(done)} of {len(rows)} exam(s), skipped {len(skipped)}"
          + (" (reasons in predictions.json / .csv)" if skipped else "")
          + f"; wrote {output / 'predictions.json'}, {output / 'predictions.csv'} and {len(done)} overlay(s)")
    if not done:
        print(f"error: no exam could be diagnosed; first reason: {skipped[0]['exam']}: {_shorten(skipped[0]['reason'])}",
              file=sys.stderr)
        return EXIT_NONE_DIAGNOSED
    if skipped and args.strict:
        print(f"error: {len(skipped)} exam(s) skipped (--strict)", file=sys.stderr)
        return EXIT_NONE_DIAGNOSED
    return 0


def _shorten(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _remove_if_empty(folders: list[Path]) -> None:
    for folder in folders:  # innermost first
        try:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        except OSError:
            pass


def _replace_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8", newline="")
    os.replace(temporary, path)


def _write_outputs(results: list[dict], output: Path, codes: list[int]) -> None:
    """predictions.json (one entry per exam, `status` "diagnosed"/"skipped" and `reason`) and predictions.csv (one
    row per ear of a diagnosed exam, one row with the reason per skipped exam); rewritten as results come in."""
    output.mkdir(parents=True, exist_ok=True)
    _replace_atomically(output / "predictions.json", json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["exam", "side", "status", "top_code", "top_name", "top_probability", *[f"p_{c}" for c in codes],
                     "reason", "warnings"])
    for row in results:
        if row["status"] != "diagnosed":
            writer.writerow([row["exam"], "", row["status"], "", "", "", *[""] * len(codes), row["reason"], ""])
            continue
        for side in ("left", "right"):
            ear = row[side]
            writer.writerow([row["exam"], side, row["status"], ear["top_code"], ear["top_name"],
                             f"{ear['top_probability']:.6f}", *[f"{ear['probabilities'][c]:.6f}" for c in codes],
                             "", " | ".join(row["warnings"])])
    _replace_atomically(output / "predictions.csv", buffer.getvalue())


def add_diagnose_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `diagnose` to the `bicpl` subcommands."""
    parser = subparsers.add_parser("diagnose", help="per-ear diagnosis of CT exams with a saved model",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="exam (volume file, DICOM series or study folder) or folder of exams, e.g. an export tree")
    parser.add_argument("--model", required=True, help="folder of a saved Bi-CPL model + processor")
    parser.add_argument("--prompts", help="JSON file of class code -> prompts (free-text classes)")
    parser.add_argument("--labels", help="comma-separated disease names of the knowledge base, e.g. 胆脂瘤,正常")
    parser.add_argument("--output", default="bicpl_diagnosis", help="output folder (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=1, help="exams per forward pass (default: 1)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda:0 (default: cpu)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16", "float64"])
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-exam lines")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 2 when any exam was skipped (default: only when none was diagnosed)")
    parser.set_defaults(func=run_diagnose)
    return parser


__all__ = ["VOLUME_SUFFIXES", "add_diagnose_parser", "find_exams", "read_class_prompts", "run_diagnose",
           "series_tie_warning"]
