"""Small things a user meets (issue 23, item 6): `--device cuda` without CUDA, the `--labels` advice, `--quiet`, the
synthetic generator's progress bar."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
       "TOKENIZERS_PARALLELISM": "false"}


def _run(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, encoding="utf-8",
                          errors="replace", env=ENV, cwd=ROOT, timeout=timeout)


def _no_cuda() -> bool:
    import torch

    return not torch.cuda.is_available()


needs_no_cuda = pytest.mark.skipif(not _no_cuda(), reason="this machine has a CUDA device")


@pytest.fixture
def fake_model(tmp_path) -> Path:
    """A folder that passes the `config.json` check; nothing can load from it."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}", encoding="utf-8")
    return model


@needs_no_cuda
def test_diagnose_device_cuda_without_cuda_is_one_error_line(tmp_path, fake_model):
    done = _run("-m", "bicpl_hf.commands.cli", "diagnose", tmp_path, "--model", fake_model, "--device", "cuda",
                "--output", tmp_path / "out")
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --device cuda: torch sees no CUDA device"), done.stderr
    assert "TORCH_SPEC" in lines[0] and "internal error" not in lines[0]
    assert not (tmp_path / "out").exists()


@needs_no_cuda
@pytest.mark.parametrize("command", [
    ["embed", "BUILT", "--model", "MODEL", "--output", "OUT", "--device", "cuda:0"],
    ["benchmark", "--device", "cuda", "--output-dir", "OUT"],
    ["experiments", "BUILT", "--seeds", "0", "--device", "cuda", "--output-dir", "OUT"],
])
def test_every_device_option_is_checked_before_work(command, tmp_path, fake_model, capsys):
    from bicpl_hf.commands.cli import main

    paths = {"BUILT": str(tmp_path / "built"), "MODEL": str(fake_model), "OUT": str(tmp_path / "out")}
    assert main([paths.get(a, a) for a in command]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "torch sees no CUDA device" in err[0] and err[0].startswith("error: --device cuda"), err
    assert not (tmp_path / "out").exists()


def test_check_device_names_the_option():
    from bicpl_hf.commands.devices import check_device
    from bicpl_hf.commands.errors import CommandError, is_user_error

    for fine in (None, "cpu", "auto", "CPU"):
        check_device(fine)
    with pytest.raises(CommandError, match=r"--gpu nonsense: not a torch device") as caught:
        check_device("nonsense", option="--gpu")
    assert is_user_error(caught.value)


def test_unknown_label_suggests_the_prompts_option(tmp_path, fake_model):
    (tmp_path / "exams").mkdir()
    done = _run("-m", "bicpl_hf.commands.cli", "diagnose", tmp_path / "exams", "--model", fake_model,
                "--labels", "不是病名", "--output", tmp_path / "out")
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --labels: candidate label '不是病名'"), done.stderr
    assert "--prompts FILE" in lines[0] and "class_prompts=" not in lines[0]


def test_python_api_keeps_its_own_advice():
    from bicpl_hf.zero_shot.candidate_labels import candidate_label_prompts

    with pytest.raises(ValueError, match=r"class_prompts=\{code: \[prompt, \.\.\.\]\}"):
        candidate_label_prompts(["不是病名"])


@pytest.mark.parametrize("argv", [["inspect", "BUILT", "--quiet"], ["build", "--export", "missing.xlsx",
                                                                     "--dicom-root", "missing", "--output", "OUT",
                                                                     "--quiet"]])
def test_quiet_silences_the_libraries(argv, tmp_path, monkeypatch, capsys):
    from bicpl_hf.commands import cli

    calls = []
    monkeypatch.setattr(cli, "quiet_libraries", lambda: calls.append(True))
    monkeypatch.setattr("bicpl_hf.commands.devices.quiet_libraries", lambda: calls.append(True))
    paths = {"BUILT": str(tmp_path / "built"), "OUT": str(tmp_path / "out")}
    assert cli.main([paths.get(a, a) for a in argv]) == 2  # nothing to read: the error line remains
    assert calls and capsys.readouterr().err.startswith("error: ")


def test_quiet_libraries_leaves_no_warning_or_bar():
    code = """
import logging, warnings
from bicpl_hf.commands.devices import quiet_libraries
quiet_libraries()
from transformers.utils import logging as hf_logging
import datasets
hf_logging.get_logger("transformers.modeling_utils").warning("transformers noise")
logging.getLogger("datasets.builder").warning("datasets noise")
warnings.warn("python noise", FutureWarning)
assert not hf_logging.is_progress_bar_enabled()
assert not datasets.utils.logging.is_progress_bar_enabled()
print("summary line")
"""
    done = _run("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "summary line" and "noise" not in done.stderr, done.stderr


@pytest.mark.smoke
def test_synthetic_generator_bar_by_default_and_not_under_quiet(tmp_path):
    """The generator's bar follows datasets' library-wide switch, which `--quiet` (quiet_libraries) turns off."""
    code = """
import sys
from bicpl_hf.commands.devices import quiet_libraries
from bicpl_hf.synthetic.export import make_synthetic_export

root = sys.argv[1]
cases = (("default", False, True), ("progress=False", False, False), ("--quiet", True, True))
for index, (name, quiet, progress) in enumerate(cases):
    if quiet:
        quiet_libraries()
    print(f"@{name}", file=sys.stderr, flush=True)
    make_synthetic_export(f"{root}/{index}", n_exams=2, size="tiny", seed=0, progress=progress)
"""
    done = _run("-c", code, tmp_path)
    assert done.returncode == 0, done.stderr
    sections = dict(part.split("\n", 1) for part in done.stderr.split("@")[1:])
    assert "Rendering exams: 100%|" in sections["default"] and "2/2" in sections["default"], done.stderr
    assert "Rendering exams" not in sections["progress=False"] + sections["--quiet"], done.stderr


@pytest.mark.smoke
def test_train_quiet_leaves_no_warning_bar_or_step_log(tiny_build, tmp_path):
    # LoRA: peft and the base model's save/load add warnings and bars of their own
    done = _run("-m", "bicpl_hf.commands.cli", "train", "--dataset", tiny_build, "--output_dir", tmp_path / "run",
                "--contrastive_epochs", 0, "--num_train_epochs", 1, "--lora_r", 4, "--per_device_train_batch_size", 4,
                "--projection_dim", 16, "--use_cpu", "--report_to", "none", "--logging_steps", 1, "--quiet",
                timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == "", done.stderr[-3000:]
    assert "{'loss'" not in done.stdout and "***** train metrics *****" in done.stdout  # the metrics remain
    assert done.stdout.strip().splitlines()[-1].startswith("saved model + processor to ")


def test_train_builds_a_model_that_reads_a_whole_bone_processors_channels(tmp_path):
    import torch

    from bicpl_hf.commands.train import ScriptArguments, build_model
    from bicpl_hf.processing import BiCPLVolumeProcessor

    processor = BiCPLVolumeProcessor(roi_shape=(8, 8, 8), roi_size_mm=(24.0, 24.0, 24.0),
                                     coarse_roi_size_mm=(48.0, 48.0, 48.0), coarse_roi_offset_mm=(-6.0, 4.0, -6.0))
    model, _ = build_model(ScriptArguments(dataset=str(tmp_path), projection_dim=16), processor,
                           ["左侧鼓室内见软组织影。"], vocab_dir=str(tmp_path / "vocab"))
    assert model.config.vision_config.in_channels == 2 and model.config.region_geometry["coarse_roi_size_mm"]
    with torch.no_grad():
        out = model(pixel_values=torch.rand(1, 2, len(processor.channel_names), 8, 8, 8))
    assert out.logits.shape == (1, 2, len(model.config.class_codes))
