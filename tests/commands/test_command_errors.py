"""Commands fail like tools: one `error: …` line on stderr and exit status 2 on bad input, the traceback
only with --debug; checked on real subprocesses of the scripts and the `bicpl` command."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bicpl_hf.commands.errors import CommandError, run_command

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("BICPL_DEBUG", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def build_args(tmp_path: Path, *extra: str) -> list[str]:
    return [str(ROOT / "datasets_scripts" / "build_dataset.py"), "--export", str(tmp_path / "export.xlsx"),
            "--dicom-root", str(tmp_path), "--output", str(tmp_path / "out"), *extra]


def test_short_salt_is_one_error_line_and_status_2(tmp_path):
    result = run(build_args(tmp_path, "--salt", "short"), tmp_path)
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: the salt must be at least 16 characters"), result.stderr
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_debug_shows_the_traceback(tmp_path):
    result = run(build_args(tmp_path, "--salt", "short", "--debug"), tmp_path)
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert error_lines(result)[-1].startswith("error: the salt must be")


def _build_script():
    spec = importlib.util.spec_from_file_location("build_dataset_script", ROOT / "datasets_scripts" / "build_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_export_and_usage_errors(tmp_path, capsys):
    main = _build_script().main
    (tmp_path / "dicom").mkdir()
    args = ["--export", str(tmp_path / "export.xlsx"), "--dicom-root", str(tmp_path / "dicom"),
            "--output", str(tmp_path / "out"), "--salt", "a-long-enough-secret-salt-01"]
    assert run_command(main, args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "export.xlsx" in err and err.count("\n") == 1 and "Traceback" not in err
    assert run_command(main, [*args, "--processor", str(tmp_path), "--roi-shape", "8", "8", "8"]) == 2
    assert capsys.readouterr().err == "error: give either --processor or --roi-shape/--roi-size-mm, not both\n"


def test_bicpl_command_on_a_missing_dataset(tmp_path):
    result = run(["-m", "bicpl_hf.commands.cli", "experiments", str(tmp_path / "nothing")], tmp_path)
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nothing" in lines[0]


def test_run_command_statuses(capsys):
    def bug(argv):
        return {}["missing"]

    assert run_command(bug, []) == 1
    assert "error: internal error: KeyError" in capsys.readouterr().err

    def bad_option(argv):
        raise CommandError("give either --a or --b")

    assert run_command(bad_option, []) == 2
    assert capsys.readouterr().err == "error: give either --a or --b\n"

    def exits_with_message(argv):
        raise SystemExit("error: pass a secret --salt")

    assert run_command(exits_with_message, []) == 2
    assert capsys.readouterr().err == "error: pass a secret --salt\n"

    seen = []
    assert run_command(lambda argv: seen.append(argv) or 3, ["--x", "--debug", "1"]) == 3
    assert seen == [["--x", "1"]]  # --debug is the runner's, the command never sees it
    with pytest.raises(SystemExit):  # argparse's own exit (status 2, usage already printed) passes through
        run_command(lambda argv: (_ for _ in ()).throw(SystemExit(2)), [])
