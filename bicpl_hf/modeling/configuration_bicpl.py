# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Bi-CPL model configuration."""

from __future__ import annotations

from dataclasses import field

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from .ear_classes import CLASS_CODES, CLASS_NAMES_EN, CLASS_NAMES_ZH, DEFAULT_FROZEN_CODES, NORMAL_CODE

# Ear-level label codes of the hospital export, from the one class table (`processing/ear_classes.py`).
DEFAULT_CLASS_CODES = list(CLASS_CODES)
DEFAULT_CLASS_NAMES = [CLASS_NAMES_ZH[c] for c in CLASS_CODES]
DEFAULT_CLASS_NAMES_EN = [CLASS_NAMES_EN[c] for c in CLASS_CODES]
# Prompt ensembles that initialise the class prototypes. Code 4 leads with the proposal's text-guided
# prompt (Bi-CPL proposal, section on tail-class prototype synthesis) so it can be recognised zero-shot.
DEFAULT_CLASS_PROMPTS = {
    "1": [
        "鼓室及乳突内见软组织密度影，黏膜增厚，乳突呈硬化型，听骨链完整。检查结论：慢性化脓性中耳炎。",
        "中耳腔部分密度增高，乳突气房减少、骨质硬化，未见明确骨质破坏。检查结论：慢性中耳乳突炎。",
    ],
    "2": [
        "上鼓室软组织密度影，听小骨骨质吸收破坏，盾板骨质破坏，鼓窦入口扩大。检查结论：中耳胆脂瘤。",
        "上鼓室及鼓窦区软组织肿块，边缘骨质侵蚀性破坏，听骨链破坏。检查结论：胆脂瘤。",
    ],
    "3": [
        "鼓室内见液体密度影及气液平面，可见气泡，听骨链完整，未见骨质破坏。检查结论：分泌性中耳炎。",
        "中耳腔积液，乳突气房内液体密度影，骨质结构完整。检查结论：分泌性中耳炎。",
    ],
    "4": [
        "颞骨岩尖或中耳内的囊性病变，膨胀性生长，边缘光滑锐利，无骨质侵蚀性破坏，MRI T1高信号。检查结论：胆固醇肉芽肿。",
        "中耳乳突内膨胀性囊性病变，边缘光滑，周围骨壁变薄但完整，无骨质破坏。检查结论：胆固醇肉芽肿。",
    ],
    "5": [
        "外耳道通畅，鼓室清晰，听骨链完整，乳突气化良好，内耳结构未见异常。检查结论：中耳未见明显异常。",
        "鼓室及乳突气房含气良好，未见异常密度影，骨质结构完整。检查结论：正常。",
    ],
    "6": [
        "面神经管增宽，颈静脉孔区骨质不规则破坏，软组织肿块。检查结论：面神经鞘瘤或颈静脉球瘤。",
        "中耳及颅底软组织占位性病变，邻近骨质破坏。检查结论：肿瘤性病变。",
    ],
}
# How a class's prompts are turned into what the text tower encodes (`BiCPLConfig.prompt_style`): "report" as
# written, "findings" rewritten as the prompt's findings, "composed" one prompt per distinct finding. The rewrite
# lives in `bicpl_hf.zero_shot.prompt_recipe` (this folder is remote code and stores the style only).
PROMPT_STYLES = ("report", "findings", "composed")
ZERO_SHOT_SCORINGS = ("prototypes", "findings")
FINDING_SCORE_RULES = ("present", "present_minus_absent", "dap", "likelihood_ratio")  # see finding_class_scores
# `BiCPLConfig.finding_likelihood`'s keys (what the "likelihood_ratio" rule reads; see `finding_class_scores`).
FINDING_LIKELIHOOD_KEYS = ("prevalence", "unseen_prevalence", "stated_rate", "unstated_rate")
# What a region head's detector reads besides the finding's own regions (see modeling_bicpl_regions).
REGION_DETECTOR_CONTEXTS = ("embedding", "ear_regions")


def _detector_context(context, field: str) -> list[str]:
    """`context` as a list of distinct `REGION_DETECTOR_CONTEXTS` entries, or a ValueError naming `field`."""
    entries = [str(c) for c in context] if isinstance(context, (list, tuple)) else None
    if entries is None or set(entries) - set(REGION_DETECTOR_CONTEXTS) or len(set(entries)) != len(entries):
        raise ValueError(f"BiCPLConfig.{field} takes a list of distinct entries of {REGION_DETECTOR_CONTEXTS}, got "
                         f"{context!r}")
    return entries


def _finding_likelihood(likelihood, region_findings) -> dict:
    """`likelihood` checked (`FINDING_LIKELIHOOD_KEYS`, rates in (0, 1), one prevalence per region finding)."""
    if not isinstance(likelihood, dict) or set(likelihood) != set(FINDING_LIKELIHOOD_KEYS):
        raise ValueError(f"BiCPLConfig.finding_likelihood takes the keys {FINDING_LIKELIHOOD_KEYS}, got {likelihood!r}")
    prevalence = [float(p) for p in likelihood["prevalence"]]
    if region_findings is None or len(prevalence) != len(region_findings):
        raise ValueError(f"BiCPLConfig.finding_likelihood['prevalence'] needs one rate per region finding "
                         f"({len(region_findings or [])}), got {len(prevalence)}")
    rates = {key: float(likelihood[key]) for key in FINDING_LIKELIHOOD_KEYS[1:]}
    outside = [f"{key}={value}" for key, value in (*rates.items(), *enumerate(prevalence)) if not 0.0 < value < 1.0]
    if outside:
        raise ValueError(f"BiCPLConfig.finding_likelihood: rates lie strictly between 0 and 1, got {outside[:3]}")
    return {"prevalence": prevalence, **rates}


@strict
class BiCPLVisionConfig(PreTrainedConfig):
    r"""
    Configuration of the Siamese 3D ear encoder of Bi-CPL.

    Both ears are encoded by one backbone as a batch of `2 * batch_size`; after each stage an A3B block compares the
    left ear with the mirrored right ear.

    Args:
        backbone (`str`, *optional*, defaults to `"resnet"`):
            A key of [`BACKBONES`]: `"resnet"`, a small 3D ResNet of MONAI `ResidualUnit`s, or `"swin"`, MONAI's 3D
            Swin transformer encoder. The `swin_*` fields apply to the Swin backbone, the ResNet fields to the ResNet.
        in_channels (`int`, *optional*, defaults to 2):
            Channels per ear (one per HU window: bone and soft tissue).
        image_size (`list[int]`, *optional*, defaults to `[64, 64, 64]`):
            ROI shape `(D, H, W)` in voxels that the processor produces.
        stem_channels (`int`, *optional*, defaults to 16):
            Width of the ResNet stem.
        stem_stride (`int`, *optional*, defaults to 2):
            Stride of the ResNet stem convolution.
        hidden_sizes (`list[int]`, *optional*, defaults to `[32, 64, 128, 256]`):
            Width of each ResNet stage.
        depths (`list[int]`, *optional*, defaults to `[1, 1, 1, 1]`):
            Residual units per ResNet stage (each unit holds two 3x3x3 convolutions).
        stage_strides (`list[int]`, *optional*, defaults to `[1, 2, 2, 2]`):
            Stride of the first unit of each ResNet stage.
        norm (`str`, *optional*, defaults to `"batch"`):
            Normalisation of the ResNet (`"batch"`, `"instance"` or `"group"`). Batch norm keeps absolute HU levels,
            which matter for CT.
        a3b_stages (`list[bool]`, *optional*):
            Whether an A3B block follows each stage; defaults to all stages.
        a3b_mode (`str`, *optional*, defaults to `"cross_attention"`):
            The A3B block: `"cross_attention"` ([`BilateralCrossAttention`]: each ear's voxels attend to the other
            ear's, a gate on their difference weighs the message, and a zero-initialised residual makes the block
            the identity at initialisation) or `"gate"` ([`AsymmetryAwareAttention`], the v1 block:
            `F ⊙ (1 + sigmoid(conv(F_self - F_other)))`). A config saved before this field existed was a `"gate"`
            model but loads with the default, `"cross_attention"`: pass `a3b_mode="gate"` to load such a checkpoint.
        a3b_heads (`int`, *optional*, defaults to 2):
            Attention heads of the `"cross_attention"` block; must divide the width of every stage with A3B. On CPU
            the softmax over `heads x tokens²` dominates its cost (benchmarks/bench_a3b.py).
        a3b_max_tokens (`int`, *optional*, defaults to 2048):
            Most voxels per ear the `"cross_attention"` block attends over; a larger stage is average-pooled by the
            smallest power of two that fits (the message is upsampled back), since attention costs `tokens²`.
        a3b_kernel_size (`int`, *optional*, defaults to 3):
            Kernel of the convolution applied to `F_L - F_R` by the `"gate"` block.
        swin_feature_size (`int`, *optional*, defaults to 24):
            Embedding width of the Swin backbone (multiple of 12).
        swin_depths (`list[int]`, *optional*, defaults to `[2, 2, 2, 2]`):
            Blocks per Swin stage.
        swin_num_heads (`list[int]`, *optional*, defaults to `[3, 6, 12, 24]`):
            Attention heads per Swin stage.
        swin_window_size (`int`, *optional*, defaults to 4):
            Swin window size (cubic).
        dropout (`float`, *optional*, defaults to 0.0):
            Dropout before the ear projection.

    Example:

    ```python
    >>> from bicpl_hf import BiCPLVisionConfig
    >>> config = BiCPLVisionConfig(image_size=[32, 32, 32], hidden_sizes=[16, 32, 64, 128])
    >>> config.hidden_size
    128
    ```"""

    model_type = "bicpl_vision_model"
    base_config_key = "vision_config"

    backbone: str = "resnet"
    in_channels: int = 2
    image_size: list[int] = field(default_factory=lambda: [64, 64, 64])
    stem_channels: int = 16
    stem_stride: int = 2
    hidden_sizes: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    depths: list[int] = field(default_factory=lambda: [1, 1, 1, 1])
    stage_strides: list[int] = field(default_factory=lambda: [1, 2, 2, 2])
    norm: str = "batch"
    a3b_stages: list[bool] | None = None
    a3b_mode: str = "cross_attention"
    a3b_heads: int = 2
    a3b_max_tokens: int = 2048
    a3b_kernel_size: int = 3
    swin_feature_size: int = 24
    swin_depths: list[int] = field(default_factory=lambda: [2, 2, 2, 2])
    swin_num_heads: list[int] = field(default_factory=lambda: [3, 6, 12, 24])
    swin_window_size: int = 4
    dropout: float = 0.0

    def __post_init__(self, **kwargs):
        # The backbones need torch and MONAI: loaded when a config is built, not when `AutoConfig` registers this module.
        from .modeling_bicpl_backbones import look_up_backbone
        from .modeling_bicpl_vision import look_up_a3b_block

        # JSON stores lists: normalise tuples so that `to_dict` round-trips exactly.
        for name in ("image_size", "hidden_sizes", "depths", "stage_strides", "swin_depths", "swin_num_heads"):
            setattr(self, name, [int(v) for v in getattr(self, name)])
        backbone = look_up_backbone(self.backbone)
        if len(self.image_size) != 3:
            raise ValueError(f"BiCPLVisionConfig.image_size must be (D, H, W), got {self.image_size}")
        if self.norm not in ("batch", "instance", "group"):
            raise ValueError(f"BiCPLVisionConfig.norm must be 'batch', 'instance' or 'group', got {self.norm!r}")
        backbone.check(self)
        num_stages = self.num_stages
        if self.a3b_stages is None:
            self.a3b_stages = [True] * num_stages
        self.a3b_stages = [bool(v) for v in self.a3b_stages]
        if len(self.a3b_stages) != num_stages:
            raise ValueError(f"a3b_stages needs one flag per stage ({num_stages}), got {self.a3b_stages}")
        look_up_a3b_block(self.a3b_mode)
        if self.a3b_mode == "cross_attention":
            if self.a3b_heads < 1 or self.a3b_max_tokens < 1:
                raise ValueError(f"BiCPLVisionConfig: a3b_heads and a3b_max_tokens must be positive, got "
                                 f"{self.a3b_heads} and {self.a3b_max_tokens}")
            widths = [c for c, flag in zip(self.stage_channels, self.a3b_stages) if flag]
            if any(c % self.a3b_heads for c in widths):
                raise ValueError(f"BiCPLVisionConfig.a3b_heads ({self.a3b_heads}) must divide the width of every "
                                 f"stage with an A3B block, got widths {widths}")
        super().__post_init__(**kwargs)

    @property
    def num_stages(self) -> int:
        return len(self.stage_channels)

    @property
    def stage_channels(self) -> list[int]:
        """Output channels of each stage of the backbone."""
        from .modeling_bicpl_backbones import look_up_backbone

        return look_up_backbone(self.backbone).stage_channels(self)

    @property
    def hidden_size(self) -> int:
        return self.stage_channels[-1]


@strict
class BiCPLConfig(PreTrainedConfig):
    r"""
    Configuration of [`BiCPLModel`]: a Siamese 3D ear encoder, a BERT-family text tower and text-initialised class
    prototypes.

    Args:
        text_config (`dict` or `PreTrainedConfig`, *optional*):
            Any BERT-family config (resolved with `AutoConfig.for_model`); defaults to a BERT with the 21,128-token
            Chinese vocabulary.
        vision_config (`dict` or [`BiCPLVisionConfig`], *optional*):
            The ear encoder.
        projection_dim (`int`, *optional*, defaults to 256):
            Width of the shared image-text embedding space.
        logit_scale_init_value (`float`, *optional*, defaults to 2.6592):
            Initial log temperature of the contrastive logits (CLIP's `log(1 / 0.07)`).
        prototype_logit_scale_init_value (`float`, *optional*, defaults to 2.9957):
            Initial log scale of the prototype logits (`log(20)`).
        text_pooling (`str`, *optional*, defaults to `"cls"`):
            `"cls"` or `"mean"` pooling of the text tower.
        contrastive_loss (`str`, *optional*, defaults to `"clip"`):
            `"clip"` (InfoNCE) or `"siglip"` (pairwise sigmoid).
        class_codes (`list[int]`, *optional*):
            Ear-level label codes, one per prototype (default 1-6).
        class_names (`list[str]`, *optional*):
            Chinese class names aligned with `class_codes`.
        class_names_en (`list[str]`, *optional*):
            English class names aligned with `class_codes`.
        class_prompts (`dict[str, list[str]]`, *optional*):
            Prompt ensemble per class code (keys are the codes as strings, as JSON stores them), already written in
            `prompt_style`: these are the texts the prototypes are encoded from (and re-encoded from when the text
            tower changes).
        prompt_style (`str`, *optional*, defaults to `"report"`):
            How the model was trained to score a prompt, so that every zero-shot path (pipeline `class_prompts` and
            `candidate_labels`, `bicpl diagnose --labels/--prompts`, `add_class_by_text`, the benchmark) encodes a
            user's prompt the same way (`bicpl_hf.zero_shot.prompt_recipe.prompts_in_model_style`): `"report"`
            encodes prompts as written; `"findings"` rewrites each prompt as its findings (side-text style);
            `"composed"` splits a class's prompts into one prompt per distinct finding, the prototype being the mean
            of their embeddings (Bi-CPL v2). A prompt that states no finding and no normality (a disease name alone,
            English) is kept as written.
        frozen_prototype_codes (`list[int]`, *optional*, defaults to `[4]`):
            Classes whose prototypes stay equal to their text prototypes (zero-/few-shot tail classes).
        normal_code (`int`, *optional*, defaults to 5):
            Code of a normal ear, used by the symmetry loss.
        bilateral (`bool`, *optional*, defaults to `True`):
            Compare the two ears (A3B blocks, bilateral fusion, symmetry loss). `False` encodes each ear alone.
        itc_ear_weight, itc_exam_weight, prototype_loss_weight, symmetry_loss_weight, drift_loss_weight (`float`):
            Weights of the ear-level and exam-level contrastive losses, the prototype classification loss, the
            symmetry loss and the prototype drift penalty.
        symmetry_margin (`float`, *optional*, defaults to 0.5):
            Cosine similarity above which a normal/diseased ear pair is pushed apart.
        class_weights (`list[float]`, *optional*):
            Per-class weights of the prototype loss (class re-weighting); `None` weighs classes equally.
        class_logit_offsets (`list[float]`, *optional*):
            Per-class constants added to the logits against the model's own prototypes (not to logits against
            `class_prototypes` passed to `forward`): post-hoc calibration, e.g. of the text-only classes against the
            trained ones (see [`bicpl_hf.calibrate_unseen_class_offset`]). `None` adds nothing.
        exclude_frozen_classes_from_loss (`bool`, *optional*, defaults to `False`):
            Leave the frozen (text-only) classes out of the prototype loss's softmax, except for an ear labelled with
            one, as zero-shot learners train over seen classes only. Otherwise every training ear is pushed away from
            the unseen classes' text prototypes. Inference always scores every class.
        knowledge_bank_size (`int`, *optional*, defaults to 0):
            Rows of the cross-modal knowledge bank (BrgSA CMKI): learnable embeddings, initialised from the otology
            knowledge base's attribute texts, that image and text embeddings attend to before alignment. 0 = off.
        knowledge_bank_heads (`int`, *optional*, defaults to 4):
            Attention heads of the knowledge-bank cross-attention.
        hard_negative_weight (`float`, *optional*, defaults to 1.0):
            Weight of the abnormality-dictionary hard negatives (CT-GLIP) inside the ear-level contrastive loss, used
            when `hard_negative_input_ids` are given.
        soft_label_alpha (`float`, *optional*, defaults to 0.0):
            Share of the ear-level contrastive targets given to attribute overlap (Ultrasound-CLIP semantic soft
            labels), used when `side_attribute_vectors` are given. 0 = off.
        finding_loss_weight (`float`, *optional*, defaults to 0.0):
            Weight of the finding-level alignment (proposal §4.2.2): each ear is scored against the phrases of a
            finding vocabulary (`finding_input_ids`) by a scaled cosine plus bias and trained with binary
            cross-entropy against its side's findings (`finding_labels`). > 0 adds the finding head. 0 = off.
        region_finding_loss_weight (`float`, *optional*, defaults to 0.0):
            Weight of the region-aware finding detection of Bi-CPL v3 (`BiCPLRegionFindingHead`): each finding of
            `region_findings` is detected from the HU content of its anatomical regions, compared with the partner
            ear's, by a detector shared by every finding of its attribute; trained against `finding_labels` (in the
            order of `region_findings`). > 0 adds the head (needs `region_geometry` and `region_findings`).
        region_geometry (`dict`, *optional*):
            The processor's ROI settings the region head reads (`roi_shape`, `roi_size_mm`, `windows`, and
            `coarse_roi_size_mm` / `coarse_roi_offset_mm` when the processor appends a coarse ROI's channels).
        region_findings (`list[list[str]]`, *optional*):
            The (entity key, attribute key) findings the region head is trained on; their attributes get detectors.
        region_detector_context (`list[str]`, *optional*, defaults to `["embedding"]`):
            What each attribute's detector reads besides the finding's own regions: `"embedding"` (the ear
            embedding) and/or `"ear_regions"` (the density of every region of the ear, and its difference from the
            partner ear's: fluid fills the tympanic cavity, the antrum and the mastoid together).
        region_detector_context_by_attribute (`dict[str, list[str]]`, *optional*):
            Per attribute key, what its detector reads instead of `region_detector_context` (same entries; `[]` =
            its finding's own regions only), e.g. `{"effusion": ["ear_regions"]}` with the default `["embedding"]`:
            fluid read from every region of the ear, structure (erosion, a mass) from the ear embedding. An attribute
            without a detector (not in `region_findings`) reads nothing, whatever it is given here.
        region_unpaired_attributes (`list[str]`, *optional*):
            Attribute keys whose detectors do not compare the ear's regions with the partner ear's (a finding that is
            often bilateral, like an effusion, leaves no difference between the ears); the others do when `bilateral`.
        zero_shot_scoring (`str`, *optional*, defaults to `"prototypes"`):
            How a class the model never trained on is scored: `"prototypes"` (cosine to its text prototype) or
            `"findings"` (its prompts' findings scored by the region head and combined, `bicpl_hf.zero_shot.
            finding_scores`; needs the region head).
        finding_score_rule (`str`, *optional*, defaults to `"present_minus_absent"`):
            How a class's findings combine into its score (`FINDING_SCORE_RULES`, see `modeling_bicpl_regions.
            finding_class_scores`); `"likelihood_ratio"` weighs each finding by how specific it is and needs
            `finding_likelihood`.
        finding_likelihood (`dict`, *optional*):
            What the `"likelihood_ratio"` rule reads, estimated on the training ears
            (`bicpl_hf.training.region_findings.estimate_finding_likelihood`): `prevalence`, each finding of
            `region_findings`'s rate among the training ears; `unseen_prevalence`, the rate given to a finding training
            never saw; `stated_rate` / `unstated_rate`, how often a trained class's ears show a finding its prompts
            state / do not state.
        class_findings (`dict[str, list[list[str]]]`, *optional*):
            Per class code, the (entity, attribute) findings its prompts state (read by the report parser when the
            prompts are set); with `zero_shot_scoring="findings"` the classes without a trained prototype
            (`frozen_prototype_codes`) are scored from them.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the linear-layer initialiser.

    Example:

    ```python
    >>> from bicpl_hf import BiCPLConfig, BiCPLModel
    >>> config = BiCPLConfig(
    ...     text_config={"model_type": "bert", "vocab_size": 128, "hidden_size": 32, "num_hidden_layers": 1,
    ...                  "num_attention_heads": 2, "intermediate_size": 64},
    ...     vision_config={"image_size": [16, 16, 16], "hidden_sizes": [8, 16], "depths": [1, 1],
    ...                    "stage_strides": [1, 2], "stem_channels": 8},
    ...     projection_dim=32,
    ... )
    >>> model = BiCPLModel(config)
    ```"""

    model_type = "bicpl"
    sub_configs_defaults = {
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="bert", init_kwargs={"vocab_size": 21128}),
        "vision_config": BiCPLVisionConfig,
    }
    # Kept out of Trainer's eval accumulation: large or non-tensor outputs.
    keys_to_ignore_at_inference = ["asymmetry_maps", "loss_components"]

    text_config: dict | PreTrainedConfig | None = None
    vision_config: dict | PreTrainedConfig | None = None
    projection_dim: int = 256
    logit_scale_init_value: float = 2.6592
    prototype_logit_scale_init_value: float = 2.9957
    text_pooling: str = "cls"
    contrastive_loss: str = "clip"
    class_codes: list[int] | None = None
    class_names: list[str] | None = None
    class_names_en: list[str] | None = None
    class_prompts: dict[str, list[str]] | None = None
    prompt_style: str = "report"
    frozen_prototype_codes: list[int] | None = None
    normal_code: int = NORMAL_CODE
    bilateral: bool = True
    itc_ear_weight: float = 1.0
    itc_exam_weight: float = 0.5
    prototype_loss_weight: float = 1.0
    symmetry_loss_weight: float = 0.1
    drift_loss_weight: float = 0.1
    symmetry_margin: float = 0.5
    class_weights: list[float] | None = None
    class_logit_offsets: list[float] | None = None
    exclude_frozen_classes_from_loss: bool = False
    knowledge_bank_size: int = 0
    knowledge_bank_heads: int = 4
    hard_negative_weight: float = 1.0
    soft_label_alpha: float = 0.0
    finding_loss_weight: float = 0.0
    region_finding_loss_weight: float = 0.0
    region_geometry: dict | None = None
    region_findings: list | None = None
    region_detector_context: list | None = None
    region_detector_context_by_attribute: dict | None = None
    region_unpaired_attributes: list | None = None
    zero_shot_scoring: str = "prototypes"
    finding_score_rule: str = "present_minus_absent"
    finding_likelihood: dict | None = None
    class_findings: dict | None = None
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if self.class_codes is None:
            self.class_codes = list(DEFAULT_CLASS_CODES)
        self.class_codes = [int(c) for c in self.class_codes]
        if len(set(self.class_codes)) != len(self.class_codes):
            raise ValueError(f"BiCPLConfig.class_codes must be unique, got {self.class_codes}")
        defaults = dict(zip(DEFAULT_CLASS_CODES, zip(DEFAULT_CLASS_NAMES, DEFAULT_CLASS_NAMES_EN)))
        if self.class_names is None:
            self.class_names = [defaults.get(c, (f"class {c}",))[0] for c in self.class_codes]
        if self.class_names_en is None:
            self.class_names_en = [defaults.get(c, (None, f"class {c}"))[1] for c in self.class_codes]
        for name in ("class_names", "class_names_en"):
            if len(getattr(self, name)) != len(self.class_codes):
                raise ValueError(
                    f"BiCPLConfig.{name} has {len(getattr(self, name))} entries but class_codes has "
                    f"{len(self.class_codes)}"
                )
        if self.class_prompts is None:
            self.class_prompts = {str(c): list(DEFAULT_CLASS_PROMPTS[str(c)]) for c in self.class_codes
                                  if str(c) in DEFAULT_CLASS_PROMPTS}
        self.class_prompts = {str(k): [str(p) for p in v] for k, v in self.class_prompts.items()}
        missing = [c for c in self.class_codes if not self.class_prompts.get(str(c))]
        if missing:
            raise ValueError(f"BiCPLConfig.class_prompts has no prompt for class code(s) {missing}")
        unknown = sorted(set(self.class_prompts) - {str(c) for c in self.class_codes})
        if unknown:
            raise ValueError(f"BiCPLConfig.class_prompts has codes {unknown} that are not in class_codes")
        if self.frozen_prototype_codes is None:
            self.frozen_prototype_codes = [c for c in DEFAULT_FROZEN_CODES if c in self.class_codes]
        self.frozen_prototype_codes = [int(c) for c in self.frozen_prototype_codes]
        bad = [c for c in self.frozen_prototype_codes if c not in self.class_codes]
        if bad:
            raise ValueError(f"BiCPLConfig.frozen_prototype_codes {bad} are not in class_codes {self.class_codes}")
        self.class_logit_offsets = self._per_class_floats("class_logit_offsets", "offset")
        self.class_weights = self._per_class_floats("class_weights", "weight")
        if self.knowledge_bank_size < 0 or (self.knowledge_bank_size and self.projection_dim % self.knowledge_bank_heads):
            raise ValueError(
                f"knowledge_bank_size must be >= 0 and projection_dim ({self.projection_dim}) divisible by "
                f"knowledge_bank_heads ({self.knowledge_bank_heads})"
            )
        if self.finding_loss_weight < 0:
            raise ValueError(f"finding_loss_weight must be >= 0, got {self.finding_loss_weight}")
        if self.region_findings is not None:
            self.region_findings = [[str(entity), str(attribute)] for entity, attribute in self.region_findings]
        if self.region_finding_loss_weight < 0 or (
            self.region_finding_loss_weight > 0 and not (self.region_geometry and self.region_findings)
        ):
            raise ValueError("region_finding_loss_weight must be >= 0, and > 0 needs region_geometry (the processor's "
                             "ROI settings) and region_findings (the findings to detect)")
        if self.region_detector_context is None:
            self.region_detector_context = ["embedding"]
        self.region_detector_context = _detector_context(self.region_detector_context, "region_detector_context")
        if self.region_detector_context_by_attribute is not None:
            if not isinstance(self.region_detector_context_by_attribute, dict):
                raise ValueError("BiCPLConfig.region_detector_context_by_attribute maps attribute keys to lists of "
                                 f"{REGION_DETECTOR_CONTEXTS}, got {self.region_detector_context_by_attribute!r}")
            self.region_detector_context_by_attribute = {
                str(attribute): _detector_context(context, f"region_detector_context_by_attribute[{attribute!r}]")
                for attribute, context in self.region_detector_context_by_attribute.items()}
        if self.zero_shot_scoring not in ZERO_SHOT_SCORINGS:
            raise ValueError(f"BiCPLConfig.zero_shot_scoring must be one of {ZERO_SHOT_SCORINGS}, got "
                             f"{self.zero_shot_scoring!r}")
        if self.region_unpaired_attributes is not None:
            if not isinstance(self.region_unpaired_attributes, (list, tuple)):
                raise ValueError("BiCPLConfig.region_unpaired_attributes is a list of attribute keys, got "
                                 f"{self.region_unpaired_attributes!r}")
            self.region_unpaired_attributes = [str(a) for a in self.region_unpaired_attributes]
        if self.finding_likelihood is not None:
            self.finding_likelihood = _finding_likelihood(self.finding_likelihood, self.region_findings)
        if self.class_findings is not None:
            self.class_findings = {str(code): [[str(e), str(a)] for e, a in findings]
                                   for code, findings in self.class_findings.items()}
        if self.finding_score_rule not in FINDING_SCORE_RULES:
            raise ValueError(f"BiCPLConfig.finding_score_rule must be one of {FINDING_SCORE_RULES}, got "
                             f"{self.finding_score_rule!r}")
        if self.zero_shot_scoring == "findings" and not self.region_finding_loss_weight:
            raise ValueError("zero_shot_scoring='findings' scores findings with the region head: set "
                             "region_finding_loss_weight > 0")
        if not 0.0 <= self.soft_label_alpha <= 1.0:
            raise ValueError(f"soft_label_alpha must be in [0, 1], got {self.soft_label_alpha}")
        if self.text_pooling not in ("cls", "mean"):
            raise ValueError(f"BiCPLConfig.text_pooling must be 'cls' or 'mean', got {self.text_pooling!r}")
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(f"BiCPLConfig.prompt_style must be one of {', '.join(map(repr, PROMPT_STYLES))} (how a "
                             f"prompt is encoded: as written, as its findings, or composed of its findings), got "
                             f"{self.prompt_style!r}")
        if self.contrastive_loss not in ("clip", "siglip"):
            raise ValueError(f"BiCPLConfig.contrastive_loss must be 'clip' or 'siglip', got {self.contrastive_loss!r}")
        super().__post_init__(**kwargs)

    def _per_class_floats(self, field: str, what: str) -> list[float] | None:
        """`field` as floats, one per class in `class_codes`, or None when unset."""
        values = getattr(self, field)
        if values is None:
            return None
        values = [float(v) for v in values]
        if len(values) != len(self.class_codes):
            raise ValueError(
                f"BiCPLConfig.{field} needs one {what} per class ({len(self.class_codes)}), got {len(values)}"
            )
        return values

    @property
    def num_classes(self) -> int:
        return len(self.class_codes)

    @property
    def custom_pipelines(self) -> dict:
        """The pipelines a saved model ships as remote code (`config.json`), less the tasks this process already has
        a pipeline for: transformers' `pipeline()` insists on `trust_remote_code=True` for any task a config lists, so
        without this the installed bicpl_hf (which registers "zero-shot-ear-diagnosis") could not run its own
        pipeline on a saved folder. Saved unchanged."""
        shipped = self.__dict__.get("custom_pipelines") or {}
        if not shipped:
            return {}
        from transformers.pipelines import PIPELINE_REGISTRY

        return {task: spec for task, spec in shipped.items() if task not in PIPELINE_REGISTRY.get_supported_tasks()}

    @custom_pipelines.setter
    def custom_pipelines(self, value: dict) -> None:
        self.__dict__["custom_pipelines"] = value

    def code_to_index(self) -> dict[int, int]:
        """Map each ear label code to its prototype row."""
        return {code: i for i, code in enumerate(self.class_codes)}


# `save_pretrained` / `push_to_hub` write the remote code and `auto_map`, so a saved folder loads without bicpl_hf.
BiCPLConfig.register_for_auto_class()

__all__ = ["PROMPT_STYLES", "BiCPLConfig", "BiCPLVisionConfig"]
