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
def run(tmp_path_factory, tiny_build):
    """One two-stage `bicpl train` on the tiny build, with evaluation, best-model selection and per-epoch saving."""
    root = tmp_path_factory.mktemp("train_flags")
    output = root / "run"
    trained = bicpl("train", "--dataset", tiny_build, "--output_dir", output, "--contrastive_epochs", 1,
                    "--num_train_epochs", 1, *TINY, *EVAL_FLAGS)
    return {"root": root, "built": tiny_build, "output": output, "stdout": trained.stdout}


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


@pytest.mark.smoke
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


@pytest.mark.smoke
def test_lora_checkpoints_load_on_their_own(run, tmp_path):
    """A LoRA checkpoint holds peft's adapter; the run's lora_base is the model it applies to (recorded in
    adapter_config.json), so AutoModel and `bicpl diagnose` load it, also from a run folder moved since."""
    import torch
    from transformers import AutoModel

    from bicpl_hf.text.lora import load_lora_checkpoint

    output = tmp_path / "lora"
    bicpl("train", "--dataset", run["built"], "--output_dir", output, "--contrastive_epochs", 1, "--num_train_epochs", 1,
          "--lora_r", 4, *TINY, "--save_strategy", "epoch", "--report_to", "none")
    checkpoint = output / "checkpoint-2"
    files = {p.name for p in checkpoint.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "processor_config.json"} <= files
    assert "config.json" not in files and (output / "lora_base" / "config.json").is_file()
    # the last checkpoint is the trained model: it embeds as `final` does (whose prototypes and calibration are redone
    # after training), merged by bicpl or with the adapter as transformers' AutoModel loads it
    pixel_values = torch.rand(1, 2, 2, 16, 16, 16, generator=torch.Generator().manual_seed(0))
    input_ids = torch.tensor([[2, 7, 8, 9, 3]])

    def embeddings(model):
        with torch.no_grad():
            model.eval()
            return (model.get_image_features(pixel_values).pooler_output, model.get_text_features(input_ids).pooler_output)

    expected = embeddings(AutoModel.from_pretrained(output / "final"))
    base = embeddings(AutoModel.from_pretrained(output / "lora_base"))
    assert not torch.allclose(base[0], expected[0], atol=1e-4)  # training moved it: the test can tell them apart
    for model in (load_lora_checkpoint(checkpoint), AutoModel.from_pretrained(checkpoint)):
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(embeddings(model), expected))

    moved = tmp_path / "moved"
    shutil.move(output, moved)
    exam = tmp_path / "exam.nii.gz"
    sitk.WriteImage(make_head_phantom(size_xyz=(140, 100, 30), lesion_side="left", seed=0).to_sitk(), str(exam))
    bicpl("diagnose", exam, "--model", moved / "checkpoint-2", "--output", tmp_path / "diagnosis", "--quiet")
    assert json.loads((tmp_path / "diagnosis" / "predictions.json").read_text(encoding="utf-8"))[0]["left"]["top_name"]
    from bicpl_hf.commands.cli import main

    assert main(["embed", str(run["built"]), "--model", str(moved / "checkpoint-2"), "--output",
                 str(tmp_path / "embeddings"), "--splits", "test"]) == 0
    assert (tmp_path / "embeddings" / "dataset_dict.json").is_file()
