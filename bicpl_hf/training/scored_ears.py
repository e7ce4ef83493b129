"""Per-ear zero-shot scores of one trained variant on one cohort's test split, kept for the protocol's tables.

The look-alike contrasts, their patient-resampled CIs, the paired differences and the paraphrase spread
(`bicpl_hf.metrics.lookalike_contrasts`) are computed AFTER every cohort has run, from these records: a record holds,
for every labelled test ear, its patient key, its code, the raw cosine and the probability of each class, and the
raw cosine of each prompt paraphrase of the zero-shot classes. Records are written as `.npz` next to the run, so a
table can be recomputed without retraining.

Example:
    >>> import numpy as np
    >>> from bicpl_hf.training.evaluation import DatasetPredictions
    >>> p = DatasetPredictions(logits=np.zeros((1, 2, 2)), labels=np.array([[2, -100]]), image_embeds=np.zeros((1, 2, 3)),
    ...                        side_text_embeds=None, class_codes=[2, 5], cosine=np.array([[[0.3, 0.1], [0.0, 0.0]]]))
    >>> record = scored_ears(p, ["patient-a"], cohort="1001", variant="bicpl_v2", seed=0, zero_shot=True)
    >>> record.labels.tolist(), record.patients.tolist(), record.class_scores(2, "cosine").tolist()
    ([2], ['1001:patient-a'], [0.3])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..metrics import flatten_exam_predictions


@dataclass
class ScoredEarRecord:
    """One (variant, model seed) on one cohort: labelled test ears only, in the order of the dataset."""

    cohort: str
    variant: str
    seed: int
    zero_shot: bool  # False: the variant has no zero-shot score (a supervised classifier): its cells read "n/a"
    class_codes: list[int]
    labels: np.ndarray  # (M,) ear codes
    patients: np.ndarray  # (M,) "<cohort>:<patient key>" (unique across cohorts)
    cosine: np.ndarray  # (M, K) raw cosine (or the variant's raw class score) per class
    probability: np.ndarray  # (M, K) softmax of the calibrated logits
    # code -> (M, P) raw cosine of each paraphrase of that class's prompts; P paraphrases in `paraphrase_kinds[code]`
    paraphrases: dict[int, np.ndarray] = field(default_factory=dict)
    paraphrase_kinds: dict[int, list[str]] = field(default_factory=dict)

    def class_scores(self, code: int, score: str = "cosine") -> np.ndarray:
        """`(M,)` scores of class `code`: `"cosine"` (raw, the protocol's score) or `"probability"`."""
        if score not in ("cosine", "probability"):
            raise ValueError(f"score must be 'cosine' or 'probability', got {score!r}")
        if int(code) not in self.class_codes:
            raise ValueError(f"class {code} is not scored by {self.variant} (classes {self.class_codes})")
        return getattr(self, score)[:, self.class_codes.index(int(code))]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"paraphrases_{code}": v for code, v in self.paraphrases.items()}
        arrays.update({f"paraphrase_kinds_{code}": np.asarray(v) for code, v in self.paraphrase_kinds.items()})
        np.savez(path, cohort=self.cohort, variant=self.variant, seed=self.seed, zero_shot=self.zero_shot,
                 class_codes=np.asarray(self.class_codes), labels=self.labels, patients=self.patients,
                 cosine=self.cosine, probability=self.probability, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ScoredEarRecord:
        with np.load(path, allow_pickle=False) as data:
            paraphrases = {int(k.rsplit("_", 1)[1]): data[k] for k in data.files if k.startswith("paraphrases_")}
            kinds = {int(k.rsplit("_", 1)[1]): data[k].tolist() for k in data.files if k.startswith("paraphrase_kinds_")}
            return cls(cohort=str(data["cohort"]), variant=str(data["variant"]), seed=int(data["seed"]),
                       zero_shot=bool(data["zero_shot"]), class_codes=data["class_codes"].tolist(),
                       labels=data["labels"], patients=data["patients"], cosine=data["cosine"],
                       probability=data["probability"], paraphrases=paraphrases, paraphrase_kinds=kinds)


def scored_ears(predictions, patient_keys: Sequence[str], *, cohort: str, variant: str, seed: int, zero_shot: bool,
                paraphrase_cosine: dict[int, np.ndarray] | None = None,
                paraphrase_kinds: dict[int, list[str]] | None = None) -> ScoredEarRecord:
    """The record of `predictions` (`DatasetPredictions` over a test split whose exams have `patient_keys`).

    `paraphrase_cosine` maps a class code to `(N, 2, P)` exam-level cosines (e.g. from
    `bicpl_hf.training.evaluation.prompt_cosines`); they are flattened to the labelled ears like everything else."""
    codes = list(predictions.class_codes)
    if len(patient_keys) != predictions.logits.shape[0]:
        raise ValueError(f"{len(patient_keys)} patient keys for {predictions.logits.shape[0]} predicted exams")
    logits, indices, rows, sides = flatten_exam_predictions(predictions.logits, predictions.labels, codes)
    probability = predictions.probabilities[rows, sides]
    cosine = logits if predictions.cosine is None else np.asarray(predictions.cosine, dtype=np.float64)[rows, sides]
    patients = np.asarray([f"{cohort}:{patient_keys[r]}" for r in rows])
    paraphrases = {int(c): np.asarray(v, dtype=np.float64)[rows, sides] for c, v in (paraphrase_cosine or {}).items()}
    return ScoredEarRecord(cohort=str(cohort), variant=variant, seed=int(seed), zero_shot=bool(zero_shot),
                           class_codes=codes, labels=np.asarray(codes)[indices], patients=patients, cosine=cosine,
                           probability=probability, paraphrases=paraphrases,
                           paraphrase_kinds={int(c): list(v) for c, v in (paraphrase_kinds or {}).items()})


__all__ = ["ScoredEarRecord", "scored_ears"]
