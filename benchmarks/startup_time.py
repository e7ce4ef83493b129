"""Start-up time of the package and the `bicpl` command against the imports it cannot avoid (issue 23, item 8).

Each command runs in a fresh process; a repeat runs every command once, in turn, so that load changes on a shared
machine hit them alike. The table gives the best (least disturbed) and the median wall-clock seconds:

- `import transformers`, `import bicpl_hf`: the package's import against the library it builds on;
- `bicpl --help`, `bicpl --nonsense`, `bicpl diagnose --nonsense`: the command line before any work;
- the floor, `import torch, transformers, monai, SimpleITK`: what a diagnosis cannot do without;
- `bicpl diagnose` of one exam (a 140 x 100 x 30 NIfTI head phantom) with a tiny saved model, as the tests build
  one (character vocabulary, two-stage 16^3 encoder), so the model's own work is small and start-up dominates.

Targets: `--help` and a wrong flag under 1 s; `import bicpl_hf` within 0.5 s of `import transformers`; one-exam
`diagnose` within 1.3x the floor.

    python benchmarks/startup_time.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the tiny configs, vocabulary and phantom shared with the tests

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg",
       "TOKENIZERS_PARALLELISM": "false"}
FLOOR = "import torch, transformers, monai, SimpleITK"


def bicpl_command() -> list[str]:
    """The installed console script beside this interpreter (what a user runs), else the module."""
    script = Path(sys.executable).with_name("bicpl")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bicpl_hf.commands.cli"]


def write_inputs(folder: Path) -> tuple[Path, Path]:
    """A tiny saved model + processor and one NIfTI exam, built as `tests/commands` build them."""
    import SimpleITK as sitk
    from _phantoms import make_head_phantom
    from conftest import save_tiny_model

    save_tiny_model(folder)
    exam = folder / "exam.nii.gz"
    sitk.WriteImage(make_head_phantom(size_xyz=(140, 100, 30), lesion_side="left", seed=0).to_sitk(), str(exam))
    return folder / "model", exam


def commands(model: Path, exam: Path, output: Path) -> dict[str, tuple[list[str], int]]:
    """Name -> (command line, expected exit status)."""
    python, bicpl = [sys.executable, "-c"], bicpl_command()
    return {
        "import transformers": ([*python, "import transformers"], 0),
        "import bicpl_hf": ([*python, "import bicpl_hf"], 0),
        "bicpl --help": ([*bicpl, "--help"], 0),
        "bicpl --nonsense": ([*bicpl, "--nonsense"], 2),
        "bicpl diagnose --nonsense": ([*bicpl, "diagnose", "--nonsense"], 2),
        "floor: " + FLOOR: ([*python, FLOOR], 0),
        "bicpl diagnose (1 exam)": ([*bicpl, "diagnose", str(exam), "--model", str(model), "--output", str(output),
                                     "--quiet"], 0),
    }


def seconds(command: list[str], expected: int, cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=ENV, cwd=cwd, capture_output=True, text=True, encoding="utf-8",
                          errors="replace")
    elapsed = time.perf_counter() - start
    if done.returncode != expected:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}, expected {expected}:\n"
                           f"{done.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; command: {' '.join(bicpl_command())}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model, exam = write_inputs(folder)
        table = commands(model, exam, folder / "diagnosis")
        for command, expected in table.values():  # warm-up: the file cache and Python's bytecode cache
            seconds(command, expected, folder)
        times = {name: [] for name in table}
        for _ in range(args.repeats):
            for name, (command, expected) in table.items():
                shutil.rmtree(folder / "diagnosis", ignore_errors=True)
                times[name].append(seconds(command, expected, folder))
    best = {name: min(values) for name, values in times.items()}
    print(f"\nseconds, best and median of {args.repeats} runs each (fresh process per run)\n")
    print("| command | best s | median s |")
    print("|---|---:|---:|")
    for name, values in times.items():
        print(f"| `{name}` | {best[name]:.2f} | {statistics.median(values):.2f} |")
    floor = best["floor: " + FLOOR]
    checks = [
        ("`bicpl --help` < 1 s", f"{best['bicpl --help']:.2f} s", best["bicpl --help"] < 1.0),
        ("`bicpl --nonsense` < 1 s", f"{best['bicpl --nonsense']:.2f} s", best["bicpl --nonsense"] < 1.0),
        ("`bicpl diagnose --nonsense` < 1 s", f"{best['bicpl diagnose --nonsense']:.2f} s",
         best["bicpl diagnose --nonsense"] < 1.0),
        ("`import bicpl_hf` - `import transformers` <= 0.5 s",
         f"{best['import bicpl_hf'] - best['import transformers']:+.2f} s",
         best["import bicpl_hf"] - best["import transformers"] <= 0.5),
        ("one-exam `diagnose` / floor <= 1.3", f"{best['bicpl diagnose (1 exam)'] / floor:.2f}",
         best["bicpl diagnose (1 exam)"] / floor <= 1.3),
    ]
    print("\n| target (best runs) | measured | met? |")
    print("|---|---:|---|")
    for target, measured, met in checks:
        print(f"| {target} | {measured} | {'yes' if met else 'no'} |")


if __name__ == "__main__":
    main()
