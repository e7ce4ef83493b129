"""The README's main job (`bicpl demo`) end to end in its quick mode, and the experiment runner's pieces."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch
from conftest import tiny_config_kwargs

from bicpl_hf.training.experiments import VARIANTS, RunResult, make_variant_model, results_table


def test_variants_build_the_models_they_claim(tokenizer):
    base = tiny_config_kwargs()
    single = make_variant_model(VARIANTS["single_ear_clip"], base, tokenizer, seed=0)
    assert not single.config.bilateral and not any(single.config.vision_config.a3b_stages)
    full = make_variant_model(VARIANTS["bicpl"], base, tokenizer, seed=0)
    assert full.config.bilateral and all(full.config.vision_config.a3b_stages)
    # Text-initialised prototypes equal the prompt embeddings; the ablation's random ones do not.
    assert torch.allclose(full.get_prototypes(), torch.nn.functional.normalize(full.prototype_head.text_prototypes,
                                                                              dim=-1), atol=1e-6)
    ablation = make_variant_model(VARIANTS["bicpl_no_a3b_random_proto"], base, tokenizer, seed=0)
    text = full.encode_class_prompts(tokenizer, {c: full.config.class_prompts[str(c)] for c in full.config.class_codes})
    cosine = (ablation.get_prototypes() * torch.nn.functional.normalize(text, dim=-1)).sum(-1)
    assert cosine.abs().max() < 0.9 and ablation.config.drift_loss_weight == 0.0
    vision = make_variant_model(VARIANTS["vision_cnn"], base, tokenizer, seed=0)
    assert vision.config.itc_ear_weight == 0.0 and vision.config.itc_exam_weight == 0.0


def test_knowledge_variants_build_their_options(tokenizer):
    from bicpl_hf.knowledge import attribute_texts

    base = tiny_config_kwargs()
    kb = make_variant_model(VARIANTS["bicpl+kb_prompts"], base, tokenizer, seed=0)
    assert kb.config.class_prompts["4"] != make_variant_model(VARIANTS["bicpl"], base, tokenizer, 0).config.class_prompts["4"]
    bank = make_variant_model(VARIANTS["bicpl+knowledge_bank"], base, tokenizer, seed=0)
    assert bank.config.knowledge_bank_size == len(attribute_texts()) and bank.knowledge_bank is not None
    soft = make_variant_model(VARIANTS["bicpl+soft_labels"], base, tokenizer, seed=0)
    assert soft.config.soft_label_alpha == 0.3


def test_results_table_names_every_run_and_shows_zero_shot_only_in_setting_b():
    metrics = {"accuracy": 0.5, "macro_f1": 0.4, "auc_macro": 0.7, "tail_recall": 0.2, "support/中耳胆脂瘤": 3,
               "zero_shot_auc/中耳胆脂瘤": 0.8, "support/胆固醇肉芽肿": 2, "recall/胆固醇肉芽肿": 0.5,
               "accuracy_ci_low": 0.4, "accuracy_ci_high": 0.6}
    table = results_table([RunResult("bicpl", "A", metrics, 10.0, 30), RunResult("bicpl", "B", metrics, 12.0, 20)])
    rows = table.strip().splitlines()[2:]
    assert len(rows) == 2
    assert "(trained)" in rows[0] and "0.800" in rows[1]
    assert "0.500 [0.40, 0.60]" in rows[0]


@pytest.mark.slow
def test_demo_runs_end_to_end_in_a_subprocess(tmp_path):
    out = tmp_path / "demo"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    completed = subprocess.run(
        [sys.executable, "-m", "bicpl_hf.commands.cli", "demo", "--quick", "--output-dir", str(out), "--num-proc", "1"],
        capture_output=True, text=True, encoding="utf-8", errors="replace", env=env, timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "Summary" in completed.stdout and "report at" in completed.stdout
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    settings = {(row["variant"], row["setting"]) for row in summary["results"]}
    assert settings == {("vision_cnn", "A"), ("bicpl_v3", "A"), ("vision_cnn", "B"), ("bicpl_v3", "B")}
    assert set(summary["diagnosis"]) == {"left", "right"}
    # The zero-shot metrics of single-ear CLIP and Bi-CPL side by side (the quick plan runs no single-ear CLIP).
    side_by_side = summary["zero_shot_side_by_side"]
    assert side_by_side[0] == "Setting B, held-out class 2: single_ear_clip vs bicpl_v3"
    assert any(re.fullmatch(r"AUC \(cosine\): single_ear_clip not run, bicpl_v3 [01]\.\d{3}", line)
               for line in side_by_side)
    assert "single_ear_clip vs bicpl_v3" in completed.stdout
    # The bar of issue 14, one line per criterion, read off the run; the text tower was pretrained first.
    assert any(line.startswith("bicpl_v3 Setting B zero-shot AUC, code 2 (probability)") for line in summary["bar"])
    assert "text pretraining" in summary["timings"]
    model_files = set(os.listdir(out / "bicpl-model"))
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json"} <= model_files
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in model_files)
    report = (out / "report.md").read_text(encoding="utf-8")
    for figure in ("figures/roc_bicpl_A.png", "figures/confusion_bicpl_B.png", "figures/overlay_diagnosed_exam.png"):
        assert figure in report and (out / figure).stat().st_size > 1000
    assert (out / "report.html").exists() and "build report" in report.lower()
