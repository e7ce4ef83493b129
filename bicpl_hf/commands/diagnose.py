# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""`bicpl diagnose`: per-ear probabilities, the top class per ear and an overlay picture for each exam.

An exam is a DICOM folder or a NIfTI / NRRD / MHA file. A PATH that is a folder of exams (volume files, or
sub-folders that are DICOM series) is diagnosed exam by exam, `--batch-size` at a time, with a progress bar.

Classes: the model's own by default; `--labels 胆脂瘤,正常,...` names diseases of the knowledge base (Chinese or
English, resolved to its prompt ensembles); `--prompts FILE` is a JSON object of class code -> prompt list (or
-> {"name": ..., "prompts": [...]}) of free text.

Writes `<output>/predictions.json`, `<output>/predictions.csv` (one row per ear) and `<output>/overlays/<exam>.png`
(axial slices of both ears with the asymmetry map).

Example:
    $ bicpl diagnose scans/ --model runs/bicpl/final --labels 胆脂瘤,胆固醇肉芽肿,正常 --output diagnosis/
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")


def _is_volume_file(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(VOLUME_SUFFIXES)


def find_exams(paths: list[str]) -> list[Path]:
    """Every exam under `paths`: a volume file, a DICOM folder, or a folder of those (one level down)."""
    exams: list[Path] = []
    for text in paths:
        path = Path(text)
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist (expected a DICOM folder, a .nii.gz/.nrrd/.mha file "
                                    "or a folder of exams)")
        if path.is_file():
            if not _is_volume_file(path):
                raise ValueError(f"{path} is not a volume file ({', '.join(VOLUME_SUFFIXES)}) nor a DICOM folder")
            exams.append(path)
            continue
        children = sorted(path.iterdir())
        inner = [c for c in children if c.is_dir() or _is_volume_file(c)]
        loose_files = [c for c in children if c.is_file() and not _is_volume_file(c)]
        if loose_files or not inner:
            exams.append(path)  # files that are not volumes: a DICOM series folder
        else:
            exams.extend(inner)
    if not exams:
        raise ValueError(f"no exam found in {paths}")
    return exams


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


def _exam_name(path: Path) -> str:
    name = path.name[: -len(".nii.gz")] if path.name.lower().endswith(".nii.gz") else path.stem
    return re.sub(r"[^\w.-]+", "_", name) or "exam"


def _unique_names(exams: list[Path]) -> list[str]:
    names, seen = [], {}
    for exam in exams:
        name = _exam_name(exam)
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return names


def run_diagnose(args: argparse.Namespace) -> int:
    """Handler of `bicpl diagnose`."""
    import numpy as np
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModel, AutoProcessor
    from transformers.utils.logging import disable_progress_bar

    from ..publishing.visualization import save_ear_overlay
    from ..zero_shot.candidate_labels import candidate_label_prompts
    from ..zero_shot.pipeline import diagnose_pixel_values, resolve_classes

    if args.prompts and args.labels:
        raise ValueError("give either --prompts FILE or --labels NAMES, not both")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    exams = find_exams(args.paths)
    model_dir = Path(args.model)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"--model {model_dir} is not a saved Bi-CPL model: config.json is missing")
    class_prompts, class_names = read_class_prompts(args.prompts) if args.prompts else (None, None)
    labels = [label.strip() for label in re.split(r"[,，]", args.labels) if label.strip()] if args.labels else None
    if labels is not None:
        candidate_label_prompts(labels)  # an unknown name fails here, before the model loads
    if args.quiet:
        disable_progress_bar()
    model = AutoModel.from_pretrained(model_dir, dtype=getattr(torch, args.dtype)).to(args.device).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    codes, class_names, prototypes = resolve_classes(model, processor.tokenizer, class_prompts, class_names, labels)
    output = Path(args.output)
    (output / "overlays").mkdir(parents=True, exist_ok=True)
    names = _unique_names(exams)
    results = []
    with tqdm(total=len(exams), desc="diagnosing", unit="exam", disable=args.quiet) as progress:
        for start in range(0, len(exams), args.batch_size):
            chunk = exams[start : start + args.batch_size]
            inputs = processor(volumes=[str(p) for p in chunk], return_tensors="pt")
            diagnoses = diagnose_pixel_values(model, inputs["pixel_values"], codes, class_names, prototypes,
                                              inputs["ear_metadata"])
            for offset, result in enumerate(diagnoses):
                name = names[start + offset]
                volume = inputs["pixel_values"][offset].float().numpy()
                maps = ({"asymmetry (A3B)": np.stack([result.left.asymmetry_map, result.right.asymmetry_map])}
                        if result.left.asymmetry_map is not None else {"(no A3B map)": np.zeros_like(volume[:, 0])})
                overlay = save_ear_overlay(volume, maps, output / "overlays" / f"{name}.png",
                                           title=f"{name}: left class {result.left.top_code} "
                                                 f"({result.left.top_probability:.2f}), right class "
                                                 f"{result.right.top_code} ({result.right.top_probability:.2f})")
                results.append({"exam": name, "path": str(chunk[offset]), "overlay": str(overlay.relative_to(output)),
                                **result.to_dict()})
            progress.update(len(chunk))
    _write_outputs(results, output)
    if not args.quiet:
        for row in results:
            print(f"{row['exam']}: left {row['left']['top_name']} ({row['left']['top_probability']:.2f}), "
                  f"right {row['right']['top_name']} ({row['right']['top_probability']:.2f})")
    print(f"wrote {output / 'predictions.json'}, {output / 'predictions.csv'} and {len(results)} overlays")
    return 0


def _write_outputs(results: list[dict], output: Path) -> None:
    (output / "predictions.json").write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n",
                                             encoding="utf-8")
    codes = list(results[0]["left"]["probabilities"])
    with open(output / "predictions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["exam", "side", "top_code", "top_name", "top_probability", *[f"p_{c}" for c in codes]])
        for row in results:
            for side in ("left", "right"):
                ear = row[side]
                writer.writerow([row["exam"], side, ear["top_code"], ear["top_name"], f"{ear['top_probability']:.6f}",
                                 *[f"{ear['probabilities'][c]:.6f}" for c in codes]])


def add_diagnose_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `diagnose` to the `bicpl` subcommands."""
    parser = subparsers.add_parser("diagnose", help="per-ear diagnosis of CT exams with a saved model",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="exam (DICOM folder or volume file) or folder of exams")
    parser.add_argument("--model", required=True, help="folder of a saved Bi-CPL model + processor")
    parser.add_argument("--prompts", help="JSON file of class code -> prompts (free-text classes)")
    parser.add_argument("--labels", help="comma-separated disease names of the knowledge base, e.g. 胆脂瘤,正常")
    parser.add_argument("--output", default="bicpl_diagnosis", help="output folder (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=1, help="exams per forward pass (default: 1)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda:0 (default: cpu)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16", "float64"])
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-exam lines")
    parser.set_defaults(func=run_diagnose)
    return parser


__all__ = ["VOLUME_SUFFIXES", "add_diagnose_parser", "find_exams", "read_class_prompts", "run_diagnose"]
