# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""`bicpl inspect`: pictures of a built dataset's ears, one PNG per class, to check the ROIs before training.

Each PNG holds up to `--per-class` ears of one class (from `--split`): the axial, coronal and sagittal middle slices
of the ear ROI in the first window (bone), exactly as the model sees them (right ears mirrored onto the left's
orientation). Also writes `index.json` with the ears drawn (exam key, side, file).

Example:
    $ bicpl inspect built/ --output inspect/ --split train --per-class 8
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

SIDES = ("left", "right")


def ears_by_class(split, per_class: int) -> dict[int, list[tuple[int, int]]]:
    """class code -> up to `per_class` `(row, ear)` pairs, in dataset order (ear 0 = left)."""
    chosen: dict[int, list[tuple[int, int]]] = {}
    for row, (left, right) in enumerate(zip(split["left_code"], split["right_code"])):
        for ear, code in enumerate((left, right)):
            if code is not None and code >= 0 and len(chosen.setdefault(int(code), [])) < per_class:
                chosen[int(code)].append((row, ear))
    return chosen


def _save_class_sheet(images: list, titles: list[str], path: Path, heading: str) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 2.0 * len(images)), dpi=90)
    axes = figure.subplots(len(images), 3, squeeze=False)
    for r, (volume, title) in enumerate(zip(images, titles)):
        d, h, w = volume.shape
        for c, (view, plane) in enumerate(((volume[d // 2], "axial"), (volume[:, h // 2], "coronal"),
                                           (volume[:, :, w // 2], "sagittal"))):
            ax = axes[r][c]
            ax.imshow(view, cmap="gray", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(title, fontsize=7)
            if r == 0:
                ax.set_title(plane, fontsize=8)
    figure.suptitle(heading, fontsize=9)
    figure.tight_layout()
    figure.savefig(path)


def run_inspect(args: argparse.Namespace) -> int:
    """Handler of `bicpl inspect`."""
    import numpy as np
    from tqdm.auto import tqdm

    from ..data.splits import load_built_dataset
    from ..processing.ear_classes import EAR_CLASSES

    if args.per_class < 1:
        raise ValueError(f"--per-class must be at least 1, got {args.per_class}")
    dataset = load_built_dataset(args.dataset)
    if args.split not in dataset:
        raise ValueError(f"--split {args.split!r}: the dataset has the splits {list(dataset)}")
    split = dataset[args.split]
    chosen = ears_by_class(split, args.per_class)
    if not chosen:
        raise ValueError(f"{args.dataset}: the {args.split} split has no labelled ear")
    names = {c.code: c.name_en for c in EAR_CLASSES}
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    index = {}
    for code in tqdm(sorted(chosen), desc="classes", unit="class", disable=args.quiet):
        pairs = chosen[code]
        rows = split.select(sorted({row for row, _ in pairs}))
        by_row = {row: i for i, row in enumerate(sorted({row for row, _ in pairs}))}
        images, titles = [], []
        for row, ear in pairs:
            pixel_values = np.asarray(rows[by_row[row]]["pixel_values"], dtype=np.float32)
            images.append(pixel_values[ear, 0])
            titles.append(f"{rows[by_row[row]]['exam_key'][:10]} {SIDES[ear]}")
        label = names.get(code, f"class {code}")
        path = output / f"class_{code}_{re.sub(r'[^A-Za-z0-9]+', '_', label).strip('_')}.png"
        _save_class_sheet(images, titles, path, f"class {code} ({label}), {args.split}: {len(pairs)} ears")
        index[str(code)] = {"name_en": label, "file": path.name,
                            "ears": [{"exam_key": split[row]["exam_key"], "side": SIDES[ear]} for row, ear in pairs]}
    (output / "index.json").write_text(json.dumps(index, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(index)} class pictures to {output}")
    return 0


def add_inspect_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `inspect` to the `bicpl` subcommands."""
    parser = subparsers.add_parser("inspect", help="PNG pictures of a built dataset's ears per class",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="output folder of `bicpl build`")
    parser.add_argument("--output", default="bicpl_inspect", help="output folder (default: %(default)s)")
    parser.add_argument("--split", default="train", help="split to draw from (default: %(default)s)")
    parser.add_argument("--per-class", type=int, default=6, help="ears per class picture (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_inspect)
    return parser


__all__ = ["add_inspect_parser", "ears_by_class", "run_inspect"]
