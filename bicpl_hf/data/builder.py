"""Build a de-identified Bi-CPL `datasets.DatasetDict` from an exam source (e.g. a sheet + DICOM tree).

Steps of [`build_dataset_from_source`] ([`build_dataset`] is it for the hospital export, a
[`sources.SheetAndDicomTreeSource`]):

1. read the source's rows and index its images ([`sources`]: a sheet and a
   `<root>/<date>/<exam>/<series>` tree, or a table and a folder of NIfTI files);
2. decide every row: blank, no exam id, duplicate (identical rows: the first is used; rows that
   disagree: none is used, the right one cannot be told), no label and no usable report, no images;
   the source says where each exam's images are (an exam under two dates gets one folder by
   [`dicom_tree.choose_exam_folder`]'s rule);
3. convert the remaining exams ([`exam_conversion.convert_exam`]) in `num_proc` processes, each
   cached under `<output>/.work/exams` as it finishes, so an interrupted build resumes where it stopped;
4. give each ear its code: the sheet's label (`"label"`), else the report parser's weak code
   (`"weak"`), else `-100` (`"none"`); split patients by [`splits.SPLIT_FRACTIONS`];
   each report is parsed once here and what training needs is stored with it ([`report_columns`]);
5. write the dataset to a temporary folder and rename it to `<output>/dataset` (never half-written),
   save the processor to `<output>/preprocessor_config.json` and account for every row and every
   series in `<output>/build_report.json` / `.csv` (`rows_in == rows_kept + rows_skipped` is checked).

Keys are salted hashes ([`deidentify`]); no output file holds a raw exam id, patient identifier or
the DICOM root path. Names a user needs to find a skipped row are row numbers and exam keys.

Example:
    >>> from bicpl_hf.processing.image_processing_bicpl import BiCPLVolumeProcessor
    >>> result = build_dataset("export.xlsx", "dicom/", "built/", salt=os.environ["BICPL_SALT"],
    ...                        processor=BiCPLVolumeProcessor(roi_shape=(64, 64, 64)))  # doctest: +SKIP
    >>> result.totals["rows_in"] == result.totals["rows_kept"] + result.totals["rows_skipped"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..processing.image_processing_bicpl import BiCPLVolumeProcessor, processor_settings
from ..processing.report_parser import ReportParseError, parse_report
from .build_report import write_build_report
from .deidentify import check_salt, salted_key
from .exam_conversion import ExamJob, atomic_write_bytes, convert_exam, load_cached_result, load_pixel_values
from .export_table import DEFAULT_SHEET_NAME, ExportColumns, ExportRow
from .report_columns import parsed_report_columns, report_features
from .sources import ExamSource, SheetAndDicomTreeSource
from .splits import IGNORE_INDEX, SPLIT_FRACTIONS, SPLIT_NAMES, assign_patient_splits

__all__ = ["DEFAULT_MAX_SLICE_THICKNESS_MM", "BuildResult", "DatasetBuildError", "build_dataset",
           "build_dataset_from_source", "dataset_features"]

logger = logging.getLogger(__name__)
WORK_FORMAT = 1
DEFAULT_MAX_SLICE_THICKNESS_MM = 1.25  # temporal-bone CT is read at <= 1 mm; 2-5 mm soft-tissue series hide 1-3 mm findings


class DatasetBuildError(RuntimeError):
    """The build cannot go on (bad settings, stale cache, broken invariant); the message says why."""


@dataclass
class BuildResult:
    """Where the build wrote its output, the report totals and which exams this run converted."""

    output_dir: Path
    dataset_dir: Path
    totals: dict
    converted_exam_keys: list[str] = field(default_factory=list)
    cached_exam_keys: list[str] = field(default_factory=list)


@dataclass
class _RowDecision:
    row: ExportRow
    exam_key: str = ""
    status: str = "pending"
    reason_code: str = ""
    reason: str = ""
    split: str = ""
    codes: tuple[int, int] = (IGNORE_INDEX, IGNORE_INDEX)
    sources: tuple[str, str] = ("none", "none")
    folder: str = ""
    patient_key: str = ""
    notes: list[str] = field(default_factory=list)
    not_ear_report: bool = False
    thick_slices: bool = False

    def skip(self, code: str, reason: str) -> None:
        self.status, self.reason_code, self.reason = "skipped", code, reason


def dataset_features(processor: BiCPLVolumeProcessor, *, store_volumes: bool = False):
    """The `datasets.Features` of a built dataset (the output contract the training code reads): the keys,
    the report and its parsed-report columns ([`report_columns.report_features`]), the ear codes and
    where they came from, the ROIs and their metadata.

    Example:
        >>> features = dataset_features(BiCPLVolumeProcessor(roi_shape=(16, 16, 16)))
        >>> features["pixel_values"].shape
        (2, 2, 16, 16, 16)
    """
    from datasets import Array5D, Features, Nifti, Value

    text = Value("string")
    spec = {name: text for name in ("exam_key", "patient_key", "report", "findings", "impression")}
    spec.update(report_features())
    spec.update(left_code=Value("int64"), right_code=Value("int64"), left_code_source=text, right_code_source=text)
    spec["pixel_values"] = Array5D(shape=(2, len(processor.channel_names), *processor.roi_shape), dtype="float16")
    spec["ear_metadata"] = text
    if store_volumes:
        spec["volume"] = Nifti()
    return Features(spec)


def _prepare_work_dir(output: Path, processor: BiCPLVolumeProcessor, salt: str) -> Path:
    """`<output>/.work/exams`; refuses a cache made with another processor or salt."""
    work = output / ".work"
    (work / "exams").mkdir(parents=True, exist_ok=True)
    settings = {"format": WORK_FORMAT, "processor": processor_settings(processor),
                "salt_check": salted_key(salt, "salt-check", "bicpl-hf")}
    path = work / "settings.json"
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))
        differing = sorted(k for k in settings if previous.get(k) != settings[k])
        if differing:
            what = ", ".join("the salt" if k == "salt_check" else k for k in differing)
            raise DatasetBuildError(f"{work} holds results of an earlier build made with a different {what}; "
                                    "delete that folder to rebuild from scratch, or choose another output folder")
    else:
        atomic_write_bytes(path, json.dumps(settings, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8"))
    return work / "exams"


def _parse(row: ExportRow, source: str):
    """`(ParsedReport or None, why the report is unusable or "")`."""
    try:
        return parse_report(findings=row.findings, impression=row.impression, source=source), ""
    except ReportParseError as error:
        return None, str(error)


def _ear_codes(row: ExportRow, parsed) -> tuple[tuple[int, int], tuple[str, str], list[str]]:
    codes, sources, notes = [], [], []
    if parsed is not None and not parsed.is_ear_report:
        notes.append("the report is not an ear report (it names no ear or temporal-bone structure); it gives no code")
    for side, label in (("left", row.left_code), ("right", row.right_code)):
        weak = parsed.weak_codes.get(side) if parsed is not None else None
        if label is not None:
            codes.append(label)
            sources.append("label")
            if weak is not None and weak != label:
                notes.append(f"{side} ear: label {label} used; the report suggests code {weak}")
        elif weak is not None:
            codes.append(weak)
            sources.append("weak")
            hedged = " (hedged in the report)" if parsed.weak_code_uncertain.get(side) else ""
            notes.append(f"{side} ear: no label; weak code {weak} from the report's {parsed.weak_code_source}{hedged}")
        else:
            codes.append(IGNORE_INDEX)
            sources.append("none")
    return tuple(codes), tuple(sources), notes


def _decide_rows(
    rows: list[ExportRow], exam_key: Callable[[str], str], columns: ExportColumns
) -> tuple[list[_RowDecision], dict[str, _RowDecision]]:
    """Blank rows, missing ids and duplicates; returns all decisions and one candidate per exam id."""
    decisions = [_RowDecision(row) for row in rows]
    by_exam: dict[str, list[_RowDecision]] = defaultdict(list)
    for decision in decisions:
        if decision.row.blank:
            decision.skip("blank_row", "blank row (every cell is empty)")
        elif not decision.row.exam_id:
            decision.skip("no_exam_id", f"the exam id cell ({columns.exam_id}) is empty")
        else:
            decision.exam_key = exam_key(decision.row.exam_id)
            by_exam[decision.row.exam_id].append(decision)
    candidates = {}
    names = {"exam_date": columns.exam_time, "left_code": columns.left_label, "right_code": columns.right_label,
             "findings": columns.findings, "impression": columns.impression}
    for exam_id, group in by_exam.items():
        first = group[0]
        numbers = ", ".join(str(d.row.row_number) for d in group)
        if all(d.row.content() == first.row.content() for d in group):
            candidates[exam_id] = first
            for duplicate in group[1:]:
                duplicate.skip("duplicate_row", f"duplicate of row {first.row.row_number} (same {columns.exam_id}, "
                                                f"identical cells); row {first.row.row_number} is used")
            continue
        differing = sorted({names[k] for d in group[1:] for k in names
                            if getattr(d.row, k) != getattr(first.row, k)})
        for decision in group:
            decision.skip("conflicting_duplicate_rows",
                          f"the same {columns.exam_id} is in rows {numbers} with different {', '.join(differing)}; "
                          "none of them is used because the right one cannot be told")
    return decisions, candidates


def _plan_exams(candidates: dict[str, _RowDecision], source: ExamSource, salt: str, store_volumes: bool,
                thickness: tuple[float | None, bool] = (None, False),
                ) -> tuple[list[ExamJob], dict[str, Any], list[dict]]:
    """Skip rows with no code at all or no images, ask the source where each exam is, and make the jobs."""
    jobs, parsed_by_key, series_entries = [], {}, []
    columns = source.columns
    for exam_id, decision in candidates.items():
        where = f"{source.name} row {decision.row.row_number}"
        parsed, unusable = _parse(decision.row, where)
        decision.codes, decision.sources, decision.notes = _ear_codes(decision.row, parsed)
        if parsed is None and unusable:
            decision.notes.append(f"report not used: {unusable.replace(where + ': ', '')}")
        decision.not_ear_report = parsed is not None and not parsed.is_ear_report
        if decision.sources == ("none", "none"):
            why = unusable.replace(where + ": ", "") if parsed is None else "the report names no code for either ear"
            if decision.not_ear_report:
                why = "the report is not about the ear: it names no ear or temporal-bone structure"
            decision.skip("no_label_no_report", f"no label in {columns.left_label}/{columns.right_label} and no "
                                                f"usable report ({why})")
            continue
        location = source.locate(decision.row, decision.exam_key)
        if location is None:
            decision.skip("no_images", source.no_images_reason)
            continue
        decision.folder = location.label
        decision.notes += location.notes
        series_entries += location.series
        signature = {**location.signature, "store_volume": bool(store_volumes),
                     "text": salted_key(salt, "text", f"{decision.row.findings}\x00{decision.row.impression}"),
                     "max_slice_thickness_mm": thickness[0], "allow_thick_slices": thickness[1]}
        parsed_by_key[decision.exam_key] = parsed
        jobs.append(ExamJob(decision.exam_key, exam_id, location.path, location.label, location.root,
                            decision.row.findings, decision.row.impression, bool(store_volumes), salt, signature,
                            *thickness))
    return jobs, parsed_by_key, series_entries


def _skipped_rows_by_exam(decisions: list[_RowDecision]) -> dict[str, list[tuple[int, str]]]:
    """(row number, reason code) of the skipped rows of each exam id."""
    skipped = defaultdict(list)
    for decision in decisions:
        if decision.exam_key and decision.status == "skipped":
            skipped[decision.row.exam_id].append((decision.row.row_number, decision.reason_code))
    return skipped


def _collect_results(decisions: list[_RowDecision], results: dict[str, dict], parsed_by_key: dict[str, Any],
                     series_entries: list[dict], source_name: str) -> list[tuple[_RowDecision, dict, Any]]:
    """Turn conversion results into kept or skipped rows; reports are re-parsed where text was scrubbed."""
    kept = []
    for decision in decisions:
        if decision.status != "pending":
            continue
        result = results[decision.exam_key]
        series_entries += result["series"]
        decision.notes += result["notes"]
        if result["status"] != "kept":
            code = result.get("reason_code") or (
                "unreadable_series" if result["reason"].startswith("unreadable") else "ears_not_found")
            decision.skip(code, result["reason"])
            continue
        parsed = parsed_by_key[decision.exam_key]
        if result["redactions"]:
            scrubbed = ExportRow(decision.row.row_number, "", None, decision.row.left_code, decision.row.right_code,
                                 result["findings"], result["impression"])
            parsed, _ = _parse(scrubbed, f"{source_name} row {decision.row.row_number}")
            decision.codes, decision.sources, _ = _ear_codes(scrubbed, parsed)
            if decision.sources == ("none", "none"):
                decision.skip("no_label_no_report", "no label, and no code left in the report once patient "
                                                    "identifiers were removed from it")
                continue
        decision.status, decision.reason_code, decision.reason = "kept", "kept", "kept"
        decision.thick_slices = bool(result.get("thick_slices"))
        decision.patient_key = result["patient_key"]
        kept.append((decision, result, parsed))
    return kept


def _worker_context():
    """`fork` where the platform has it: workers start at once, with the parent's imports (ITK
    registers fork handlers for its thread pool and the workers never use torch); `spawn` elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _run_jobs(jobs: list[ExamJob], processor, work: Path, num_proc: int, progress: bool,
              on_exam_done: Callable[[str, dict], None] | None) -> dict[str, dict]:
    results: dict[str, dict] = {}
    bar = tqdm(total=len(jobs), desc="Converting exams", unit="exam", disable=not progress)

    def finished(key: str, result: dict) -> None:
        results[key] = result
        bar.update(1)
        if on_exam_done is not None:
            on_exam_done(key, result)

    try:
        if num_proc <= 1 or len(jobs) <= 1:
            for job in jobs:
                finished(job.exam_key, convert_exam(job, processor, work))
        else:
            context = _worker_context()
            with ProcessPoolExecutor(max_workers=num_proc, mp_context=context) as pool:
                futures = {pool.submit(convert_exam, job, processor, work): job.exam_key for job in jobs}
                try:
                    for future in as_completed(futures):
                        finished(futures[future], future.result())
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    finally:
        bar.close()
    return results


def _example(decision: _RowDecision, result: dict, parsed, work: Path, store_volumes: bool) -> dict[str, Any]:
    example = {
        "exam_key": decision.exam_key, "patient_key": result["patient_key"],
        "report": parsed.normalized_text if parsed is not None else "",
        "findings": parsed.findings if parsed is not None else "",
        "impression": parsed.impression if parsed is not None else "",
        **parsed_report_columns(parsed),
        "left_code": decision.codes[0], "right_code": decision.codes[1],
        "left_code_source": decision.sources[0], "right_code_source": decision.sources[1],
        "pixel_values": load_pixel_values(work, result),
        "ear_metadata": json.dumps(result["ear_metadata"], ensure_ascii=False, sort_keys=True),
    }
    if store_volumes:
        example["volume"] = {"bytes": (work / result["volume_file"]).read_bytes(), "path": result["volume_file"]}
    return example


def _write_dataset(output: Path, by_split: dict[str, list[tuple[_RowDecision, dict, Any]]], work: Path,
                   features, store_volumes: bool, progress: bool) -> Path:
    """Write every split to a temporary folder, then swap it in for `<output>/dataset`."""
    import datasets

    staging = output / f".dataset-staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "arrow").mkdir(parents=True)
    bars_were_enabled = datasets.is_progress_bar_enabled()
    if not progress:
        datasets.disable_progress_bars()
    try:
        dataset_dict = _write_splits(staging, by_split, work, features, store_volumes, progress)
        # datasets cannot reload a split saved as zero shards, so empty splits get one (empty) shard.
        dataset_dict.save_to_disk(str(staging / "dataset"), num_shards={s: 1 if len(d) == 0 else None
                                                                        for s, d in dataset_dict.items()})
        del dataset_dict
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if bars_were_enabled:
            datasets.enable_progress_bars()
    final, previous = output / "dataset", output / f".dataset-previous-{os.getpid()}"
    if final.exists():
        os.replace(final, previous)
    os.replace(staging / "dataset", final)
    shutil.rmtree(previous, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    return final


def _write_splits(staging: Path, by_split: dict[str, list], work: Path, features, store_volumes: bool, progress: bool):
    from datasets import Dataset, DatasetDict
    from datasets.arrow_writer import ArrowWriter

    parts = {}
    with tqdm(total=sum(len(v) for v in by_split.values()), desc="Writing dataset", unit="exam",
              disable=not progress) as bar:
        for split in SPLIT_NAMES:
            path = staging / "arrow" / f"{split}.arrow"
            # Whole CT volumes are large: write them one record batch per exam to bound memory.
            writer = ArrowWriter(features=features, path=str(path), writer_batch_size=1 if store_volumes else 16)
            for decision, result, parsed in by_split[split]:
                writer.write(features.encode_example(_example(decision, result, parsed, work, store_volumes)))
                bar.update(1)
            writer.finalize()
            parts[split] = Dataset.from_file(str(path))
    return DatasetDict(parts)


def build_dataset(
    export_path: str | os.PathLike,
    dicom_root: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    processor: BiCPLVolumeProcessor,
    salt: str,
    seed: int = 0,
    columns: ExportColumns | None = None,
    sheet_name: str = DEFAULT_SHEET_NAME,
    encoding: str | None = None,
    num_proc: int = 1,
    store_volumes: bool = False,
    progress: bool = True,
    clean_work: bool = False,
    on_exam_done: Callable[[str, dict], None] | None = None,
    max_slice_thickness_mm: float | None = DEFAULT_MAX_SLICE_THICKNESS_MM,
    allow_thick_slices: bool = False,
) -> BuildResult:
    """Build the dataset, the processor config and the build report of a hospital export under `output_dir`.

    The export is read through a [`sources.SheetAndDicomTreeSource`]; see
    [`build_dataset_from_source`] for other sources.

    Args:
        export_path: the exam sheet (`.xlsx` or `.csv`), see [`export_table.read_export_table`].
        dicom_root: the `<root>/<date>/<exam>/<series>` tree.
        output_dir: created if needed; holds `dataset/`, `preprocessor_config.json`,
            `build_report.json`, `build_report.csv` and the resume cache `.work/`.
        processor: the volume processor; saved next to the dataset so training and inference match.
        salt: the secret of the keyed hashes (at least 16 characters); the same salt gives the same keys.
        seed: seed of the patient-level split.
        columns, sheet_name, encoding: how to read the sheet.
        num_proc: worker processes converting exams (the result does not depend on it).
        store_volumes: also keep each whole CT as a `datasets.Nifti` column `volume`.
        progress: show tqdm progress bars.
        clean_work: delete `.work/` after a successful build (a rerun then converts everything again).
        on_exam_done: called as `on_exam_done(exam_key, result)` after each exam is converted and cached.
        max_slice_thickness_mm: a series with thicker slices (SliceThickness or slice step) is not used
            (`None`: any thickness); an exam with no thin enough series is skipped as `thick_slices`.
        allow_thick_slices: use a too-thick series when an exam has no thin one, with a note; the build
            report counts these rows (`rows_kept_thick_slices`).

    Raises:
        ExportTableError, DicomTreeError: bad sheet or DICOM root (named, with what was expected).
        DatasetBuildError: a cache made with other settings, or a broken bookkeeping invariant.

    Example:
        >>> build_dataset("export.csv", "dicom", "built", processor=BiCPLVolumeProcessor(),
        ...               salt="a-long-secret-salt-0001", num_proc=4)  # doctest: +SKIP
    """
    source = SheetAndDicomTreeSource(export_path, dicom_root, columns=columns, sheet_name=sheet_name,
                                     encoding=encoding)
    return build_dataset_from_source(source, output_dir, processor=processor, salt=salt, seed=seed,
                                     num_proc=num_proc, store_volumes=store_volumes, progress=progress,
                                     clean_work=clean_work, on_exam_done=on_exam_done,
                                     max_slice_thickness_mm=max_slice_thickness_mm,
                                     allow_thick_slices=allow_thick_slices)


def build_dataset_from_source(
    source: ExamSource,
    output_dir: str | os.PathLike,
    *,
    processor: BiCPLVolumeProcessor,
    salt: str,
    seed: int = 0,
    num_proc: int = 1,
    store_volumes: bool = False,
    progress: bool = True,
    clean_work: bool = False,
    on_exam_done: Callable[[str, dict], None] | None = None,
    max_slice_thickness_mm: float | None = DEFAULT_MAX_SLICE_THICKNESS_MM,
    allow_thick_slices: bool = False,
) -> BuildResult:
    """Build the dataset of any [`sources.ExamSource`] under `output_dir` (arguments as in
    [`build_dataset`]); every row of the source is kept or skipped with a reason in the build report.

    Example:
        >>> from bicpl_hf.data.sources import NiftiFolderSource
        >>> build_dataset_from_source(NiftiFolderSource("exams.csv", "volumes"), "built", salt=secret,
        ...                           processor=BiCPLVolumeProcessor())  # doctest: +SKIP
    """
    salt = check_salt(salt)
    if max_slice_thickness_mm is not None and not float(max_slice_thickness_mm) > 0:
        raise ValueError(f"max_slice_thickness_mm must be positive (mm) or None, got {max_slice_thickness_mm}")
    if int(num_proc) < 1:
        raise ValueError(f"num_proc must be at least 1, got {num_proc}")
    if not isinstance(source, ExamSource):
        raise TypeError(f"source must be an ExamSource (bicpl_hf.data.sources), got {type(source).__name__}")
    output = Path(output_dir)
    try:
        source.check_output(output)
    except ValueError as error:
        raise DatasetBuildError(str(error)) from error
    rows = source.read_rows()
    if not rows:
        raise DatasetBuildError(f"{source.name}: a header row but no exam rows; nothing to build")
    output.mkdir(parents=True, exist_ok=True)
    work = _prepare_work_dir(output, processor, salt)
    exam_key = lambda exam_id: salted_key(salt, "exam", exam_id)  # noqa: E731

    decisions, candidates = _decide_rows(rows, exam_key, source.columns)
    thickness = (None if max_slice_thickness_mm is None else float(max_slice_thickness_mm), bool(allow_thick_slices))
    jobs, parsed_by_key, series_entries = _plan_exams(candidates, source, salt, store_volumes, thickness)
    series_entries += source.unread_series({job.exam_id for job in jobs}, _skipped_rows_by_exam(decisions), exam_key)
    cached, pending = {}, []
    for job in jobs:
        result = load_cached_result(work, job.exam_key, job.input_signature)
        if result is None:
            pending.append(job)
        else:
            cached[job.exam_key] = result
    logger.info("%d exam(s) to convert, %d already converted in %s", len(pending), len(cached), work)
    results = {**cached, **_run_jobs(pending, processor, work, int(num_proc), progress, on_exam_done)}
    kept = _collect_results(decisions, results, parsed_by_key, series_entries, source.name)

    split_of = assign_patient_splits({r["patient_key"] for _, r, _ in kept}, seed=seed)
    by_split: dict[str, list] = {name: [] for name in SPLIT_NAMES}
    for decision, result, parsed in kept:
        decision.split = split_of[result["patient_key"]]
        by_split[decision.split].append((decision, result, parsed))
    settings = {"seed": seed, "num_proc": int(num_proc), "store_volumes": bool(store_volumes),
                "max_slice_thickness_mm": thickness[0], "allow_thick_slices": thickness[1],
                "split_fractions": list(SPLIT_FRACTIONS), "processor": "preprocessor_config.json",
                **source.settings()}
    totals = write_build_report(output, decisions=decisions, series=series_entries, unexpected=source.unexpected(),
                                settings=settings, dataset_sizes={s: len(v) for s, v in by_split.items()},
                                salt=salt)
    if not kept:  # the build report says why for every row; an empty dataset would only fail later, less clearly
        reasons = Counter(d.reason for d in decisions if d.status == "skipped").most_common(2)
        why = "; ".join(f"{n} row(s): {reason}" for reason, n in reasons) or "the source has no rows"
        raise DatasetBuildError(f"no exam of {source.name} was kept ({why}); see {output / 'build_report.csv'}")
    features = dataset_features(processor, store_volumes=store_volumes)
    dataset_dir = _write_dataset(output, by_split, work, features, store_volumes, progress)
    processor.save_pretrained(str(output))
    if clean_work:
        shutil.rmtree(output / ".work", ignore_errors=True)
    return BuildResult(output, dataset_dir, totals, converted_exam_keys=sorted(set(results) - set(cached)),
                       cached_exam_keys=sorted(cached))


__all__ = ["BuildResult", "DatasetBuildError", "build_dataset", "build_dataset_from_source", "dataset_features"]
