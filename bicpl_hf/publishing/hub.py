# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Publish Bi-CPL to the Hugging Face Hub: one loadable bundle in one commit, a bilingual model card, datasets.

A bundle holds the weights (safetensors only), `config.json`, the processor (volume processor settings +
tokenizer), `prototypes.safetensors` + `prompts.json`, a `README.md` model card, and the flat
`modeling/` + `processing/` source files with an `auto_map`, so `AutoModel.from_pretrained(repo,
trust_remote_code=True)` and `AutoProcessor.from_pretrained(repo, trust_remote_code=True)` work where
`bicpl_hf` is not installed.

Example:
    >>> from bicpl_hf.publishing.hub import push_bundle
    >>> plan = push_bundle(model, processor, "my-lab/bicpl-temporal-bone", dry_run=True)  # doctest: +SKIP
    >>> print(plan.listing())  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from huggingface_hub import CommitInfo, CommitOperationAdd, EvalResult, HfApi, ModelCard, ModelCardData
from transformers import PreTrainedModel, ProcessorMixin

from ..modeling import BiCPLModel
from ..processing import ear_classes
from ..processing.image_processing_bicpl import processor_settings
from ..processing.processing_bicpl import BiCPLProcessor
from ..zero_shot.prototypes import check_model_prototypes, check_repo_id, save_prototypes

__all__ = [
    "BundleFile",
    "BundleUpload",
    "PHI_COLUMN_NAMES",
    "REMOTE_CODE_REQUIREMENTS",
    "find_phi_columns",
    "make_model_card",
    "push_bundle",
    "push_dataset",
    "save_bundle",
    "write_processor_card",
    "write_repository_extras",
]

DEFAULT_TAGS = ["bicpl", "medical", "ct", "temporal-bone", "3d", "radiology-report", "vision-language",
                "zero-shot", "chinese"]
# What the remote code (the flat modeling/ + processing/ files) imports beyond the standard library, by pip name:
# the model card's `pip install` line. Pillow is deliberately absent (tests load a bundle in a venv of exactly these).
REMOTE_CODE_REQUIREMENTS = ("torch", "transformers", "huggingface_hub", "safetensors", "numpy", "SimpleITK", "monai",
                            "nibabel")
# Serialisations that can execute code when loaded: never part of a bundle (DESIGN.md section 4).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
# Column names (lower case, separators removed) that identify a patient; exam-level pseudonyms are fine.
PHI_COLUMN_NAMES = frozenset({
    "name", "patientname", "patientsname", "patientid", "otherpatientids", "patientbirthdate", "birthdate",
    "dateofbirth", "dob", "birthday", "patientaddress", "address", "phone", "phonenumber", "telephone",
    "patienttelephonenumbers", "idcard", "idnumber", "nationalid", "ssn", "medicalrecordnumber", "mrn",
    "accessionnumber", "姓名", "患者姓名", "病人姓名", "出生日期", "生日", "身份证", "身份证号", "病历号", "住院号",
    "门诊号", "联系电话", "电话", "地址", "检查号",
})
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


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle: its path in the repository and its size in bytes."""

    path: str
    size: int


@dataclass
class BundleUpload:
    """What `push_bundle` uploaded (or would upload, for a dry run)."""

    repo_id: str
    files: list[BundleFile] = field(default_factory=list)
    commit: CommitInfo | None = None

    @property
    def dry_run(self) -> bool:
        return self.commit is None

    def listing(self) -> str:
        """Every file and its size, one per line, with a total."""
        total = sum(f.size for f in self.files)
        action = "would upload (dry run)" if self.dry_run else f"uploaded in one commit {self.commit.oid}"
        lines = [f"{self.repo_id}: {action}: {len(self.files)} files, {_human_size(total)} ({total} bytes)"]
        lines += [f"  {f.size:>12d}  {f.path}" for f in self.files]
        return "\n".join(lines)


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


# ------------------------------------------------------------------------------------------------ checks
def _check_model(model) -> None:
    if not isinstance(model, PreTrainedModel) or not hasattr(model, "prototype_head"):
        raise TypeError(f"expected a BiCPLModel (merge LoRA adapters first), got {type(model).__name__}")
    check_model_prototypes(model)


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


def _zero_shot_example(config, repo: str) -> str:
    names = dict(zip(config.class_codes, config.class_names))
    # A zero-shot (frozen) class and the normal class, read from the config, make a realistic example.
    codes = [c for c in config.frozen_prototype_codes if c != config.normal_code][:1]
    codes += [c for c in dict.fromkeys((config.normal_code, *config.class_codes)) if c in names and c not in codes]
    prompts = "\n".join(f"    {json.dumps(names[c], ensure_ascii=False)}: "
                         f"{json.dumps(config.class_prompts[str(c)][:1], ensure_ascii=False)}," for c in codes[:2])
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
    rows = []
    for code, name, name_en in zip(config.class_codes, config.class_names, config.class_names_en):
        kind = ("仅文本原型（零样本，冻结）/ text-only prototype (zero-shot, frozen)"
                if code in config.frozen_prototype_codes else "文本初始化、训练更新 / text-initialised, trained")
        rows.append(f"| {code} | {name} | {name_en} | {kind} | {len(config.class_prompts[str(code)])} |")
    return ("| 代码 / code | 类别 | class | 原型 / prototype | 提示词数 / prompts |\n|---:|---|---|---|---:|\n"
            + "\n".join(rows) + "\n")


def _eval_section(results: list[EvalResult] | None) -> str:
    if not results:
        return "未提供评估结果。/ No evaluation results were given.\n"
    rows = "\n".join(f"| {r.dataset_type} | {r.dataset_split or ''} | {r.metric_name or r.metric_type} | "
                     f"{r.metric_value:.4g} |" for r in results)
    return "| 数据集 / dataset | 划分 / split | 指标 / metric | 值 / value |\n|---|---|---|---:|\n" + rows + "\n"


def make_model_card(
    model,
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
        model: the `BiCPLModel` (classes, prompts and architecture are read from its config).
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
    config = model.config
    if processor is not None:
        _check_processor(processor, model)
    datasets = _check_hub_ids(datasets, "datasets")
    base_model = _check_hub_ids(base_model, "base_model")
    eval_dataset = _check_hub_ids(eval_dataset, "eval_dataset")
    results = _eval_results(eval_results, datasets, eval_dataset[0] if eval_dataset else None, eval_split)
    card_data = ModelCardData(
        language=["zh", "en"], license=license, library_name="transformers",
        tags=list(dict.fromkeys([*DEFAULT_TAGS, *tags])), base_model=base_model[0] if base_model else None,
        datasets=datasets, eval_results=results, model_name=model_name, pipeline_tag="zero-shot-image-classification",
    )
    vision, text = config.vision_config, config.text_config
    backbone = (f"3D ResNet, stage widths {vision.hidden_sizes}, depths {vision.depths}" if vision.backbone == "resnet"
                else f"MONAI 3D Swin, feature size {vision.swin_feature_size}, depths {vision.swin_depths}")
    text_source = base_model[0] if base_model else _hub_name_or_none(getattr(text, "_name_or_path", "")) or "—"
    repo = repo_id or "path/to/this/model"
    body = f"""
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

模型与处理器以远程代码随仓库发布；只需以下依赖（无需 Pillow）。/ The model and processor ship as remote code in this
repository; these packages are all it needs (no Pillow):

```bash
{pip_install_line()}
```

## 零样本：使用自己的提示词 / Zero-shot with your own prompts

{_zero_shot_example(config, repo)}
## 模型细节 / Model details

- 图像编码器 / image encoder: {backbone}; A3B `{vision.a3b_mode}` per stage {vision.a3b_stages};
  bilateral `{config.bilateral}`; input ROI {vision.image_size}, {vision.in_channels} channels.
- 文本塔 / text tower: `{text.model_type}`, {text.num_hidden_layers} layers, hidden {text.hidden_size}, vocabulary
  {text.vocab_size}, pooling `{config.text_pooling}`; 预训练权重 / pretrained weights: `{text_source}`.
- 投影维度 / projection dim {config.projection_dim}; contrastive loss `{config.contrastive_loss}`.

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


# ------------------------------------------------------------------------------------------------ bundle
def write_repository_extras(model, directory: str | os.PathLike) -> None:
    """What `BiCPLModel.save_pretrained` / `push_to_hub` add to the weights, config and remote code when bicpl_hf is
    installed: `prototypes.safetensors`, `prompts.json`, the class table file and a `README.md` model card.

    The card describes the preprocessing when the folder already holds the processor (`processor.save_pretrained`
    first); `save_bundle` always writes the full card.
    """
    directory = Path(directory)
    check_model_prototypes(model)
    # The remote code's class table is processing's file itself (modeling/ reaches it through a link, which a
    # checkout without symlinks would hold as a one-line text file).
    shutil.copyfile(ear_classes.__file__, directory / "ear_classes.py")
    save_prototypes(model, directory)
    processor = None
    if (directory / "processor_config.json").is_file():
        processor = BiCPLProcessor.from_pretrained(directory)
    make_model_card(model, processor).save(directory / "README.md")


def write_processor_card(processor, directory: str | os.PathLike) -> None:
    """After `BiCPLProcessor.save_pretrained` into a folder that holds a saved Bi-CPL model and its card: rewrite the
    card with the preprocessing section, so `model.save_pretrained(d); processor.save_pretrained(d)` gives the same
    card as `save_bundle` (without eval results or datasets)."""
    directory = Path(directory)
    if not (directory / "config.json").is_file() or not (directory / "README.md").is_file():
        return
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != BiCPLModel.config_class.model_type:
        return
    model_config = BiCPLModel.config_class.from_pretrained(directory)
    card = make_model_card(SimpleNamespace(config=model_config), processor)  # the card reads model.config only
    card.save(directory / "README.md")


if write_repository_extras not in BiCPLModel.extra_file_writers:
    BiCPLModel.extra_file_writers.append(write_repository_extras)
if write_processor_card not in BiCPLProcessor.extra_file_writers:
    BiCPLProcessor.extra_file_writers.append(write_processor_card)


@contextlib.contextmanager
def _registered_for_auto_classes(model, processor) -> Iterator[None]:
    """Register the classes for the Auto factories while saving (writes `auto_map`, copies the source files),
    then restore the previous state so later `save_pretrained` calls are unaffected."""
    targets = [(type(model.config), "AutoConfig"), (type(model), "AutoModel"), (type(processor), "AutoProcessor"),
               (type(processor.image_processor), "AutoImageProcessor")]
    missing = object()
    saved = [(cls, cls.__dict__.get("_auto_class", missing)) for cls, _ in targets]
    saved_auto_map = model.config.__dict__.get("auto_map", missing)
    try:
        for cls, auto_class in targets:
            cls.register_for_auto_class(auto_class)
        yield
    finally:
        for cls, previous in saved:
            if previous is missing:
                del cls._auto_class
            else:
                cls._auto_class = previous
        if saved_auto_map is missing:
            model.config.__dict__.pop("auto_map", None)
        else:
            model.config.auto_map = saved_auto_map


def _list_files(directory: Path) -> list[BundleFile]:
    return [BundleFile(path.relative_to(directory).as_posix(), path.stat().st_size)
            for path in sorted(directory.rglob("*")) if path.is_file()]


def save_bundle(
    model,
    processor,
    directory: str | os.PathLike,
    *,
    model_card: ModelCard | None = None,
    **card_kwargs: Any,
) -> list[BundleFile]:
    """Write a complete, loadable Bi-CPL bundle to an empty (or new) folder.

    Writes the weights (`model.safetensors`), `config.json`, the processor files, `prototypes.safetensors`,
    `prompts.json`, `README.md` and the remote code (`auto_map` + the flat `modeling/` and `processing/` sources).

    Args:
        model: the `BiCPLModel`.
        processor: its `BiCPLProcessor` (required).
        directory: the output folder; must be empty or not exist, so no stale file slips into an upload.
        model_card: a ready card; by default `make_model_card(model, processor, **card_kwargs)`.

    Returns:
        Every file written with its size.

    Example:
        >>> save_bundle(model, processor, "bicpl-bundle", datasets=["my-lab/tbct"])  # doctest: +SKIP
    """
    _check_model(model)
    _check_processor(processor, model)
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise FileExistsError(f"save_bundle needs an empty or new folder, but {directory} already has content")
    card = model_card if model_card is not None else make_model_card(model, processor, **card_kwargs)
    directory.mkdir(parents=True, exist_ok=True)
    with _registered_for_auto_classes(model, processor):
        model.save_pretrained(directory)
        processor.save_pretrained(directory)
    # model.save_pretrained wrote the prototypes, prompts and class table (write_repository_extras); the full card:
    card.save(directory / "README.md")
    files = _list_files(directory)
    pickled = [f.path for f in files if f.path.endswith(PICKLE_SUFFIXES)]
    if pickled:
        raise RuntimeError(f"bundle in {directory} holds pickle-based files {pickled}; only safetensors are allowed")
    return files


def push_bundle(
    model,
    processor,
    repo_id: str,
    *,
    dry_run: bool = False,
    commit_message: str = "Upload Bi-CPL model, processor, prototypes and model card",
    private: bool | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    **card_kwargs: Any,
) -> BundleUpload:
    """Build the bundle in a temporary folder and upload it to `repo_id` in ONE commit.

    Args:
        model, processor: the `BiCPLModel` and its `BiCPLProcessor`.
        repo_id: `namespace/name` of the Hub model repository (created if missing).
        dry_run: build and list every file and its size without contacting the Hub.
        commit_message, private, token, revision, create_pr: as in `huggingface_hub.HfApi.create_commit`.
        card_kwargs: forwarded to `make_model_card` (`eval_results`, `datasets`, `base_model`, `license`, ...).

    Returns:
        A `BundleUpload` with the file list and (unless `dry_run`) the `CommitInfo`.

    Example:
        >>> print(push_bundle(model, processor, "my-lab/bicpl", dry_run=True).listing())  # doctest: +SKIP
    """
    check_repo_id(repo_id)
    card_kwargs.setdefault("repo_id", repo_id)
    with tempfile.TemporaryDirectory(prefix="bicpl-bundle-") as folder:
        files = save_bundle(model, processor, folder, **card_kwargs)
        if dry_run:
            return BundleUpload(repo_id=repo_id, files=files)
        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        if revision is not None and not create_pr:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        # Explicit operations, not upload_folder: with hf_xet, upload_folder may split a folder into several commits.
        operations = [CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(Path(folder, f.path))) for f in files]
        commit = api.create_commit(repo_id, operations, commit_message=commit_message, revision=revision,
                                   create_pr=create_pr)
        return BundleUpload(repo_id=repo_id, files=files, commit=commit)


# ------------------------------------------------------------------------------------------------ datasets
def _column_paths(features, prefix: str = "") -> Iterator[str]:
    """Dotted names of every column and nested struct field."""
    if isinstance(features, Mapping):
        for name, feature in features.items():
            path = f"{prefix}{name}"
            yield path
            yield from _column_paths(feature, f"{path}.")
    elif hasattr(features, "feature"):  # Sequence / List / LargeList
        yield from _column_paths(features.feature, prefix)


def find_phi_columns(dataset, allowed_columns: Sequence[str] = ()) -> list[str]:
    """`split:column` of every column (or nested field) whose name identifies a patient.

    Example:
        >>> from datasets import Dataset
        >>> find_phi_columns(Dataset.from_dict({"exam": ["e1"], "patient_name": ["X"]}))
        ['train:patient_name']
    """
    splits = dataset.items() if isinstance(dataset, Mapping) else [(str(dataset.split or "train"), dataset)]
    found = []
    for split, part in splits:
        for path in _column_paths(part.features):
            leaf = path.rsplit(".", 1)[-1]
            if re.sub(r"[\W_]+", "", leaf).lower() in PHI_COLUMN_NAMES and path not in allowed_columns:
                found.append(f"{split}:{path}")
    return found


def push_dataset(
    dataset,
    repo_id: str,
    *,
    allowed_columns: Sequence[str] = (),
    private: bool | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    **push_kwargs: Any,
):
    """Push a `datasets.DatasetDict` (or `Dataset`) with its stock `push_to_hub`, after refusing patient identifiers.

    Args:
        dataset: the de-identified dataset built by the data scripts.
        repo_id: `namespace/name` of the Hub dataset repository.
        allowed_columns: column paths whose PHI-like name you have verified holds pseudonyms only.
        private, token, commit_message, push_kwargs: forwarded to `push_to_hub`.

    Example:
        >>> push_dataset(dataset_dict, "my-lab/tbct-synthetic", private=True)  # doctest: +SKIP
    """
    from datasets import Dataset, DatasetDict

    check_repo_id(repo_id)
    if not isinstance(dataset, (Dataset, DatasetDict)):
        raise TypeError(f"push_dataset expects a datasets.DatasetDict or Dataset, got {type(dataset).__name__}")
    phi = find_phi_columns(dataset, allowed_columns)
    if phi:
        raise ValueError(f"refusing to push {repo_id}: column(s) {phi} look like patient identifiers (name, id, "
                         "birth date, ...). Drop them with remove_columns, or pass allowed_columns=[...] for a "
                         "column you have verified holds pseudonyms only")
    return dataset.push_to_hub(repo_id, private=private, token=token, commit_message=commit_message, **push_kwargs)
