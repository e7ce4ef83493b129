"""Write the synthetic temporal-bone CT benchmark as a hospital export (xlsx + DICOM tree).

The output has the layout of a real PACS/HIS export (DESIGN.md section 2) plus `ground_truth.json`
for evaluation; build a dataset from it with the hospital-export builder.

Usage::

    python datasets_scripts/make_synthetic_ear_ct.py --out outputs/ear_ct --size small --n-exams 200 --num-proc 2
"""

from __future__ import annotations

import argparse
import json
import sys

from bicpl_hf.synthetic import SIZES, make_synthetic_export


def _min_ears(text: str) -> dict[int, int]:
    """Parse `4:8,2:10` into `{4: 8, 2: 10}`."""
    result = {}
    for item in filter(None, text.split(",")):
        code, _, count = item.partition(":")
        try:
            result[int(code)] = int(count)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--min-ears expects CODE:COUNT pairs like 4:8, got {item!r}") from None
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="empty output folder")
    parser.add_argument("--size", default="small", choices=sorted(SIZES), help="tiny (tests), small (demo), full")
    parser.add_argument("--n-exams", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-proc", type=int, default=1, help="worker processes for rendering and writing")
    parser.add_argument("--min-ears", type=_min_ears, default={},
                        help="guaranteed ears per code, e.g. 4:8 so the rare code 4 is present at small n")
    parser.add_argument("--no-anomalies", action="store_true", help="do not inject export anomalies")
    args = parser.parse_args(argv)
    export = make_synthetic_export(
        args.out, n_exams=args.n_exams, size=args.size, seed=args.seed, num_proc=args.num_proc,
        min_ears_per_code=args.min_ears, anomalies=not args.no_anomalies,
    )
    summary = {
        "xlsx": str(export.xlsx_path), "dicom_root": str(export.dicom_root),
        "ground_truth": str(export.ground_truth_path), "n_exams": len(export.exam_ids),
        "anomalies": export.anomalies, "seconds": export.seconds,
    }
    print(json.dumps(summary, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    from bicpl_hf.commands.errors import run_command

    sys.exit(run_command(main))
