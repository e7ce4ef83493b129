"""Reading the hospital's exam sheet (`.xlsx`, or `.csv` in UTF-8, UTF-8 with BOM or GB18030).

The real export (DESIGN.md section 2) is a sheet `影像学检查` with one row per exam and the columns
`检查号` (exam id), `检查时间` (exam time), `左侧诊断-训练` / `右侧诊断-训练` (per-ear label code),
`影像所见` (findings) and `检查结论` (impression). Column names are configurable through
[`ExportColumns`]; the real ones are the defaults.

Rules (nothing is guessed):

* **Encoding** of a csv is tried in a fixed order: a UTF-8 byte-order mark means `utf-8-sig`; else
  strict `utf-8`; else strict `gb18030`; else [`ExportTableError`]. The one used is
  recorded in [`ExportTable.encoding`]. `encoding=` forces one.
* **Label cells**: `1：慢性化脓性中耳炎` (full-width colon), `1:慢性化脓性中耳炎`, `1`, `1.0`
  (text or number), full-width digits, or empty (→ `None`). Anything else, a code outside
  `valid_codes`, or a class name that belongs to a *different* code (`1：中耳胆脂瘤`) raises
  [`ExportTableError`] naming the row and column. A name that is not a known class name is
  accepted: the number is the label.
* **Row numbers** are the ones a spreadsheet shows: the header is row 1, the first exam row 2.
  Blank rows between exam rows are kept (`blank=True`) so a report can account for them; blank rows
  after the last exam row (formatting left in the sheet) are not rows of the export and are only counted
  in [`ExportTable.trailing_blank_rows`].
* **Exam ids** are text; an xlsx number `20190001` (or `20190001.0`) becomes `"20190001"`.
* **Exam time** becomes a [`datetime.date`] (`2021-03-04 10:22`, `2021/3/4`, `20210304`,
  `2021年3月4日` or a spreadsheet date); an unparseable time raises, an empty one is `None`.

Example:
    >>> table = read_export_table("export.xlsx")  # doctest: +SKIP
    >>> table.encoding, table.rows[0].row_number, table.rows[0].left_code  # doctest: +SKIP
    ('xlsx', 2, 1)
    >>> parse_label_cell("2：中耳胆脂瘤", where="row 2, column 左侧诊断-训练")
    2
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..processing.ear_classes import CLASS_CODE_BY_NAME_ZH, CLASS_CODES

__all__ = [
    "CSV_ENCODING_ORDER",
    "DEFAULT_SHEET_NAME",
    "ExportColumns",
    "ExportRow",
    "ExportTable",
    "ExportTableError",
    "decode_csv_bytes",
    "parse_exam_date",
    "parse_label_cell",
    "read_export_table",
]

DEFAULT_SHEET_NAME = "影像学检查"
CSV_ENCODING_ORDER = ("utf-8-sig", "utf-8", "gb18030")
# Class names of the export's codes (the class table), used only to catch contradictory cells.
KNOWN_CLASS_NAMES = CLASS_CODE_BY_NAME_ZH
_LABEL_PATTERN = re.compile(r"^(\d+)(?:\.0+)?(?:\s*:\s*(.*))?$", re.DOTALL)
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:$|[\sT])"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})(?:$|[\sT]|\d{4,6}$)"),
)


class ExportTableError(ValueError):
    """The export sheet cannot be read as specified; the message names the file, row and column."""


@dataclass(frozen=True)
class ExportColumns:
    """Header names of the export's columns (defaults: the real hospital export).

    Example:
        >>> ExportColumns(exam_id="AccessionNumber").exam_id
        'AccessionNumber'
    """

    exam_id: str = "检查号"
    exam_time: str = "检查时间"
    left_label: str = "左侧诊断-训练"
    right_label: str = "右侧诊断-训练"
    findings: str = "影像所见"
    impression: str = "检查结论"

    def names(self) -> list[str]:
        return [getattr(self, f.name) for f in fields(self)]


@dataclass(frozen=True)
class ExportRow:
    """One sheet row. `blank` rows have every cell empty; their other fields are empty too."""

    row_number: int
    exam_id: str
    exam_date: dt.date | None
    left_code: int | None
    right_code: int | None
    findings: str
    impression: str
    blank: bool = False

    def content(self) -> tuple:
        """Everything but the row number (to compare duplicate rows)."""
        return (self.exam_id, self.exam_date, self.left_code, self.right_code, self.findings, self.impression)


@dataclass
class ExportTable:
    """The parsed sheet: rows in file order, how the file was decoded and which columns it had."""

    path: str
    rows: list[ExportRow]
    encoding: str
    sheet_name: str | None
    columns_found: list[str]
    columns: ExportColumns
    trailing_blank_rows: int = 0


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def parse_label_cell(value: Any, *, where: str, valid_codes: Iterable[int] = CLASS_CODES) -> int | None:
    """An ear label cell as a code, or `None` when empty; see the module docstring for the formats.

    Args:
        value: the cell (`str`, `int`, `float` or `None`).
        where: named in errors, e.g. `"export.xlsx row 7, column 左侧诊断-训练"`.
        valid_codes: codes the export may use.

    Example:
        >>> [parse_label_cell(v, where="test") for v in ("1：慢性化脓性中耳炎", "5:正常", "３", 2.0, "", None)]
        [1, 5, 3, 2, None, None]
    """
    valid = sorted(int(c) for c in valid_codes)
    expected = (f"expected a code from {valid} written like '1：慢性化脓性中耳炎', '1:…', '1' or '1.0', "
                "or an empty cell")
    if value is None:
        return None
    if isinstance(value, bool):
        raise ExportTableError(f"{where}: label cell holds the boolean {value!r}; {expected}")
    if isinstance(value, float):
        if value != value:  # NaN: an empty cell read by pandas
            return None
        if not value.is_integer():
            raise ExportTableError(f"{where}: label cell holds {value!r}; {expected}")
        value = int(value)
    if isinstance(value, int):
        code, name = value, ""
    elif isinstance(value, str):
        text = _nfkc(value)
        if not text:
            return None
        match = _LABEL_PATTERN.match(text)
        if match is None:
            raise ExportTableError(f"{where}: cannot read the label cell {value!r}; {expected}")
        code, name = int(match.group(1)), (match.group(2) or "").strip()
    else:
        raise ExportTableError(f"{where}: label cell holds a {type(value).__name__} ({value!r}); {expected}")
    if code not in valid:
        raise ExportTableError(f"{where}: label code {code} (cell {value!r}) is not one of {valid}")
    named_code = KNOWN_CLASS_NAMES.get(name)
    if named_code is not None and named_code != code:
        raise ExportTableError(f"{where}: label cell {value!r} contradicts itself: code {code} but "
                               f"'{name}' is the name of code {named_code}")
    return code


def parse_exam_date(value: Any, *, where: str) -> dt.date | None:
    """The date of an exam-time cell, `None` when empty.

    Example:
        >>> parse_exam_date("2021/3/4 10:22", where="test"), parse_exam_date("20210304", where="test")
        (datetime.date(2021, 3, 4), datetime.date(2021, 3, 4))
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _nfkc(str(value)) if isinstance(value, (str, int)) else None
    for pattern in _DATE_PATTERNS if text else ():
        match = pattern.match(text)
        if match:
            try:
                return dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                break
    raise ExportTableError(f"{where}: cannot read the exam time {value!r}; expected a date such as "
                           "'2021-03-04 10:22:00', '2021/3/4', '20210304' or '2021年3月4日'")


def _exam_id(value: Any, *, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        raise ExportTableError(f"{where}: exam id cell holds the boolean {value!r}; expected text or a whole number")
    if isinstance(value, float):
        if value != value:
            return ""
        if not value.is_integer():
            raise ExportTableError(f"{where}: exam id {value!r} is not a whole number; store the ids as text")
        value = int(value)
    return str(value).strip()


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def decode_csv_bytes(raw: bytes, *, source: str, encoding: str | None = None) -> tuple[str, str]:
    r"""Decode a csv file's bytes; returns `(text, encoding used)`. See [`CSV_ENCODING_ORDER`].

    Example:
        >>> decode_csv_bytes("检查号\\n".encode("gb18030"), source="x.csv")
        ('检查号\\n', 'gb18030')
    """
    if encoding is not None:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as error:
            raise ExportTableError(f"{source}: cannot decode as {encoding}: {error}") from error
    if raw.startswith(b"\xef\xbb\xbf"):
        order = ("utf-8-sig",)
    else:
        order = CSV_ENCODING_ORDER[1:]
    failures = []
    for candidate in order:
        try:
            return raw.decode(candidate), candidate
        except UnicodeDecodeError as error:
            failures.append(f"{candidate}: {error}")
    raise ExportTableError(f"{source}: not valid in any supported encoding (tried, in order, "
                           f"{'; '.join(failures)}); save it as UTF-8 or GB18030 or pass encoding=")


def _csv_records(path: Path, encoding: str | None, delimiter: str) -> tuple[list[list[Any]], str]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ExportTableError(f"cannot read {path}: {error}") from error
    text, used = decode_csv_bytes(raw, source=str(path), encoding=encoding)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as error:
        raise ExportTableError(f"{path}: malformed csv ({error}); expected '{delimiter}'-separated values") from error
    return records, used


def _xlsx_records(path: Path, sheet_name: str) -> tuple[list[list[Any]], str]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise ExportTableError(f"cannot read {path} as an xlsx workbook: {type(error).__name__}: {error}; "
                               "expected an Excel .xlsx file (or a .csv)") from error
    try:
        if sheet_name not in workbook.sheetnames:
            raise ExportTableError(f"{path}: sheet '{sheet_name}' not found; the workbook has the sheets "
                                   f"{workbook.sheetnames} (pass the right one with sheet_name=/--sheet)")
        records = [list(r) for r in workbook[sheet_name].iter_rows(values_only=True)]
    finally:
        workbook.close()
    return records, "xlsx"


def _header_index(header: Sequence[Any], columns: ExportColumns, where: str) -> dict[str, int]:
    found = [_text(h) for h in header]
    while found and not found[-1]:
        found.pop()
    duplicated = sorted({name for name in found if name and found.count(name) > 1})
    index = {}
    for field_name in (f.name for f in fields(columns)):
        name = getattr(columns, field_name)
        if name in duplicated:
            raise ExportTableError(f"{where}: column '{name}' appears more than once in the header row {found}")
        if name not in found:
            raise ExportTableError(f"{where}: missing column '{name}' ({field_name}); the header row has the "
                                   f"columns {[n for n in found if n]} (set the column names if they differ)")
        index[field_name] = found.index(name)
    return index


def read_export_table(
    path: str | os.PathLike,
    *,
    columns: ExportColumns | None = None,
    sheet_name: str = DEFAULT_SHEET_NAME,
    encoding: str | None = None,
    csv_delimiter: str = ",",
    valid_codes: Iterable[int] = CLASS_CODES,
) -> ExportTable:
    r"""Read the export sheet into [`ExportRow`] objects, one per data row (blank rows included).

    Args:
        path: `.xlsx`/`.xlsm` (sheet `sheet_name`) or `.csv`/`.tsv`/`.txt`.
        columns: header names; defaults to the real export's.
        sheet_name: the xlsx sheet to read.
        encoding: force a csv encoding instead of trying [`CSV_ENCODING_ORDER`].
        csv_delimiter: the csv field separator (`"\\t"` for `.tsv` files).
        valid_codes: label codes the export may use.

    Raises:
        ExportTableError: unreadable file, unknown format, missing sheet or column (named, with the
            columns found), malformed label/time/id cell (row and column named).

    Example:
        >>> table = read_export_table("export.csv", columns=ExportColumns(exam_id="Accession"))  # doctest: +SKIP
    """
    path = Path(path)
    columns = columns or ExportColumns()
    if not path.is_file():
        raise ExportTableError(f"export file {path} does not exist or is not a file")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        records, encoding_used = _xlsx_records(path, sheet_name)
        sheet: str | None = sheet_name
    elif suffix in (".csv", ".tsv", ".txt"):
        delimiter = "\t" if suffix == ".tsv" and csv_delimiter == "," else csv_delimiter
        records, encoding_used = _csv_records(path, encoding, delimiter)
        sheet = None
    else:
        raise ExportTableError(f"{path}: unsupported export format '{suffix}'; expected .xlsx or .csv "
                               "(convert old .xls files to .xlsx)")
    where = f"{path.name}" + (f" (sheet {sheet})" if sheet else "")
    if not records:
        raise ExportTableError(f"{where}: the file is empty; expected a header row with the columns {columns.names()}")
    index = _header_index(records[0], columns, where)
    data = records[1:]
    used = len(data)
    while used and all(_text(v) == "" for v in data[used - 1]):
        used -= 1
    rows = []
    for offset, record in enumerate(data[:used]):
        number = offset + 2
        cell = {name: record[i] if i < len(record) else None for name, i in index.items()}
        if all(_text(v) == "" for v in record):
            rows.append(ExportRow(number, "", None, None, None, "", "", blank=True))
            continue
        at = lambda field_name: f"{where} row {number}, column '{getattr(columns, field_name)}'"  # noqa: E731
        rows.append(ExportRow(
            row_number=number,
            exam_id=_exam_id(cell["exam_id"], where=at("exam_id")),
            exam_date=parse_exam_date(cell["exam_time"], where=at("exam_time")),
            left_code=parse_label_cell(cell["left_label"], where=at("left_label"), valid_codes=valid_codes),
            right_code=parse_label_cell(cell["right_label"], where=at("right_label"), valid_codes=valid_codes),
            findings=_text(cell["findings"]),
            impression=_text(cell["impression"]),
        ))
    found = [_text(h) for h in records[0] if _text(h)]
    return ExportTable(str(path), rows, encoding_used, sheet, found, columns, trailing_blank_rows=len(data) - used)
