# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Heads of Bi-CPL: class prototypes, the contrastive temperature, and the cross-modal knowledge bank."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_bicpl import BiCPLConfig
from .losses_bicpl import IGNORE_INDEX, prototype_drift_loss

# CLIP caps the learnable temperature so that the logits cannot blow up.
MAX_LOGIT_SCALE = 100.0


def bounded_logit_scale(log_scale: torch.Tensor) -> torch.Tensor:
    """`exp(log_scale)`, capped at [`MAX_LOGIT_SCALE`]: the multiplier of cosine similarities (CLIP's clamp)."""
    return log_scale.clamp(max=math.log(MAX_LOGIT_SCALE)).exp()


class BiCPLPrototypeHead(nn.Module):
    r"""
    Class prototypes initialised from text, and everything that belongs to them: the text anchors, which classes
    training may move, the per-class logit offsets, and the class lists of the config.

    State (the keys of every saved checkpoint): `prototypes` (trainable), and the buffers `text_prototypes` (the text
    anchors), `class_codes` (one code per row) and `trainable` (`False` = frozen: the effective prototype of a frozen
    class is its text prototype itself, so training cannot change it), plus the learnable `logit_scale`. The methods
    keep this state and `config.class_codes/class_names/class_prompts/frozen_prototype_codes` in step, so a change
    survives `save_pretrained`.

    Args:
        config ([`BiCPLConfig`]):
            The model's config, shared rather than copied: adding or freezing a class edits its class lists, and
            `config.class_logit_offsets` is read at every call.
    """

    def __init__(self, config: BiCPLConfig):
        super().__init__()
        self.config = config
        num_classes, dim = config.num_classes, config.projection_dim
        self.prototypes = nn.Parameter(torch.empty(num_classes, dim))
        self.register_buffer("text_prototypes", torch.zeros(num_classes, dim))
        self.register_buffer("class_codes", torch.tensor(config.class_codes, dtype=torch.long))
        trainable = [code not in config.frozen_prototype_codes for code in config.class_codes]
        self.register_buffer("trainable", torch.tensor(trainable, dtype=torch.bool))
        # Shape (1,), as SigLIP stores it: FSDP refuses 0-dim parameters.
        self.logit_scale = nn.Parameter(torch.full((1,), config.prototype_logit_scale_init_value))

    def effective_prototypes(self) -> torch.Tensor:
        """`(num_classes, dim)` L2-normalised prototypes used for classification."""
        mixed = torch.where(self.trainable[:, None], self.prototypes, self.text_prototypes.to(self.prototypes))
        return F.normalize(mixed, dim=-1)

    def forward(self, ear_embeds: torch.Tensor, prototypes: torch.Tensor | None = None) -> torch.Tensor:
        """Logits `scale * cos(ear, prototype)` `(..., num_classes)` of normalised `ear_embeds` `(..., dim)`, against
        `prototypes` when given, else against the head's own prototypes plus `config.class_logit_offsets`."""
        own = prototypes is None
        prototypes = self.effective_prototypes() if own else F.normalize(prototypes, dim=-1)
        logits = bounded_logit_scale(self.logit_scale) * ear_embeds @ prototypes.to(ear_embeds).t()
        if own and self.config.class_logit_offsets is not None:
            logits = logits + logits.new_tensor(self.config.class_logit_offsets)
        return logits

    def labels_to_indices(self, labels: torch.Tensor) -> torch.Tensor:
        """Map ear label codes ([`IGNORE_INDEX`] = unknown) to prototype rows; raises on a code the head lacks."""
        codes = self.class_codes.to(labels.device)
        matches = labels.unsqueeze(-1) == codes
        known = matches.any(-1)
        unknown = ~known & (labels != IGNORE_INDEX)
        if bool(unknown.any()):
            raise ValueError(
                f"labels contain code(s) {sorted(set(labels[unknown].tolist()))} that are not in "
                f"config.class_codes {self.config.class_codes} (use {IGNORE_INDEX} for an unknown ear)"
            )
        return torch.where(known, matches.long().argmax(-1), torch.full_like(labels, IGNORE_INDEX))

    def drift_loss(self) -> torch.Tensor:
        """How far the trainable prototypes have moved from their text anchors ([`prototype_drift_loss`])."""
        return prototype_drift_loss(self.prototypes, self.text_prototypes, self.trainable)

    def update_class_prompts(self, class_prompts: dict[Any, list[str]]) -> None:
        """Replace the prompts of the classes in `class_prompts` (codes must be known) in `config.class_prompts`."""
        unknown = [code for code in class_prompts if int(code) not in self.config.class_codes]
        if unknown:
            raise ValueError(f"class_prompts has codes {unknown} that are not in config.class_codes")
        self.config.class_prompts.update({str(k): list(v) for k, v in class_prompts.items()})

    def ordered_class_prompts(self) -> dict[int, list[str]]:
        """`{code: prompts}` of every class, in prototype-row order."""
        return {code: self.config.class_prompts[str(code)] for code in self.config.class_codes}

    @torch.no_grad()
    def set_text_prototypes(
        self, text_prototypes: torch.Tensor, reset_trainable: bool = True, carry_residual: bool = False
    ) -> None:
        """Write the text anchors `(num_classes, dim)` and, when `reset_trainable`, the trainable prototypes too.

        `carry_residual=True` (with `reset_trainable=False`) moves each trainable prototype with its anchor: a trained
        prototype is its text anchor plus what training added, so when the text tower changes the anchor, the learned
        residual rides on the new anchor instead of staying behind in the old text space."""
        new = text_prototypes.to(self.text_prototypes)
        if carry_residual and not reset_trainable:
            self.prototypes.data.add_((new - self.text_prototypes).to(self.prototypes))
        self.text_prototypes.copy_(new)
        if reset_trainable:
            self.prototypes.data.copy_(text_prototypes.to(self.prototypes))

    def set_frozen_codes(self, codes: list[int]) -> None:
        """Freeze the prototypes of `codes` to their text prototypes (and unfreeze every other class)."""
        config = self.config
        unknown = [c for c in codes if c not in config.class_codes]
        if unknown:
            raise ValueError(f"codes {unknown} are not in config.class_codes {config.class_codes}")
        config.frozen_prototype_codes = sorted({int(c) for c in codes})
        trainable = [c not in config.frozen_prototype_codes for c in config.class_codes]
        self.trainable.copy_(torch.tensor(trainable, device=self.trainable.device))

    def check_new_class(self, code: int, prompts: list[str]) -> None:
        """Raise a `ValueError` when `code` exists already or `prompts` is not a non-empty list of texts."""
        config = self.config
        if int(code) in config.class_codes:
            existing = config.class_names[config.class_codes.index(int(code))]
            raise ValueError(f"class code {code} already exists ({existing})")
        if not prompts or isinstance(prompts, str):
            raise ValueError(f"class {code} needs a non-empty list of prompts, got {prompts!r}")

    @torch.no_grad()
    def add_class(
        self, code: int, name: str, prompts: list[str], text_prototype: torch.Tensor, name_en: str | None = None
    ) -> None:
        """Append a frozen class whose prototype is `text_prototype` `(1, dim)` (the embedding of `prompts`), and
        its code, names and prompts to the config (weight 1, logit offset 0 until calibrated again)."""
        self.check_new_class(code, prompts)
        code = int(code)
        self.text_prototypes = torch.cat([self.text_prototypes, text_prototype.to(self.text_prototypes)])
        self.prototypes = nn.Parameter(torch.cat([self.prototypes.data, text_prototype.to(self.prototypes)]))
        self.class_codes = torch.cat([self.class_codes, self.class_codes.new_tensor([code])])
        self.trainable = torch.cat([self.trainable, self.trainable.new_zeros(1)])
        config = self.config
        config.class_codes = [*config.class_codes, code]
        config.class_names = [*config.class_names, str(name)]
        config.class_names_en = [*config.class_names_en, name_en or str(name)]
        config.class_prompts = {**config.class_prompts, str(code): [str(p) for p in prompts]}
        config.frozen_prototype_codes = sorted({*config.frozen_prototype_codes, code})
        if config.class_weights is not None:
            config.class_weights = [*config.class_weights, 1.0]
        if config.class_logit_offsets is not None:
            config.class_logit_offsets = [*config.class_logit_offsets, 0.0]


class BiCPLContrastiveHead(nn.Module):
    r"""
    Learnable temperature (and SigLIP bias) of the image-text contrastive logits.

    Args:
        config ([`BiCPLConfig`]):
            `logit_scale_init_value` sets the initial log temperature; `contrastive_loss="siglip"` adds the bias.
    """

    def __init__(self, config: BiCPLConfig):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.full((1,), config.logit_scale_init_value))
        # The bias exists only for the sigmoid loss: an unused parameter would make DDP demand
        # `find_unused_parameters=True` under the CLIP loss.
        self.use_bias = config.contrastive_loss == "siglip"
        self.logit_bias = nn.Parameter(torch.full((1,), -10.0)) if self.use_bias else None

    def forward(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        """`logits_per_text` `(n_text, n_image)` of every text against every image."""
        logits = bounded_logit_scale(self.logit_scale) * text_embeds @ image_embeds.t()
        return logits + self.logit_bias if self.use_bias else logits

    def paired_logits(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        """Logits of matching rows only, `(...)` for embeddings `(..., dim)` that broadcast against each other."""
        logits = bounded_logit_scale(self.logit_scale) * (image_embeds * text_embeds).sum(-1)
        return logits + self.logit_bias if self.use_bias else logits


class BiCPLFindingHead(nn.Module):
    r"""
    Scores ears against findings (entity–attribute phrases such as "盾板骨质破坏") for the finding-level alignment:
    `logit = scale * cos(ear, finding text) + bias`, one independent yes/no per finding (sigmoid), so an ear can show
    several findings at once. The bias starts negative because most findings are absent from most ears.

    Args:
        config ([`BiCPLConfig`]):
            Only its presence matters (`finding_loss_weight > 0` adds the head).
    """

    # log(10) and -2: sigmoid(10 * cos - 2) starts near 0.12 for an unrelated pair, near 1 for an aligned one.
    LOGIT_SCALE_INIT = math.log(10.0)
    LOGIT_BIAS_INIT = -2.0

    def __init__(self, config: BiCPLConfig):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.full((1,), self.LOGIT_SCALE_INIT))
        self.logit_bias = nn.Parameter(torch.full((1,), self.LOGIT_BIAS_INIT))

    def forward(self, ear_embeds: torch.Tensor, finding_embeds: torch.Tensor) -> torch.Tensor:
        """Logits `(..., num_findings)` of normalised `ear_embeds` `(..., dim)` against normalised `finding_embeds`
        `(num_findings, dim)`."""
        logits = bounded_logit_scale(self.logit_scale) * ear_embeds @ finding_embeds.to(ear_embeds).t()
        return logits + self.logit_bias


class BiCPLKnowledgeBank(nn.Module):
    r"""
    Cross-modal knowledge bank (BrgSA's CMKI): learnable knowledge embeddings that image and text embeddings both
    attend to, so the two modalities meet in one space shaped by the otology knowledge base.

    `e' = e + Attn(q=e, k=bank, v=bank)`, then L2-normalised by the caller. The bank rows are initialised from the
    knowledge base's attribute texts with [`BiCPLModel.initialize_knowledge_bank`].

    Args:
        config ([`BiCPLConfig`]):
            `knowledge_bank_size` rows of `projection_dim`, attended with `knowledge_bank_heads` heads.
    """

    def __init__(self, config: BiCPLConfig):
        super().__init__()
        self.bank = nn.Parameter(torch.empty(config.knowledge_bank_size, config.projection_dim))
        self.norm = nn.LayerNorm(config.projection_dim)
        self.attention = nn.MultiheadAttention(config.projection_dim, config.knowledge_bank_heads, batch_first=True)

    def forward(self, embeds: torch.Tensor) -> torch.Tensor:
        shape = embeds.shape
        queries = self.norm(embeds.reshape(-1, 1, shape[-1]))
        bank = self.bank.to(queries).unsqueeze(0).expand(queries.shape[0], -1, -1)
        attended, _ = self.attention(queries, bank, bank, need_weights=False)
        return embeds + attended.reshape(shape)


__all__ = [
    "MAX_LOGIT_SCALE",
    "BiCPLContrastiveHead",
    "BiCPLFindingHead",
    "BiCPLKnowledgeBank",
    "BiCPLPrototypeHead",
    "bounded_logit_scale",
]
