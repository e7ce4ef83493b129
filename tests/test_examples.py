"""The example script a user copies, run as the user runs it: a subprocess on a freshly built dataset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bicpl_hf.data.builder import build_dataset
from bicpl_hf.processing import BiCPLVolumeProcessor
from bicpl_hf.synthetic.export import make_synthetic_export

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("example")
    export = make_synthetic_export(root / "export", n_exams=14, size="tiny", seed=3, min_ears_per_code={2: 2})
    processor = BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(36.0, 36.0, 36.0))
    build_dataset(export.xlsx_path, export.dicom_root, root / "built", processor=processor,
                  salt="example-test-salt-0123456789", progress=False, max_slice_thickness_mm=2.0)  # tiny: 2 mm
    return root / "built"


@pytest.mark.slow
def test_train_example_with_lora_saves_a_plain_checkpoint(built_dataset, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, str(ROOT / "examples" / "train_bicpl.py"), "--dataset", str(built_dataset),
               "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "4",
               "--contrastive_epochs", "1", "--lora_r", "4", "--use_cpu", "--report_to", "none",
               "--save_strategy", "no", "--eval_strategy", "no", "--projection_dim", "32", "--setting", "B"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp_path)}
    completed = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", errors="replace", env=env, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    final = out / "final"
    assert (final / "model.safetensors").exists() and (final / "processor_config.json").exists()
    assert not (final / "adapter_config.json").exists()  # LoRA merged: no peft needed to load
    from transformers import AutoModel

    import bicpl_hf  # noqa: F401

    model = AutoModel.from_pretrained(final)
    assert model.config.vision_config.image_size == [16, 16, 16]
    assert "accuracy" in completed.stdout
