"""Where the dataset builder gets its exams: the `ExamSource` seam and its sources.

A source hands the builder every input row of its table (`ExportRow`: row number, exam id, time, per-ear
label codes, report text) and, for one exam, an `ExamLocation`: the path its volume is read from (an exam
folder whose series are chosen by `read_volume`, or one volume file), a name for the build report that
holds no identifier, the input signature of the resume cache, and build-report entries for the candidates
it did not use. The builder does the rest (duplicates, codes, conversion, de-identification, splits,
the build report), so a new kind of export is a new source, never a copy of the builder.

- `SheetAndDicomTreeSource`: the hospital export, a sheet and a `<root>/<date>/<exam>/<series>` DICOM tree.
- `NiftiFolderSource`: a table (csv/xlsx, same columns) and a folder of `<exam id>.nii.gz` / `.nii` files.

Example:
    >>> source = NiftiFolderSource("exams.csv", "volumes/")  # doctest: +SKIP
    >>> build_dataset_from_source(source, "built/", processor=processor, salt=secret)  # doctest: +SKIP
"""

from __future__ import annotations

import abc
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .dicom_tree import DicomTree, ExamFolder, UnexpectedEntry, choose_exam_folder, index_dicom_tree
from .export_table import DEFAULT_SHEET_NAME, ExportColumns, ExportRow, ExportTable, read_export_table

NIFTI_SUFFIXES = (".nii.gz", ".nii")


@dataclass
class ExamLocation:
    """Where one exam's volume is, as its source found it.

    Attributes:
        path: an exam folder (its CT series are chosen by `read_volume`) or a volume file.
        label: the name the build report uses, `"<group>/<exam_key>"` (no raw exam id, no root path).
        root: the source's image root, replaced by `<dicom-root>` in every message.
        signature: what the resume cache compares (file count and bytes); the builder adds the report text.
        notes: notes for the row in the build report (e.g. which of two dates was used and why).
        series: build-report entries of candidates that are not read (e.g. the exam's folder under another date).
    """

    path: str
    label: str
    root: str
    signature: dict
    notes: list[str] = field(default_factory=list)
    series: list[dict] = field(default_factory=list)


class ExamSource(abc.ABC):
    """A source of exams for the dataset builder: a table of rows and, per exam, where its volume is.

    Subclasses implement `read_rows`, `locate` and `settings`; `unread_series` and `unexpected` account
    for images no row uses, `check_output` refuses an output folder inside the source.
    """

    #: the table's file name, used in messages and the build report (never a full path).
    name: str
    columns: ExportColumns
    #: the build report's reason for a row whose exam `locate` cannot find.
    no_images_reason: str = "the source has no image of this exam"

    def check_output(self, output: Path) -> None:
        """Raise `ValueError` when `output` must not be written (e.g. inside the image root)."""

    @abc.abstractmethod
    def read_rows(self) -> list[ExportRow]:
        """Every input row in table order, blank ones included (each is accounted for in the build report)."""

    @abc.abstractmethod
    def locate(self, row: ExportRow, exam_key: str) -> ExamLocation | None:
        """Where the exam of `row` is, or `None` when the source has no image of it."""

    def unread_series(self, used_exam_ids: set[str], skipped_rows: Mapping[str, Sequence[tuple[int, str]]],
                      exam_key: Callable[[str], str]) -> list[dict]:
        """Build-report entries of images no kept row reads (`skipped_rows`: exam id -> (row, reason code))."""
        return []

    def unexpected(self) -> list[UnexpectedEntry]:
        """Entries outside the source's layout (their names are withheld in the build report)."""
        return []

    @abc.abstractmethod
    def settings(self) -> dict:
        """Provenance for the build report's `settings` (file name, encoding, sheet, columns, ...)."""


def _table_settings(table: ExportTable, name: str, columns: ExportColumns) -> dict:
    return {"export_file": name, "export_encoding": table.encoding, "sheet": table.sheet_name,
            "export_trailing_blank_rows": table.trailing_blank_rows, "columns": dataclasses.asdict(columns)}


def _files_and_bytes(path: Path) -> tuple[int, int]:
    if path.is_file():
        return 1, path.stat().st_size
    count = size = 0
    for directory, _, names in os.walk(path):
        for name in names:
            count += 1
            size += os.path.getsize(os.path.join(directory, name))
    return count, size


class _TableSource(ExamSource):
    """A source whose rows come from one export table (`read_export_table`)."""

    def __init__(self, table_path: str | os.PathLike, *, columns: ExportColumns | None = None,
                 sheet_name: str = DEFAULT_SHEET_NAME, encoding: str | None = None) -> None:
        self.table_path = Path(table_path)
        self.name = self.table_path.name
        self.columns = columns or ExportColumns()
        self.sheet_name, self.encoding = sheet_name, encoding
        self.table: ExportTable | None = None

    def read_rows(self) -> list[ExportRow]:
        self.table = read_export_table(self.table_path, columns=self.columns, sheet_name=self.sheet_name,
                                       encoding=self.encoding)
        if self.table.rows:  # an empty sheet is refused by the builder before any image is looked for
            self._index()
        return self.table.rows

    def _index(self) -> None:
        """Index the images (after the table is read, so a bad table is reported first)."""

    def settings(self) -> dict:
        if self.table is None:
            raise RuntimeError(f"{type(self).__name__}.settings() is known only after read_rows()")
        return _table_settings(self.table, self.name, self.columns)


def _unscanned_series(folder: ExamFolder, label: str, reason: str) -> list[dict]:
    """Series entries of a folder that is not read (one per series folder, plus loose files)."""
    entries = [{"folder": f"{label}/{name}", "series_key": "", "status": "skipped", "reason": reason}
               for name in folder.series_folders]
    if folder.loose_files or not folder.series_folders:
        what = f"{folder.loose_files} file(s) directly in the exam folder" if folder.loose_files else "an empty exam folder"
        entries.append({"folder": label, "series_key": "", "status": "skipped", "reason": f"{what}; {reason}"})
    return entries


class SheetAndDicomTreeSource(_TableSource):
    """The hospital export: an exam sheet (xlsx/csv) and a `<root>/<date>/<exam>/<series>/*.dcm` tree.

    An exam under two date folders is read from the one `choose_exam_folder` picks; the other folder's
    series are accounted for as skipped.

    Args:
        export_path: the exam sheet, see `read_export_table`.
        dicom_root: the DICOM tree.
        columns, sheet_name, encoding: how to read the sheet.
    """

    no_images_reason = "no folder of this exam under any date folder of the DICOM root"

    def __init__(self, export_path: str | os.PathLike, dicom_root: str | os.PathLike, *,
                 columns: ExportColumns | None = None, sheet_name: str = DEFAULT_SHEET_NAME,
                 encoding: str | None = None) -> None:
        super().__init__(export_path, columns=columns, sheet_name=sheet_name, encoding=encoding)
        self.root = Path(dicom_root)
        self.tree: DicomTree | None = None

    def check_output(self, output: Path) -> None:
        root = self.root.resolve()
        if output.resolve() == root or root in output.resolve().parents:
            raise ValueError(f"the output folder {output} lies inside the DICOM root {self.root}; choose another one")

    def _index(self) -> None:
        self.tree = index_dicom_tree(self.root)

    def locate(self, row: ExportRow, exam_key: str) -> ExamLocation | None:
        folders = self.tree.exams.get(row.exam_id)
        if not folders:
            return None
        choice = choose_exam_folder(folders, row.exam_date)
        label = f"{choice.chosen.date_folder}/{exam_key}"
        notes, series = [], []
        if choice.rejected:
            dates = ", ".join(f.date_folder for f in folders)
            notes.append(f"exam under {len(folders)} dates ({dates}); used {choice.chosen.date_folder}: "
                         f"{choice.reason}")
            for other in choice.rejected:
                series += _unscanned_series(other, f"{other.date_folder}/{exam_key}",
                                            f"exam also under date {choice.chosen.date_folder}, which was used "
                                            f"({choice.reason})")
        files, size = _files_and_bytes(choice.chosen.path)
        return ExamLocation(str(choice.chosen.path), label, str(self.tree.root),
                            {"folder": label, "files": files, "bytes": size}, notes, series)

    def unread_series(self, used_exam_ids, skipped_rows, exam_key) -> list[dict]:
        entries = []
        for exam_id, folders in sorted(self.tree.exams.items()):
            if exam_id in used_exam_ids:
                continue
            rows = skipped_rows.get(exam_id)
            reason = (f"the sheet row(s) {', '.join(str(n) for n, _ in rows)} of this exam were skipped "
                      f"({rows[0][1]})" if rows else f"no sheet row has this {self.columns.exam_id}")
            for folder in folders:
                entries += _unscanned_series(folder, f"{folder.date_folder}/{exam_key(exam_id)}", reason)
        return entries

    def unexpected(self) -> list[UnexpectedEntry]:
        return list(self.tree.unexpected)


class NiftiFolderSource(_TableSource):
    """A folder of NIfTI volumes, one per exam, named `<exam id>.nii.gz` (or `.nii`), and a table.

    The table (csv or xlsx) has the export's columns (exam id, exam time, left/right label, findings,
    impression; names set by `columns`); the time may be empty. Each exam counts as its own patient in the
    patient-level split (a volume file holds no patient id). Files no kept row reads are accounted for in
    the build report; other entries of the folder are listed as unexpected.

    Args:
        table_path: the table.
        folder: the folder holding the volumes (not searched recursively).
        columns, sheet_name, encoding: how to read the table.

    Example:
        >>> source = NiftiFolderSource("exams.csv", "volumes/")  # doctest: +SKIP
    """

    no_images_reason = "no <exam id>.nii.gz or .nii file of this exam in the NIfTI folder"

    def __init__(self, table_path: str | os.PathLike, folder: str | os.PathLike, *,
                 columns: ExportColumns | None = None, sheet_name: str = DEFAULT_SHEET_NAME,
                 encoding: str | None = None) -> None:
        super().__init__(table_path, columns=columns, sheet_name=sheet_name, encoding=encoding)
        self.folder = Path(folder)
        self.files: dict[str, Path] = {}
        self._unexpected: list[UnexpectedEntry] = []

    def check_output(self, output: Path) -> None:
        folder = self.folder.resolve()
        if output.resolve() == folder or folder in output.resolve().parents:
            raise ValueError(f"the output folder {output} lies inside the NIfTI folder {self.folder}; "
                             "choose another one")

    def _index(self) -> None:
        if not self.folder.is_dir():
            raise ValueError(f"the NIfTI folder {self.folder} does not exist or is not a folder")
        self.files, self._unexpected = {}, []
        for path in sorted(self.folder.iterdir()):
            if path.name.startswith("."):
                continue
            suffix = next((s for s in NIFTI_SUFFIXES if path.is_file() and path.name.lower().endswith(s)), None)
            exam_id = path.name[:-len(suffix)] if suffix else ""
            if not exam_id:
                what = "a folder" if path.is_dir() else "a file that is not <exam id>.nii.gz or .nii"
                self._unexpected.append(UnexpectedEntry((path.name,), path.is_dir(), what))
            elif exam_id in self.files:
                used = self.files[exam_id].name[len(exam_id):]
                self._unexpected.append(UnexpectedEntry(
                    (path.name,), False, f"a second volume file of the same exam (the {used} file is used)"))
            else:
                self.files[exam_id] = path

    def locate(self, row: ExportRow, exam_key: str) -> ExamLocation | None:
        path = self.files.get(row.exam_id)
        if path is None:
            return None
        label = f"nifti/{exam_key}"
        files, size = _files_and_bytes(path)
        return ExamLocation(str(path), label, str(self.folder), {"folder": label, "files": files, "bytes": size})

    def unread_series(self, used_exam_ids, skipped_rows, exam_key) -> list[dict]:
        entries = []
        for exam_id in sorted(set(self.files) - set(used_exam_ids)):
            rows = skipped_rows.get(exam_id)
            reason = (f"the table row(s) {', '.join(str(n) for n, _ in rows)} of this exam were skipped "
                      f"({rows[0][1]})" if rows else f"no table row has this {self.columns.exam_id}")
            entries.append({"folder": f"nifti/{exam_key(exam_id)}", "series_key": "", "status": "skipped",
                            "reason": reason})
        return entries

    def unexpected(self) -> list[UnexpectedEntry]:
        return list(self._unexpected)

    def settings(self) -> dict:
        return {"source": "nifti_folder", **super().settings()}


__all__ = ["NIFTI_SUFFIXES", "ExamLocation", "ExamSource", "NiftiFolderSource", "SheetAndDicomTreeSource"]
