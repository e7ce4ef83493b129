"""De-identification helpers of the dataset builder: salted keys and scrubbing of identifiers.

* [`salted_key`] turns an exam id, a DICOM PatientID or a series UID into a keyed hash
  (HMAC-SHA256 with the salt, 32 hex characters). The kind (`"exam"`, `"patient"`, `"series"`)
  is part of the message, so the same raw string gives unrelated keys in different roles. Exam ids
  are short sequential numbers, so the salt must stay secret: [`check_salt`] refuses short ones.
* [`identifier_variants`] lists the ways a patient name, id or birth date can be written, and
  [`scrub_text`] replaces them (and any other given string) in free text.

Example:
    >>> key = salted_key("a-long-secret-salt-0001", "exam", "CT2020001")
    >>> len(key), key == salted_key("a-long-secret-salt-0001", "patient", "CT2020001")
    (32, False)
    >>> scrub_text("患者张三，检查号CT2020001", ["张三", "CT2020001"], "[已删除]")
    ('患者[已删除]，检查号[已删除]', 2)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable

__all__ = [
    "DEMO_SALT",
    "MIN_SALT_LENGTH",
    "REDACTED",
    "check_salt",
    "identifier_variants",
    "salted_key",
    "scrub_text",
]

# Public on purpose: only for the package's synthetic exports, which hold no real patient.
DEMO_SALT = "bicpl-hf-PUBLIC-demo-salt-for-synthetic-data-only"
MIN_SALT_LENGTH = 16
KEY_HEX_CHARS = 32
REDACTED = "[已删除]"


def check_salt(salt: str) -> str:
    """Return `salt` if it is long enough to keep sequential ids from being brute-forced.

    Example:
        >>> check_salt("short")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: the salt must be at least 16 characters (got 5); ...
    """
    if not isinstance(salt, str) or len(salt) < MIN_SALT_LENGTH:
        length = len(salt) if isinstance(salt, str) else type(salt).__name__
        raise ValueError(f"the salt must be at least {MIN_SALT_LENGTH} characters (got {length}); exam ids are "
                         "short sequential numbers, so a short or guessable salt lets anyone recompute the keys. "
                         "Use a long random secret and keep it out of the dataset")
    return salt


def salted_key(salt: str, kind: str, value: str) -> str:
    """HMAC-SHA256 of `kind:value` keyed by `salt`, as 32 lowercase hex characters.

    Example:
        >>> salted_key("a-long-secret-salt-0001", "series", "1.2.3")[:8]
        '3e182dbf'
    """
    digest = hmac.new(salt.encode("utf-8"), f"{kind}:{value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:KEY_HEX_CHARS]


def _date_variants(text: str) -> list[str]:
    digits = re.sub(r"\D", "", text)
    if len(digits) != 8:
        return [text] if len(text) >= 6 else []
    try:
        date = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return [text]
    y, m, d = date.year, date.month, date.day
    variants = {digits, f"{y}-{m:02d}-{d:02d}", f"{y}/{m:02d}/{d:02d}", f"{y}.{m:02d}.{d:02d}",
                f"{y}/{m}/{d}", f"{y}-{m}-{d}", f"{y}年{m}月{d}日", f"{y}年{m:02d}月{d:02d}日"}
    return sorted(variants, key=len, reverse=True)


def identifier_variants(
    patient_name: str | None = None, patient_id: str | None = None, birth_date: str | None = None
) -> list[str]:
    """Strings to scrub for one patient, longest first.

    A DICOM name `ZHANG^SAN` gives `ZHANG^SAN`, `ZHANG SAN`, `ZHANGSAN`, `SAN ZHANG` and its
    parts of 2+ characters; a birth date `19800102` its usual spellings (`1980-01-02`, `1980年1月2日`…).

    Example:
        >>> identifier_variants("张^三", "P001", "19800102")[:3]
        ['1980年01月02日', '1980-01-02', '1980.01.02']
    """
    variants: set[str] = set()
    if patient_name:
        name = patient_name.strip().strip("^")
        parts = [p.strip() for p in re.split(r"[\^=]", name) if p.strip()]
        variants.update({name, " ".join(parts), "".join(parts), " ".join(reversed(parts)), "".join(reversed(parts))})
        variants.update(p for p in parts if len(p) >= 2)
    if patient_id and patient_id.strip():
        variants.add(patient_id.strip())
    if birth_date and birth_date.strip():
        variants.update(_date_variants(birth_date.strip()))
    return sorted((v for v in variants if len(v) >= 2), key=lambda v: (-len(v), v))


def scrub_text(text: str, identifiers: Iterable[str], replacement: str = REDACTED) -> tuple[str, int]:
    """Replace every identifier in `text` (case-insensitive, longest first); returns `(text, count)`.

    Example:
        >>> scrub_text("Zhang San 男", ["ZHANG SAN"])
        ('[已删除] 男', 1)
    """
    ordered = sorted({i for i in identifiers if i}, key=len, reverse=True)
    if not ordered or not text:
        return text, 0
    # Short Latin/digit pieces ("LI", "12") only count as whole words; longer ones anywhere.
    alternatives = [
        rf"(?<![0-9A-Za-z]){re.escape(i)}(?![0-9A-Za-z])" if len(i) < 4 and i.isascii() and i.isalnum() else re.escape(i)
        for i in ordered
    ]
    return re.compile("|".join(alternatives), re.IGNORECASE).subn(replacement, text)
