"""Patient-level splits and the proposal's evaluation settings on a built Bi-CPL dataset.

* :func:`assign_patient_splits`: 70 / 10 / 20 % of the *patients* (not exams) to ``train`` /
  ``validation`` / ``test`` with a fixed seed, so no patient's exams straddle two splits.
* :func:`setting_view` (DESIGN.md section 2):

  - **Setting A**: supervised on codes 1, 2, 3, 5. In ``train`` and ``validation`` every ear whose code
    is not one of these (4 cholesterol granuloma, 6 other) gets ``-100`` (ignored by the losses), and
    every exam with a code-4 ear leaves ``train``, so code 4 stays zero/few-shot.
  - **Setting B**: as A, and in addition every exam with a code-2 (cholesteatoma) ear leaves ``train``
    and ``validation``: code 2 must be recognised zero-shot from its text prototype.
  - ``test`` is never altered: it keeps every exam and every code, so both settings are scored on the
    same exams. Exams whose two ears are both ``-100`` stay (they still align images with reports);
    ``*_code_source`` keeps where the original code came from.

Example:
    >>> dataset = load_built_dataset("built/")  # doctest: +SKIP
    >>> setting_b = setting_view(dataset, "B")  # doctest: +SKIP
    >>> class_counts(setting_b["train"]).get(2, 0), class_counts(setting_b["test"])[2] > 0  # doctest: +SKIP
    (0, True)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from ..modeling import IGNORE_INDEX

__all__ = [
    "IGNORE_INDEX",
    "SETTING_A_CODES",
    "SPLIT_FRACTIONS",
    "SPLIT_NAMES",
    "assign_patient_splits",
    "class_counts",
    "load_built_dataset",
    "setting_view",
]

SPLIT_NAMES = ("train", "validation", "test")
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)
SETTING_A_CODES = (1, 2, 3, 5)
_CODE_COLUMNS = ("left_code", "right_code")


def assign_patient_splits(
    patient_keys: Iterable[str], *, seed: int, fractions: tuple[float, float, float] = SPLIT_FRACTIONS
) -> dict[str, str]:
    """Map each distinct patient key to ``"train"``, ``"validation"`` or ``"test"``.

    The keys are sorted, shuffled with ``numpy.random.default_rng(seed)`` and cut at
    ``round(n * 0.7)`` and ``round(n * 0.7) + round(n * 0.1)``: the result depends only on the set of
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


def load_built_dataset(path: str | os.PathLike):
    """Load a dataset written by the builder, from its output folder or its ``dataset`` subfolder.

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


def _masked_view(dataset, *, drop_codes: tuple[int, ...]):
    """Codes outside Setting A become -100; exams with an ear coded in ``drop_codes`` leave the split."""
    from datasets import Value

    left, right = _codes(dataset)
    keep = ~(np.isin(left, drop_codes) | np.isin(right, drop_codes))
    order = list(dataset.column_names)
    masked = dataset.remove_columns(list(_CODE_COLUMNS))
    for name, codes in zip(_CODE_COLUMNS, (left, right)):
        values = np.where(np.isin(codes, SETTING_A_CODES), codes, IGNORE_INDEX)
        masked = masked.add_column(name, values.tolist(), feature=Value("int64"))
    masked = masked.select_columns(order)
    return masked.select(np.flatnonzero(keep).tolist()) if not keep.all() else masked


def setting_view(dataset_dict: Mapping, setting: str):
    """The Setting A or B view of a built dataset (rules in the module docstring).

    Args:
        dataset_dict: a ``DatasetDict`` with ``train``, ``validation`` and ``test``.
        setting: ``"A"`` or ``"B"``.

    Returns:
        A new ``DatasetDict``; the input is not modified and ``test`` is the same object.

    Example:
        >>> view = setting_view(load_built_dataset("built/"), "A")  # doctest: +SKIP
        >>> sorted(class_counts(view["train"]))  # doctest: +SKIP
        [1, 2, 3, 5]
    """
    from datasets import DatasetDict

    name = str(setting).strip().upper()
    if name not in ("A", "B"):
        raise ValueError(f"setting must be 'A' (codes 1, 2, 3, 5) or 'B' (A without code 2 in training), got {setting!r}")
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
        if name == "B":
            drop = drop + (2,)
        view[split] = _masked_view(dataset, drop_codes=drop)
    return DatasetDict(view)


def class_counts(dataset) -> dict:
    """Ears per code (``-100`` not counted), sorted by code; for a ``DatasetDict``, one dict per split.

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
