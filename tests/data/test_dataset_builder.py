"""Dataset builder for hospital exports: sheet reading, DICOM tree, build report, de-identification,
resume, splits and the Setting A/B views, all on tiny exports written to disk here."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import importlib.util
import json
from collections import Counter
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import SimpleITK as sitk
from _phantoms import make_head_phantom
from datasets import Dataset, DatasetDict

from bicpl_hf.data import builder as builder_module
from bicpl_hf.data.builder import build_dataset as _build_dataset
from bicpl_hf.data.builder import build_dataset_from_source as _build_dataset_from_source
from bicpl_hf.data.deidentify import DEMO_SALT, identifier_variants, salted_key, scrub_text
from bicpl_hf.data.dicom_tree import DicomTreeError, choose_exam_folder, index_dicom_tree
from bicpl_hf.data.export_table import ExportColumns, ExportTableError, parse_label_cell, read_export_table
from bicpl_hf.data.report_columns import REPORT_COLUMNS, parsed_report_columns
from bicpl_hf.data.sources import ExamSource, NiftiFolderSource
from bicpl_hf.data.splits import assign_patient_splits, class_counts, load_built_dataset, setting_view
from bicpl_hf.knowledge import ATTRIBUTE_VOCABULARY
from bicpl_hf.processing.image_processing_bicpl import BiCPLVolumeProcessor
from bicpl_hf.processing.report_parser import parse_report

SALT = "test-salt-0123456789abcdef"
# The phantoms here have 3 mm slices and the synthetic "tiny" export 2 mm; the default limit (1.25 mm) is
# tested in tests/data/test_fuzz_inputs.py.
build_dataset = functools.partial(_build_dataset, max_slice_thickness_mm=3.0)
build_dataset_from_source = functools.partial(_build_dataset_from_source, max_slice_thickness_mm=3.0)
THICK_OK = ["--max-slice-thickness-mm", "3"]
HEADER = ["检查号", "检查时间", "左侧诊断-训练", "右侧诊断-训练", "影像所见", "检查结论"]
NORMAL = ("双侧外耳道通畅，鼓室及乳突气化良好，听骨链完整。", "双侧中耳未见明显异常。")
# name, PatientID, birth date: must never reach any output file.
PATIENTS = {
    "p1": ("ZHANG^WEIMING", "PID-730001", "19750312"),
    "p2": ("王晓明", "PID-730002", "19800102"),
    "p3": ("LI^NAXIN", "PID-730003", "19691224"),
    "p4": ("CHEN^JIELONG", "PID-730004", "19900817"),
    "p5": ("LIU^YANGFAN", "PID-730005", "19850605"),
    "p6": ("ZHAO^LEIMING", "PID-730006", "19720229"),
}
# exam id -> (date folders, patient, lesion side, extra series); exam ids are distinctive so a leak is visible.
EXAMS = {
    "CTX900001": (["2019-03-01"], "p1", "left", None),
    "CTX900002": (["2019-03-02"], "p2", "left", None),
    "CTX900003": (["2019-03-02"], "p3", None, "soft"),
    "CTX900004": (["2019-03-03", "2019-03-04"], "p1", "right", None),
    "CTX900005": (["2019-03-05"], "p4", None, None),
    "CTX900006": (["2019-03-05"], "p5", "right", None),
    "CTX900007": (["2019-03-06"], "p6", None, None),
    "CTX900008": (["2019-03-06"], "p5", None, None),
    "CTX900009": (["2019-03-07"], "p6", "left", None),
    "CTX900010": (["2019-03-07"], "p6", None, "mr_only"),
    "CTX900099": (["2019-03-08"], "p4", None, None),  # images with no sheet row
}
# (exam id, exam time, left cell, right cell, findings, impression); rows are 2.. in this order.
ROWS = [
    ("CTX900001", dt.datetime(2019, 3, 1, 9, 30), "1：慢性化脓性中耳炎", "5:正常", *NORMAL),
    ("CTX900002", "2019-03-02 10:00", None, None, "患者王晓明。左侧鼓室内见软组织影，听小骨骨质吸收。右侧鼓室清晰。",
     "左侧中耳胆脂瘤可能；右侧中耳未见明显异常。"),
    ("CTX900003", "2019/3/2", 3, 3.0, "双侧鼓室积液，可见气液平面。", "双侧分泌性中耳炎。"),
    ("CTX900004", "20190304", "5", "2：中耳胆脂瘤", *NORMAL),
    ("CTX900005", None, "5", "5", *NORMAL),
    ("CTX900005", None, "5", "5", *NORMAL),  # identical duplicate
    ("CTX900006", None, "4：胆固醇肉芽肿", "1", *NORMAL),
    ("CTX900007", None, "1", "5", *NORMAL),
    ("CTX900007", None, "2", "5", *NORMAL),  # conflicting duplicate
    ("CTX900008", None, None, None, None, None),  # no label and no report
    (None, None, None, None, None, None),  # blank row
    ("CTX900009", None, "6：其他", "", *NORMAL),
    ("CTX900010", None, "1", "1", *NORMAL),  # only an MR series: unreadable
    ("CTX900011", None, "5", "5", *NORMAL),  # no images
]
ROW_REASONS = {2: "kept", 3: "kept", 4: "kept", 5: "kept", 6: "kept", 7: "duplicate_row", 8: "kept",
               9: "conflicting_duplicate_rows", 10: "conflicting_duplicate_rows", 11: "no_label_no_report",
               12: "blank_row", 13: "kept", 14: "unreadable_series", 15: "no_images"}
_PHANTOMS: dict = {}


def _phantom(lesion: str | None) -> sitk.Image:
    if lesion not in _PHANTOMS:
        _PHANTOMS[lesion] = make_head_phantom(size_xyz=(80, 70, 12), spacing=(2.0, 2.0, 3.0), lesion_side=lesion,
                                              seed=7).to_sitk()
    return _PHANTOMS[lesion]


def write_series(image: sitk.Image, folder: Path, *, uid: str, patient: tuple[str, str, str], kernel: str = "BONE",
                 modality: str = "CT") -> None:
    """One DICOM file per slice (int16, RescaleIntercept -1024) with the patient's identifiers."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    hu = sitk.Cast(sitk.Round(image), sitk.sitkInt16)
    name, patient_id, birth = patient
    for k in range(image.GetSize()[2]):
        tile = hu[:, :, k]
        tags = {"0008|0005": "ISO_IR 192", "0008|0060": modality, "0020|000e": uid, "0020|000d": uid + ".0",
                "0018|1210": kernel, "0008|103e": "TEMPORAL BONE", "0008|0008": "ORIGINAL\\PRIMARY\\AXIAL",
                "0028|1052": "-1024", "0028|1053": "1", "0010|0010": name, "0010|0020": patient_id,
                "0010|0030": birth, "0008|0018": f"{uid}.{k + 1}", "0020|0013": str(k + 1),
                "0020|0032": "\\".join(f"{v:.4f}" for v in image.TransformIndexToPhysicalPoint((0, 0, k))),
                "0020|0037": "1\\0\\0\\0\\1\\0"}
        for tag, value in tags.items():
            tile.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"IM{k:04d}.dcm"))
        writer.Execute(tile)


def write_export(folder: Path, rows=ROWS, exams=EXAMS, *, csv_encoding: str | None = None) -> tuple[Path, Path]:
    """The sheet (xlsx, or csv in ``csv_encoding``) and ``dicom/<date>/<exam>/<series>/*.dcm``."""
    root = folder / "dicom"
    folder.mkdir(parents=True, exist_ok=True)
    for n, (exam_id, (dates, patient, lesion, extra)) in enumerate(exams.items()):
        for d, date in enumerate(dates):
            exam = root / date / exam_id
            modality = "MR" if extra == "mr_only" else "CT"
            write_series(_phantom(lesion), exam / "s1", uid=f"1.2.826.0.1.3680043.9.7.{n}.{d}.1",
                         patient=PATIENTS[patient], modality=modality)
            if extra == "soft":
                write_series(_phantom(lesion), exam / "s2", uid=f"1.2.826.0.1.3680043.9.7.{n}.{d}.2",
                             patient=PATIENTS[patient], kernel="STANDARD")
    if "CTX900004" in exams:  # the first date gets one file more: the sheet's date must still win
        (root / "2019-03-03" / "CTX900004" / "notes.txt").write_text("export log", encoding="utf-8")
    if csv_encoding is not None:
        path = folder / "export.csv"
        with open(path, "w", encoding=csv_encoding, newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            for row in rows:
                writer.writerow(["" if v is None else v for v in row])
        return path, root
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "影像学检查"
    sheet.append(HEADER)
    for row in rows:
        sheet.append(list(row))
    path = folder / "export.xlsx"
    workbook.save(path)
    return path, root


def tiny_processor() -> BiCPLVolumeProcessor:
    return BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(40.0, 40.0, 40.0))


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return write_export(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def built(export, tmp_path_factory):
    output = tmp_path_factory.mktemp("built")
    result = build_dataset(*export, output, processor=tiny_processor(), salt=SALT, seed=3, progress=False)
    return result


def _report(output: Path) -> dict:
    return json.loads((output / "build_report.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------------
# End to end


def test_build_accounts_for_every_row_and_series(built):
    report = _report(built.output_dir)
    totals = report["totals"]
    assert totals["rows_in"] == len(ROWS) == totals["rows_kept"] + totals["rows_skipped"]
    assert {r["row"]: r["reason_code"] for r in report["rows"]} == ROW_REASONS
    assert totals["rows_kept"] == 7
    conflicting = next(r for r in report["rows"] if r["row"] == 9)
    assert "rows 9, 10" in conflicting["reason"] and "左侧诊断-训练" in conflicting["reason"]
    assert "row 6 is used" in next(r for r in report["rows"] if r["row"] == 7)["reason"]
    # every series: CTX900003's soft-kernel decoy, the unused second date, the orphan exam, the MR series
    series = report["series"]
    assert totals["series_found"] == len(series) == totals["series_kept"] + totals["series_skipped"]
    assert totals["series_kept"] == 7
    reasons = [s["reason"] for s in series if s["status"] == "skipped"]
    assert any(r.startswith("not chosen:") and "soft kernel" in r for r in reasons)
    assert any("exam also under date 2019-03-04" in r for r in reasons)
    assert any("no sheet row has this 检查号" in r for r in reasons)
    assert any("modality is 'MR'" in r for r in reasons)
    assert any("were skipped (no_label_no_report)" in r for r in reasons)
    two_dates = next(r for r in report["rows"] if r["row"] == 5)
    assert two_dates["folder"].startswith("2019-03-04/") and any("matching the sheet's exam time" in n
                                                                 for n in two_dates["notes"])
    with open(built.output_dir / "build_report.csv", encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert sum(line["kind"] == "row" for line in lines) == len(ROWS)
    assert sum(line["kind"] == "series" for line in lines) == len(series)


def test_built_dataset_follows_the_output_contract(built):
    dataset = load_built_dataset(built.output_dir)
    assert list(dataset) == ["train", "validation", "test"]
    assert sum(len(d) for d in dataset.values()) == 7
    features = dataset["train"].features
    assert features["pixel_values"].shape == (2, 2, 16, 16, 16) and features["pixel_values"].dtype == "float16"
    assert features["left_code"].dtype == "int64" and "volume" not in features
    rows = {r["exam_key"]: r for split in dataset.values() for r in split.with_format("numpy")}
    report_rows = {r["row"]: r for r in _report(built.output_dir)["rows"]}
    first, weak = rows[report_rows[2]["exam_key"]], rows[report_rows[3]["exam_key"]]
    assert (first["left_code"], first["right_code"]) == (1, 5)
    assert (first["left_code_source"], first["right_code_source"]) == ("label", "label")
    assert (weak["left_code"], weak["right_code"], weak["left_code_source"]) == (2, 5, "weak")
    assert weak["report"].startswith("影像所见：") and "\n检查结论：" in weak["report"]
    assert "软组织影" in weak["left_text"] and "软组织影" not in weak["right_text"]
    assert "[已删除]" in weak["findings"]  # the patient's name in the report was scrubbed
    only_left = rows[report_rows[13]["exam_key"]]
    assert (only_left["left_code"], only_left["right_code_source"]) == (6, "weak")  # right from the report
    assert "halffloat" in str(dataset["train"].data.schema.field("pixel_values").type.storage_type)  # float16
    pixels = first["pixel_values"]  # the numpy formatter hands out float32
    assert pixels.shape == (2, 2, 16, 16, 16) and 0 <= pixels.min() < pixels.max() <= 1
    meta = json.loads(first["ear_metadata"])
    assert [m["side"] for m in meta] == ["left", "right"] and meta[0]["source"] == first["exam_key"]
    assert len(meta[0]["series_uid"]) == 32 and not meta[0]["series_uid"].startswith("1.2.")
    # the processor saved next to the dataset reproduces the stored ROIs
    processor = BiCPLVolumeProcessor.from_pretrained(str(built.output_dir))
    assert processor.roi_shape == [16, 16, 16]
    values, _ = processor.preprocess_image(sitk.Cast(sitk.Cast(sitk.Round(_phantom("left")), sitk.sitkInt16),
                                                     sitk.sitkFloat32))
    np.testing.assert_array_equal(values.astype(np.float16).astype(np.float32), pixels)
    # patient-level split: both exams of patient p1 (rows 2 and 5) share a split
    assert report_rows[2]["split"] == report_rows[5]["split"]
    assert rows[report_rows[2]["exam_key"]]["patient_key"] == rows[report_rows[5]["exam_key"]]["patient_key"]


def test_built_dataset_stores_each_report_parsed_once(built):
    dataset = load_built_dataset(built.output_dir)
    features = dataset["train"].features
    assert set(REPORT_COLUMNS) <= set(features)
    assert features["left_attributes"].length == len(ATTRIBUTE_VOCABULARY)
    assert set(features["findings_triples"].feature) == {"entity", "attribute", "entity_key", "attribute_key", "side",
                                                         "negated", "uncertain"}
    rows = {r["exam_key"]: r for split in dataset.values() for r in split}
    report_rows = {r["row"]: r for r in _report(built.output_dir)["rows"]}
    weak = rows[report_rows[3]["exam_key"]]  # CTX900002: left cholesteatoma (hedged), right normal
    expected = parsed_report_columns(parse_report(findings=weak["findings"], impression=weak["impression"]))
    assert weak["report"] == f"影像所见：{weak['findings']}\n检查结论：{weak['impression']}"
    for name in REPORT_COLUMNS:
        value = weak[name]
        assert (np.asarray(value).tolist() if name.endswith("_attributes") else value) == (
            np.asarray(expected[name]).tolist() if name.endswith("_attributes") else expected[name]), name
    assert {ATTRIBUTE_VOCABULARY[i] for i in np.flatnonzero(weak["left_attributes"])} == {"soft_tissue", "bone_erosion"}
    assert not any(weak["right_attributes"])
    assert weak["left_summary"].startswith("左侧：") and "胆脂瘤可能" in weak["left_summary"]
    assert weak["right_summary"] == "右侧：中耳未见明显异常"
    assert any(t["attribute_key"] == "soft_tissue" and t["side"] == "left" and not t["negated"]
               for t in weak["findings_triples"])
    assert [(m["code"], m["side"], m["uncertain"]) for m in weak["disease_mentions"] if not m["negated"]][0] == (
        2, "left", True)
    both = rows[report_rows[4]["exam_key"]]  # CTX900003: "双侧鼓室积液" is about both ears
    assert "积液" in both["bilateral_text"] and "积液" in both["left_text"] and "积液" in both["right_text"]


def _forbidden_strings(root: Path) -> list[str]:
    strings = [str(root), str(root.resolve())] + [e for e in EXAMS] + ["CTX900011"]
    for name, patient_id, birth in PATIENTS.values():
        strings += [name, name.replace("^", " "), name.replace("^", ""), patient_id, birth] + identifier_variants(birth_date=birth)
    return strings


def test_no_output_file_holds_an_identifier(built, export):
    forbidden = _forbidden_strings(export[1])
    files = [p for p in built.output_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".arrow" for p in files) and any(p.parent.name == "exams" for p in files)
    for path in files:
        data = path.read_bytes()
        for text in forbidden:
            for encoding in ("utf-8", "gb18030"):
                assert text.encode(encoding) not in data, f"{text!r} ({encoding}) found in {path}"


def test_dataset_does_not_depend_on_num_proc(built, export, tmp_path):
    parallel = build_dataset(*export, tmp_path, processor=tiny_processor(), salt=SALT, seed=3, num_proc=2,
                             progress=False)
    a, b = load_built_dataset(built.output_dir), load_built_dataset(parallel.output_dir)
    for split in a:
        assert a[split].to_dict() == b[split].to_dict()
    assert _report(built.output_dir)["rows"] == _report(parallel.output_dir)["rows"]


def test_interrupted_build_resumes_and_never_leaves_a_half_written_dataset(tmp_path, monkeypatch):
    rows = [r for r in ROWS if r[0] in ("CTX900001", "CTX900002", "CTX900003", "CTX900005")]
    exams = {k: v for k, v in EXAMS.items() if k in ("CTX900001", "CTX900002", "CTX900003", "CTX900004", "CTX900005")}
    export, root = write_export(tmp_path / "in", rows, exams, csv_encoding="gb18030")
    output = tmp_path / "out"

    def stop_after_two(key, result, seen=[]):  # noqa: B006 - the list counts calls on purpose
        seen.append(key)
        if len(seen) == 2:
            raise KeyboardInterrupt("simulated interruption")

    with pytest.raises(KeyboardInterrupt):
        build_dataset(export, root, output, processor=tiny_processor(), salt=SALT, on_exam_done=stop_after_two,
                      progress=False)
    assert not (output / "dataset").exists() and len(list((output / ".work" / "exams").glob("*.json"))) == 2
    calls = []
    original = builder_module.convert_exam
    monkeypatch.setattr(builder_module, "convert_exam", lambda *a, **k: calls.append(1) or original(*a, **k))
    result = build_dataset(export, root, output, processor=tiny_processor(), salt=SALT, progress=False)
    assert len(calls) == 2 and len(result.cached_exam_keys) == 2 and len(result.converted_exam_keys) == 2
    assert _report(output)["settings"]["export_encoding"] == "gb18030"
    before = load_built_dataset(output)["train"].to_dict()

    # a failure while writing the new dataset leaves the previous one in place and no staging folder
    monkeypatch.setattr(builder_module, "_example", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        build_dataset(export, root, output, processor=tiny_processor(), salt=SALT, progress=False)
    assert load_built_dataset(output)["train"].to_dict() == before
    assert not [p for p in output.iterdir() if p.name.startswith(".dataset-")]
    # a cache made with another processor is refused, not mixed in
    with pytest.raises(builder_module.DatasetBuildError, match="different processor"):
        build_dataset(export, root, output, processor=BiCPLVolumeProcessor(roi_shape=(8, 8, 8)), salt=SALT,
                      progress=False)


@pytest.mark.smoke
def test_store_volumes_keeps_the_whole_ct_as_nifti(tmp_path):
    exams = {"CTX900001": EXAMS["CTX900001"]}
    export, root = write_export(tmp_path / "in", ROWS[:1], exams)
    result = build_dataset(export, root, tmp_path / "out", processor=tiny_processor(), salt=SALT,
                           store_volumes=True, progress=False)
    dataset = load_built_dataset(result.output_dir)
    split = next(d for d in dataset.values() if len(d))
    volume = split[0]["volume"]
    expected = sitk.GetArrayFromImage(sitk.Cast(sitk.Round(_phantom("left")), sitk.sitkInt16))
    np.testing.assert_array_equal(np.asarray(volume.dataobj).transpose(2, 1, 0), expected)
    raw = split.with_format("arrow")["volume"].to_pylist()[0]
    assert raw["path"] == f"{split[0]['exam_key']}.nii.gz"


# ---------------------------------------------------------------------------------------------------
# The sheet


@pytest.mark.parametrize(
    "cell, code",
    [("1：慢性化脓性中耳炎", 1), ("2:中耳胆脂瘤", 2), ("3 : 分泌性中耳炎", 3), ("４：胆固醇肉芽肿", 4), ("5", 5), ("6.0", 6),
     (1, 1), (5.0, 5), ("", None), ("  ", None), (None, None), (float("nan"), None)],
)
def test_every_label_cell_format(cell, code):
    assert parse_label_cell(cell, where="x") == code


@pytest.mark.parametrize("cell", ["慢性化脓性中耳炎", "7：其他", "1：中耳胆脂瘤", "1.5", 2.5, "一", True])
def test_malformed_label_cell_names_row_and_column(tmp_path, cell):
    path = tmp_path / "export.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.title = "影像学检查"
    workbook.active.append(HEADER)
    workbook.active.append(["CTX1", None, "1", "5", "a", "b"])
    workbook.active.append(["CTX2", None, "5", cell, "a", "b"])
    workbook.save(path)
    with pytest.raises(ExportTableError, match="row 3, column '右侧诊断-训练'"):
        read_export_table(path)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings_are_detected_and_reported(tmp_path, encoding):
    xlsx, _ = write_export(tmp_path / "x", ROWS, {})
    path = tmp_path / "export.csv"
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows([["" if v is None else v for v in row] for row in ROWS])
    table = read_export_table(path)
    assert table.encoding == encoding
    reference = read_export_table(xlsx)
    assert [(r.exam_id, r.left_code, r.right_code, r.findings, r.exam_date) for r in table.rows] == \
        [(r.exam_id, r.left_code, r.right_code, r.findings, r.exam_date) for r in reference.rows]
    assert [r.row_number for r in table.rows] == list(range(2, len(ROWS) + 2))


def test_configurable_column_names(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Accession,Time,L,R,Findings,Impression\nA1,2020-01-02,1,5,左侧鼓室积液。,左侧中耳炎。\n,,,,,\n"
                    "A2,,,,,\n,,,,,\n,,,,,\n", encoding="utf-8")
    columns = ExportColumns(exam_id="Accession", exam_time="Time", left_label="L", right_label="R",
                            findings="Findings", impression="Impression")
    table = read_export_table(path, columns=columns)
    row = table.rows[0]
    assert (row.exam_id, row.exam_date, row.left_code, row.right_code) == ("A1", dt.date(2020, 1, 2), 1, 5)
    # a blank row between exam rows is a row (reported); blank rows after the last one are only counted
    assert [(r.row_number, r.blank) for r in table.rows] == [(2, False), (3, True), (4, False)]
    assert table.trailing_blank_rows == 2


def test_bad_input_gets_a_clear_error(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("检查号,检查时间,左侧诊断,右侧诊断-训练,影像所见,检查结论\n", encoding="utf-8")
    with pytest.raises(ExportTableError, match=r"missing column '左侧诊断-训练'.*'左侧诊断'"):
        read_export_table(path)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"this is not a zip file")
    with pytest.raises(ExportTableError, match="cannot read .*broken.xlsx as an xlsx workbook"):
        read_export_table(broken)
    xlsx, _ = write_export(tmp_path / "x", ROWS[:1], {})
    with pytest.raises(ExportTableError, match=r"sheet 'Sheet9' not found; the workbook has the sheets \['影像学检查'\]"):
        read_export_table(xlsx, sheet_name="Sheet9")
    (tmp_path / "empty_root").mkdir()
    with pytest.raises(DicomTreeError, match="empty_root holds no exam folder"):
        build_dataset(xlsx, tmp_path / "empty_root", tmp_path / "out", processor=tiny_processor(), salt=SALT)
    with pytest.raises(DicomTreeError, match="does not exist"):
        index_dicom_tree(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="at least 16 characters"):
        build_dataset(xlsx, tmp_path, tmp_path / "out", processor=tiny_processor(), salt="short")
    bad_time = tmp_path / "time.csv"
    bad_time.write_text(",".join(HEADER) + "\nA1,next tuesday,1,5,a,b\n", encoding="utf-8")
    with pytest.raises(ExportTableError, match="row 2, column '检查时间'"):
        read_export_table(bad_time)


# ---------------------------------------------------------------------------------------------------
# DICOM tree, de-identification helpers, splits and settings


def test_exam_under_two_dates_rule(tmp_path):
    for date, n in (("2020-01-01", 3), ("2020-01-02", 5), ("20200103", 5)):
        series = tmp_path / date / "E1" / "s1"
        series.mkdir(parents=True)
        for i in range(n):
            (series / f"{i}.dcm").write_bytes(b"x")
    (tmp_path / "misc").mkdir()
    tree = index_dicom_tree(tmp_path)
    folders = tree.exams["E1"]
    assert [f.date_folder for f in folders] == ["2020-01-01", "2020-01-02", "20200103"]
    assert [e.relative_parts for e in tree.unexpected] == [("misc",)]
    assert choose_exam_folder(folders, dt.date(2020, 1, 1)).chosen.date_folder == "2020-01-01"
    tie = choose_exam_folder(folders, None)
    assert tie.chosen.date_folder == "2020-01-02" and "earliest date" in tie.reason and len(tie.rejected) == 2
    assert "most files (5 vs 3)" in choose_exam_folder(folders[:2], dt.date(2021, 1, 1)).reason


def test_scrub_identifiers():
    variants = identifier_variants("ZHANG^WEI", "PID-1", "19800102")
    text, count = scrub_text("ZHANG WEI, 1980年1月2日生, ID PID-1; 魏WEIGHT", variants)
    assert count == 3 and "ZHANG" not in text and "1980" not in text and "WEIGHT" in text


def test_patient_split_is_70_10_20_and_order_free():
    keys = [f"patient{i:03d}" for i in range(100)]
    splits = assign_patient_splits(keys, seed=0)
    assert [list(splits.values()).count(s) for s in ("train", "validation", "test")] == [70, 10, 20]
    assert assign_patient_splits(reversed(keys), seed=0) == splits != assign_patient_splits(keys, seed=1)


def _codes_dataset(pairs) -> Dataset:
    return Dataset.from_dict({"exam_key": [f"e{i}" for i in range(len(pairs))],
                              "left_code": [p[0] for p in pairs], "right_code": [p[1] for p in pairs]})


def test_setting_views():
    pairs = [(1, 5), (2, 5), (4, 1), (6, 3), (5, 5), (2, 4)]
    dataset = DatasetDict(train=_codes_dataset(pairs), validation=_codes_dataset(pairs), test=_codes_dataset(pairs))
    a = setting_view(dataset, "A")
    assert list(a["train"]["exam_key"]) == ["e0", "e1", "e3", "e4"]  # code-4 exams leave train
    assert list(zip(a["train"]["left_code"], a["train"]["right_code"])) == [(1, 5), (2, 5), (-100, 3), (5, 5)]
    assert list(a["validation"]["exam_key"]) == [f"e{i}" for i in range(6)]  # code-4 ears masked, exams stay
    assert class_counts(a["validation"]) == {1: 2, 2: 2, 3: 1, 5: 4}
    b = setting_view(dataset, "B")
    assert list(b["train"]["exam_key"]) == ["e0", "e3", "e4"] and list(b["validation"]["exam_key"]) == ["e0", "e2", "e3", "e4"]
    assert 2 not in class_counts(b["train"]) and 2 not in class_counts(b["validation"])
    assert b["test"] is dataset["test"] and class_counts(b["test"])[2] == 2 and class_counts(b["test"])[4] == 2
    assert class_counts(dataset)["train"] == {1: 2, 2: 2, 3: 1, 4: 2, 5: 4, 6: 1}
    with pytest.raises(ValueError, match="'A'"):
        setting_view(dataset, "C")


# ---------------------------------------------------------------------------------------------------
# The command line


def _cli():
    path = Path(__file__).resolve().parents[2] / "datasets_scripts" / "build_dataset.py"
    spec = importlib.util.spec_from_file_location("build_dataset_cli", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_builds_and_pushes(tmp_path, monkeypatch, capsys):
    exams = {"CTX900001": EXAMS["CTX900001"]}
    export, root = write_export(tmp_path / "in", ROWS[:1], exams)
    cli = _cli()
    status = cli.main(["--export", str(export), "--dicom-root", str(root), "--output", str(tmp_path / "o"), "--demo-salt"])
    assert status == 2 and capsys.readouterr().err.startswith("error: --demo-salt is only for the synthetic export")
    pushed = []
    monkeypatch.setattr(DatasetDict, "push_to_hub", lambda self, repo, **kw: pushed.append((repo, kw, len(self))))
    monkeypatch.setattr("bicpl_hf.commands.build._upload_file", lambda path, repo: pushed.append((repo, Path(path).name)))
    cli.main(["--export", str(export), "--dicom-root", str(root), "--output", str(tmp_path / "o"), "--salt", SALT,
              "--roi-shape", "16", "16", "16", "--roi-size-mm", "40", "40", "40", "--seed", "1", "--no-progress",
              "--push-to-hub", "me/private-ears", *THICK_OK])
    assert (tmp_path / "o" / "preprocessor_config.json").is_file()
    assert pushed[0] == ("me/private-ears", {"private": True}, 3)
    assert ("me/private-ears", "preprocessor_config.json") in pushed
    assert DEMO_SALT != SALT


def test_cli_builds_the_synthetic_export_end_to_end(tmp_path):
    from bicpl_hf.synthetic.export import make_synthetic_export

    export = make_synthetic_export(tmp_path / "synthetic", n_exams=12, size="tiny", seed=0)
    truth = json.loads(export.ground_truth_path.read_text(encoding="utf-8"))
    output = tmp_path / "built"
    _cli().main(["--export", str(export.xlsx_path), "--dicom-root", str(export.dicom_root), "--output", str(output),
                 "--demo-salt", "--roi-shape", "16", "16", "16", "--roi-size-mm", "40", "40", "40", "--num-proc", "2",
                 "--no-progress", *THICK_OK])
    report = _report(output)
    totals = report["totals"]
    assert totals["rows_in"] == totals["rows_kept"] + totals["rows_skipped"] == sum(r["in_sheet"] for r in truth["exams"]) + \
        sum(a["kind"] == "duplicate_row" for a in truth["anomalies"])
    by_key = {salted_key(DEMO_SALT, "exam", e["exam_id"]): e for e in truth["exams"]}
    kinds = {a["kind"]: salted_key(DEMO_SALT, "exam", a["exam_id"]) for a in truth["anomalies"]}
    rows = report["rows"]
    reasons = Counter(r["reason_code"] for r in rows if r["exam_key"] == kinds["duplicate_row"])
    assert reasons == {"kept": 1, "duplicate_row": 1}
    assert next(r for r in rows if r["exam_key"] == kinds["row_without_images"])["reason_code"] == "no_images"
    assert any(s["exam_key"] == kinds["images_without_row"] and "no sheet row" in s["reason"] for s in report["series"])
    assert any(s["exam_key"] == kinds["two_dates"] and "exam also under date" in s["reason"] for s in report["series"])
    empty = next(r for r in rows if r["exam_key"] == kinds["empty_labels"])
    assert "label" not in (empty["left_code_source"], empty["right_code_source"])
    for row in rows:
        for side in ("left", "right"):
            if row[f"{side}_code_source"] == "label":
                assert row[f"{side}_code"] == by_key[row["exam_key"]]["codes"][side]
    dataset = load_built_dataset(output)
    assert sum(len(d) for d in dataset.values()) == totals["rows_kept"]
    forbidden = [str(export.dicom_root)]
    for exam in truth["exams"]:
        patient = exam["patient"]
        forbidden += [exam["exam_id"], patient["name"], patient["patient_id"], patient["birth_date"],
                      patient["birth_date"].replace("-", "")]
    for path in (p for p in output.rglob("*") if p.is_file()):
        data = path.read_bytes()
        assert not [t for t in forbidden for enc in ("utf-8", "gb18030") if t.encode(enc) in data], path


def test_convert_exam_without_patient_id_or_ears(tmp_path):
    from bicpl_hf.data.exam_conversion import ExamJob, convert_exam, load_cached_result

    root = tmp_path / "dicom"
    write_series(_phantom(None), root / "2020-01-01" / "E1" / "s1", uid="1.2.3.1", patient=("", "", ""))
    air = sitk.Image(_phantom(None).GetSize(), sitk.sitkFloat32) - 1000.0
    air.CopyInformation(_phantom(None))
    write_series(air, root / "2020-01-01" / "E2" / "s1", uid="1.2.3.2", patient=PATIENTS["p1"])
    (tmp_path / "work").mkdir()

    def job(exam_id):
        folder = root / "2020-01-01" / exam_id
        return ExamJob(f"key{exam_id}", exam_id, str(folder), f"2020-01-01/key{exam_id}", str(root),
                       f"检查号{exam_id}。左侧鼓室积液。", "左侧分泌性中耳炎。", False, SALT, {"files": 12})

    anonymous = convert_exam(job("E1"), tiny_processor(), tmp_path / "work")
    assert anonymous["status"] == "kept" and len(anonymous["patient_key"]) == 32
    assert any("no PatientID" in note for note in anonymous["notes"])
    assert "E1" not in anonymous["findings"] and anonymous["redactions"] == 1
    no_ears = convert_exam(job("E2"), tiny_processor(), tmp_path / "work")
    assert no_ears["status"] == "skipped" and no_ears["reason"].startswith("could not locate both ears")
    assert no_ears["findings"] == "" and no_ears["series"][0]["folder"] == "2020-01-01/keyE2/s1"
    assert str(root) not in json.dumps(no_ears, ensure_ascii=False)
    assert load_cached_result(tmp_path / "work", "keyE1", {"files": 12})["patient_key"] == anonymous["patient_key"]
    assert load_cached_result(tmp_path / "work", "keyE1", {"files": 13}) is None  # the input changed


# ---------------------------------------------------------------------------------------------------
# Another source: a folder of NIfTI files and a table


def test_nifti_folder_source_builds_through_the_same_builder(tmp_path):
    volumes = tmp_path / "volumes"
    volumes.mkdir()
    for exam_id, lesion in (("NII0001", "left"), ("NII0002", None), ("NII0003", "right"), ("NII0099", None)):
        sitk.WriteImage(sitk.Cast(sitk.Round(_phantom(lesion)), sitk.sitkInt16), str(volumes / f"{exam_id}.nii.gz"))
    (volumes / "NII0004.nii").write_bytes(b"not a nifti file")
    (volumes / "readme.txt").write_text("export notes", encoding="utf-8")
    table = tmp_path / "exams.csv"
    rows = [("NII0001", "", "2", "5", "左侧上鼓室见软组织影，听小骨骨质破坏。右侧鼓室清晰。", "左侧中耳胆脂瘤。"),
            ("NII0002", "2020-01-02", "5", "5", *NORMAL),
            ("NII0003", "", "", "", "右侧鼓室积液。左侧鼓室清晰。", "右侧分泌性中耳炎。"),  # codes from the report
            ("NII0004", "", "1", "5", *NORMAL),  # unreadable file
            ("NII0005", "", "5", "5", *NORMAL)]  # no file
    with open(table, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    source = NiftiFolderSource(table, volumes)
    assert isinstance(source, ExamSource)
    result = build_dataset_from_source(source, tmp_path / "out", processor=tiny_processor(), salt=SALT,
                                       progress=False)
    report = _report(result.output_dir)
    assert {r["row"]: r["reason_code"] for r in report["rows"]} == {
        2: "kept", 3: "kept", 4: "kept", 5: "unreadable_series", 6: "no_images"}
    assert "NIfTI folder" in report["rows"][4]["reason"]
    assert report["totals"]["rows_in"] == 5 == report["totals"]["rows_kept"] + report["totals"]["rows_skipped"]
    assert report["settings"]["source"] == "nifti_folder" and report["settings"]["export_file"] == "exams.csv"
    series = report["series"]
    assert report["totals"]["series_kept"] == 3 and any("no table row has this 检查号" in s["reason"] for s in series)
    assert report["totals"]["unexpected_paths"] == 1  # readme.txt, its name withheld
    dataset = load_built_dataset(result.output_dir)
    examples = {r["exam_key"]: r for split in dataset.values() for r in split.with_format("numpy")}
    keys = {r["row"]: r["exam_key"] for r in report["rows"]}
    first, third = examples[keys[2]], examples[keys[4]]
    assert (first["left_code"], first["right_code"]) == (2, 5)
    assert (third["left_code"], third["right_code"], third["right_code_source"]) == (-100, 3, "weak")
    assert "积液" in third["right_text"] and third["right_attributes"][ATTRIBUTE_VOCABULARY.index("effusion")] == 1
    values, _ = tiny_processor().preprocess_image(sitk.Cast(sitk.Cast(sitk.Round(_phantom("left")), sitk.sitkInt16),
                                                            sitk.sitkFloat32))
    np.testing.assert_array_equal(values.astype(np.float16).astype(np.float32), first["pixel_values"])
    assert first["patient_key"] != examples[keys[3]]["patient_key"]  # each exam is its own patient
    for path in (p for p in result.output_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for forbidden in ("NII0001", "NII0003", "NII0099", str(volumes)):
            assert forbidden.encode() not in data, f"{forbidden} found in {path}"
    again = build_dataset_from_source(NiftiFolderSource(table, volumes), tmp_path / "out", processor=tiny_processor(),
                                      salt=SALT, progress=False)
    assert again.converted_exam_keys == [] and len(again.cached_exam_keys) == 4  # resumed from the cache
    with pytest.raises(builder_module.DatasetBuildError, match="inside the NIfTI folder"):
        build_dataset_from_source(NiftiFolderSource(table, volumes), volumes / "out", processor=tiny_processor(),
                                  salt=SALT, progress=False)
