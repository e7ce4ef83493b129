# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""The bilingual Bi-CPL model card: `make_model_card` builds it, `merge_model_card` fits it into a card a repository
already has, `load_hub_card` reads that card.

Our generated text sits between `GENERATED_START` and `GENERATED_END` (HTML comments, invisible on the Hub). Merge rule
for an existing card: its text outside the markers is the user's and is kept; the block between the markers is
replaced; a card without the markers keeps all its text and gets our block appended. Metadata: tags are the union
(existing, Bi-CPL defaults, the caller's); `base_model`, `datasets`, `eval_results` / `model_name` are ours when we
have a value; every other key keeps the existing value and takes ours only where it is unset (except the
`pipeline_tag` earlier versions of this card declared, which is replaced).

Example:
    >>> from bicpl_hf.publishing.model_card import make_model_card
    >>> card = make_model_card(model, processor, {"accuracy": 0.81}, datasets=["my-lab/tbct"])  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError
from transformers import ProcessorMixin

from ..knowledge.knowledge_base import load_knowledge_base
from ..modeling.configuration_bicpl import BiCPLConfig
from ..processing.image_processing_bicpl import processor_settings
from ..zero_shot.prototypes import check_repo_id

__all__ = [
    "DEFAULT_TAGS",
    "GENERATED_END",
    "GENERATED_START",
    "REMOTE_CODE_REQUIREMENTS",
    "load_hub_card",
    "load_hub_model_config",
    "make_model_card",
    "merge_model_card",
    "pip_install_line",
]

DEFAULT_TAGS = ["bicpl", "medical", "ct", "temporal-bone", "3d", "radiology-report", "vision-language",
                "zero-shot", "chinese"]
# What the remote code (the flat modeling/, processing/ and zero-shot pipeline files) imports beyond the standard
# library, by pip name: the model card's `pip install` line. Pillow is deliberately absent (tests load a bundle in a
# venv of exactly these).
REMOTE_CODE_REQUIREMENTS = ("torch", "transformers", "huggingface_hub", "safetensors", "numpy", "SimpleITK", "monai",
                            "nibabel", "PyYAML")
_SETTING_LABELS = {
    "roi_shape": "ROI 体素 / ROI voxels (D, H, W)",
    "roi_size_mm": "ROI 尺寸 / ROI size (mm, D, H, W)",
    "windows": "HU 窗（每窗一通道）/ HU windows (one channel each)",
    "orientation": "ROI 数组方向 / ROI array orientation (W, H, D increase toward)",
    "register": "镜像右耳刚性配准到左耳 / rigid registration of mirrored right onto left",
    "align_yaw": "按双侧耳囊校正头部偏转 / yaw alignment from the two otic capsules",
    "lateral_offset_mm": "ROI 中心相对耳囊外移 / ROI centre offset from otic capsule (mm)",
    "dense_bone_threshold_hu": "耳囊致密骨阈值 / otic-capsule bone threshold (HU)",
    "localization_spacing_mm": "定位网格间距 / localisation grid spacing (mm)",
}


GENERATED_START = "<!-- bicpl:generated:start -->"
GENERATED_END = "<!-- bicpl:generated:end -->"
_NO_MODEL = ("尚无模型随此处理器上传：类别、原型与模型细节在 `model.push_to_hub` 后写入。/ No Bi-CPL model has been pushed "
             "with this processor yet: the classes, prototypes and model details are written by `model.push_to_hub`.\n")
# Metadata keys whose generated value (when set) replaces the existing card's; tags are merged; the rest keep theirs.
_GENERATED_METADATA = ("base_model", "datasets", "eval_results")
# The task earlier versions of this card declared: the Hub's snippet then loads the model with that task's auto class
# (AutoModelForZeroShotImageClassification), which fails. The card declares no task now; a merge replaces this one.
_STALE_PIPELINE_TAG = "zero-shot-image-classification"


# ------------------------------------------------------------------------------------------------ checks
def _check_processor(processor, model=None) -> None:
    """The processor must be a ProcessorMixin with a volume processor and a tokenizer that fit the model."""
    if processor is None:
        raise ValueError("a Bi-CPL bundle needs its processor (BiCPLProcessor = volume processor + tokenizer) so "
                         "that users preprocess CT exactly as in training; got processor=None")
    if not isinstance(processor, ProcessorMixin):
        raise TypeError(f"processor must be a BiCPLProcessor (a transformers ProcessorMixin), got "
                        f"{type(processor).__name__}")
    volume = getattr(processor, "image_processor", None)
    if volume is None or not all(hasattr(volume, a) for a in ("roi_shape", "roi_size_mm", "windows")):
        raise ValueError(f"{type(processor).__name__} has no volume processor (image_processor with roi_shape, "
                         f"roi_size_mm and windows); got {type(volume).__name__}")
    if getattr(processor, "tokenizer", None) is None:
        raise ValueError(f"{type(processor).__name__} has no tokenizer")
    if model is None:
        return
    vision, text = model.config.vision_config, model.config.text_config
    if list(volume.roi_shape) != list(vision.image_size):
        raise ValueError(f"processor roi_shape {list(volume.roi_shape)} does not match the model's "
                         f"vision_config.image_size {list(vision.image_size)}")
    if len(volume.windows) != vision.in_channels:
        names = [w["name"] for w in volume.windows]
        raise ValueError(f"processor makes {len(names)} channels (windows {names}) but the model expects "
                         f"in_channels={vision.in_channels}")
    if len(processor.tokenizer) > text.vocab_size:
        raise ValueError(f"tokenizer has {len(processor.tokenizer)} tokens but the text tower's vocab_size is "
                         f"{text.vocab_size}")


def _hub_name_or_none(name: str) -> str | None:
    """`name` if it is a Hub id rather than a local path (local paths stay out of cards)."""
    if not name or os.path.isabs(name) or os.path.exists(name):
        return None
    try:
        return check_repo_id(name)
    except ValueError:
        return None


def _check_hub_ids(values: Sequence[str] | str | None, what: str) -> list[str] | None:
    if values is None:
        return None
    values = [values] if isinstance(values, str) else list(values)
    for value in values:
        try:
            check_repo_id(value)
        except ValueError as error:
            raise ValueError(f"{what} entry {value!r} is not a Hub id: {error}") from error
    return values

# ------------------------------------------------------------------------------------------------ model card
def _eval_results(eval_results, datasets: list[str] | None, eval_dataset: str | None, eval_split: str):
    if eval_results is None:
        return None
    if isinstance(eval_results, Mapping):
        dataset = eval_dataset or (datasets[0] if datasets else None)
        if dataset is None:
            raise ValueError("eval_results given as a metrics dict need the dataset they were computed on: pass "
                             "eval_dataset='namespace/dataset' (or datasets=[...])")
        results = []
        for key, value in eval_results.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"eval_results[{key!r}] = {value!r} is not a finite number")
            results.append(EvalResult(
                task_type="image-classification", task_name="Ear-level diagnosis from temporal-bone CT",
                dataset_type=dataset, dataset_name=dataset.split("/")[-1], dataset_split=eval_split,
                metric_type=re.split(r"[/@]", key)[0], metric_name=key, metric_value=float(value),
            ))
        return results
    results = list(eval_results)
    bad = [type(r).__name__ for r in results if not isinstance(r, EvalResult)]
    if bad:
        raise TypeError(f"eval_results must be a metrics dict or a list of huggingface_hub.EvalResult, got {bad}")
    return results


def _preprocessing_section(processor) -> str:
    if processor is None:
        return ("未提供处理器，预处理设置未记录。/ No processor was given: the preprocessing settings are not "
                "recorded here. Use the processor saved with the weights.\n")
    volume = processor.image_processor
    settings = processor_settings(volume)
    spacing = [size / shape for size, shape in zip(volume.roi_size_mm, volume.roi_shape)]
    rows = [("体素间距 / voxel spacing (mm, D, H, W)", " × ".join(f"{s:g}" for s in spacing))]
    for key, value in settings.items():
        if key == "windows":
            value = "; ".join(f"{w['name']}: W {w['width']:g} / L {w['level']:g}" for w in value)
        elif isinstance(value, (list, tuple)):
            value = " × ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        rows.append((_SETTING_LABELS.get(key, key), f"`{value}`"))
    tokenizer = processor.tokenizer
    rows.append(("分词器 / tokenizer", f"`{type(tokenizer).__name__}`, {len(tokenizer)} tokens"))
    for key in ("max_length", "side_max_length"):
        if hasattr(processor, key):
            rows.append((f"文本截断 / {key}", f"`{getattr(processor, key)}`"))
    table = "\n".join(f"| {label} | {value} |" for label, value in rows)
    return (
        "| 设置 / setting | 值 / value |\n|---|---|\n" + table + "\n\n"
        "- 每个 HU 窗一个通道 / one channel per HU window: `clip((HU - (L - W/2)) / W, 0, 1)`.\n"
        "- `pixel_values` 形状 / shape `(batch, 2, channels, D, H, W)`：耳 0 = 患者左耳；耳 1 = 右耳沿正中矢状面镜像到"
        "左耳方向。/ ear 0 = the patient's LEFT ear; ear 1 = the RIGHT ear mirrored across the mid-sagittal plane "
        "onto the left ear's orientation.\n"
        "- 这些设置随处理器保存（`processor_config.json`），推理时请用同一处理器。/ The settings are saved with the "
        "processor (`processor_config.json`); use the same processor at inference.\n"
    )


def _example_classes(config) -> list[int]:
    """A zero-shot (frozen) class and the normal class, read from the config: a realistic example."""
    names = dict(zip(config.class_codes, config.class_names))
    codes = [c for c in config.frozen_prototype_codes if c != config.normal_code][:1]
    codes += [c for c in dict.fromkeys((config.normal_code, *config.class_codes)) if c in names and c not in codes]
    return codes[:2]


def _pipeline_example(config, repo: str) -> str:
    if config is None:
        return _NO_MODEL
    names = dict(zip(config.class_codes, config.class_names))
    codes = _example_classes(config)
    kb = load_knowledge_base()  # the package's, which the model's folder ships: candidate_labels must name its diseases
    labels = [names[c] for c in codes if names[c] in kb] or [d.name_zh for d in kb][:2]
    prompts = "\n".join(f"    {c}: {json.dumps(config.class_prompts[str(c)][:1], ensure_ascii=False)},"
                         for c in codes)
    return f"""```python
from transformers import pipeline

diagnoser = pipeline("zero-shot-ear-diagnosis", model="{repo}", trust_remote_code=True)
exam = "path/to/exam_dicom_folder"  # or a .nii.gz / .nrrd / .mha file

# 知识库中的疾病名（中文或英文）/ disease names of the knowledge base (Chinese or English)
result = diagnoser(exam, candidate_labels={json.dumps(labels, ensure_ascii=False)})
print(result.left.top_name, result.left.probabilities)  # result.left: 左耳 left ear, result.right: 右耳 right ear

# 或自己的提示词（类别代码 -> 提示词）/ or your own prompts (class code -> prompt ensemble)
result = diagnoser(exam, class_prompts={{
{prompts}
}})
print(result.to_dict())
```
"""


def _zero_shot_example(config, repo: str) -> str:
    if config is None:
        return _NO_MODEL
    names = dict(zip(config.class_codes, config.class_names))
    prompts = "\n".join(f"    {json.dumps(names[c], ensure_ascii=False)}: "
                         f"{json.dumps(config.class_prompts[str(c)][:1], ensure_ascii=False)}," for c in
                         _example_classes(config))
    return f"""```python
import torch
from transformers import AutoModel, AutoProcessor

model = AutoModel.from_pretrained("{repo}", trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained("{repo}", trust_remote_code=True)

# 自己的类别提示词（每类一组提示词）/ your own class prompts (a prompt ensemble per class)
prompts = {{
{prompts}
}}
prototypes = model.encode_class_prompts(processor.tokenizer, prompts)  # (num_prompt_classes, projection_dim)
inputs = processor(volumes="path/to/exam_dicom_folder")  # or a .nii.gz / .nrrd / .mha file
with torch.no_grad():
    logits = model(pixel_values=inputs["pixel_values"], class_prototypes=prototypes).logits
probabilities = logits.softmax(-1)  # (1, 2, num_prompt_classes): [:, 0] = 左耳 left ear, [:, 1] = 右耳 right ear
```
"""


def _class_table(config) -> str:
    if config is None:
        return _NO_MODEL
    rows = []
    for code, name, name_en in zip(config.class_codes, config.class_names, config.class_names_en):
        kind = ("仅文本原型（零样本，冻结）/ text-only prototype (zero-shot, frozen)"
                if code in config.frozen_prototype_codes else "文本初始化、训练更新 / text-initialised, trained")
        rows.append(f"| {code} | {name} | {name_en} | {kind} | {len(config.class_prompts[str(code)])} |")
    return ("| 代码 / code | 类别 | class | 原型 / prototype | 提示词数 / prompts |\n|---:|---|---|---|---:|\n"
            + "\n".join(rows) + "\n")


def _details_section(config, text_source: str) -> str:
    if config is None:
        return _NO_MODEL
    vision, text = config.vision_config, config.text_config
    backbone = (f"3D ResNet, stage widths {vision.hidden_sizes}, depths {vision.depths}" if vision.backbone == "resnet"
                else f"MONAI 3D Swin, feature size {vision.swin_feature_size}, depths {vision.swin_depths}")
    return f"""- 图像编码器 / image encoder: {backbone}; A3B `{vision.a3b_mode}` per stage {vision.a3b_stages};
  bilateral `{config.bilateral}`; input ROI {vision.image_size}, {vision.in_channels} channels.
- 文本塔 / text tower: `{text.model_type}`, {text.num_hidden_layers} layers, hidden {text.hidden_size}, vocabulary
  {text.vocab_size}, pooling `{config.text_pooling}`; 预训练权重 / pretrained weights: `{text_source}`.
- 投影维度 / projection dim {config.projection_dim}; contrastive loss `{config.contrastive_loss}`.
"""


def _eval_section(results: list[EvalResult] | None) -> str:
    if not results:
        return "未提供评估结果。/ No evaluation results were given.\n"
    rows = "\n".join(f"| {r.dataset_type} | {r.dataset_split or ''} | {r.metric_name or r.metric_type} | "
                     f"{r.metric_value:.4g} |" for r in results)
    return "| 数据集 / dataset | 划分 / split | 指标 / metric | 值 / value |\n|---|---|---|---:|\n" + rows + "\n"


def make_model_card(
    model=None,
    processor=None,
    eval_results: Mapping[str, float] | Sequence[EvalResult] | None = None,
    datasets: Sequence[str] | str | None = None,
    base_model: str | None = None,
    *,
    repo_id: str | None = None,
    model_name: str = "Bi-CPL temporal-bone CT",
    license: str = "apache-2.0",
    eval_dataset: str | None = None,
    eval_split: str = "test",
    tags: Sequence[str] = (),
) -> ModelCard:
    """A bilingual (Chinese / English) model card with Hub metadata for a Bi-CPL model.

    Args:
        model: the `BiCPLModel` (classes, prompts and architecture are read from its config); None for a card of
            the processor alone (`processor.push_to_hub` to a repository without a Bi-CPL `config.json`).
        processor: the `BiCPLProcessor`; its volume-processor settings give the exact preprocessing.
        eval_results: a metrics dict (e.g. from `bicpl_hf.metrics.compute_ear_metrics`) or `EvalResult`s.
        datasets: Hub ids of the training / evaluation datasets.
        base_model: Hub id of the text tower's pretrained checkpoint (e.g. a Chinese medical BERT).
        repo_id: repository the card is for (used in the usage example).
        eval_dataset / eval_split: dataset and split of a metrics dict (default: the first of `datasets`, "test").

    Example:
        >>> card = make_model_card(model, processor, {"accuracy": 0.81}, datasets=["my-lab/tbct"])  # doctest: +SKIP
        >>> card.data.language  # doctest: +SKIP
        ['zh', 'en']
    """
    config = model.config if model is not None else None
    if processor is not None:
        _check_processor(processor, model)
    datasets = _check_hub_ids(datasets, "datasets")
    base_model = _check_hub_ids(base_model, "base_model")
    eval_dataset = _check_hub_ids(eval_dataset, "eval_dataset")
    results = _eval_results(eval_results, datasets, eval_dataset[0] if eval_dataset else None, eval_split)
    # No pipeline_tag: no Hub task runs this model (the Hub's snippet would pick that task's auto class); the card's
    # own snippet shows `pipeline("zero-shot-ear-diagnosis", trust_remote_code=True)`.
    card_data = ModelCardData(
        language=["zh", "en"], license=license, library_name="transformers",
        tags=list(dict.fromkeys([*DEFAULT_TAGS, *tags])), base_model=base_model[0] if base_model else None,
        datasets=datasets, eval_results=results, model_name=model_name,
    )
    text_path = getattr(config.text_config, "_name_or_path", "") if config is not None else ""
    text_source = base_model[0] if base_model else _hub_name_or_none(text_path) or "—"
    repo = repo_id or "path/to/this/model"
    body = f"""{GENERATED_START}
# {model_name}

Bi-CPL（双侧对比原型学习）：从颞骨 CT 与中文放射学报告对每侧耳做诊断；孪生 3D 编码器比较左耳与镜像后的右耳，中文
BERT 文本塔，类别原型由文本提示词初始化，罕见病可仅凭文本描述零样本识别。

Bi-CPL (Bilateral Contrastive Prototype Learning): ear-level diagnosis from temporal-bone CT and the Chinese
radiology report. A Siamese 3D encoder compares the left ear with the mirrored right ear, a BERT-family text tower
reads the report, and class prototypes are initialised from text prompts, so rare diseases can be recognised
zero-shot from a text description.

## 用途 / Intended use

- 中文：科研用途——颞骨 CT（双耳在同一视野内）的逐耳分类、图像—报告检索、用自定义中文提示词做零样本识别。
- English: research use — per-ear classification of temporal-bone CT (both ears in the field of view),
  image–report retrieval, and zero-shot recognition with your own Chinese prompts.

## 预处理 / Preprocessing

{_preprocessing_section(processor)}
## 类别 / Class codes

{_class_table(config)}
提示词与原型见 `prompts.json` 与 `prototypes.safetensors`（`prototypes` 为分类用的归一化矩阵）。/ The prompts and
prototypes are in `prompts.json` and `prototypes.safetensors` (`prototypes` is the normalised matrix the classifier
uses).

## 不安装 bicpl_hf 加载 / Loading without bicpl_hf

模型、处理器与零样本诊断流水线以远程代码随仓库发布；只需以下依赖（无需 Pillow）。/ The model, the processor and the
zero-shot diagnosis pipeline ship as remote code in this repository; these packages are all it needs (no Pillow):

```bash
{pip_install_line()}
```

## 零样本诊断流水线 / Zero-shot diagnosis pipeline

每侧耳的类别概率、最可能类别与不对称图；类别用知识库中的疾病名或自己的中文提示词给出。/ Per-ear class
probabilities, the top class and the asymmetry map; name the classes by knowledge-base disease names or give your own
Chinese prompts.

{_pipeline_example(config, repo)}
## 零样本：使用自己的提示词 / Zero-shot with your own prompts

{_zero_shot_example(config, repo)}
## 模型细节 / Model details

{_details_section(config, text_source)}
## 评估 / Evaluation

{_eval_section(results)}
## 局限 / Limitations

- 仅供科研使用，不是医疗器械，不得用于临床诊断或治疗决策。/ Research use only. This is not a medical device and
  must not be used for clinical diagnosis or treatment decisions.
- 结果依赖扫描设备、层厚、重建核与人群；在新数据上使用前必须在本地验证。/ Performance depends on scanner, slice
  thickness, reconstruction kernel and population; validate locally before any use on new data.
- 冻结（仅文本）原型的类别从未见过训练图像，零样本结果不确定性更高。/ Classes with frozen text-only prototypes
  never saw a training image; their zero-shot predictions are less certain.
- 报告文本须为中文；左右耳约定：耳 0 = 左耳。/ Report text must be Chinese; ear 0 is always the left ear.
{GENERATED_END}
"""
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n{body}")


def pip_install_line() -> str:
    """`pip install ...` of `REMOTE_CODE_REQUIREMENTS`, each with the version range bicpl-hf itself declares.

    Example:
        >>> pip_install_line().split()[:3]  # doctest: +ELLIPSIS
        ['pip', 'install', '"torch...']
    """
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    try:
        declared = {canonicalize_name(r.name): str(r.specifier) for r in map(Requirement, requires("bicpl-hf") or [])}
    except PackageNotFoundError:  # a source checkout that is not installed: names only
        declared = {}
    pins = [f'"{name}{declared[canonicalize_name(name)]}"' if declared.get(canonicalize_name(name)) else name
            for name in REMOTE_CODE_REQUIREMENTS]
    return "pip install " + " ".join(pins)


# ------------------------------------------------------------------------------------------------ existing cards
def load_hub_card(repo_id: str, *, revision: str | None = None, token: str | bool | None = None) -> ModelCard | None:
    """The `README.md` card of a Hub model repository at `revision`, or None when it has none."""
    try:
        path = hf_hub_download(repo_id, "README.md", repo_type="model", revision=revision, token=token)
    except EntryNotFoundError:
        return None
    return ModelCard.load(path)


def load_hub_model_config(repo_id: str, *, revision: str | None = None, token: str | bool | None = None):
    """The `BiCPLConfig` in a Hub repository at `revision`, or None when it holds no Bi-CPL `config.json`."""
    try:
        path = hf_hub_download(repo_id, "config.json", repo_type="model", revision=revision, token=token)
    except EntryNotFoundError:
        return None
    if json.loads(Path(path).read_text(encoding="utf-8")).get("model_type") != BiCPLConfig.model_type:
        return None
    return BiCPLConfig.from_pretrained(path)


def merge_model_card(generated: ModelCard, existing: ModelCard | None = None, tags: Sequence[str] = ()) -> ModelCard:
    r"""`generated` fitted into the card a repository already has (the rule is in this module's docstring), with the
    caller's `tags` added to the metadata.

    Example:
        >>> user = ModelCard("---\nlicense: mit\n---\n# My notes\n")
        >>> ours = ModelCard(f"---\ntags: [bicpl]\n---\n{GENERATED_START}\nBi-CPL\n{GENERATED_END}\n")
        >>> merged = merge_model_card(ours, user, tags=["mine"])
        >>> merged.data.license, merged.data.tags, merged.text.startswith("# My notes")
        ('mit', ['bicpl', 'mine'], True)
    """
    block = generated.text.strip("\n")
    if existing is None:
        data, text = generated.data, generated.text
    else:
        data, text = existing.data, existing.text
        start, end = text.find(GENERATED_START), text.find(GENERATED_END)
        if block.startswith(GENERATED_START) and 0 <= start < end:
            text = text[:start] + block + text[end + len(GENERATED_END):]
        else:
            text = f"{text.rstrip()}\n\n{block}\n" if text.strip() else f"\n{block}\n"
        for key, ours in vars(generated.data).items():
            theirs = getattr(data, key, None)
            if key == "tags":
                ours = list(dict.fromkeys([*(theirs or []), *(ours or [])]))
            elif ours is None or (theirs is not None and key not in _GENERATED_METADATA):
                continue
            setattr(data, key, ours)
        if generated.data.eval_results is not None:
            data.model_name = generated.data.model_name  # model-index names the model its results belong to
        if getattr(data, "pipeline_tag", None) == _STALE_PIPELINE_TAG:
            data.pipeline_tag = generated.data.pipeline_tag
    if tags:
        data.tags = list(dict.fromkeys([*(data.tags or []), *tags]))
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{text}")
