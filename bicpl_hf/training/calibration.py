"""Calibrated stacking: one logit offset that puts the text-only (unseen) classes on the trained classes' scale.

A prototype classifier trained on some classes scores its text-only classes on another scale (the seen/unseen bias
of generalised zero-shot learning; Chao et al., ECCV 2016): a frozen text prototype may capture every ear of a
trained class, or never win at all. Calibrated stacking adds one constant to the unseen classes' logits. Here the
constant is set on labelled validation ears of the TRAINED classes only, so that a chosen share of them (the false
positive rate) is called an unseen class; no example of an unseen class is needed, which keeps zero-shot honest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def calibrate_unseen_class_offset(
    model,
    processor,
    dataset,
    unseen_codes: Sequence[int] | None = None,
    *,
    false_positive_rate: float = 0.05,
    batch_size: int = 8,
) -> float:
    """Set `model.config.class_logit_offsets` so that `false_positive_rate` of the trained-class ears in `dataset`
    are predicted as one of `unseen_codes`; returns the offset given to those classes (the others get 0).

    Args:
        model: a trained [`BiCPLModel`]; its previous offsets are replaced.
        processor: the [`BiCPLProcessor`] (for the collator).
        dataset: labelled ears, e.g. the validation split of the training view; ears labelled with an unseen code
            or -100 are not used.
        unseen_codes: the text-only classes (default: `config.frozen_prototype_codes`).
        false_positive_rate: share of trained-class ears allowed to fall to an unseen class, in `[0, 1)`.

    Example:

    ```python
    >>> offset = calibrate_unseen_class_offset(model, processor, view["validation"], unseen_codes=[4, 6])  # doctest: +SKIP
    >>> model.config.class_logit_offsets  # doctest: +SKIP
    [0.0, 0.0, 0.0, -3.1, 0.0, -3.1]
    ```
    """
    from .evaluation import predict_dataset  # here, so `import bicpl_hf` does not load the Trainer stack

    config = model.config
    codes = list(config.class_codes)
    unseen_codes = list(config.frozen_prototype_codes if unseen_codes is None else unseen_codes)
    unknown = [c for c in unseen_codes if c not in codes]
    if unknown:
        raise ValueError(f"unseen_codes {unknown} are not in config.class_codes {codes}")
    if not 0.0 <= false_positive_rate < 1.0:
        raise ValueError(f"false_positive_rate must be in [0, 1), got {false_positive_rate}")
    unseen = [codes.index(c) for c in unseen_codes]
    seen = [i for i in range(len(codes)) if i not in unseen]
    if not unseen or not seen:
        raise ValueError(f"need both unseen and trained classes to calibrate; unseen codes {unseen_codes} of {codes}")

    if len(dataset) == 0:
        raise ValueError(f"the calibration dataset is empty: it has no ear labelled with a trained class "
                         f"{[codes[i] for i in seen]}")
    previous, config.class_logit_offsets = config.class_logit_offsets, None  # score with the raw logits
    try:
        predictions = predict_dataset(model, processor, dataset, batch_size=batch_size, with_text=False)
    finally:
        config.class_logit_offsets = previous
    logits = predictions.logits.reshape(-1, len(codes))
    labels = predictions.labels.reshape(-1)
    usable = np.isin(labels, [codes[i] for i in seen])
    if not usable.any():
        raise ValueError(f"the calibration dataset has no ear labelled with a trained class {[codes[i] for i in seen]}")
    # An ear falls to an unseen class when (best unseen logit + offset) beats its best trained-class logit.
    margin = logits[usable][:, unseen].max(1) - logits[usable][:, seen].max(1)
    offset = -float(np.quantile(margin, 1.0 - false_positive_rate))
    config.class_logit_offsets = [offset if i in unseen else 0.0 for i in range(len(codes))]
    return offset


__all__ = ["calibrate_unseen_class_offset"]
