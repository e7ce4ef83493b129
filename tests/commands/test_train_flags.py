"""`bicpl train` takes every `TrainingArguments` flag: one test per family (evaluation + best model, saving, resume,
report_to, logging), on real subprocesses of one tiny build. Stage 1 (contrastive) gets its own folder and no
evaluation; every checkpoint is a loadable model + processor; the `*_results.json` files feed the model card."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import SimpleITK as sitk
from _phantoms import make_head_phantom

pytestmark = pytest.mark.slow
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
       "TOKENIZERS_PARALLELISM": "false"}
ENV.pop("BICPL_DEBUG", None)
TINY = ["--per_device_train_batch_size", 4, "--use_cpu", "--projection_dim", 16, "--quiet", "--seed", 0]
EVAL_FLAGS = ["--eval_strategy", "epoch", "--save_strategy", "epoch", "--load_best_model_at_end", "true",
              "--metric_for_best_model", "macro_f1", "--logging_strategy", "steps", "--logging_steps", 1,
              "--report_to", "none"]


def bicpl(*args, check=True) -> subprocess.CompletedProcess:
    completed = subprocess.run([sys.executable, "-m", "bicpl_hf.commands.cli", *map(str, args)], capture_output=True,
                               text=True, encoding="utf-8", errors="replace", env=ENV, timeout=600)
    if check:
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed


def state(folder) -> dict:
    return json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny build, then one two-stage `bicpl train` with evaluation, best-model selection and per-epoch saving."""
    from bicpl_hf.synthetic.export import make_synthetic_export

    root = tmp_path_factory.mktemp("train_flags")
    export = make_synthetic_export(root / "export", n_exams=12, size="tiny", seed=0)
    built = root / "built"
    bicpl("build", "--export", export.xlsx_path, "--dicom-root", export.dicom_root, "--output", built, "--demo-salt",
          "--roi-shape", 16, 16, 16, "--roi-size-mm", 40, 40, 40, "--max-slice-thickness-mm", 2.0, "--quiet")
    output = root / "run"
    trained = bicpl("train", "--dataset", built, "--output_dir", output, "--contrastive_epochs", 1,
                    "--num_train_epochs", 1, *TINY, *EVAL_FLAGS)
    return {"root": root, "built": built, "output": output, "stdout": trained.stdout}


def test_evaluation_and_best_model_only_in_the_prototype_stage(run):
    output = run["output"]
    contrastive = state(output / "contrastive")  # stage 1: its own folder, no evaluation set, no best model
    assert contrastive["best_model_checkpoint"] is None
    assert not any(k.startswith("eval_") for entry in contrastive["log_history"] for k in entry)
    prototype = state(output)
    assert prototype["best_model_checkpoint"] == str(output / "checkpoint-2")
    assert any("eval_macro_f1" in entry for entry in prototype["log_history"])
    # transformers' example-script results, also beside the final model, whose card lists them
    results = {name: json.loads((output / f"{name}_results.json").read_text(encoding="utf-8"))
               for name in ("train", "eval", "test", "all")}
    assert "train_loss" in results["train"] and "eval_macro_f1" in results["eval"]
    assert "test_accuracy" in results["test"] and {"train_loss", "eval_macro_f1", "test_accuracy"} <= set(results["all"])
    card = (output / "final" / "README.md").read_text(encoding="utf-8")
    assert "No evaluation results" not in card
    assert "| local | validation | macro_f1 |" in card and "| local | test | accuracy |" in card


def test_saving_every_checkpoint_is_a_loadable_model_and_processor(run):
    output = run["output"]
    assert run["stdout"].strip().splitlines()[-1] == (f"saved model + processor to {output / 'final'} "
                                                      f"(checkpoints and *_results.json in {output})")
    assert (output / "char_vocab" / "vocab.txt").is_file()  # the run's vocabulary, not a shared /tmp path
    for folder in (output / "checkpoint-2", output / "contrastive", output / "contrastive" / "checkpoint-2"):
        assert {"model.safetensors", "processor_config.json", "tokenizer.json", "prototypes.safetensors"} <= {
            p.name for p in folder.iterdir()}, folder
    exam = run["root"] / "exam.nii.gz"
    sitk.WriteImage(make_head_phantom(size_xyz=(140, 100, 30), lesion_side="left", seed=0).to_sitk(), str(exam))
    diagnosis = run["root"] / "diagnosis"
    bicpl("diagnose", exam, "--model", output / "checkpoint-2", "--output", diagnosis, "--quiet")
    assert json.loads((diagnosis / "predictions.json").read_text(encoding="utf-8"))[0]["left"]["top_name"]


def test_logging_steps_reach_the_trainer_state(run):
    losses = [entry["step"] for entry in state(run["output"])["log_history"] if "loss" in entry]
    assert losses == [1, 2]  # --logging_steps 1: every optimiser step
    assert "***** eval metrics *****" in run["stdout"]


def test_resume_skips_the_finished_stage_and_continues_the_unfinished_one(run, tmp_path):
    output = tmp_path / "run"
    shutil.copytree(run["output"], output)
    stage1 = output / "contrastive" / "model.safetensors"
    before = stage1.stat().st_mtime_ns
    resumed = bicpl("train", "--dataset", run["built"] / "dataset",  # the inner folder works as well
                    "--output_dir", output, "--contrastive_epochs", 1, "--num_train_epochs", 2, *TINY, *EVAL_FLAGS,
                    "--resume_from_checkpoint", "true")
    assert "stage 1 (contrastive) finished earlier" in resumed.stdout
    assert stage1.stat().st_mtime_ns == before
    log = state(output)["log_history"]
    assert state(output)["global_step"] == 4 and [e["step"] for e in log if "loss" in e] == [1, 2, 3, 4]
    assert (output / "checkpoint-4" / "processor_config.json").is_file()


def test_report_to_an_integration_that_is_not_installed_is_one_error_line(run, tmp_path):
    from transformers.integrations import get_available_reporting_integrations

    if "tensorboard" in get_available_reporting_integrations():
        pytest.skip("tensorboard is installed here")
    failed = bicpl("train", "--dataset", run["built"], "--output_dir", tmp_path / "run", *TINY,
                   "--report_to", "tensorboard", check=False)
    lines = failed.stderr.strip().splitlines()
    assert failed.returncode == 2 and len(lines) == 1 and "--report_to tensorboard" in lines[0], failed.stderr[-2000:]
