"""`bicpl pretrain-text` as a user runs it: one real subprocess on a tiny corpus, and its one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bicpl_hf.commands.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--hidden-size", "16", "--layers", "1", "--heads", "2", "--intermediate", "32", "--max-length", "32",
        "--epochs", "1", "--batch-size", "64", "--threads", "1", "--quiet"]


def test_pretrain_text_writes_a_text_model_folder(tmp_path, capsys):
    corpus = tmp_path / "notes.jsonl"
    corpus.write_text('{"text": "右侧上鼓室软组织影，盾板变钝。"}\n{"text": ""}\n', encoding="utf-8")
    output = tmp_path / "tower"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-m", "bicpl_hf.commands.cli", "pretrain-text", "--output-dir", str(output),
                           "--corpus", str(corpus), *TINY], env=env, capture_output=True, text=True, encoding="utf-8",
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((output / "pretraining.json").read_text(encoding="utf-8"))
    counts = record["corpus_counts"]
    assert list(counts) == ["knowledge_base", str(corpus)]
    assert counts[str(corpus)] == {"read": 2, "kept": 1, "empty": 1, "duplicate": 0}
    assert f"{corpus}: 1 texts (1 empty, 0 duplicate left out)" in done.stdout
    assert f"knowledge_base: {counts['knowledge_base']['kept']} texts" in done.stdout
    assert f"{record['steps']} steps" in done.stdout and str(output) in done.stdout
    config = json.loads((output / "config.json").read_text(encoding="utf-8"))
    vocab = [t for t in (output / "vocab.txt").read_text(encoding="utf-8").split("\n") if t]
    assert config["hidden_size"] == 16 and config["vocab_size"] == len(vocab) and "盾" in vocab
    assert (output / "model.safetensors").is_file()

    assert main(["pretrain-text", "--output-dir", str(output), *TINY]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: --output-dir {output} already has content; give a new or empty folder"]


def test_pretrain_text_errors_are_one_line(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "鼓室清晰"}\nnot json\n', encoding="utf-8")
    assert main(["pretrain-text", "--output-dir", str(tmp_path / "a"), "--corpus", str(bad), *TINY]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {bad}, line 2: not a JSON object (Expecting value)"]

    monkeypatch.setitem(sys.modules, "pyCMeKG", None)  # as if the optional extra were not installed
    monkeypatch.setitem(sys.modules, "pyCMeKG.knowledgeGraph", None)
    assert main(["pretrain-text", "--output-dir", str(tmp_path / "b"), "--pycmekg", *TINY]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: PyCMeKG corpus needs the optional extra: pip install bicpl-hf[kg]"]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
