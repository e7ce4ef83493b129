# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""PyTorch Bi-CPL model: bilateral contrastive prototype learning on temporal-bone CT and Chinese reports."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.utils import ModelOutput

from .configuration_bicpl import BiCPLConfig, BiCPLVisionConfig
from .losses_bicpl import IGNORE_INDEX, bicpl_loss, finding_alignment_loss, text_hash_ids
from .modeling_bicpl_heads import BiCPLContrastiveHead, BiCPLFindingHead, BiCPLKnowledgeBank, BiCPLPrototypeHead
from .modeling_bicpl_inputs import check_inputs, check_pixel_values
from .modeling_bicpl_regions import BiCPLRegionFindingHead, scored_from_findings
from .modeling_bicpl_vision import AsymmetryAwareAttention, BiCPLSiameseEncoder, BilateralCrossAttention


@dataclass
class BiCPLImageFeaturesOutput(ModelOutput):
    r"""
    pooler_output (`torch.FloatTensor` of shape `(batch_size, 2, projection_dim)`):
        Projected (not normalised) ear embeddings; index 0 = left ear, 1 = right ear.
    last_hidden_state (`torch.FloatTensor` of shape `(2 * batch_size, channels, d, h, w)`):
        Last feature map of the Siamese backbone, ears interleaved `[left_0, right_0, left_1, ...]`.
    asymmetry_maps (`tuple(torch.FloatTensor)`):
        One A3B map `(batch_size, 2, d, h, w)` per stage that has an A3B block (index 0 = left ear, 1 = mirrored
        right ear, both in the left ear's frame).
    """

    pooler_output: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None
    asymmetry_maps: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class BiCPLOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*, returned when labels are given or `return_loss=True`):
        `L_itc + λ_proto L_proto + λ_sym L_sym + λ_drift L_drift`.
    logits (`torch.FloatTensor` of shape `(batch_size, 2, num_classes)`):
        Per-ear prototype logits (`scale * cos(ear embedding, prototype)`); index 0 = left ear.
    logits_per_image (`torch.FloatTensor` of shape `(2 * batch_size, 2 * batch_size)`, *optional*):
        Ear-to-side-text similarity logits (ears flattened left, right, left, ...), when side texts are given.
    logits_per_text (`torch.FloatTensor`, *optional*):
        Transpose of `logits_per_image`.
    image_embeds (`torch.FloatTensor` of shape `(batch_size, 2, projection_dim)`):
        L2-normalised ear embeddings.
    text_embeds (`torch.FloatTensor` of shape `(batch_size, projection_dim)`, *optional*):
        L2-normalised embeddings of the whole reports.
    side_text_embeds (`torch.FloatTensor` of shape `(batch_size, 2, projection_dim)`, *optional*):
        L2-normalised embeddings of the left/right side texts.
    asymmetry_maps (`tuple(torch.FloatTensor)`):
        A3B maps, one per stage with an A3B block, each `(batch_size, 2, d, h, w)` (index 0 = left ear).
    finding_logits (`torch.FloatTensor` of shape `(batch_size, 2, num_findings)`, *optional*):
        Ear-finding logits (sigmoid = probability that the ear shows the finding), when finding phrases are given to
        a model with a finding head.
    region_finding_logits (`torch.FloatTensor` of shape `(batch_size, 2, len(config.region_findings))`, *optional*):
        The region head's logits of `config.region_findings` (Bi-CPL v3), when the model has one.
    loss_components (`dict[str, torch.FloatTensor]`, *optional*):
        The unweighted terms of the loss, for logging.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    logits_per_image: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    image_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    side_text_embeds: torch.FloatTensor | None = None
    asymmetry_maps: tuple[torch.FloatTensor, ...] | None = None
    finding_logits: torch.FloatTensor | None = None
    loss_components: dict[str, torch.FloatTensor] | None = None
    region_finding_logits: torch.FloatTensor | None = None


class BiCPLPreTrainedModel(PreTrainedModel):
    """Weight initialisation and the transformers plumbing (Auto classes, checkpointing, device maps) of Bi-CPL."""

    config_class = BiCPLConfig
    base_model_prefix = "bicpl"
    main_input_name = "pixel_values"
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["BiCPLResNetStage", "BiCPLSwinStage", "BertLayer"]

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, BiCPLPrototypeHead):
            init.normal_(module.prototypes, std=std)
            # Until `initialize_prototypes` encodes the class prompts, the anchors are the random prototypes.
            init.copy_(module.text_prototypes, module.prototypes.detach())
            init.constant_(module.logit_scale, self.config.prototype_logit_scale_init_value)
        elif isinstance(module, BiCPLContrastiveHead):
            init.constant_(module.logit_scale, self.config.logit_scale_init_value)
            if module.use_bias:
                init.constant_(module.logit_bias, -10.0)
        elif isinstance(module, BiCPLKnowledgeBank):
            init.normal_(module.bank, std=std)
        elif isinstance(module, BiCPLFindingHead):
            init.constant_(module.logit_scale, module.LOGIT_SCALE_INIT)
            init.constant_(module.logit_bias, module.LOGIT_BIAS_INIT)
        elif isinstance(module, AsymmetryAwareAttention):
            # Small weights: M starts near 0.5 everywhere, so A3B begins as a uniform gain and learns asymmetry.
            init.normal_(module.difference_conv.weight, std=1e-3)
            init.zeros_(module.difference_conv.bias)
        elif isinstance(module, BilateralCrossAttention):
            # gamma = 0: the block starts as the identity. The gate starts as sigmoid(|x_self - x_other| - 2).
            weight = module.gate.weight
            eye = torch.eye(weight.shape[0], dtype=weight.dtype, device=weight.device)
            init.zeros_(module.layer_scale)
            init.copy_(weight, torch.cat([torch.zeros_like(eye), eye], dim=1))
            init.constant_(module.gate.bias, -2.0)
            init.normal_(module.position.weight, std=module.position.in_features**-0.5)
        elif module is getattr(self, "visual_projection", None) and self.config.bilateral:
            # Columns reading `p - p_other` start at zero: an ear's embedding starts as its own ear's alone.
            super()._init_weights(module)
            own = self.config.vision_config.hidden_size
            init.copy_(module.weight, torch.cat([module.weight[:, :own], torch.zeros_like(module.weight[:, own:])], 1))
        elif isinstance(module, nn.Conv3d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        else:
            super()._init_weights(module)


class BiCPLModel(BiCPLPreTrainedModel):
    r"""
    Bi-CPL: a Siamese 3D encoder comparing the left ear with the mirrored right ear, a BERT-family text tower and
    text-initialised class prototypes. Gives per-ear class logits `(batch, 2, num_classes)` and image-report
    alignment.

    Example:

    ```python
    >>> import torch
    >>> from bicpl_hf import BiCPLConfig, BiCPLModel
    >>> config = BiCPLConfig(
    ...     text_config={"vocab_size": 128, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
    ...                  "intermediate_size": 64},
    ...     vision_config={"image_size": [16, 16, 16], "hidden_sizes": [8, 16], "depths": [1, 1],
    ...                    "stage_strides": [1, 2], "stem_channels": 8},
    ...     projection_dim=32,
    ... )
    >>> model = BiCPLModel(config).eval()
    >>> pixel_values = torch.rand(1, 2, 2, 16, 16, 16)  # (batch, ear, window, D, H, W); ear 0 = left
    >>> model(pixel_values=pixel_values).logits.shape
    torch.Size([1, 2, 6])
    ```"""

    # Writers `save_pretrained` runs after the weights, config and remote code: `writer(model, directory)`. The
    # installed package adds the prototypes, prompts and model card (bicpl_hf.publishing.hub); remote code adds none.
    extra_file_writers: list = []
    hub_pusher = None  # `push_to_hub`'s replacement, a staticmethod(obj, repo_id, **kwargs); set by bicpl_hf.publishing

    def __init__(self, config: BiCPLConfig):
        super().__init__(config)
        vision_config: BiCPLVisionConfig = config.vision_config
        self.vision_model = BiCPLSiameseEncoder(vision_config, bilateral=config.bilateral)
        self.text_model = AutoModel.from_config(config.text_config, add_pooling_layer=False)
        # Bilateral fusion: an ear is described by its own features and how it differs from the other ear.
        fused = vision_config.hidden_size * (2 if config.bilateral else 1)
        self.vision_dropout = nn.Dropout(vision_config.dropout)
        self.visual_projection = nn.Linear(fused, config.projection_dim, bias=False)
        self.text_projection = nn.Linear(config.text_config.hidden_size, config.projection_dim, bias=False)
        self.contrastive_head = BiCPLContrastiveHead(config)
        self.prototype_head = BiCPLPrototypeHead(config)
        self.knowledge_bank = BiCPLKnowledgeBank(config) if config.knowledge_bank_size else None
        self.finding_head = BiCPLFindingHead(config) if config.finding_loss_weight else None
        self.region_finding_head = None
        if config.region_finding_loss_weight:
            attributes = sorted({attribute for _, attribute in config.region_findings})
            self.region_finding_head = BiCPLRegionFindingHead(config.region_geometry, attributes, config.projection_dim,
                                                              bilateral=config.bilateral,
                                                              context=config.region_detector_context,
                                                              context_by_attribute=config.region_detector_context_by_attribute,
                                                              unpaired_attributes=config.region_unpaired_attributes or ())
        self.post_init()

    def save_pretrained(self, save_directory: str | os.PathLike, *args, is_main_process: bool = True, **kwargs):
        """`PreTrainedModel.save_pretrained` (also used by `push_to_hub`), then the `extra_file_writers`: with
        bicpl_hf installed the folder also holds `prototypes.safetensors`, `prompts.json` and a `README.md` model
        card, and (as the class is registered for `AutoModel`) the remote code with its `auto_map`."""
        super().save_pretrained(save_directory, *args, is_main_process=is_main_process, **kwargs)
        if is_main_process:
            for writer in self.extra_file_writers:
                writer(self, save_directory)

    def push_to_hub(self, repo_id: str, **kwargs):
        """`PushToHubMixin.push_to_hub`, or with bicpl_hf installed its `hub_pusher` (same arguments, public API)."""
        if self.hub_pusher is None:
            return super().push_to_hub(repo_id, **kwargs)
        return self.hub_pusher(self, repo_id, **kwargs)

    # ---------------------------------------------------------------- construction helpers
    @classmethod
    def from_text_pretrained(
        cls,
        text_model_name_or_path: str | os.PathLike,
        *,
        tokenizer=None,
        vision_config: dict | BiCPLVisionConfig | None = None,
        **config_kwargs,
    ) -> BiCPLModel:
        r"""
        Build a Bi-CPL model whose text tower carries the weights of a BERT-family checkpoint (for example a local
        Chinese medical BERT), and initialise the class prototypes from the class prompts with it.

        Args:
            text_model_name_or_path (`str` or `os.PathLike`):
                A local folder (or Hub id when online) of a BERT-family model.
            tokenizer (`PreTrainedTokenizerBase`, *optional*):
                Tokenizer of that checkpoint; loaded from `text_model_name_or_path` when `None`.
            vision_config (`dict` or [`BiCPLVisionConfig`], *optional*):
                The ear encoder's config.
            config_kwargs (`dict`, *optional*):
                Further [`BiCPLConfig`] fields.
        """
        from transformers import AutoTokenizer

        text_config = AutoConfig.from_pretrained(text_model_name_or_path)
        config = BiCPLConfig(text_config=text_config.to_dict(), vision_config=vision_config, **config_kwargs)
        model = cls(config)
        pretrained_text = AutoModel.from_pretrained(text_model_name_or_path, add_pooling_layer=False)
        missing, unexpected = model.text_model.load_state_dict(pretrained_text.state_dict(), strict=False)
        if missing:
            raise ValueError(f"{text_model_name_or_path} lacks text-tower weights {missing[:5]}...")
        tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(text_model_name_or_path)
        model.initialize_prototypes(tokenizer)
        return model

    # ---------------------------------------------------------------- encoders
    def get_image_features(self, pixel_values: torch.Tensor) -> BiCPLImageFeaturesOutput:
        r"""
        Encode both ears. Returns [`BiCPLImageFeaturesOutput`] whose `pooler_output` `(batch, 2, projection_dim)` holds
        the projected (not normalised) ear embeddings.

        Example:

        ```python
        >>> features = model.get_image_features(pixel_values=torch.rand(1, 2, 2, 16, 16, 16))
        >>> features.pooler_output.shape
        torch.Size([1, 2, 32])
        ```"""
        check_pixel_values(self.config, pixel_values)
        # A coarse ROI's channels (after the fine ones) are read by the region head only.
        pooled, last_hidden_state, maps = self.vision_model(pixel_values[:, :, : self.config.vision_config.in_channels])
        if self.config.bilateral:
            # Late fusion: each ear sees its own features and its difference from the other side (sign tells which
            # side). `_init_weights` zeroes the difference columns, so the partner enters only as training adds it.
            pooled = torch.cat([pooled, pooled - pooled.flip(1)], dim=-1)
        embeds = self._through_bank(self.visual_projection(self.vision_dropout(pooled)))
        return BiCPLImageFeaturesOutput(pooler_output=embeds, last_hidden_state=last_hidden_state, asymmetry_maps=maps)

    def get_text_features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> BaseModelOutputWithPooling:
        r"""
        Encode report texts. Returns a `BaseModelOutputWithPooling` whose `pooler_output` `(n, projection_dim)` holds
        the projected (not normalised) text embeddings (CLS or mean pooling, per `config.text_pooling`; through the
        knowledge bank when the model has one).
        """
        hidden, projected = self._encode_text(input_ids, attention_mask, token_type_ids)
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=self._through_bank(projected))

    def _encode_text(self, input_ids, attention_mask=None, token_type_ids=None) -> tuple[torch.Tensor, torch.Tensor]:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        outputs = self.text_model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        hidden = outputs.last_hidden_state
        if self.config.text_pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return hidden, self.text_projection(pooled)

    def _through_bank(self, embeds: torch.Tensor) -> torch.Tensor:
        return embeds if self.knowledge_bank is None else self.knowledge_bank(embeds)

    @torch.no_grad()
    def initialize_knowledge_bank(self, tokenizer, texts: list[str], max_length: int = 64) -> torch.Tensor:
        r"""
        Set the knowledge-bank rows to the projected embeddings of `texts`. Returns those embeddings.

        Args:
            tokenizer (`PreTrainedTokenizerBase`):
                The text tower's tokenizer.
            texts (`list[str]`):
                One text per row, e.g. the otology knowledge base's attribute phrases
                (`bicpl_hf.knowledge.attribute_texts()`).
            max_length (`int`, *optional*, defaults to 64):
                Truncation length.
        """
        if self.knowledge_bank is None:
            raise ValueError("this model has no knowledge bank: set config.knowledge_bank_size > 0")
        if len(texts) != self.config.knowledge_bank_size:
            raise ValueError(f"got {len(texts)} texts for a knowledge bank of {self.config.knowledge_bank_size} rows")
        was_training = self.training
        self.eval()
        batch = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        batch = batch.to(self.device)
        _, projected = self._encode_text(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"))
        self.knowledge_bank.bank.copy_(projected.to(self.knowledge_bank.bank))
        self.train(was_training)
        return projected

    # ---------------------------------------------------------------- prototypes (kept on the prototype head)
    @torch.no_grad()
    def encode_class_prompts(
        self, tokenizer, class_prompts: dict[Any, list[str]], max_length: int = 128, batch_size: int = 32
    ) -> torch.Tensor:
        r"""
        Text prototypes `(len(class_prompts), projection_dim)`: the normalised mean of each class's prompt embeddings
        (prompt ensembles averaged), in the order of `class_prompts`. Runs without dropout whatever the model's mode.

        Args:
            tokenizer (`PreTrainedTokenizerBase`):
                The text tower's tokenizer.
            class_prompts (`dict`):
                `{code: [prompt, ...]}` (a single string counts as one prompt).
            max_length (`int`, *optional*, defaults to 128):
                Truncation length of a prompt.
            batch_size (`int`, *optional*, defaults to 32):
                Prompts per text-tower call.
        """
        was_training = self.training
        self.eval()
        rows = []
        for code, prompts in class_prompts.items():
            if isinstance(prompts, str):
                prompts = [prompts]
            if not prompts:
                raise ValueError(f"class {code!r} has no prompt")
            embeds = []
            for start in range(0, len(prompts), batch_size):
                batch = tokenizer(
                    list(prompts[start : start + batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                ).to(self.device)
                features = self.get_text_features(
                    batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids")
                ).pooler_output
                embeds.append(F.normalize(features.float(), dim=-1))
            rows.append(F.normalize(torch.cat(embeds).mean(0), dim=-1))
        self.train(was_training)
        return torch.stack(rows)

    @torch.no_grad()
    def initialize_prototypes(
        self,
        tokenizer,
        class_prompts: dict[Any, list[str]] | None = None,
        reset_trainable: bool = True,
        carry_residual: bool = False,
    ) -> torch.Tensor:
        r"""
        (Re)compute the text prototypes from the class prompts with the current text tower; returns them. Delegates
        the bookkeeping to [`BiCPLPrototypeHead`].

        Args:
            tokenizer (`PreTrainedTokenizerBase`):
                The text tower's tokenizer.
            class_prompts (`dict`, *optional*):
                `{code: [prompt, ...]}` replacing the config's prompts of those (existing) classes first.
            reset_trainable (`bool`, *optional*, defaults to `True`):
                Also set the trainable prototypes to the text prototypes (otherwise only the anchors move).
            carry_residual (`bool`, *optional*, defaults to `False`):
                With `reset_trainable=False`, move each trained prototype by as much as its anchor moved (a trained
                prototype = text anchor + learned residual), as [`BiCPLPrototypeHead.set_text_prototypes`] does.
        """
        if class_prompts is not None:
            self.prototype_head.update_class_prompts(class_prompts)
        text_prototypes = self.encode_class_prompts(tokenizer, self.prototype_head.ordered_class_prompts())
        self.prototype_head.set_text_prototypes(text_prototypes, reset_trainable=reset_trainable,
                                                carry_residual=carry_residual)
        return text_prototypes

    def set_frozen_prototype_codes(self, codes: list[int]) -> None:
        """Freeze the prototypes of `codes` to their text prototypes (e.g. classes absent from training)."""
        self.prototype_head.set_frozen_codes(codes)

    @torch.no_grad()
    def add_class(self, code: int, name: str, prompts: list[str], tokenizer, name_en: str | None = None) -> None:
        r"""
        Add a class recognised zero-shot from text alone: its prototype is the embedding of `prompts`, frozen.
        Updates `config.class_codes/class_names/class_prompts/frozen_prototype_codes` so the class survives
        `save_pretrained`.

        Args:
            code (`int`):
                A label code the model does not have yet.
            name (`str`):
                Chinese class name.
            prompts (`list[str]`):
                The prompt ensemble whose mean embedding is the prototype.
            tokenizer (`PreTrainedTokenizerBase`):
                The text tower's tokenizer.
            name_en (`str`, *optional*):
                English class name; defaults to `name`.
        """
        self.prototype_head.check_new_class(code, prompts)  # before spending a text-tower pass
        text_prototype = self.encode_class_prompts(tokenizer, {int(code): list(prompts)})
        self.prototype_head.add_class(code, name, prompts, text_prototype, name_en=name_en)

    def get_prototypes(self) -> torch.Tensor:
        """The normalised prototype matrix `(num_classes, projection_dim)` used for classification."""
        return self.prototype_head.effective_prototypes()

    def labels_to_indices(self, labels: torch.Tensor) -> torch.Tensor:
        """Map ear label codes ([`IGNORE_INDEX`] = unknown) to prototype rows; raises on a code the model lacks."""
        return self.prototype_head.labels_to_indices(labels)

    # ---------------------------------------------------------------- forward
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_loss: bool | None = None,
        class_prototypes: torch.Tensor | None = None,
        output_asymmetry_maps: bool = True,
        return_dict: bool | None = None,
        *,
        side_input_ids: torch.Tensor | None = None,
        side_attention_mask: torch.Tensor | None = None,
        side_token_type_ids: torch.Tensor | None = None,
        side_text_ids: torch.Tensor | None = None,
        side_attribute_vectors: torch.Tensor | None = None,
        hard_negative_input_ids: torch.Tensor | None = None,
        hard_negative_attention_mask: torch.Tensor | None = None,
        hard_negative_token_type_ids: torch.Tensor | None = None,
        finding_input_ids: torch.Tensor | None = None,
        finding_attention_mask: torch.Tensor | None = None,
        finding_token_type_ids: torch.Tensor | None = None,
        finding_labels: torch.Tensor | None = None,
        class_findings: list | None = None,
        ear_metadata: list | None = None,
        side_texts: list | None = None,
    ) -> BiCPLOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch_size, 2, channels, D, H, W)`):
                Ear ROIs from [`BiCPLVolumeProcessor`]: index 0 = patient's left ear, 1 = right ear mirrored onto the
                left's orientation.
            input_ids, attention_mask, token_type_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*):
                The whole report, for exam-level alignment.
            labels (`torch.LongTensor` of shape `(batch_size, 2)`, *optional*):
                Ear label CODES (see `config.class_codes`), [`IGNORE_INDEX`] for an unknown ear.
            return_loss (`bool`, *optional*):
                Compute the loss; by default it is computed when `labels` are given.
            class_prototypes (`torch.FloatTensor` of shape `(num_classes', projection_dim)`, *optional*):
                Classify against these prototypes instead of the model's own (zero-shot with new prompts).
            output_asymmetry_maps (`bool`, *optional*, defaults to `True`):
                Return the A3B maps.
            return_dict (`bool`, *optional*):
                Return a [`BiCPLOutput`] rather than a tuple; defaults to `config.return_dict`.
            side_input_ids, side_attention_mask, side_token_type_ids (`torch.LongTensor` of shape
                `(batch_size, 2, seq_len)`, *optional*): the report text about the left / right ear, for ear-level
                alignment.
            side_text_ids (`torch.LongTensor` of shape `(batch_size, 2)`, *optional*):
                Ids of distinct side texts; ears with the same id are positives of each other. Derived from
                `side_input_ids` when omitted.
            side_attribute_vectors (`torch.FloatTensor` of shape `(batch_size, 2, num_attributes)`, *optional*):
                Multi-hot lesion attributes of each side text; with `config.soft_label_alpha > 0` the ear-level
                contrastive targets are softened by attribute overlap.
            hard_negative_input_ids, hard_negative_attention_mask, hard_negative_token_type_ids (`torch.LongTensor` of
                shape `(batch_size, 2, num_negatives, seq_len)`, *optional*): per-ear texts that differ from the side
                text in one flipped attribute, side or disease (all-padding rows are ignored); adds the hard-negative
                loss weighted by `config.hard_negative_weight`.
            finding_input_ids, finding_attention_mask, finding_token_type_ids (`torch.LongTensor` of shape
                `(num_findings, seq_len)`, *optional*): the phrases of a finding vocabulary (one per finding, shared by
                the batch); with a finding head, each ear is scored against them (`finding_logits`).
            finding_labels (`torch.FloatTensor` of shape `(batch_size, 2, num_findings)`, *optional*):
                1 where the ear's side of the report states the finding, 0 where it negates or omits it; adds the
                finding-level alignment loss weighted by `config.finding_loss_weight`.
            class_findings (`list`, *optional*):
                With `class_prototypes` and `config.zero_shot_scoring="findings"`: per class, its (entity, attribute)
                findings (scored by the region head instead of its prototype) or None (scored by its prototype).
            ear_metadata, side_texts (`list`, *optional*):
                Non-tensor outputs of [`BiCPLProcessor`], accepted so that `model(**processor(...))` works; unused.

        The ear-level extras (`side_*`, `hard_negative_*`, `ear_metadata`) are the keys that [`BiCPLProcessor`] and the
        training collator add; they are keyword-only, and named rather than `**kwargs` because `Trainer` drops the
        batch keys that `forward` does not name.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        check_inputs(self.config, pixel_values, input_ids, side_input_ids, hard_negative_input_ids, labels,
                     class_prototypes, finding_input_ids, finding_labels)

        image_features = self.get_image_features(pixel_values)
        image_embeds = F.normalize(image_features.pooler_output, dim=-1)
        text_embeds = self._embed_texts(input_ids, attention_mask, token_type_ids)
        side_text_embeds = self._embed_texts(side_input_ids, side_attention_mask, side_token_type_ids)

        logits = self.prototype_head(image_embeds, class_prototypes)
        regions = None if self.region_finding_head is None else self.region_finding_head.encode(pixel_values)
        if self.config.zero_shot_scoring == "findings":
            logits = scored_from_findings(self.region_finding_head, self.config, pixel_values, image_embeds, logits,
                                          own_classes=class_prototypes is None, class_findings=class_findings,
                                          encoded=regions)
        finding_logits = None
        if self.finding_head is not None and finding_input_ids is not None:
            finding_embeds = self._embed_texts(finding_input_ids, finding_attention_mask, finding_token_type_ids)
            finding_logits = self.finding_head(image_embeds, finding_embeds)
        region_finding_logits = None
        if self.region_finding_head is not None:
            region_finding_logits = self.region_finding_head(pixel_values, image_embeds, self.config.region_findings,
                                                             regions)
        logits_per_image = logits_per_text = None
        if side_text_embeds is not None:
            logits_per_text = self.contrastive_head(image_embeds.flatten(0, 1), side_text_embeds.flatten(0, 1))
            logits_per_image = logits_per_text.t()

        loss = loss_components = None
        if return_loss or (return_loss is None and labels is not None):
            if side_text_ids is None and side_input_ids is not None:
                side_text_ids = text_hash_ids(side_input_ids, side_attention_mask)
            hard_negatives = self._embed_hard_negatives(
                hard_negative_input_ids, hard_negative_attention_mask, hard_negative_token_type_ids
            )
            loss, loss_components = bicpl_loss(
                self.config, self.contrastive_head, self.prototype_head, image_embeds, logits, labels=labels,
                text_embeds=text_embeds, side_text_embeds=side_text_embeds, side_text_ids=side_text_ids,
                side_attribute_vectors=side_attribute_vectors, hard_negatives=hard_negatives,
                finding_logits=finding_logits, finding_labels=finding_labels,
            )
            if region_finding_logits is not None and finding_labels is not None:
                # `finding_labels` follow the collator's vocabulary, which the runner stores as `region_findings`.
                # A finding whose regions are out of view has NaN logits: it is left out, never guessed.
                scorable = ~torch.isnan(region_finding_logits)
                region_loss = finding_alignment_loss(
                    region_finding_logits.nan_to_num(0.0).flatten(0, 1),
                    torch.where(scorable, finding_labels, IGNORE_INDEX).flatten(0, 1))
                loss = loss + self.config.region_finding_loss_weight * region_loss
                loss_components["region_finding"] = region_loss.detach()

        output = BiCPLOutput(
            loss=loss,
            logits=logits,
            logits_per_image=logits_per_image,
            logits_per_text=logits_per_text,
            image_embeds=image_embeds,
            text_embeds=text_embeds,
            side_text_embeds=side_text_embeds,
            asymmetry_maps=image_features.asymmetry_maps if output_asymmetry_maps else None,
            finding_logits=finding_logits,
            loss_components=loss_components,
            region_finding_logits=region_finding_logits,
        )
        return output if return_dict else output.to_tuple()

    # ---------------------------------------------------------------- forward, step by step
    def _embed_texts(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor | None:
        """L2-normalised embeddings `(*lead, projection_dim)` of texts `(*lead, seq_len)`: reports, side texts and hard
        negatives alike are flattened into one text-tower batch and given their leading shape back."""
        if input_ids is None:
            return None
        flat = [None if t is None else t.reshape(-1, t.shape[-1]) for t in (input_ids, attention_mask, token_type_ids)]
        embeds = self.get_text_features(*flat).pooler_output
        return F.normalize(embeds, dim=-1).view(*input_ids.shape[:-1], -1)

    def _embed_hard_negatives(self, input_ids, attention_mask, token_type_ids):
        """Embeddings `(batch, 2, k, dim)` of the hard negatives and which are real texts `(batch, 2, k)`, or None."""
        if input_ids is None:
            return None
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        return self._embed_texts(input_ids, attention_mask, token_type_ids), mask.sum(-1) > 2  # more than [CLS] [SEP]


# `save_pretrained` / `push_to_hub` write the remote code and `auto_map`, so a saved folder loads without bicpl_hf.
BiCPLModel.register_for_auto_class("AutoModel")

__all__ = ["BiCPLImageFeaturesOutput", "BiCPLModel", "BiCPLOutput", "BiCPLPreTrainedModel"]
