"""The `bicpl` workflow commands as a user runs them: subprocesses on a tiny synthetic export, one after another
(build -> train -> diagnose / inspect / embed / export-monai-bundle), and their one-line errors on bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
import SimpleITK as sitk
from _phantoms import make_head_phantom

pytestmark = pytest.mark.slow
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
       "TOKENIZERS_PARALLELISM": "false"}


def bicpl(*args, cwd=None, check=True, env=None) -> subprocess.CompletedProcess:
    completed = subprocess.run([sys.executable, "-m", "bicpl_hf.commands.cli", *map(str, args)], cwd=cwd,
                               capture_output=True, text=True, encoding="utf-8", errors="replace",
                               env={**ENV, **(env or {})}, timeout=600)
    if check:
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """`bicpl build` then `bicpl train` (one step) on a tiny synthetic export."""
    from bicpl_hf.synthetic.export import make_synthetic_export

    root = tmp_path_factory.mktemp("workflow")
    export = make_synthetic_export(root / "export", n_exams=12, size="tiny", seed=0)
    built = root / "built"
    bicpl("build", "--export", export.xlsx_path, "--dicom-root", export.dicom_root, "--output", built, "--demo-salt",
          "--roi-shape", 16, 16, 16, "--roi-size-mm", 40, 40, 40, "--max-slice-thickness-mm", 2.0, "--quiet")
    run = root / "run"
    trained = bicpl("train", "--dataset", built, "--output_dir", run, "--max_steps", 1, "--contrastive_epochs", 0,
                    "--per_device_train_batch_size", 4, "--use_cpu", "--report_to", "none", "--save_strategy", "no",
                    "--eval_strategy", "no", "--projection_dim", 16, "--quiet", env={"TMPDIR": str(root)})
    exams = root / "exams"
    exams.mkdir()
    for i, side in enumerate(("left", "right", None)):
        sitk.WriteImage(make_head_phantom(size_xyz=(140, 100, 30), lesion_side=side, seed=i).to_sitk(),
                        str(exams / f"exam_{i}.nii.gz"))
    return {"root": root, "built": built, "model": run / "final", "exams": exams, "train_stdout": trained.stdout}


def test_build_and_train_commands(workflow):
    assert (workflow["built"] / "dataset" / "dataset_dict.json").is_file()
    assert (workflow["built"] / "build_report.json").is_file()
    final = workflow["model"]
    # save_pretrained of the trained model: a whole loadable repository.
    assert {"model.safetensors", "processor_config.json", "prototypes.safetensors", "modeling_bicpl.py",
            "README.md"} <= {p.name for p in final.iterdir()}
    assert "accuracy" in workflow["train_stdout"]


def test_diagnose_a_folder_of_exams_with_labels(workflow):
    output = workflow["root"] / "diagnosis"
    done = bicpl("diagnose", workflow["exams"], "--model", workflow["model"], "--labels", "胆脂瘤,cholesterol granuloma,正常",
                 "--output", output, "--batch-size", 2)
    results = json.loads((output / "predictions.json").read_text(encoding="utf-8"))
    assert [r["exam"] for r in results] == ["exam_0", "exam_1", "exam_2"]
    for result in results:
        for side in ("left", "right"):
            probabilities = result[side]["probabilities"]
            assert set(probabilities) == {"2", "4", "5"} and abs(sum(probabilities.values()) - 1) < 1e-5
            assert result[side]["top_name"] in {"中耳胆脂瘤", "胆固醇肉芽肿", "正常"}
        assert (output / result["overlay"]).stat().st_size > 1000
    with open(output / "predictions.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and rows[0]["side"] == "left" and {"p_2", "p_4", "p_5"} <= set(rows[0])
    assert "exam_0: left" in done.stdout

    prompts = workflow["root"] / "prompts.json"
    prompts.write_text(json.dumps({"2": {"name": "胆脂瘤", "prompts": ["上鼓室软组织影，听小骨破坏。"]},
                                   "9": ["岩尖膨胀性病变。"]}, ensure_ascii=False), encoding="utf-8")
    single = workflow["root"] / "single"
    bicpl("diagnose", workflow["exams"] / "exam_1.nii.gz", "--model", workflow["model"], "--prompts", prompts,
          "--output", single, "--quiet")
    result = json.loads((single / "predictions.json").read_text(encoding="utf-8"))[0]
    assert set(result["left"]["probabilities"]) == {"2", "9"}


def test_commands_print_one_error_line_on_bad_input(workflow, tmp_path):
    cases = [
        (["diagnose", tmp_path / "missing.nii.gz", "--model", workflow["model"]], "does not exist"),
        (["diagnose", workflow["exams"], "--model", workflow["model"], "--labels", "鼻窦炎"], "not a disease"),
        (["embed", tmp_path, "--model", workflow["model"], "--output", tmp_path / "e"], "no built Bi-CPL dataset"),
        (["export-monai-bundle", tmp_path / "b", "--model", tmp_path], "config.json is missing"),
        (["inspect", workflow["built"], "--split", "holdout"], "'holdout'"),
        (["train", "--dataset", tmp_path, "--output_dir", tmp_path / "run", "--use_cpu"], "no built Bi-CPL dataset"),
        (["build", "--export", tmp_path / "sheet.xlsx", "--dicom-root", tmp_path, "--output", tmp_path / "o",
          "--demo-salt"], "--demo-salt is only for the synthetic export"),
    ]
    for args, message in cases:
        failed = bicpl(*args, check=False)
        lines = failed.stderr.strip().splitlines()
        assert failed.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), failed.stderr[-2000:]
        assert message in lines[0]


def test_inspect_writes_one_picture_per_class(workflow):
    from datasets import load_from_disk

    output = workflow["root"] / "inspect"
    bicpl("inspect", workflow["built"], "--output", output, "--per-class", 2, "--quiet")
    index = json.loads((output / "index.json").read_text(encoding="utf-8"))
    train = load_from_disk(str(workflow["built"] / "dataset"))["train"]
    codes = {c for pair in zip(train["left_code"], train["right_code"]) for c in pair if c >= 0}
    assert set(index) == {str(c) for c in codes}
    for entry in index.values():
        assert 1 <= len(entry["ears"]) <= 2 and (output / entry["file"]).stat().st_size > 1000


def test_embed_writes_per_ear_embeddings_as_a_dataset(workflow):
    import numpy as np
    import torch
    from datasets import load_from_disk
    from transformers import AutoModel

    import bicpl_hf  # noqa: F401

    output = workflow["root"] / "embeddings"
    bicpl("embed", workflow["built"], "--model", workflow["model"], "--output", output, "--splits", "test", "--quiet")
    ears = load_from_disk(str(output))["test"]
    built = load_from_disk(str(workflow["built"] / "dataset"))["test"]
    assert len(ears) == 2 * len(built) and ears["side"][:2] == ["left", "right"]
    assert ears["code"][:2] == [built[0]["left_code"], built[0]["right_code"]]
    vectors = {c: np.asarray(ears[c], dtype=np.float32) for c in ("image_embedding", "text_embedding",
                                                                  "report_embedding")}
    for column, vector in vectors.items():
        assert vector.shape == (len(ears), 16), column
        np.testing.assert_allclose(np.linalg.norm(vector, axis=1), 1.0, atol=1e-5)
    model = AutoModel.from_pretrained(workflow["model"]).eval()
    pixel_values = torch.as_tensor(np.asarray(built.with_format("numpy")[0]["pixel_values"], dtype=np.float32))
    with torch.no_grad():
        expected = torch.nn.functional.normalize(model.get_image_features(pixel_values[None]).pooler_output[0], dim=-1)
    np.testing.assert_allclose(vectors["image_embedding"][:2], expected.numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def monai_cli_path(tmp_path_factory) -> str:
    """PYTHONPATH for `python -m monai.bundle`: its command line needs `fire`, verify_metadata `jsonschema` (both in
    the dev extras); missing ones are pip-installed into a private folder, skipped when pip cannot reach them."""
    import importlib.util

    missing = [name for name in ("fire", "jsonschema") if importlib.util.find_spec(name) is None]
    if not missing:
        return ""
    target = tmp_path_factory.mktemp("monai-cli")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-compile", "-q", "--target", str(target),
                           *missing], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.skip(f"{missing} (for python -m monai.bundle) are not installable: {done.stderr[-300:]}")
    return str(target)


def test_export_monai_bundle_verifies(workflow, monai_cli_path):
    bundle = workflow["root"] / "monai_bundle"
    bicpl("export-monai-bundle", bundle, "--model", workflow["model"])
    assert {"configs/metadata.json", "configs/inference.json", "docs/README.md", "LICENSE",
            "models/bicpl/model.safetensors", "scripts/bicpl_network.py"} <= {
        p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text(encoding="utf-8"))
    image = metadata["network_data_format"]["inputs"]["image"]
    assert image["num_channels"] == 4 and image["spatial_shape"] == [16, 16, 16]
    assert metadata["network_data_format"]["outputs"]["pred"]["num_channels"] == 12
    assert [c["code"] for c in metadata["class_table"]] == [1, 2, 3, 4, 5, 6]
    assert metadata["preprocessing"]["roi_size_mm"] == [40.0, 40.0, 40.0]
    env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}  # the bundle needs no bicpl_hf
    env["PYTHONPATH"] = monai_cli_path
    env["HF_MODULES_CACHE"] = str(workflow["root"] / "modules")
    for command in (["verify_metadata", "--meta_file", "configs/metadata.json", "--filepath", "configs/meta_schema.json"],
                    ["verify_net_in_out", "network_def", "--meta_file", "configs/metadata.json", "--config_file",
                     "configs/inference.json", "--device", "cpu"]):
        done = subprocess.run([sys.executable, "-m", "monai.bundle", *command], cwd=bundle, env=env,
                              capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "verified with no error" in done.stdout + done.stderr
