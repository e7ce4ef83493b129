"""`bicpl benchmark` end to end on tiny cohorts: the protocol's table, n/a for the CNN, the scoring log, the refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

TINY = ["--size", "tiny", "--n-exams", "16", "--min-held-out-ears", "6", "--min-code4-ears", "4",
        "--roi-shape", "16", "16", "16", "--roi-size-mm", "36", "36", "36", "--widths", "8", "16",
        "--contrastive-epochs", "1", "--prototype-epochs", "1", "--batch-size", "8", "--no-pretrain-text",
        "--n-boot", "50", "--num-proc", "1", "--num-threads", "1"]


def _bicpl(*args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "bicpl_hf.commands.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=600)


@pytest.mark.slow
def test_benchmark_scores_test_classes_on_fresh_cohorts_with_every_baseline_and_logs_it(tmp_path):
    log = tmp_path / "log.jsonl"
    done = _bicpl("benchmark", *TINY, "--data-seeds", "1001", "1002", "--cache-dir", str(tmp_path / "cache"),
                  "--output-dir", str(tmp_path / "out"), "--scoring-log", str(log), "--variants", "vision_cnn",
                  "single_ear_clip", "attribute_composition", "bicpl_v3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    table = (tmp_path / "out" / "results.md").read_text(encoding="utf-8")
    assert "### Code 2, held-out" in table and "### Code 4, never trained on" in table
    assert table.index("vs CSOM (1)") < table.index("vs diseased") < table.index("vs all")
    assert "| vision_cnn | n/a |" in table and "bicpl_v3 − single_ear_clip" in table
    assert "bicpl_v3 − attribute_composition" in table
    assert "prompt paraphrases encoded alone" in table
    entry = json.loads(log.read_text(encoding="utf-8").splitlines()[-1])
    assert entry["data_seeds"] == [1001, 1002] and entry["held_out"] == 2 and entry["figures"]["2/vision_cnn"] == "n/a"
    assert set(entry["figures"]["4/bicpl_v3"]) >= {"vs_1", "vs_2", "vs_diseased", "vs_all"}
    # Every run's per-ear scores are on disk, so the table can be recomputed without retraining.
    assert len(list((tmp_path / "out").glob("cohort_*/seed_0/ears_*_B.npz"))) == 8
    (tmp_path / "out" / "results.md").unlink()
    again = _bicpl("benchmark", *TINY, "--data-seeds", "1001", "1002", "--output-dir", str(tmp_path / "out"),
                   "--scoring-log", str(log), "--report-only", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "out" / "results.md").read_text(encoding="utf-8") == table
    assert len(log.read_text(encoding="utf-8").splitlines()) == 2  # a scoring again: logged again

    # A variant run since into the same folder (an ablation) is scored with the others and named in table and log.
    import dataclasses

    from bicpl_hf.training.scored_ears import ScoredEarRecord

    for path in (tmp_path / "out").glob("cohort_*/seed_0/ears_single_ear_clip_B.npz"):
        record = ScoredEarRecord.load(path)
        dataclasses.replace(record, variant="single_ear_clip-copy").save(path.with_name("ears_copy_B.npz"))
    added = _bicpl("benchmark", *TINY, "--data-seeds", "1001", "1002", "--output-dir", str(tmp_path / "out"),
                   "--scoring-log", str(log), "--report-only", cwd=tmp_path)
    assert added.returncode == 0, added.stderr[-3000:]
    table = (tmp_path / "out" / "results.md").read_text(encoding="utf-8")
    assert "'bicpl_v3', 'single_ear_clip-copy']" in table.splitlines()[0] and "| single_ear_clip-copy |" in table
    entry = json.loads(log.read_text(encoding="utf-8").splitlines()[-1])
    assert entry["variants"][-1] == "single_ear_clip-copy" and "2/single_ear_clip-copy" in entry["figures"]


def test_benchmark_refuses_a_test_class_on_a_development_cohort(tmp_path):
    done = _bicpl("benchmark", "--held-out", "2", "--data-seeds", "0", "--output-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: code 2 is a test class")
