"""Bi-CPL v3 in the runner: the region head's set-up from the processor and the training vocabulary, and the record
of its finding logits on the test ears (the development class's score rule is chosen from it,
`benchmarks/v3_rule_choice.py`).

Example:
    >>> geometry = region_geometry_of(processor)  # doctest: +SKIP
    >>> sorted(geometry)  # doctest: +SKIP
    ['roi_shape', 'roi_size_mm', 'windows']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ..data.collator import BiCPLDataCollator
from ..knowledge.finding_vocabulary import finding_labels
from ..modeling.modeling_bicpl_regions import finding_class_scores, finding_masks, universe_likelihood
from ..zero_shot.finding_scores import prompt_findings
from .attribute_composition import ear_codes, ear_finding_labels

GEOMETRY_FIELDS = ("roi_shape", "roi_size_mm", "windows", "coarse_roi_size_mm", "coarse_roi_offset_mm")


def region_geometry_of(processor) -> dict:
    """The ROI settings of a `BiCPLProcessor` (or its volume processor) that the region head reads."""
    volume = getattr(processor, "image_processor", processor)
    geometry = {}
    for name in GEOMETRY_FIELDS:
        value = getattr(volume, name, None)
        if value is not None:
            geometry[name] = [dict(v) for v in value] if name == "windows" else [float(v) for v in value]
    geometry["roi_shape"] = [int(v) for v in geometry["roi_shape"]]
    return geometry


def scorable_findings(model) -> list[tuple[str, str]]:
    """Every finding the model's region head can score among its vocabulary and its classes' findings."""
    head = model.region_finding_head
    candidates = {tuple(f) for f in model.config.region_findings or []}
    candidates |= {tuple(f) for fs in (model.config.class_findings or {}).values() for f in fs}
    return sorted(f for f in candidates if head.scorable(f))


@torch.no_grad()
def dataset_finding_logits(model, processor, dataset, findings: Sequence[tuple[str, str]], batch_size: int = 8
                           ) -> np.ndarray:
    """`(N, 2, V)` region-head logits of `findings` for every exam of `dataset`, in eval mode."""
    model.eval()
    collator = BiCPLDataCollator(processor, include_labels=False, include_text=False)
    out = []
    for start in range(0, len(dataset), batch_size):
        rows = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        pixel_values = collator(rows)["pixel_values"].to(model.device)
        embeds = torch.nn.functional.normalize(model.get_image_features(pixel_values).pooler_output, dim=-1)
        out.append(model.region_finding_head(pixel_values, embeds, findings).float().cpu().numpy())
    return np.concatenate(out)


def estimate_finding_likelihood(train_split, region_findings: Sequence[Sequence[str]],
                                class_findings: Mapping[str, Sequence[Sequence[str]]],
                                trained_codes: Sequence[int]) -> dict:
    """`BiCPLConfig.finding_likelihood` from the training ears (columns `findings_triples`, `left_code`,
    `right_code`): each region finding's prevalence over every ear, and, over the trained classes that state findings
    (`class_findings`), how often a class's ears show the findings it states and those it does not (each class
    weighs the same). Rates are Jeffreys estimates, (k + 0.5) / (n + 1), so none is 0 or 1.

    Example:
        >>> from datasets import Dataset
        >>> split = Dataset.from_dict({"findings_triples": [[{"entity_key": "tympanic_cavity", "attribute_key":
        ...     "effusion", "side": "left", "negated": False}], []], "left_code": [3, 5], "right_code": [5, 5]})
        >>> likelihood = estimate_finding_likelihood(split, [["tympanic_cavity", "effusion"], ["mastoid", "sclerotic"]],
        ...                                          {"3": [["tympanic_cavity", "effusion"]]}, [3, 5])
        >>> [round(p, 2) for p in likelihood["prevalence"]], likelihood["stated_rate"], likelihood["unstated_rate"]
        ([0.3, 0.1], 0.75, 0.25)
    """
    vocabulary = [tuple(f) for f in region_findings]
    if not vocabulary:
        raise ValueError("estimate_finding_likelihood needs the region findings the head detects")
    labels = np.stack([finding_labels(t, vocabulary) for t in train_split["findings_triples"]]).reshape(-1, len(vocabulary))
    codes = ear_codes(train_split).reshape(-1)
    count = len(codes)
    stated_rates, unstated_rates = [], []
    for code in trained_codes:
        own = {tuple(f) for f in class_findings.get(str(code)) or []}
        ears = labels[codes == int(code)]
        if not own or not len(ears):
            continue
        rates = (ears.sum(0) + 0.5) / (len(ears) + 1.0)
        stated = np.array([f in own for f in vocabulary])
        if stated.any():
            stated_rates.append(float(rates[stated].mean()))
        if (~stated).any():
            unstated_rates.append(float(rates[~stated].mean()))
    if not stated_rates or not unstated_rates:
        raise ValueError(f"no trained class of {sorted(int(c) for c in trained_codes)} has training ears and findings "
                         "in the region vocabulary: the likelihood_ratio rule has no rates to estimate")
    return {"prevalence": ((labels.sum(0) + 0.5) / (count + 1.0)).tolist(), "unseen_prevalence": 0.5 / (count + 1.0),
            "stated_rate": float(np.mean(stated_rates)), "unstated_rate": float(np.mean(unstated_rates))}


# A perfect detector's logit: far enough out that log(q e^l + 1 - q) is l + log q to double precision.
PERFECT_LOGIT = 1e3


def perfect_detector_likelihood_predictions(test, train, vocabulary: Sequence[Sequence[str]], class_codes: Sequence[int],
                                            class_findings: Mapping[str, Sequence[Sequence[str]]],
                                            trained_codes: Sequence[int]):
    """The ceiling of Bi-CPL v3's rule: `likelihood_ratio` scores of the `test` split from a PERFECT finding detector
    (each ear's findings as its own report states them: a logit of +/-`PERFECT_LOGIT`), the rates estimated on `train`
    as training estimates them (`estimate_finding_likelihood`). A class stating no finding of `vocabulary` scores 0 (no
    evidence; the protocol reads the zero-shot classes only). An oracle, never a method: it reads the test reports."""
    from .evaluation import DatasetPredictions

    vocabulary = [tuple(f) for f in vocabulary]
    known = set(vocabulary)
    likelihood = estimate_finding_likelihood(train, vocabulary, class_findings, trained_codes)
    stated = [class_findings.get(str(code)) for code in class_codes]
    universe, present, absent = finding_masks(stated, vocabulary, lambda f: tuple(f) in known)
    labels = ear_finding_labels(test, vocabulary)[..., [vocabulary.index(tuple(f)) for f in universe]]
    logits = torch.from_numpy(np.where(labels > 0.5, PERFECT_LOGIT, -PERFECT_LOGIT)).double()
    scores = finding_class_scores(logits, present, "likelihood_ratio", absent=absent,
                                  likelihood=universe_likelihood(universe, vocabulary, likelihood)).numpy()
    scores[..., ~present.numpy().any(1)] = 0.0
    return DatasetPredictions(logits=scores, labels=ear_codes(test), image_embeds=(labels > 0.5).astype(np.float32),
                              side_text_embeds=None, class_codes=[int(c) for c in class_codes], cosine=scores)


def prompt_set_scores(logits: np.ndarray, findings: Sequence[tuple[str, str]], prompt_sets: Mapping[int, Sequence[str]],
                      rule: str, vocabulary: Sequence[Sequence[str]], scorable, knowledge_base=None,
                      likelihood: Mapping | None = None) -> np.ndarray:
    """`(N, 2, P)` scores of P prompt sets (e.g. one paraphrase each) from finding logits `(N, 2, V)` of `findings`,
    each set scored as the model scores a class given by findings (`modeling_bicpl_regions.finding_masks`, the
    evidence against it from `vocabulary`; a prompt naming a disease of `knowledge_base` reads its findings there,
    see `finding_scores.prompt_findings`). A set that states no scorable finding (English prose, or a name without a
    knowledge base) scores 0 on every ear: a constant says so (AUC 0.5). `likelihood`: `BiCPLConfig.
    finding_likelihood`, for the `"likelihood_ratio"` rule."""
    stated = [sorted(prompt_findings(prompts, knowledge_base)) for prompts in prompt_sets.values()]
    universe, present, absent = finding_masks(stated, vocabulary, scorable)
    column = {tuple(f): i for i, f in enumerate(findings)}
    missing = [f for f in universe if f not in column]
    if missing:
        raise ValueError(f"the recorded finding logits lack {missing[:3]}: record every scorable finding")
    chosen = torch.from_numpy(logits[..., [column[f] for f in universe]]).double()
    rates = None if likelihood is None else universe_likelihood(universe, vocabulary, likelihood)
    scores = finding_class_scores(chosen, present, rule, absent=absent, likelihood=rates).numpy()
    scores[..., ~present.numpy().any(1)] = 0.0
    return scores


__all__ = ["dataset_finding_logits", "estimate_finding_likelihood", "perfect_detector_likelihood_predictions",
           "prompt_set_scores", "region_geometry_of", "scorable_findings"]
