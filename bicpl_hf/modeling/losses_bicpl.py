# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Loss functions of Bi-CPL. Inputs are L2-normalised embeddings unless stated otherwise; losses run in float32."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

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
    """Cross-entropy of per-ear prototype logits `(n, K)` against class indices `(n,)`; -100 is ignored.

    `excluded_classes` (`(K,)` bool) leaves those classes out of each ear's softmax unless they are its label.
    Returns 0 (with a graph) when no ear is labelled so that a partly unlabelled batch never produces NaN.
    """
    valid = label_indices != -100
    if not bool(valid.any()):
        return logits.sum() * 0.0
    if excluded_classes is not None and bool(excluded_classes.any()):
        drop = excluded_classes.to(logits.device)[None, :].expand_as(logits).clone()
        rows = valid.nonzero().squeeze(1)
        drop[rows, label_indices[rows]] = False
        logits = logits.masked_fill(drop, float("-inf"))
    weight = class_weights.to(logits.device, torch.float32) if class_weights is not None else None
    return F.cross_entropy(logits.float(), label_indices, weight=weight, ignore_index=-100)


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
    while `cos > margin`. Pairs with an unknown (-100) ear or two diseased ears add nothing.
    """
    cosine = (left_embeds.float() * right_embeds.float()).sum(-1)
    known = (left_labels != -100) & (right_labels != -100)
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


def prototype_drift_loss(prototypes: torch.Tensor, text_prototypes: torch.Tensor, trainable: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of the trainable (normalised) prototypes from their text prototypes."""
    if not bool(trainable.any()):
        return prototypes.sum() * 0.0
    current = F.normalize(prototypes[trainable].float(), dim=-1)
    anchor = F.normalize(text_prototypes[trainable].float(), dim=-1)
    return ((current - anchor) ** 2).sum(-1).mean()


__all__ = [
    "attribute_soft_targets",
    "clip_contrastive_loss",
    "hard_negative_loss",
    "duplicate_text_targets",
    "gather_with_grad",
    "gather_without_grad",
    "is_distributed",
    "text_hash_ids",
    "prototype_classification_loss",
    "prototype_drift_loss",
    "siglip_contrastive_loss",
    "symmetry_loss",
]
