# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Publish Bi-CPL to the Hugging Face Hub: one loadable bundle in one commit, a bilingual model card, datasets.

A bundle holds the weights (safetensors only), `config.json`, the processor (volume processor settings +
tokenizer), `prototypes.safetensors` + `prompts.json`, a `README.md` model card, and the flat
`modeling/` + `processing/` source files with an `auto_map`, so `AutoModel.from_pretrained(repo,
trust_remote_code=True)` and `AutoProcessor.from_pretrained(repo, trust_remote_code=True)` work where
`bicpl_hf` is not installed; likewise the zero-shot pipeline (`custom_pipelines`, its source files flattened and the
knowledge base `otology_kb.yaml`): `pipeline("zero-shot-ear-diagnosis", model=repo, trust_remote_code=True)`.
`push_to_hub` here is what `BiCPLModel.push_to_hub` / `BiCPLProcessor.push_to_hub` run when bicpl_hf is installed
(public Hub API only); the model card is built and merged in `model_card`.

Example:
    >>> from bicpl_hf.publishing.hub import push_bundle
    >>> plan = push_bundle(model, processor, "my-lab/bicpl-temporal-bone", dry_run=True)  # doctest: +SKIP
    >>> print(plan.listing())  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import importlib
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

from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi, ModelCard
from transformers import PreTrainedModel
from transformers.dynamic_module_utils import get_relative_imports

from ..knowledge.knowledge_base import DEFAULT_KNOWLEDGE_BASE
from ..modeling import BiCPLModel
from ..processing import ear_classes
from ..processing.processing_bicpl import BiCPLProcessor
from ..zero_shot.pipeline import TASK, ZeroShotEarDiagnosisPipeline
from ..zero_shot.prototypes import check_model_prototypes, check_repo_id, save_prototypes
from .model_card import (  # noqa: F401  (DEFAULT_TAGS, pip_install_line: re-exported from their old home)
    DEFAULT_TAGS,
    REMOTE_CODE_REQUIREMENTS,
    _check_processor,
    load_hub_card,
    load_hub_model_config,
    make_model_card,
    merge_model_card,
    pip_install_line,
)

__all__ = [
    "BundleFile",
    "BundleUpload",
    "PHI_COLUMN_NAMES",
    "REMOTE_CODE_REQUIREMENTS",
    "find_phi_columns",
    "make_model_card",
    "pipeline_remote_sources",
    "push_bundle",
    "push_dataset",
    "push_to_hub",
    "save_bundle",
    "write_pipeline_code",
    "write_processor_card",
    "write_repository_extras",
]

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
# Column names (lower case, separators removed) that identify a patient; exam-level pseudonyms are fine.
PHI_COLUMN_NAMES = frozenset({
    "name", "patientname", "patientsname", "patientid", "otherpatientids", "patientbirthdate", "birthdate",
    "dateofbirth", "dob", "birthday", "patientaddress", "address", "phone", "phonenumber", "telephone",
    "patienttelephonenumbers", "idcard", "idnumber", "nationalid", "ssn", "medicalrecordnumber", "mrn",
    "accessionnumber", "姓名", "患者姓名", "病人姓名", "出生日期", "生日", "身份证", "身份证号", "病历号", "住院号",
    "门诊号", "联系电话", "电话", "地址", "检查号",
})
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


# ------------------------------------------------------------------------------------------------ bundle
def write_repository_extras(model, directory: str | os.PathLike) -> None:
    """What `BiCPLModel.save_pretrained` / `push_to_hub` add to the weights, config and remote code when bicpl_hf is
    installed: `prototypes.safetensors`, `prompts.json`, the class table file, the zero-shot pipeline's remote code
    (`write_pipeline_code`) and a `README.md` model card.

    The card describes the preprocessing when the folder already holds the processor (`processor.save_pretrained`
    first); `save_bundle` always writes the full card.
    """
    directory = Path(directory)
    check_model_prototypes(model)
    # The remote code's class table is processing's file itself (modeling/ reaches it through a link, which a
    # checkout without symlinks would hold as a one-line text file).
    shutil.copyfile(ear_classes.__file__, directory / "ear_classes.py")
    write_pipeline_code(directory)
    save_prototypes(model, directory)
    processor = None
    if (directory / "processor_config.json").is_file():
        processor = BiCPLProcessor.from_pretrained(directory)
    make_model_card(model, processor, eval_results=saved_training_results(directory)).save(directory / "README.md")


# `from ..package.module import` (the only cross-package form the remote code may use) as the flat copy reads it.
_PARENT_IMPORT = re.compile(r"^(\s*from\s+)\.\.\w+\.(\w+)(\s+import\b)", re.MULTILINE)


def pipeline_remote_sources(module_name: str = ZeroShotEarDiagnosisPipeline.__module__) -> dict[str, str]:
    """The remote code of the zero-shot pipeline: its module and every module it imports relatively (lazily too, as
    transformers' import scan finds those), as flat file name -> source.

    transformers copies a repository's code into one flat package, so a `from ..knowledge.knowledge_base import` of
    the package becomes `from .knowledge_base import`. Modules are found as Python imports them in the package (a
    shared module such as `modeling.ear_classes` is processing's one file).

    Raises:
        ValueError: an import that has no flat form (`from ..package import name`, a sub-package), or two modules
            with the same file name.
    """
    sources: dict[str, str] = {}
    origins: dict[str, Path] = {}
    todo = [module_name]
    while todo:
        module = importlib.import_module(todo.pop())
        path = Path(module.__file__)
        if path.name in origins:
            if origins[path.name] != path:
                raise ValueError(f"the remote code is one flat folder, but {path} and {origins[path.name]} are both "
                                 f"{path.name}")
            continue
        origins[path.name] = path
        package = module.__name__.rpartition(".")[0]
        for name in get_relative_imports(path):
            if not re.fullmatch(r"\w+|\.\w+\.\w+", name):
                raise ValueError(f"{path}: `from .{name} import` has no flat form for the remote code; import a "
                                 "module of this folder (`from .module import`) or of a sibling package "
                                 "(`from ..package.module import`)")
            todo.append(f"{package.rpartition('.')[0]}{name}" if name.startswith(".") else f"{package}.{name}")
        sources[path.name] = _PARENT_IMPORT.sub(r"\1.\2\3", path.read_text(encoding="utf-8"))
    return sources


def write_pipeline_code(directory: str | os.PathLike) -> None:
    """Ship the zero-shot pipeline as remote code in a saved model's folder: `custom_pipelines` in its `config.json`
    (as `register_pipeline` registers the task), the flat sources of `pipeline_remote_sources` and the knowledge base
    that resolves `candidate_labels` (transformers copies only `.py` files, so the pipeline reads it from the
    folder or repository)."""
    directory = Path(directory)
    for name, source in pipeline_remote_sources().items():
        (directory / name).write_text(source, encoding="utf-8")
    shutil.copyfile(DEFAULT_KNOWLEDGE_BASE, directory / DEFAULT_KNOWLEDGE_BASE.name)
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    module = ZeroShotEarDiagnosisPipeline.__module__.rpartition(".")[2]
    config["custom_pipelines"] = {TASK: {"impl": f"{module}.{ZeroShotEarDiagnosisPipeline.__name__}",
                                         "pt": ["AutoModel"], "type": "multimodal"}}
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")  # as transformers


def saved_training_results(directory: str | os.PathLike) -> list | None:
    """The metrics `bicpl train` saved beside a model (`eval_results.json`: validation, `test_results.json`: test;
    `Trainer.save_metrics` files) as card `EvalResult`s; None when there are none."""
    import huggingface_hub

    results = []
    for name, prefix, split in (("eval_results.json", "eval_", "validation"), ("test_results.json", "test_", "test")):
        path = Path(directory) / name
        metrics = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        for key, value in metrics.items():
            metric = key.removeprefix(prefix)
            if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                    or metric in ("epoch", "loss", "samples", "runtime", "samples_per_second", "steps_per_second")
                    or metric.startswith(("support", "n_"))):  # counts and timings are no results
                continue
            results.append(huggingface_hub.EvalResult(
                task_type="image-classification", task_name="Ear-level diagnosis from temporal-bone CT",
                dataset_type="local", dataset_name="local built dataset", dataset_split=split, metric_type=metric,
                metric_name=metric, metric_value=float(value)))
    return results or None


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
    card = make_model_card(SimpleNamespace(config=model_config), processor,  # the card reads model.config only
                           eval_results=saved_training_results(directory))
    card.save(directory / "README.md")


def push_to_hub(
    obj,
    repo_id: str,
    *,
    commit_message: str | None = None,
    commit_description: str | None = None,
    private: bool | None = None,
    token: bool | str | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    max_shard_size: int | str | None = "50GB",
    tags: Sequence[str] | None = None,
) -> CommitInfo:
    """`BiCPLModel.push_to_hub` / `BiCPLProcessor.push_to_hub` with bicpl_hf installed (the same arguments as
    transformers' `PushToHubMixin.push_to_hub`), through the Hub's public API only.

    `HfApi.create_repo(private=...)` (private applies to a new repository), `HfApi.create_branch` for a `revision`
    that is not a pull request's base, `save_pretrained` into a temporary folder, the Bi-CPL card merged into the
    repository's card at `revision` (`merge_model_card`: the user's text and metadata kept, our marked block
    replaced, `tags` added), then ONE `HfApi.create_commit(commit_message, commit_description, revision, create_pr)`.
    A processor's card describes the model too when `repo_id` already holds a Bi-CPL `config.json`.

    Example:
        >>> model.push_to_hub("my-lab/bicpl", tags=["otology"], private=True)  # doctest: +SKIP
    """
    is_model = isinstance(obj, PreTrainedModel)
    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    if revision is not None and not create_pr:
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    if is_model:
        generated = make_model_card(obj, repo_id=repo_id)
    else:
        config = load_hub_model_config(repo_id, revision=revision, token=token)
        model = SimpleNamespace(config=config) if config is not None else None  # the card reads model.config only
        generated = make_model_card(model, obj, repo_id=repo_id)
    card = merge_model_card(generated, load_hub_card(repo_id, revision=revision, token=token), tags=tags or ())
    with tempfile.TemporaryDirectory(prefix="bicpl-push-") as folder:
        if is_model:
            obj.save_pretrained(folder, max_shard_size=max_shard_size)
        else:
            obj.save_pretrained(folder)
        card.save(Path(folder, "README.md"))
        operations = [CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(Path(folder, f.path)))
                      for f in _list_files(Path(folder))]
        default_message = "Upload model" if is_model else "Upload processor"
        return api.create_commit(repo_id, operations, commit_message=commit_message or default_message,
                                 commit_description=commit_description, revision=revision, create_pr=create_pr)


if write_repository_extras not in BiCPLModel.extra_file_writers:
    BiCPLModel.extra_file_writers.append(write_repository_extras)
if write_processor_card not in BiCPLProcessor.extra_file_writers:
    BiCPLProcessor.extra_file_writers.append(write_processor_card)
# `push_to_hub` of the model and the processor goes through `push_to_hub` above (remote code keeps the stock one).
BiCPLModel.hub_pusher = BiCPLProcessor.hub_pusher = staticmethod(push_to_hub)


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
        card_kwargs: forwarded to `make_model_card` (`eval_results`, `datasets`, `base_model`, `license`, ...); the card
            is merged into the repository's existing card (`merge_model_card`: the user's text is kept).

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
        card_path = Path(folder, "README.md")  # the repository's own card keeps its text (merge_model_card)
        merge_model_card(ModelCard.load(card_path), load_hub_card(repo_id, revision=revision, token=token)).save(card_path)
        files = _list_files(Path(folder))
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
