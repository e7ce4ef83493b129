# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Heads of Bi-CPL: class prototypes, the contrastive temperature, and the cross-modal knowledge bank."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_bicpl import BiCPLConfig


class BiCPLPrototypeHead(nn.Module):
    """Class prototypes initialised from text, with their text anchors and the set that training may move.

    The effective prototype of a frozen class is its text prototype itself, so training cannot change it.
    """

    def __init__(self, config: BiCPLConfig):
        super().__init__()
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
        prototypes = self.effective_prototypes() if prototypes is None else F.normalize(prototypes, dim=-1)
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        return scale * ear_embeds @ prototypes.to(ear_embeds).t()


class BiCPLContrastiveHead(nn.Module):
    """Learnable temperature (and SigLIP bias) of the image-text contrastive logits."""

    def __init__(self, config: BiCPLConfig):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.full((1,), config.logit_scale_init_value))
        # The bias exists only for the sigmoid loss: an unused parameter would make DDP demand
        # `find_unused_parameters=True` under the CLIP loss.
        self.use_bias = config.contrastive_loss == "siglip"
        self.logit_bias = nn.Parameter(torch.full((1,), -10.0)) if self.use_bias else None

    def forward(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        """Returns `logits_per_text` `(n_text, n_image)`."""
        logits = self.logit_scale.clamp(max=math.log(100.0)).exp() * text_embeds @ image_embeds.t()
        return logits + self.logit_bias if self.use_bias else logits


class BiCPLKnowledgeBank(nn.Module):
    """Cross-modal knowledge bank (BrgSA's CMKI): learnable knowledge embeddings that image and text embeddings both
    attend to, so the two modalities meet in one space shaped by the otology knowledge base.

    `e' = e + Attn(q=e, k=bank, v=bank)`, then L2-normalised by the caller. The bank rows are initialised from the
    knowledge base's attribute texts with [`BiCPLModel.initialize_knowledge_bank`].
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


__all__ = ["BiCPLContrastiveHead", "BiCPLKnowledgeBank", "BiCPLPrototypeHead"]
