"""`bicpl diagnose` on what a hospital has (issue 24): the export's own `<date>/<exam>/<series>` tree with a scout,
a study folder, NIfTI files mixed in, a broken exam, an exam under two dates, a tie between two series, a Chinese
folder name; skipped exams with reasons, results written as they come, no empty folders."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from _phantoms import make_head_phantom
from conftest import save_tiny_model

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
       "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "default"}
SCOUT_ONLY, BROKEN, CHINESE, TIE = "CT_SCOUT_ONLY", "CT_BROKEN", "张三_颞骨", "CT_TIE"


def bicpl(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bicpl_hf.commands.cli", *map(str, args)], capture_output=True,
                          text=True, encoding="utf-8", errors="replace", env=ENV, timeout=300)


def _series_dirs(exam: Path) -> list[Path]:
    return sorted(p for p in exam.iterdir() if p.is_dir())


def _rewrite_series(source: Path, target: Path, uid: str, *, localizer: bool = False, limit: int | None = None):
    """Copy a DICOM series under a new SeriesInstanceUID (optionally as a one-image LOCALIZER)."""
    target.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for i, path in enumerate(sorted(source.iterdir())[:limit]):
        image = sitk.ReadImage(str(path))
        image.SetMetaData("0020|000e", uid)
        image.SetMetaData("0008|0018", f"{uid}.{i + 1}")
        if localizer:
            image.SetMetaData("0008|0008", "ORIGINAL\\PRIMARY\\LOCALIZER")
        writer.SetFileName(str(target / f"{'SC' if localizer else 'IM'}{uid[-4:]}_{i:04d}.dcm"))
        writer.Execute(image)


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    from bicpl_hf.synthetic.export import make_synthetic_export

    root = tmp_path_factory.mktemp("hospital")
    save_tiny_model(root)

    export = make_synthetic_export(root / "export", n_exams=3, size="tiny", seed=0, anomalies=False)
    dicom = export.dicom_root
    exams = sorted(p for date in dicom.iterdir() for p in date.iterdir())
    first = exams[0]
    bone = max(_series_dirs(first), key=lambda p: len(list(p.iterdir())))
    if not any(len(list(s.iterdir())) <= 2 for e in exams for s in _series_dirs(e)):  # no scout from the generator
        _rewrite_series(bone, first / "1", "1.2.826.0.1.3680043.99.1", localizer=True, limit=1)
    date = dicom / "2030-01-01"
    # an exam of nothing but a scout; one with a zero-byte slice; a Chinese folder name; the same exam id under a
    # second date; two indistinguishable series in one folder
    _rewrite_series(bone, date / SCOUT_ONLY / "1", "1.2.826.0.1.3680043.99.2", localizer=True, limit=1)
    shutil.copytree(first, date / BROKEN)
    broken_series = max(_series_dirs(date / BROKEN), key=lambda p: len(list(p.iterdir())))
    sorted(broken_series.iterdir())[5].write_bytes(b"")
    shutil.copytree(first, date / CHINESE)
    shutil.copytree(first, date / first.name)
    _rewrite_series(bone, date / TIE, "1.2.826.0.1.3680043.99.3")
    _rewrite_series(bone, date / TIE, "1.2.826.0.1.3680043.99.4")
    nifti = root / "nifti" / "exam_nifti.nii.gz"
    nifti.parent.mkdir()
    sitk.WriteImage(make_head_phantom(size_xyz=(140, 100, 30), lesion_side="left", seed=0).to_sitk(), str(nifti))
    return {"root": root, "model": root / "model", "dicom": dicom, "exams": exams, "first": first, "nifti": nifti}


@pytest.mark.slow
def test_export_tree_with_nifti_broken_scout_tie_and_chinese_names(hospital):
    output = hospital["root"] / "out_tree"
    done = bicpl("diagnose", hospital["dicom"], hospital["nifti"], "--model", hospital["model"], "--output", output,
                 "--batch-size", 2, "--strict")
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]  # --strict: exams were skipped
    assert "Glyph" not in done.stderr and "missing from font" not in done.stderr, done.stderr[-3000:]
    assert "(--strict)" in done.stderr
    results = {r["exam"]: r for r in json.loads((output / "predictions.json").read_text(encoding="utf-8"))}
    first = hospital["first"]
    good = [e.name for e in hospital["exams"][1:]] + [f"{first.parent.name}_{first.name}", f"2030-01-01_{first.name}",
                                                      CHINESE, TIE, "exam_nifti"]
    assert set(results) == {*good, SCOUT_ONLY, BROKEN}
    for name in good:
        assert results[name]["status"] == "diagnosed", results[name]
        assert (output / results[name]["overlay"]).stat().st_size > 1000
        assert abs(sum(results[name]["left"]["probabilities"].values()) - 1) < 1e-5
    assert results[SCOUT_ONLY]["status"] == "skipped" and "LOCALIZER" in results[SCOUT_ONLY]["reason"]
    assert results[BROKEN]["status"] == "skipped" and "corrupt DICOM file" in results[BROKEN]["reason"]
    assert any("series choice was a tie" in w for w in results[TIE]["warnings"])
    assert not any("tie" in w for w in results[first.parent.name + "_" + first.name]["warnings"])
    assert sorted(p.name for p in (output / "overlays").iterdir()) == sorted(f"{name}.png" for name in good)
    with open(output / "predictions.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * len(good) + 2
    assert {r["exam"]: r["reason"] for r in rows if r["status"] == "skipped"}.keys() == {SCOUT_ONLY, BROKEN}
    assert f"diagnosed {len(good)} of {len(good) + 2} exam(s), skipped 2" in done.stdout


@pytest.mark.slow
def test_study_folders_are_one_exam_named_after_the_exam(hospital):
    exams = hospital["exams"]
    scout_exam = next(e for e in exams if len(_series_dirs(e)) > 1)
    single = next((e for e in exams if len(_series_dirs(e)) == 1), exams[-1])
    output = hospital["root"] / "out_study"
    done = bicpl("diagnose", scout_exam, single, "--model", hospital["model"], "--output", output, "--quiet")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((output / "predictions.json").read_text(encoding="utf-8"))
    assert [(r["exam"], r["status"]) for r in results] == [(scout_exam.name, "diagnosed"), (single.name, "diagnosed")]
    assert "diagnosed 2 of 2 exam(s), skipped 0" in done.stdout


def test_refused_runs_leave_no_empty_folder_and_skips_are_recorded(hospital, tmp_path, capsys):
    from bicpl_hf.commands.cli import main

    date = hospital["dicom"] / "2030-01-01"
    only_bad = tmp_path / "bad"
    shutil.copytree(date / BROKEN, only_bad / BROKEN)
    shutil.copytree(date / SCOUT_ONLY, only_bad / SCOUT_ONLY)
    output = tmp_path / "out" / "nested"
    assert main(["diagnose", str(only_bad), "--model", str(hospital["model"]), "--output", str(output), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "error: no exam could be diagnosed" in captured.err
    assert not (output / "overlays").exists()
    results = json.loads((output / "predictions.json").read_text(encoding="utf-8"))
    assert [(r["exam"], r["status"]) for r in results] == [(BROKEN, "skipped"), (SCOUT_ONLY, "skipped")]

    refused = tmp_path / "refused" / "out"
    assert main(["diagnose", str(only_bad), "--model", str(hospital["model"]), "--output", str(refused),
                 "--labels", "鼻窦炎"]) == 2
    assert not (tmp_path / "refused").exists()


def test_an_interrupted_run_keeps_the_finished_batches(hospital, tmp_path, monkeypatch, capsys):
    from bicpl_hf.commands.cli import main
    from bicpl_hf.zero_shot import pipeline

    real, calls = pipeline.diagnose_pixel_values, []

    def interrupted_on_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "diagnose_pixel_values", interrupted_on_the_second_batch)
    output = tmp_path / "out"
    status = main(["diagnose", *map(str, hospital["exams"]), "--model", str(hospital["model"]), "--output",
                   str(output), "--quiet"])
    assert status == 130 and "interrupted" in capsys.readouterr().err
    results = json.loads((output / "predictions.json").read_text(encoding="utf-8"))
    assert [(r["exam"], r["status"]) for r in results] == [(hospital["exams"][0].name, "diagnosed")]
    assert [p.name for p in (output / "overlays").iterdir()] == [f"{hospital['exams'][0].name}.png"]


def test_exam_discovery_names_and_layouts(hospital, tmp_path):
    from bicpl_hf.data.exam_discovery import find_exams

    dicom, first = hospital["dicom"], hospital["first"]
    tree = find_exams([dicom])
    assert all(e.path.parent.parent == dicom for e in tree.exams)  # every exam is a <date>/<exam> folder
    assert find_exams([first.parent]).exams[0].path == first  # a date folder of one exam
    series = max(_series_dirs(first), key=lambda p: len(list(p.iterdir())))
    assert [e.name for e in find_exams([series]).exams] == [series.name]  # a series folder given on purpose
    # a folder of single-series exams of different studies (the old `scans/<exam>/*.dcm` layout): one exam each
    flat = tmp_path / "flat"
    for exam in hospital["exams"]:
        bone = max(_series_dirs(exam), key=lambda p: len(list(p.iterdir())))
        shutil.copytree(bone, flat / f"patient_{exam.name}")
    shutil.copy(hospital["nifti"], flat / "extra.nii.gz")
    (flat / "notes.txt").write_text("not an exam", encoding="utf-8")
    found = find_exams([flat])
    assert [e.name for e in found.exams] == ["extra", *[f"patient_{e.name}" for e in hospital["exams"]]]
    assert any("notes.txt" in entry for entry in found.ignored)
    with pytest.raises(ValueError, match="no exam found"):
        find_exams([_empty(tmp_path / "empty")])
    with pytest.raises(ValueError, match="not a volume file"):
        find_exams([flat / "notes.txt"])


def _empty(path: Path) -> Path:
    path.mkdir()
    return path


def test_overlay_titles_with_chinese_characters_give_no_glyph_warnings(tmp_path, monkeypatch):
    from bicpl_hf.publishing import visualization

    values = np.random.default_rng(0).random((2, 2, 8, 8, 8)).astype(np.float32)
    maps = {"asymmetry (A3B)": np.zeros((2, 8, 8, 8))}
    for family in (None, visualization.cjk_font_family() or "DejaVu Sans"):  # no CJK font; a (possibly fake) one
        monkeypatch.setattr(visualization, "cjk_font_family", lambda family=family: family)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            path = visualization.save_ear_overlay(values, maps, tmp_path / f"{family}.png", title="张三_颞骨: left 2")
        assert path.stat().st_size > 1000
        assert not [w for w in caught if "Glyph" in str(w.message)], [str(w.message) for w in caught]
    assert visualization._drawable("张三 exam") == "?? exam"
