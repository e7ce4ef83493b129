# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""The ear classes of the hospital export (DESIGN.md section 2): the one table every other module reads.

Changing a class (a name, a new code) is one edit here; the model configuration's defaults, the export-table parser,
the report lexicon's check, the plots and the synthetic generator all derive from it. The file imports nothing from
the package, so it also works in the flat remote-code copy of a saved model, where `modeling/` and `processing/` sit
in one folder (`bicpl_hf/modeling/ear_classes.py` is a link to this file for that reason).

Example:
    >>> from bicpl_hf.processing.ear_classes import CLASS_NAMES_EN, NORMAL_CODE
    >>> NORMAL_CODE, CLASS_NAMES_EN[2]
    (5, 'cholesteatoma')
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EarClass:
    """One ear-level label of the export.

    Attributes:
        code: the integer code in the export's label cells.
        name_zh: the hospital's Chinese name (also the class name of a model configuration).
        name_en: the English name.
        short_name_en: the English name in plot legends and tables (abbreviated where the name is long).
        aliases_zh: other Chinese spellings the export's label cells use for this class.
        frequency: share of labelled ears in the real data set; the synthetic cohort samples with it.
    """

    code: int
    name_zh: str
    name_en: str
    short_name_en: str
    aliases_zh: tuple[str, ...] = ()
    frequency: float = 0.0


EAR_CLASSES: tuple[EarClass, ...] = (
    EarClass(1, "慢性化脓性中耳炎", "chronic suppurative otitis media", "CSOM", frequency=0.341),
    EarClass(2, "中耳胆脂瘤", "cholesteatoma", "cholesteatoma", aliases_zh=("胆脂瘤",), frequency=0.150),
    EarClass(3, "分泌性中耳炎", "secretory otitis media", "SOM", frequency=0.127),
    EarClass(4, "胆固醇肉芽肿", "cholesterol granuloma", "cholesterol granuloma", frequency=0.005),
    EarClass(5, "正常", "normal", "normal", frequency=0.288),
    EarClass(6, "其他", "other", "other", aliases_zh=("其它",), frequency=0.089),
)
# The code of a normal ear.
NORMAL_CODE = 5
# The label of an ear without a known class: the losses and metrics skip it (`torch.nn.CrossEntropyLoss`'s default).
IGNORE_INDEX = -100
# Classes whose prototype stays the text prototype by default: cholesterol granuloma has almost no training ear.
DEFAULT_FROZEN_CODES: tuple[int, ...] = (4,)

CLASS_CODES: tuple[int, ...] = tuple(c.code for c in EAR_CLASSES)
CLASS_NAMES_ZH: dict[int, str] = {c.code: c.name_zh for c in EAR_CLASSES}
CLASS_NAMES_EN: dict[int, str] = {c.code: c.name_en for c in EAR_CLASSES}
CLASS_SHORT_NAMES_EN: dict[int, str] = {c.code: c.short_name_en for c in EAR_CLASSES}
EAR_CODE_FREQUENCIES: dict[int, float] = {c.code: c.frequency for c in EAR_CLASSES}
# Every Chinese spelling of a class (name and aliases) -> its code.
CLASS_CODE_BY_NAME_ZH: dict[str, int] = {name: c.code for c in EAR_CLASSES for name in (c.name_zh, *c.aliases_zh)}


def check_class_table(classes=EAR_CLASSES, normal_code: int = NORMAL_CODE, frozen_codes=DEFAULT_FROZEN_CODES) -> None:
    """Raise `ValueError` naming the entry when codes or names repeat or the normal / frozen codes are not classes."""
    codes = [c.code for c in classes]
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        raise ValueError(f"ear class table: code(s) {repeated} appear more than once")
    names = [name for c in classes for name in (c.name_zh, *c.aliases_zh)]
    repeated_names = sorted({n for n in names if names.count(n) > 1})
    if repeated_names:
        raise ValueError(f"ear class table: Chinese name(s) {repeated_names} name more than one class")
    if normal_code not in codes:
        raise ValueError(f"ear class table: NORMAL_CODE {normal_code} is not one of the codes {codes}")
    unknown = [c for c in frozen_codes if c not in codes]
    if unknown:
        raise ValueError(f"ear class table: DEFAULT_FROZEN_CODES {unknown} are not among the codes {codes}")


check_class_table()

__all__ = [
    "CLASS_CODES",
    "CLASS_CODE_BY_NAME_ZH",
    "CLASS_NAMES_EN",
    "CLASS_NAMES_ZH",
    "CLASS_SHORT_NAMES_EN",
    "DEFAULT_FROZEN_CODES",
    "EAR_CLASSES",
    "EAR_CODE_FREQUENCIES",
    "NORMAL_CODE",
    "EarClass",
    "IGNORE_INDEX",
    "check_class_table",
]
