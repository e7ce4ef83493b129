"""Patient-level splits and the proposal's evaluation settings on a built Bi-CPL dataset.

* [`assign_patient_splits`]: 70 / 10 / 20 % of the *patients* (not exams) to `train` /
  `validation` / `test` with a fixed seed, so no patient's exams straddle two splits.
* [`setting_view`] (DESIGN.md section 2):

  - **Setting A**: supervised on codes 1, 2, 3, 5. In `train` and `validation` every ear whose code
    is not one of these (4 cholesterol granuloma, 6 other) gets `-100` (ignored by the losses), and
    every exam with a code-4 ear leaves `train`, so code 4 stays zero/few-shot.
  - **Setting B**: as A, and in addition every exam with an ear of the held-out class (code 2, cholesteatoma,
    unless `held_out` says otherwise) leaves `train` and `validation`: that class must be recognised
    zero-shot from its text prototype.
  - `test` is never altered: it keeps every exam and every code, so both settings are scored on the
    same exams. Exams whose two ears are both `-100` stay (they still align images with reports);
    `*_code_source` keeps where the original code came from.

Example:
    >>> dataset = load_built_dataset("built/")  # doctest: +SKIP
    >>> setting_b = setting_view(dataset, "B")  # doctest: +SKIP
    >>> class_counts(setting_b["train"]).get(2, 0), class_counts(setting_b["test"])[2] > 0  # doctest: +SKIP
    (0, True)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..modeling import IGNORE_INDEX
from ..processing.ear_classes import CLASS_CODES

__all__ = [
    "HELD_OUT_CODE",
    "IGNORE_INDEX",
    "SETTING_A_CODES",
    "SPLIT_FRACTIONS",
    "SPLIT_NAMES",
    "assign_patient_splits",
    "class_counts",
    "enriched_patient_splits",
    "load_built_dataset",
    "patient_codes",
    "resplit_by_patient",
    "setting_view",
]

SPLIT_NAMES = ("train", "validation", "test")
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)
SETTING_A_CODES = (1, 2, 3, 5)
HELD_OUT_CODE = 2  # the class Setting B holds out of training, unless told otherwise
_CODE_COLUMNS = ("left_code", "right_code")


def assign_patient_splits(
    patient_keys: Iterable[str], *, seed: int, fractions: tuple[float, float, float] = SPLIT_FRACTIONS
) -> dict[str, str]:
    """Map each distinct patient key to `"train"`, `"validation"` or `"test"`.

    The keys are sorted, shuffled with `numpy.random.default_rng(seed)` and cut at
    `round(n * 0.7)` and `round(n * 0.7) + round(n * 0.1)`: the result depends only on the set of
    keys and the seed, never on their order.

    Example:
        >>> splits = assign_patient_splits([f"p{i}" for i in range(10)], seed=0)
        >>> sorted(list(splits.values()).count(s) for s in ("train", "validation", "test"))
        [1, 2, 7]
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    keys = sorted(set(patient_keys))
    order = np.random.default_rng(seed).permutation(len(keys))
    n_train = int(round(len(keys) * fractions[0]))
    n_validation = int(round(len(keys) * fractions[1]))
    splits = {}
    for rank, index in enumerate(order):
        splits[keys[index]] = "train" if rank < n_train else "validation" if rank < n_train + n_validation else "test"
    return splits


def enriched_patient_splits(
    patient_codes: Mapping[str, Iterable[int]],
    *,
    seed: int,
    enrich_codes: Iterable[int],
    enrich_fractions: tuple[float, float, float] = (0.3, 0.1, 0.6),
    fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
) -> dict[str, str]:
    """A patient-level split whose test split is enriched in rare classes, for statistical power.

    Patients with at least one ear coded in `enrich_codes` are split with `enrich_fractions` (default 30 / 10 /
    60 %), every other patient with `fractions`; each group as in [`assign_patient_splits`]. A patient is still
    in exactly one split.

    Example:
        >>> codes = {f"p{i}": {2} if i < 10 else {5} for i in range(20)}
        >>> splits = enriched_patient_splits(codes, seed=0, enrich_codes=[2])
        >>> sum(splits[f"p{i}"] == "test" for i in range(10)), sum(splits[f"p{i}"] == "test" for i in range(10, 20))
        (6, 2)
    """
    enrich = {int(c) for c in enrich_codes}
    enriched = {p for p, codes in patient_codes.items() if enrich & {int(c) for c in codes}}
    splits = assign_patient_splits(enriched, seed=seed, fractions=enrich_fractions)
    splits.update(assign_patient_splits(set(patient_codes) - enriched, seed=seed, fractions=fractions))
    return splits


def resplit_by_patient(dataset_dict: Mapping, splits_of_patients: Mapping[str, str]):
    """Re-split a built dataset (all its exams, whatever split they were in) by `patient_key` -> split name.

    Exams keep their order within the new splits. Raises if a patient of the dataset has no split.

    Example:
        >>> dataset = load_built_dataset("built/")  # doctest: +SKIP
        >>> patients = {p: codes for p, codes in ...}  # doctest: +SKIP
        >>> splits = enriched_patient_splits(patients, seed=0, enrich_codes=[2, 4])  # doctest: +SKIP
        >>> enriched = resplit_by_patient(dataset, splits)  # doctest: +SKIP
    """
    from datasets import DatasetDict, concatenate_datasets

    every = concatenate_datasets([dataset_dict[s] for s in SPLIT_NAMES if len(dataset_dict[s])])
    patients = every["patient_key"]
    missing = sorted({p for p in patients if p not in splits_of_patients})
    if missing:
        raise ValueError(f"{len(missing)} patient(s) have no split, e.g. {missing[:3]}")
    unknown = sorted(set(splits_of_patients.values()) - set(SPLIT_NAMES))
    if unknown:
        raise ValueError(f"unknown split name(s) {unknown}; expected {list(SPLIT_NAMES)}")
    target = np.asarray([splits_of_patients[p] for p in patients])
    return DatasetDict({s: every.select(np.flatnonzero(target == s).tolist()) for s in SPLIT_NAMES})


def patient_codes(dataset_dict: Mapping) -> dict[str, set[int]]:
    """Every patient's known ear codes over all splits of a built dataset (`-100` left out)."""
    codes: dict[str, set[int]] = {}
    for split in SPLIT_NAMES:
        part = dataset_dict[split]
        if not len(part):
            continue
        left, right = _codes(part)
        for patient, l_code, r_code in zip(part["patient_key"], left.tolist(), right.tolist()):
            codes.setdefault(patient, set()).update(c for c in (l_code, r_code) if c != IGNORE_INDEX)
    return codes


def load_built_dataset(path: str | os.PathLike):
    """Load a dataset written by the builder, from its output folder or its `dataset` subfolder.

    Example:
        >>> dataset = load_built_dataset("built/")  # doctest: +SKIP
        >>> list(dataset)  # doctest: +SKIP
        ['train', 'validation', 'test']
    """
    import datasets

    path = Path(path)
    folder = path / "dataset" if (path / "dataset" / "dataset_dict.json").is_file() else path
    if not (folder / "dataset_dict.json").is_file():
        raise FileNotFoundError(f"{path} holds no built Bi-CPL dataset: expected {path}/dataset/dataset_dict.json "
                                "(written by `bicpl build`)")
    dataset_dict = datasets.load_from_disk(str(folder))
    missing = [s for s in SPLIT_NAMES if s not in dataset_dict]
    if missing:
        raise ValueError(f"{folder}: the dataset has the splits {list(dataset_dict)}, expected {list(SPLIT_NAMES)}")
    return dataset_dict


def _codes(dataset) -> tuple[np.ndarray, np.ndarray]:
    table = dataset.with_format("numpy", columns=list(_CODE_COLUMNS))
    return (np.asarray(table["left_code"], dtype=np.int64).reshape(-1),
            np.asarray(table["right_code"], dtype=np.int64).reshape(-1))


def _masked_view(dataset, *, drop_codes: tuple[int, ...], trained_codes: tuple[int, ...] = SETTING_A_CODES):
    """Codes outside `trained_codes` become -100; exams with an ear coded in `drop_codes` leave the split."""
    from datasets import Value

    left, right = _codes(dataset)
    keep = ~(np.isin(left, drop_codes) | np.isin(right, drop_codes))
    order = list(dataset.column_names)
    masked = dataset.remove_columns(list(_CODE_COLUMNS))
    for name, codes in zip(_CODE_COLUMNS, (left, right)):
        values = np.where(np.isin(codes, trained_codes), codes, IGNORE_INDEX)
        masked = masked.add_column(name, values.tolist(), feature=Value("int64"))
    masked = masked.select_columns(order)
    return masked.select(np.flatnonzero(keep).tolist()) if not keep.all() else masked


def setting_view(dataset_dict: Mapping, setting: str, held_out: int = HELD_OUT_CODE):
    """The Setting A or B view of a built dataset (rules in the module docstring).

    Args:
        dataset_dict: a `DatasetDict` with `train`, `validation` and `test`.
        setting: `"A"` or `"B"`.
        held_out: the class Setting B holds out of training (2 in the proposal; any code works the same way: its
            ears become `-100` and every exam with such an ear leaves `train` and `validation`).

    Returns:
        A new `DatasetDict`; the input is not modified and `test` is the same object.

    Example:
        >>> view = setting_view(load_built_dataset("built/"), "A")  # doctest: +SKIP
        >>> sorted(class_counts(view["train"]))  # doctest: +SKIP
        [1, 2, 3, 5]
    """
    from datasets import DatasetDict

    name = str(setting).strip().upper()
    if name not in ("A", "B"):
        raise ValueError(f"setting must be 'A' (codes 1, 2, 3, 5) or 'B' (A without the held-out code in training), "
                         f"got {setting!r}")
    if isinstance(held_out, bool) or int(held_out) != held_out or int(held_out) not in CLASS_CODES:
        raise ValueError(f"held_out must be one of the ear codes {list(CLASS_CODES)}, got {held_out!r}")
    held_out = int(held_out)
    unknown = sorted(set(dataset_dict) - set(SPLIT_NAMES))
    if unknown or any(s not in dataset_dict for s in SPLIT_NAMES):
        raise ValueError(f"expected the splits {list(SPLIT_NAMES)}, got {sorted(dataset_dict)}")
    view = {}
    for split in SPLIT_NAMES:
        dataset = dataset_dict[split]
        if split == "test":
            view[split] = dataset
            continue
        drop = (4,) if split == "train" else ()
        trained = SETTING_A_CODES
        if name == "B":
            drop = drop + (held_out,)
            trained = tuple(c for c in SETTING_A_CODES if c != held_out)
        view[split] = _masked_view(dataset, drop_codes=drop, trained_codes=trained)
    return DatasetDict(view)


def class_counts(dataset) -> dict:
    """Ears per code (`-100` not counted), sorted by code; for a `DatasetDict`, one dict per split.

    Example:
        >>> from datasets import Dataset
        >>> class_counts(Dataset.from_dict({"left_code": [1, 5, -100], "right_code": [5, 5, 2]}))
        {1: 1, 2: 1, 5: 3}
    """
    from datasets import DatasetDict

    if isinstance(dataset, (DatasetDict, dict)):
        return {split: class_counts(part) for split, part in dataset.items()}
    left, right = _codes(dataset)
    codes, counts = np.unique(np.concatenate([left, right]), return_counts=True)
    return {int(c): int(n) for c, n in zip(codes, counts) if c != IGNORE_INDEX}
