"""The new user's walk, end to end, in one test: a hospital-style export -> `bicpl build` -> `bicpl train` with
evaluation and best-model selection -> the same run resumed for one more epoch -> `bicpl diagnose` from a checkpoint ->
`bicpl export-monai-bundle` -> the bundle's documented `python -m monai.bundle` commands in a venv without bicpl_hf ->
`pipeline("zero-shot-ear-diagnosis", trust_remote_code=True)` on the trained folder in the clean venv -> `bicpl push`
with tags and a commit message, the Hub's calls captured.

Every step but the push is a real subprocess, as the user starts it; each step reads only what the previous ones
wrote, and what it gives is checked against the same model loaded here (the folder is the model, wherever it runs).
The steps' own details have their own tests (test_train_flags, test_monai_bundle_run, test_pipeline_remote_code,
test_push_public_api); this one checks that they fit together.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from _phantoms import make_head_phantom, write_dicom_series

# The session's clean venv, the bundle's venv and README commands, and the local Hub stand-in.
from test_clean_venv import clean_python  # noqa: F401
from test_hub import LocalHub
from test_monai_bundle_run import _linked_venv, _readme_commands

from bicpl_hf.publishing.monai_bundle import BUNDLE_REQUIREMENTS

pytestmark = pytest.mark.slow

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
       "TOKENIZERS_PARALLELISM": "false"}
ENV.pop("BICPL_DEBUG", None)
TRAIN = ["--contrastive_epochs", 1, "--per_device_train_batch_size", 4, "--use_cpu", "--projection_dim", 16,
         "--quiet", "--seed", 0, "--eval_strategy", "epoch", "--save_strategy", "epoch", "--load_best_model_at_end",
         "true", "--metric_for_best_model", "macro_f1", "--report_to", "none"]
LABELS = ["胆脂瘤", "cholesterol granuloma", "正常"]

PIPELINE_SCRIPT = r"""
import json, sys
try:
    import bicpl_hf
    raise SystemExit(f"bicpl_hf is importable from {bicpl_hf.__file__}")
except ModuleNotFoundError:
    pass
from transformers import pipeline

folder, exam, labels = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
result = pipeline("zero-shot-ear-diagnosis", model=folder, trust_remote_code=True)(exam, candidate_labels=labels)
print("RESULT", json.dumps({side: getattr(result, side).probabilities for side in ("left", "right")}))
"""


def bicpl(*args) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "bicpl_hf.commands.cli", *map(str, args)], capture_output=True,
                          text=True, encoding="utf-8", errors="replace", env=ENV, timeout=600)
    assert done.returncode == 0, (args[0], done.stdout[-3000:] + done.stderr[-3000:])
    return done


def ear_probabilities(folder, exam) -> torch.Tensor:
    """`(2, K)` per-ear probabilities of the saved model + processor in `folder` for `exam`, loaded here."""
    from transformers import AutoModel, AutoProcessor

    model, processor = AutoModel.from_pretrained(folder).eval(), AutoProcessor.from_pretrained(folder)
    with torch.no_grad():
        return model(pixel_values=processor(volumes=str(exam))["pixel_values"]).logits.softmax(-1)[0]


def test_build_train_resume_diagnose_bundle_pipeline_push(tmp_path, clean_python, monkeypatch):  # noqa: F811
    from bicpl_hf.synthetic.export import make_synthetic_export

    # 1. A hospital-style export (spreadsheet + DICOM tree), built into a de-identified dataset.
    export = make_synthetic_export(tmp_path / "export", n_exams=12, size="tiny", seed=0, progress=False)
    built = tmp_path / "built"
    bicpl("build", "--export", export.xlsx_path, "--dicom-root", export.dicom_root, "--output", built,
          "--roi-shape", 16, 16, 16, "--roi-size-mm", 40, 40, 40, "--demo-salt", "--max-slice-thickness-mm", 2.0)
    assert (built / "dataset" / "dataset_dict.json").is_file()

    # 2. Training with evaluation each epoch and the best checkpoint kept; the last line names the saved folder.
    run = tmp_path / "run"
    trained = bicpl("train", "--dataset", built, "--output_dir", run, "--num_train_epochs", 1, *TRAIN)
    final = run / "final"
    assert trained.stdout.strip().splitlines()[-1].startswith(f"saved model + processor to {final} ")
    state = json.loads((run / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["best_model_checkpoint"] == str(run / "checkpoint-2")
    assert "eval_macro_f1" in json.loads((run / "eval_results.json").read_text(encoding="utf-8"))

    # 3. Resumed for a second epoch: the finished contrastive stage is kept, the prototype stage goes on.
    resumed = bicpl("train", "--dataset", built, "--output_dir", run, "--num_train_epochs", 2, *TRAIN,
                    "--resume_from_checkpoint", "true")
    assert "stage 1 (contrastive) finished earlier" in resumed.stdout
    state = json.loads((run / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["global_step"] == 4 and [e["step"] for e in state["log_history"] if "eval_macro_f1" in e] == [2, 4]

    # 4. Diagnosis of a NIfTI exam from a checkpoint: the probabilities of that checkpoint loaded with the Auto classes.
    exam = tmp_path / "exam.nii.gz"
    sitk.WriteImage(make_head_phantom(size_xyz=(140, 100, 30), lesion_side="left", seed=0).to_sitk(), str(exam))
    bicpl("diagnose", exam, "--model", run / "checkpoint-4", "--output", tmp_path / "diagnosis", "--quiet")
    [diagnosis] = json.loads((tmp_path / "diagnosis" / "predictions.json").read_text(encoding="utf-8"))
    expected = ear_probabilities(run / "checkpoint-4", exam)
    for i, side in enumerate(("left", "right")):
        np.testing.assert_allclose(list(diagnosis[side]["probabilities"].values()), expected[i].numpy(), atol=1e-5)

    # 5. The final model as a MONAI bundle; its README's commands, as written, in a venv of its README's packages.
    bundle = tmp_path / "bundle"
    bicpl("export-monai-bundle", bundle, "--model", final)
    packages, commands = _readme_commands(bundle)
    assert packages == list(BUNDLE_REQUIREMENTS)
    exams = json.loads(commands[2][commands[2].index("--exams") + 1].replace("'", '"'))
    write_dicom_series(make_head_phantom(lesion_side="right", seed=3).to_sitk(np.int16), bundle / exams[0])
    sitk.WriteImage(sitk.ReadImage(str(exam)), str(bundle / exams[1]))
    python = _linked_venv(tmp_path / "bundle-venv", packages)
    env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}
    env.update(HF_MODULES_CACHE=str(tmp_path / "modules"), CUDA_VISIBLE_DEVICES="")
    for command in commands:
        done = subprocess.run([python, *command[1:]], cwd=bundle, env=env, capture_output=True, text=True,
                              encoding="utf-8", errors="replace", timeout=300)
        assert done.returncode == 0, (command, done.stdout[-3000:] + done.stderr[-3000:])
    predictions = json.loads((bundle / "eval" / "predictions.json").read_text(encoding="utf-8"))
    assert [p["exam"] for p in predictions] == exams
    expected = ear_probabilities(final, exam)
    for i, side in enumerate(("left", "right")):
        np.testing.assert_allclose(list(predictions[1][side].values()), expected[i].numpy(), atol=1e-5)
    assert (bundle / "models" / "model.ts").is_file()

    # 6. The trained folder's zero-shot pipeline where bicpl_hf is not installed, against the installed package's.
    from transformers import pipeline

    want = pipeline("zero-shot-ear-diagnosis", model=str(final))(str(exam), candidate_labels=LABELS)
    done = subprocess.run([clean_python, "-c", PIPELINE_SCRIPT, str(final), str(exam), json.dumps(LABELS)],
                          cwd=tmp_path, env={**env, "HF_MODULES_CACHE": str(tmp_path / "pipeline-modules")},
                          capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    got = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    for side in ("left", "right"):
        probabilities = {int(code): p for code, p in got[side].items()}
        assert probabilities == pytest.approx(getattr(want, side).probabilities, abs=1e-5), side

    # 7. Published with the user's tags and message; the Hub's calls are captured by a local stand-in.
    from bicpl_hf.commands.cli import main

    hub = LocalHub(tmp_path / "hub").install(monkeypatch)
    assert main(["push", str(final), "my-lab/temporal-bone", "--tag", "otology", "--tag", "hospital-a",
                 "--commit-message", "first trained model"]) == 0
    [commit] = hub.commits
    assert commit["repo_id"] == "my-lab/temporal-bone" and commit["message"] == "first trained model"
    assert {"config.json", "model.safetensors", "processor_config.json", "README.md"} <= set(commit["paths"])
    card = (hub.root / "my-lab" / "temporal-bone" / "README.md").read_text(encoding="utf-8")
    assert "- otology" in card and "- hospital-a" in card
    assert "| local | validation | macro_f1 |" in card  # the metrics `bicpl train` saved beside the model
