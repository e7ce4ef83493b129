"""Real exam folders and real failures (issue 24), and a seeded fuzz pass over the DICOM and NIfTI readers and
one small build.

Every case ends in a loaded volume, a `ValueError`-family error naming the file or folder (`error: …`, exit 2
in a command), or a skipped exam with a reason in the build report; never another exception (an internal error),
never a huge allocation for a hostile header, never a partial output left behind.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from _nonhead_phantoms import write_dicom
from _phantoms import make_head_phantom

from bicpl_hf.commands.errors import EXIT_BAD_INPUT, is_user_error, run_command
from bicpl_hf.processing.dicom_series import _slice_geometry_problems
from bicpl_hf.processing.volume_io import VolumeReadError, read_volume
from bicpl_hf.processing.volume_limits import MAX_VOLUME_BYTES_ENV, max_volume_bytes

SALT = "reader-fuzz-salt-0123456789"
HEADER = ["检查号", "检查时间", "左侧诊断-训练", "右侧诊断-训练", "影像所见", "检查结论"]
DATED_UID = "1.2.826.0.1.3680043.8.498.20200101123456"  # real UIDs embed a date: it must never reach a report


@pytest.fixture(scope="module")
def head() -> sitk.Image:
    return make_head_phantom(size_xyz=(80, 70, 12), spacing=(2.0, 2.0, 1.0), seed=9).to_sitk()


def _deny(monkeypatch, *paths: Path) -> None:
    """Make `paths` unreadable; root reads anything, so there `os.access` is made to answer as for a user."""
    for path in paths:
        os.chmod(path, 0)
    if os.geteuid() == 0:
        denied = {os.path.abspath(p) for p in paths}
        real = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, *args, **kwargs: (
            False if os.path.abspath(path) in denied else real(path, mode, *args, **kwargs)))


def _every_slice_twice(folder: Path) -> None:
    for path in sorted(folder.iterdir()):
        shutil.copy(path, folder / f"copy_{path.name}")


def _merge_into(target: Path, other: Path, prefix: str) -> None:
    for path in sorted(other.iterdir()):
        shutil.move(str(path), target / f"{prefix}{path.name}")
    other.rmdir()


# --------------------------------------------------------------------------------------------------
# 1. Every slice present twice
def test_identical_copies_of_every_slice_are_dropped_with_a_note(head, tmp_path):
    folder = write_dicom(head, tmp_path / "s", series="TEMPORAL BONE")
    _every_slice_twice(folder)
    loaded = read_volume(folder)
    assert loaded.image.GetSize()[2] == 12
    (note,) = [w for w in loaded.warnings if "duplicate file(s) ignored" in w]
    assert note.startswith(f"12 duplicate file(s) ignored in {folder}") and "copy_IM0000.dcm is a copy of IM0000.dcm" in note
    assert not any(f.startswith("copy_") for f in map(os.path.basename, loaded.series_choice.chosen.files))


def test_two_series_under_one_uid_are_split_when_a_header_field_tells_them_apart(head, tmp_path):
    folder = write_dicom(head, tmp_path / "s", series="TEMPORAL BONE", uid="1.2.826.0.1.3680043.8.498.31")
    _merge_into(folder, write_dicom(head[:, :, :8] * 0.5, tmp_path / "b", series="SOFT",
                                    uid="1.2.826.0.1.3680043.8.498.31"), "B")
    loaded = read_volume(folder)
    assert loaded.image.GetSize()[2] == 12 and loaded.series_uid.startswith("1.2.826.0.1.3680043.8.498.31#")
    assert any("shared by 2 different series, told apart by description" in w for w in loaded.warnings)
    (rejected,) = loaded.series_choice.rejected
    assert rejected.series.num_slices == 8 and "fewer slices" in rejected.reason


def test_two_series_under_one_uid_that_nothing_tells_apart_are_refused_naming_both(head, tmp_path):
    folder = write_dicom(head, tmp_path / "s", series="TEMPORAL BONE")
    _merge_into(folder, write_dicom(head * 0.5, tmp_path / "b", series="TEMPORAL BONE"), "B")
    with pytest.raises(VolumeReadError, match="two different series share SeriesInstanceUID") as caught:
        read_volume(folder)
    message = str(caught.value)
    assert str(folder) in message and "BIM0000.dcm" in message and "IM0000.dcm and" in message
    assert caught.value.reason_code == "unreadable_series"


def test_a_zero_median_slice_step_is_a_problem_not_a_crash(tmp_path):
    files = [str(tmp_path / f"IM{i}.dcm") for i in range(6)]
    problems = _slice_geometry_problems(str(tmp_path), files, np.array([0.0, 0.0, 1.0, 1.0, 2.0, 2.0]))
    assert len(problems) == 1 and problems[0].startswith(f"duplicate slice positions in {tmp_path}: 3 of 6 slices")


# --------------------------------------------------------------------------------------------------
# 2. Hostile headers
def _nifti_bytes(array: np.ndarray, tmp_path: Path) -> bytearray:
    path = tmp_path / "template.nii"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    data = bytearray(path.read_bytes())
    path.unlink()
    return data


def _claim(data: bytearray, dims: tuple[int, int, int]) -> bytearray:
    struct.pack_into("<4h", data, 40, 3, *dims)
    return data


@pytest.mark.parametrize("name", ["hostile.nii", "hostile.nii.gz"])
def test_a_header_claiming_gigabytes_fails_fast_naming_the_file_and_the_size(tmp_path, name):
    data = _claim(_nifti_bytes(np.full((8, 8, 8), -1000, np.int16), tmp_path), (1024, 1024, 1024))[:1300]
    path = tmp_path / name
    path.write_bytes(gzip.compress(bytes(data)) if name.endswith(".gz") else bytes(data))
    before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    with pytest.raises(VolumeReadError) as caught:
        read_volume(path)
    assert time.perf_counter() - start < 5
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 < 1024**3  # ru_maxrss is in KiB
    message = str(caught.value)
    assert str(path) in message and "1024 x 1024 x 1024" in message and "2.0 GiB" in message
    assert "truncated" in message and "not a head CT" not in message


def test_the_memory_ceiling_is_an_argument_or_an_environment_variable(tmp_path, monkeypatch):
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.full((8, 8, 8), -1000, np.int16)), str(path))
    assert read_volume(path).image.GetSize() == (8, 8, 8)
    with pytest.raises(VolumeReadError, match="above the memory ceiling of 1.0 KiB") as caught:
        read_volume(path, max_volume_bytes=1024)
    assert str(path) in str(caught.value) and caught.value.reason_code == "volume_too_large"
    monkeypatch.setenv(MAX_VOLUME_BYTES_ENV, "1K")
    assert max_volume_bytes() == 1024
    with pytest.raises(VolumeReadError, match=MAX_VOLUME_BYTES_ENV):
        read_volume(path)
    monkeypatch.setenv(MAX_VOLUME_BYTES_ENV, "lots")
    with pytest.raises(ValueError, match=MAX_VOLUME_BYTES_ENV):
        read_volume(path)


def test_a_truncated_nii_gz_is_refused_before_it_is_read(tmp_path):
    array = np.random.default_rng(0).integers(-1000, 2000, size=(32, 32, 32)).astype(np.int16)  # incompressible
    path = tmp_path / "cut.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VolumeReadError, match="truncated") as caught:
        read_volume(path)
    assert str(path) in str(caught.value)


# --------------------------------------------------------------------------------------------------
# 3. Reasons that say what happened
def test_a_nifti_file_without_read_permission_is_not_called_missing(tmp_path, monkeypatch):
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.full((8, 8, 8), -1000, np.int16)), str(path))
    _deny(monkeypatch, path)
    with pytest.raises(VolumeReadError, match="permission denied") as caught:
        read_volume(path)
    assert str(path) in str(caught.value) and "does not exist" not in str(caught.value)


def test_a_dicom_slice_without_read_permission_is_not_called_corrupt(head, tmp_path, monkeypatch):
    folder = write_dicom(head, tmp_path / "s", series="TEMPORAL BONE")
    _deny(monkeypatch, folder / "IM0004.dcm")
    with pytest.raises(VolumeReadError, match=r"unreadable file .*IM0004.dcm: permission denied") as caught:
        read_volume(folder)
    assert "corrupt DICOM file" not in str(caught.value)


def test_itk_warnings_do_not_leak_to_stderr(tmp_path, capfd):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("not a scan", encoding="utf-8")
    (folder / "IM0001").write_bytes(b"\0" * 200)
    with pytest.raises(VolumeReadError, match="no DICOM series found"):
        read_volume(folder)
    assert "WARNING" not in capfd.readouterr().err


# --------------------------------------------------------------------------------------------------
# 4. Seeded fuzzing of the readers
def _outcome(path: Path) -> str:
    """`"read"` or `"refused"`; anything else fails the test (an internal error in a command)."""
    try:
        read_volume(path)
    except Exception as error:  # noqa: BLE001 - the point is to see which classes escape
        assert is_user_error(error) and isinstance(error, ValueError), f"{type(error).__name__}: {error}"
        assert str(path) in str(error), str(error)
        assert run_command(lambda argv: read_volume(path), []) == EXIT_BAD_INPUT
        return "refused"
    return "read"


def test_fuzzed_nifti_headers_and_truncations_are_read_or_refused_naming_the_file(tmp_path):
    rng = np.random.default_rng(24)
    template = _nifti_bytes(np.clip(rng.normal(-500, 600, (20, 24, 28)), -1024, 3000).astype(np.int16), tmp_path)
    outcomes, start = [], time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for case in range(60):
        data = bytearray(template)
        how = case % 4
        if how == 0:  # flip bits in the header
            for offset in rng.integers(0, 352, size=int(rng.integers(1, 6))):
                data[offset] ^= 1 << int(rng.integers(0, 8))
        elif how == 1:  # zero a run of header bytes
            offset = int(rng.integers(0, 340))
            data[offset: offset + int(rng.integers(1, 12))] = bytes(min(12, 352 - offset))[: len(data[offset: offset + 12])]
        elif how == 2:  # truncate
            data = data[: int(rng.integers(0, len(data)))]
        else:  # random header bytes at random places, and the dims of a huge volume
            data = _claim(data, tuple(int(v) for v in rng.integers(1, 32767, size=3)))
        name = f"case{case:02d}.nii" + (".gz" if case % 3 == 0 else "")
        path = tmp_path / name
        path.write_bytes(gzip.compress(bytes(data), mtime=0) if name.endswith(".gz") else bytes(data))
        outcomes.append(_outcome(path))
    assert outcomes.count("refused") >= 20  # the fuzzing did hit the readers' refusals
    assert time.perf_counter() - start < 20
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 < 1024**3


def test_fuzzed_dicom_series_are_read_or_refused_naming_the_folder(head, tmp_path):
    rng = np.random.default_rng(2024)
    template = write_dicom(head, tmp_path / "template", series="TEMPORAL BONE")
    outcomes = []
    for case in range(16):
        folder = tmp_path / f"case{case:02d}"
        shutil.copytree(template, folder)
        victim = folder / f"IM{int(rng.integers(0, 12)):04d}.dcm"
        data = bytearray(victim.read_bytes())
        how = case % 4
        if how == 0:  # corrupt a tag region of the header (after the preamble)
            offset = int(rng.integers(132, 900))
            data[offset: offset + 16] = rng.integers(0, 256, size=16, dtype=np.uint8).tobytes()
            victim.write_bytes(bytes(data))
        elif how == 1:  # truncate one slice
            victim.write_bytes(bytes(data[: int(rng.integers(0, len(data)))]))
        elif how == 2:  # every slice twice
            _every_slice_twice(folder)
        else:  # one slice twice under another name
            shutil.copy(victim, folder / f"dup_{victim.name}")
        outcome = _outcome(folder)
        outcomes.append(outcome)
        if how >= 2:
            assert outcome == "read", case
    assert "refused" in outcomes


# --------------------------------------------------------------------------------------------------
# One small build with the real failures, its rerun after a kill and a truncated cache
def _write_csv(path: Path, exams) -> Path:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for exam in exams:
            writer.writerow([exam, "", "1", "5", "左侧鼓室软组织影。右侧中耳乳突未见异常。", "左侧中耳炎。"])
    return path


def test_a_build_with_real_failures_accounts_for_each_and_reruns_cleanly(head, tmp_path):
    from bicpl_hf.data.builder import build_dataset
    from bicpl_hf.processing.image_processing_bicpl import BiCPLVolumeProcessor

    root = tmp_path / "dicom" / "2020-01-01"
    write_dicom(head, root / "CTZ1" / "s1", series="TEMPORAL BONE", uid="1.2.826.0.1.3680043.8.498.41")
    _every_slice_twice(write_dicom(head, root / "CTZ2" / "s1", series="TEMPORAL BONE", uid=DATED_UID))
    corrupt = write_dicom(head, root / "CTZ3" / "s1", series="TEMPORAL BONE", uid="1.2.826.0.1.3680043.8.498.43")
    (corrupt / "IM0005.dcm").write_bytes((corrupt / "IM0005.dcm").read_bytes()[:400])
    mixed = write_dicom(head, root / "CTZ4" / "s1", series="TEMPORAL BONE", uid=DATED_UID + "9")
    _merge_into(mixed, write_dicom(head * 0.5, root / "other", series="TEMPORAL BONE", uid=DATED_UID + "9"), "B")
    export = _write_csv(tmp_path / "export.csv", ["CTZ1", "CTZ2", "CTZ3", "CTZ4"])
    output = tmp_path / "out"
    processor = BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(40.0, 40.0, 40.0))

    def build():
        return build_dataset(export, tmp_path / "dicom", output, processor=processor, salt=SALT, progress=False)

    result = build()
    text = (output / "build_report.json").read_text(encoding="utf-8")
    report = json.loads(text)
    rows = {r["row"]: r for r in report["rows"]}
    assert rows[2]["status"] == "kept" and rows[3]["status"] == "kept", (rows[2]["reason"], rows[3]["reason"])
    assert any("duplicate file(s) ignored" in n for n in rows[3]["notes"])
    assert rows[4]["reason_code"] == "unreadable_series" and "corrupt DICOM file" in rows[4]["reason"]
    assert rows[5]["reason_code"] == "unreadable_series" and "two different series share" in rows[5]["reason"]
    assert result.totals["rows_kept_thick_slices"] == 0 and "thick_slices" not in result.totals["rows_skipped_by_reason"]
    assert DATED_UID not in text and DATED_UID not in (output / "build_report.csv").read_text(encoding="utf-8-sig")
    keys = {s["series_key"] for s in report["series"] if s["folder"].endswith("/s1")}
    assert any(key and key in rows[5]["reason"] for key in keys)  # the hashed id names the series instead

    # A build killed while writing the dataset left its staging folder; a cached npz was cut short.
    (output / ".dataset-staging-999999999" / "arrow").mkdir(parents=True)
    victim = next((output / ".work" / "exams").glob("*.npz"))
    victim.write_bytes(victim.read_bytes()[:100])
    rerun = build()
    assert victim.stem in rerun.converted_exam_keys and len(rerun.cached_exam_keys) == 3
    assert not list(output.glob(".dataset-*")) and not list((output / ".work" / "exams").glob("*.tmp*"))
    assert json.loads((output / "build_report.json").read_text(encoding="utf-8"))["rows"] == report["rows"]
