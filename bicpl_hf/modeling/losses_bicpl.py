# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Loss functions of Bi-CPL. Inputs are L2-normalised embeddings unless stated otherwise; losses run in float32."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .ear_classes import IGNORE_INDEX

_HASH_MODULUS = 2_147_483_647  # a 31-bit prime: products of two residues fit in int64
_HASH_BASE = 1_000_003


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` from every rank along dim 0, keeping the autograd graph (open_clip's gather_with_grad).

    Every rank then computes the loss of the GLOBAL batch; the all-gather backward sums each rank's gradient onto
    its own slice and DDP averages over ranks, which together give exactly the single-process gradient.
    Ranks must hold the same number of rows (equal per-device batch sizes).
    """
    if not is_distributed():
        return tensor
    import torch.distributed.nn.functional as dist_fn

    return torch.cat(dist_fn.all_gather(tensor), dim=0)


def gather_without_grad(tensor: torch.Tensor) -> torch.Tensor:
    if not is_distributed():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def text_hash_ids(input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """A polynomial hash per row of the (masked) token ids, independent of padding length, so identical texts get
    the same id on every rank whatever each rank padded to."""
    tokens = input_ids.long() if attention_mask is None else input_ids.long() * attention_mask.long()
    powers = torch.ones(tokens.shape[-1], dtype=torch.long, device=tokens.device)
    for i in range(1, tokens.shape[-1]):
        powers[i] = powers[i - 1] * _HASH_BASE % _HASH_MODULUS
    return ((tokens % _HASH_MODULUS) * powers % _HASH_MODULUS).sum(-1) % _HASH_MODULUS


def duplicate_text_targets(text_ids: torch.Tensor) -> torch.Tensor:
    """Soft InfoNCE targets that treat identical texts as positives of each other.

    Many ears share a text ("双侧中耳未见异常"); with one-hot targets those would be pushed apart as false
    negatives. `text_ids` is `(n,)` integer ids of the distinct texts; returns `(n, n)` rows summing to one.
    """
    same = (text_ids[:, None] == text_ids[None, :]).float()
    return same / same.sum(dim=1, keepdim=True)


def attribute_soft_targets(targets: torch.Tensor, attributes: torch.Tensor, alpha: float) -> torch.Tensor:
    """Semantic soft labels (Ultrasound-CLIP): blend targets `(n, n)` with the row-normalised Jaccard overlap of the
    multi-hot attribute vectors `(n, A)`; two ears with no lesion attribute (normal) overlap fully. Rows sum to one."""
    vectors = (attributes > 0).float()
    intersection = vectors @ vectors.t()
    sizes = vectors.sum(-1)
    union = sizes[:, None] + sizes[None, :] - intersection
    overlap = torch.where(union > 0, intersection / union.clamp(min=1.0), torch.ones_like(union))
    overlap = overlap / overlap.sum(-1, keepdim=True)
    return (1.0 - alpha) * targets.to(overlap) + alpha * overlap


def hard_negative_loss(positive_logits: torch.Tensor, negative_logits: torch.Tensor, mask: torch.Tensor,
                       sigmoid: bool = False) -> torch.Tensor:
    """Abnormality-dictionary hard negatives (CT-GLIP): each ear must score its own text above texts that differ in
    one flipped attribute, side or disease. `positive_logits` `(n,)`, `negative_logits` / `mask` `(n, k)`."""
    positive_logits, negative_logits = positive_logits.float(), negative_logits.float()
    valid = mask.bool()
    if not bool(valid.any()):
        return positive_logits.sum() * 0.0
    if sigmoid:
        negatives = -(F.logsigmoid(-negative_logits) * valid).sum(-1)
        return (-F.logsigmoid(positive_logits) + negatives).mean()
    logits = torch.cat([positive_logits[:, None], negative_logits.masked_fill(~valid, float("-inf"))], dim=-1)
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))


def clip_contrastive_loss(logits_per_text: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE of CLIP; `targets` optionally replaces the identity with soft targets (rows sum to one)."""
    logits = logits_per_text.float()
    if targets is None:
        labels = torch.arange(logits.shape[0], device=logits.device)
        return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))
    targets = targets.to(logits)
    text_loss = -(targets * F.log_softmax(logits, dim=-1)).sum(-1).mean()
    image_loss = -(targets.t() * F.log_softmax(logits.t(), dim=-1)).sum(-1).mean()
    return 0.5 * (text_loss + image_loss)


def siglip_contrastive_loss(logits_per_text: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """Pairwise sigmoid loss of SigLIP; `targets > 0` marks positive pairs (identity by default)."""
    logits = logits_per_text.float()
    positives = torch.eye(logits.shape[0], device=logits.device) if targets is None else (targets > 0).to(logits)
    signs = 2.0 * positives - 1.0
    return -F.logsigmoid(signs * logits).sum(dim=-1).mean()


def prototype_classification_loss(
    logits: torch.Tensor,
    label_indices: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    excluded_classes: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of per-ear prototype logits `(n, K)` against class indices `(n,)`; [`IGNORE_INDEX`] is ignored.

    `excluded_classes` (`(K,)` bool) leaves those classes out of each ear's softmax unless they are its label.
    Returns 0 (with a graph) when no ear is labelled so that a partly unlabelled batch never produces NaN.
    """
    valid = label_indices != IGNORE_INDEX
    if not bool(valid.any()):
        return logits.sum() * 0.0
    if excluded_classes is not None and bool(excluded_classes.any()):
        drop = excluded_classes.to(logits.device)[None, :].expand_as(logits).clone()
        rows = valid.nonzero().squeeze(1)
        drop[rows, label_indices[rows]] = False
        logits = logits.masked_fill(drop, float("-inf"))
    weight = class_weights.to(logits.device, torch.float32) if class_weights is not None else None
    return F.cross_entropy(logits.float(), label_indices, weight=weight, ignore_index=IGNORE_INDEX)


def symmetry_loss(
    left_embeds: torch.Tensor,
    right_embeds: torch.Tensor,
    left_labels: torch.Tensor,
    right_labels: torch.Tensor,
    normal_index: int,
    margin: float,
) -> torch.Tensor:
    """Bilateral symmetry prior on ear embeddings `(batch, dim)` and class indices `(batch,)`.

    Both ears normal: pull together (`1 - cos`). Exactly one ear normal and the other labelled diseased: push apart
    while `cos > margin`. Pairs with an unknown ([`IGNORE_INDEX`]) ear or two diseased ears add nothing.
    """
    cosine = (left_embeds.float() * right_embeds.float()).sum(-1)
    known = (left_labels != IGNORE_INDEX) & (right_labels != IGNORE_INDEX)
    left_normal = left_labels == normal_index
    right_normal = right_labels == normal_index
    both_normal = known & left_normal & right_normal
    one_diseased = known & (left_normal ^ right_normal)
    terms = torch.where(both_normal, 1.0 - cosine, torch.zeros_like(cosine))
    terms = terms + torch.where(one_diseased, F.relu(cosine - margin), torch.zeros_like(cosine))
    count = (both_normal | one_diseased).sum()
    if int(count) == 0:
        return cosine.sum() * 0.0
    return terms.sum() / count


def finding_alignment_loss(logits: torch.Tensor, labels: torch.Tensor, balanced: bool = True) -> torch.Tensor:
    """Finding-level alignment (Bi-CPL proposal §4.2.2): binary cross-entropy of ear-finding logits `(n, V)` against
    labels `(n, V)` (1 = the finding is present on that ear, 0 = negated or not mentioned; [`IGNORE_INDEX`] = unknown,
    e.g. an ear whose report is missing). Each finding is an independent yes/no question about the ear, so an ear is
    pulled towards every finding of its side and pushed from the findings its report negates.

    `balanced=True` averages, per finding, the mean loss of its positive ears and that of its negative ears (a
    finding with no positive ear in the batch contributes its negatives alone): the defining findings of a rare
    disease are rare everywhere (a few ears in a hundred), and a plain mean would let the model ignore them."""
    labels = labels.float()
    known = labels != IGNORE_INDEX
    if not bool(known.any()):
        return logits.sum() * 0.0
    losses = F.binary_cross_entropy_with_logits(logits.float(), labels.clamp(0.0, 1.0), reduction="none")
    if not balanced:
        return (losses * known).sum() / known.sum()
    positive, negative = known & (labels > 0.5), known & (labels <= 0.5)
    n_positive, n_negative = positive.sum(0), negative.sum(0)
    mean_positive = (losses * positive).sum(0) / n_positive.clamp(min=1)
    mean_negative = (losses * negative).sum(0) / n_negative.clamp(min=1)
    both = (n_positive > 0) & (n_negative > 0)
    per_finding = torch.where(both, 0.5 * (mean_positive + mean_negative), mean_positive + mean_negative)
    present = (n_positive + n_negative) > 0
    return per_finding[present].mean()


def prototype_drift_loss(
    prototypes: torch.Tensor, text_prototypes: torch.Tensor, trainable: torch.Tensor
) -> torch.Tensor:
    """Mean squared distance of the trainable (normalised) prototypes from their text prototypes."""
    if not bool(trainable.any()):
        return prototypes.sum() * 0.0
    current = F.normalize(prototypes[trainable].float(), dim=-1)
    anchor = F.normalize(text_prototypes[trainable].float(), dim=-1)
    return ((current - anchor) ** 2).sum(-1).mean()


def contrastive_loss(logits_per_text: torch.Tensor, targets: torch.Tensor | None, kind: str) -> torch.Tensor:
    """The image-text loss that `BiCPLConfig.contrastive_loss` names: `"clip"` or `"siglip"`."""
    if kind == "siglip":
        return siglip_contrastive_loss(logits_per_text, targets)
    return clip_contrastive_loss(logits_per_text, targets)


# Loss term -> the `BiCPLConfig` field that weighs it.
LOSS_WEIGHT_FIELDS = {
    "itc_ear": "itc_ear_weight",
    "itc_hard": "hard_negative_weight",
    "itc_exam": "itc_exam_weight",
    "proto": "prototype_loss_weight",
    "sym": "symmetry_loss_weight",
    "drift": "drift_loss_weight",
    "finding": "finding_loss_weight",
}


def bicpl_loss(
    config,
    contrastive_head,
    prototype_head,
    image_embeds: torch.Tensor,
    logits: torch.Tensor,
    labels: torch.Tensor | None = None,
    text_embeds: torch.Tensor | None = None,
    side_text_embeds: torch.Tensor | None = None,
    side_text_ids: torch.Tensor | None = None,
    side_attribute_vectors: torch.Tensor | None = None,
    hard_negatives: tuple[torch.Tensor, torch.Tensor] | None = None,
    finding_logits: torch.Tensor | None = None,
    finding_labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""
    The Bi-CPL objective: the ear-level (`itc_ear`, with hard negatives `itc_hard`) and exam-level (`itc_exam`)
    contrastive losses, the finding-level alignment (`finding`), the prototype loss (`proto`), the symmetry prior
    (`sym`) and the prototype drift penalty (`drift`), each weighted by its `config` field ([`LOSS_WEIGHT_FIELDS`]);
    a term whose weight is 0 is skipped.
    Contrastive terms use the global batch under DDP (negatives from every rank, see [`gather_with_grad`]).

    Args:
        config ([`BiCPLConfig`]):
            Loss weights and options.
        contrastive_head, prototype_head ([`BiCPLContrastiveHead`], [`BiCPLPrototypeHead`]):
            The model's heads: temperatures, label codes, frozen classes and text anchors.
        image_embeds (`torch.FloatTensor` of shape `(batch_size, 2, dim)`):
            Normalised ear embeddings.
        logits (`torch.FloatTensor` of shape `(batch_size, 2, num_classes)`):
            Prototype logits.
        labels (`torch.LongTensor` of shape `(batch_size, 2)`, *optional*):
            Ear label codes, [`IGNORE_INDEX`] for an unknown ear.
        text_embeds (`torch.FloatTensor` of shape `(batch_size, dim)`, *optional*):
            Normalised report embeddings.
        side_text_embeds (`torch.FloatTensor` of shape `(batch_size, 2, dim)`, *optional*):
            Normalised side-text embeddings.
        side_text_ids (`torch.LongTensor` of shape `(batch_size, 2)`, *optional*):
            Ids of distinct side texts (ears sharing a text are positives of each other); needed with side texts.
        side_attribute_vectors (`torch.FloatTensor` of shape `(batch_size, 2, num_attributes)`, *optional*):
            Multi-hot attributes for the soft labels (`config.soft_label_alpha`).
        hard_negatives (`tuple`, *optional*):
            Normalised hard-negative embeddings `(batch_size, 2, k, dim)` and which are real texts `(batch_size, 2, k)`.
        finding_logits, finding_labels (`torch.FloatTensor` of shape `(batch_size, 2, num_findings)`, *optional*):
            Ear-finding logits and labels for [`finding_alignment_loss`] (`config.finding_loss_weight`).

    Returns `(loss, terms)`: the weighted float32 sum and the detached unweighted terms, for logging.
    """
    terms: dict[str, torch.Tensor] = {}
    if side_text_embeds is not None and config.itc_ear_weight:
        targets = duplicate_text_targets(gather_without_grad(side_text_ids.flatten()))
        if config.soft_label_alpha and side_attribute_vectors is not None:
            attributes = gather_without_grad(side_attribute_vectors.flatten(0, 1).float())
            targets = attribute_soft_targets(targets, attributes, config.soft_label_alpha)
        ear_images = gather_with_grad(image_embeds.flatten(0, 1))
        ear_texts = gather_with_grad(side_text_embeds.flatten(0, 1))
        terms["itc_ear"] = contrastive_loss(contrastive_head(ear_images, ear_texts), targets, config.contrastive_loss)
        if hard_negatives is not None and config.hard_negative_weight:
            negatives, valid = hard_negatives
            positive = contrastive_head.paired_logits(image_embeds, side_text_embeds)
            negative = contrastive_head.paired_logits(image_embeds.unsqueeze(2), negatives)
            terms["itc_hard"] = hard_negative_loss(positive.flatten(), negative.flatten(0, 1), valid.flatten(0, 1),
                                                   sigmoid=config.contrastive_loss == "siglip")
    if finding_logits is not None and finding_labels is not None and config.finding_loss_weight:
        terms["finding"] = finding_alignment_loss(finding_logits.flatten(0, 1), finding_labels.flatten(0, 1))
    if text_embeds is not None and config.itc_exam_weight:
        exam_images = gather_with_grad(F.normalize(image_embeds.mean(1), dim=-1))
        exam_texts = gather_with_grad(text_embeds)
        if exam_texts.shape[0] > 1:
            exam_logits = contrastive_head(exam_images, exam_texts)
            terms["itc_exam"] = contrastive_loss(exam_logits, None, config.contrastive_loss)
    if labels is not None:
        indices = prototype_head.labels_to_indices(labels)
        if config.prototype_loss_weight:
            class_weights = torch.tensor(config.class_weights) if config.class_weights is not None else None
            excluded = ~prototype_head.trainable if config.exclude_frozen_classes_from_loss else None
            terms["proto"] = prototype_classification_loss(logits.flatten(0, 1), indices.flatten(), class_weights,
                                                           excluded)
        if config.bilateral and config.symmetry_loss_weight and config.normal_code in config.class_codes:
            terms["sym"] = symmetry_loss(image_embeds[:, 0], image_embeds[:, 1], indices[:, 0], indices[:, 1],
                                         config.class_codes.index(config.normal_code), config.symmetry_margin)
    if config.drift_loss_weight:
        terms["drift"] = prototype_head.drift_loss()
    if not terms:
        raise ValueError("return_loss=True but there is nothing to compute a loss from: give labels and/or texts")
    total = image_embeds.new_zeros((), dtype=torch.float32)
    for name, value in terms.items():
        total = total + getattr(config, LOSS_WEIGHT_FIELDS[name]) * value
    return total, {name: value.detach() for name, value in terms.items()}


__all__ = [
    "IGNORE_INDEX",
    "LOSS_WEIGHT_FIELDS",
    "attribute_soft_targets",
    "bicpl_loss",
    "clip_contrastive_loss",
    "contrastive_loss",
    "duplicate_text_targets",
    "finding_alignment_loss",
    "gather_with_grad",
    "gather_without_grad",
    "hard_negative_loss",
    "is_distributed",
    "prototype_classification_loss",
    "prototype_drift_loss",
    "siglip_contrastive_loss",
    "symmetry_loss",
    "text_hash_ids",
]
