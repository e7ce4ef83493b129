# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Semantic soft labels (Ultrasound-CLIP): two ears whose reports share findings are not pure negatives.

Each ear's report text is reduced to a multi-hot vector over `ATTRIBUTE_VOCABULARY` (the non-negated
abnormal findings on that side, from the report parser's triples). The Jaccard overlap of two ears'
vectors says how alike their reports are; `soft_targets` mixes the identity (hard CLIP targets) with
the row-normalised overlap.

Every function takes numpy arrays or torch tensors and returns the same kind, so the targets can be
built in a data collator (numpy) or inside a loss on gathered embeddings (torch, any device).

Example:
    >>> import numpy as np
    >>> vectors = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 0], [0, 0, 0]], dtype=np.float32)
    >>> attribute_overlap(vectors)[0].round(2).tolist(), float(attribute_overlap(vectors)[2, 3])
    ([1.0, 0.5, 0.0, 0.0], 1.0)
    >>> soft_targets(vectors, alpha=0.2).sum(axis=1).round(6).tolist()
    [1.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

import numpy as np

from ..processing.report_lexicon import ATTRIBUTE_KEYS
from ..processing.report_parser import EAR_SIDES, ParsedReport

# Fixed order: the position of a key never changes (vectors stored with a data set stay valid); new keys
# are appended. The parser's lesion attributes, then the abnormal states that are not lesions
# themselves (a sclerotic mastoid, margins, a perforated drum, a narrowed canal).
ATTRIBUTE_VOCABULARY: tuple[str, ...] = (
    "soft_tissue",
    "soft_tissue_mass",
    "abnormal_density",
    "effusion",
    "air_fluid_level",
    "bubbles",
    "bone_erosion",
    "expansile",
    "bone_thinning",
    "widened",
    "thickening",
    "mucosal_thickening",
    "increased_density",
    "opacified",
    "filling",
    "sclerotic",
    "poorly_pneumatized",
    "smooth_margin",
    "irregular_margin",
    "perforation",
    "retraction",
    "stenosis",
)
_UNKNOWN_KEYS = sorted(set(ATTRIBUTE_VOCABULARY) - set(ATTRIBUTE_KEYS.values()))
if _UNKNOWN_KEYS or len(set(ATTRIBUTE_VOCABULARY)) != len(ATTRIBUTE_VOCABULARY):
    raise RuntimeError(f"ATTRIBUTE_VOCABULARY has keys {_UNKNOWN_KEYS} unknown to the report lexicon, or duplicates")
_INDEX = {key: i for i, key in enumerate(ATTRIBUTE_VOCABULARY)}


def side_findings(parsed: ParsedReport, side: str) -> list:
    """The non-negated triples of `parsed` about ear `side` whose attribute is in `ATTRIBUTE_VOCABULARY`.

    A triple is about the ear when its side is that ear, "bilateral", or None (a sentence that names no
    side is about both ears, as in `ParsedReport.side_texts`); the other ear's triples never are.
    """
    if side not in EAR_SIDES:
        raise ValueError(f"side must be one of {EAR_SIDES}, got {side!r}")
    if not isinstance(parsed, ParsedReport):
        raise TypeError(f"expected a ParsedReport (from parse_report), got {type(parsed).__name__}")
    return [t for t in parsed.triples
            if t.side in (side, "bilateral", None) and not t.negated and t.attribute_key in _INDEX]


def attribute_vector(parsed: ParsedReport, side: str) -> np.ndarray:
    """Multi-hot `(len(ATTRIBUTE_VOCABULARY),)` float32 vector of the abnormal findings on one ear.

    Example:
        >>> from bicpl_hf.processing import parse_report
        >>> r = parse_report(findings="左侧鼓室内见软组织影，听小骨骨质破坏。右侧鼓室积液。", impression="左侧中耳胆脂瘤。")
        >>> [ATTRIBUTE_VOCABULARY[i] for i in attribute_vector(r, "left").nonzero()[0]]
        ['soft_tissue', 'bone_erosion']
    """
    vector = np.zeros(len(ATTRIBUTE_VOCABULARY), dtype=np.float32)
    for triple in side_findings(parsed, side):
        vector[_INDEX[triple.attribute_key]] = 1.0
    return vector


def _check_vectors(vectors, name: str = "vectors"):
    if vectors.ndim != 2:
        raise ValueError(f"{name} must be a (n, attributes) matrix, got shape {tuple(vectors.shape)}")
    if not bool(((vectors == 0) | (vectors == 1)).all()):
        raise ValueError(f"{name} must be multi-hot (only 0 and 1), as returned by attribute_vector")


def attribute_overlap(vectors):
    """Jaccard overlap `(n, n)` of multi-hot vectors; two empty vectors (two normal ears) overlap 1.

    Symmetric, in [0, 1], with ones on the diagonal.
    """
    _check_vectors(vectors)
    intersection = vectors @ vectors.T
    sizes = vectors.sum(1)
    union = sizes[:, None] + sizes[None, :] - intersection
    both_empty = union == 0
    denominator = union + both_empty  # avoid 0/0; the value is replaced below
    return (intersection + both_empty) / denominator


def soft_targets(vectors, alpha: float):
    """Contrastive targets `(1 - alpha) * I + alpha * overlap / overlap.sum(1)`; every row sums to one.

    `alpha = 0` gives the hard CLIP targets (identity); the diagonal of the overlap is 1, so no row is empty.

    Example:
        >>> import numpy as np
        >>> soft_targets(np.eye(2, dtype=np.float32), alpha=0.5).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"soft_targets: alpha must be a number in [0, 1], got {alpha!r}")
    overlap = attribute_overlap(vectors)
    normalised = overlap / overlap.sum(1, keepdims=True) if isinstance(overlap, np.ndarray) else (
        overlap / overlap.sum(1, keepdim=True))
    n = overlap.shape[0]
    if isinstance(overlap, np.ndarray):
        identity = np.eye(n, dtype=overlap.dtype)
    else:
        import torch

        identity = torch.eye(n, dtype=overlap.dtype, device=overlap.device)
    return (1.0 - alpha) * identity + alpha * normalised
