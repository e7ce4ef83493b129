"""Pool `bicpl benchmark` results of one benchmark run in several processes (e.g. variant groups in parallel on a
2-core machine) into one table: `python benchmarks/combine_results.py OUT_DIR RUN1/results.json RUN2/results.json ...`
writes OUT_DIR/results.json and OUT_DIR/results.md (mean ± sd and every seed, as one run would)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bicpl_hf.training.benchmark_runner import combine_runs


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: combine_results.py OUT_DIR RESULTS_JSON [RESULTS_JSON ...]", file=sys.stderr)
        return 2
    documents = [json.loads(Path(path).read_text(encoding="utf-8")) for path in argv[1:]]
    combined = combine_runs(documents, argv[0])
    print((Path(argv[0]) / "results.md").read_text(encoding="utf-8"))
    print(f"{len(combined['runs'])} runs of {len(combined['variants'])} variants over seeds {combined['seeds']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
