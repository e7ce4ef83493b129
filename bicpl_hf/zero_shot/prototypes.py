# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Class prototypes and the prompts that produced them, as files that can be shared, swapped and pushed alone.

A prototype bundle is two files beside (or apart from) a checkpoint:

- `prototypes.safetensors`: `prototypes` (the normalised `(K, P)` matrix the classifier uses),
  `trainable_prototypes` (the raw learnable parameter), `text_prototypes` (the text anchors) and
  `class_codes` `(K,)`;
- `prompts.json`: per class its code, Chinese and English names, the prompt texts, and whether its
  prototype is frozen to the text prototype (zero-shot / tail classes).

Example:
    >>> from bicpl_hf.zero_shot.prototypes import add_class_by_text, apply_prototypes, load_prototypes, save_prototypes
    >>> save_prototypes(model, "prototypes/")  # doctest: +SKIP
    >>> bundle = load_prototypes("prototypes/")  # doctest: +SKIP
    >>> apply_prototypes(other_model, bundle)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.utils import HFValidationError, validate_repo_id
from safetensors.torch import load_file, save_file

PROTOTYPES_FILE = "prototypes.safetensors"
PROMPTS_FILE = "prompts.json"
PROTOTYPE_FORMAT_VERSION = 1
_TENSOR_KEYS = ("prototypes", "trainable_prototypes", "text_prototypes", "class_codes")

__all__ = [
    "PROMPTS_FILE",
    "PROTOTYPES_FILE",
    "PrototypeBundle",
    "add_class_by_text",
    "apply_prototypes",
    "check_model_prototypes",
    "check_repo_id",
    "load_prototypes",
    "prototype_bundle_from_model",
    "push_prototypes_to_hub",
    "save_prototypes",
]


@dataclass
class PrototypeBundle:
    """Prototypes of `K` classes in a `P`-dimensional embedding space, with the prompts behind them.

    Attributes:
        class_codes: ear label codes, one per row.
        class_names / class_names_en: Chinese / English class names aligned with `class_codes`.
        class_prompts: prompt ensemble per code (keys are the codes as strings, as in `BiCPLConfig`).
        frozen_prototype_codes: codes whose prototype is the text prototype itself.
        prototypes: `(K, P)` L2-normalised matrix the classifier uses (pass it as `class_prototypes=`).
        trainable_prototypes: `(K, P)` raw learnable prototypes (rows of frozen classes are unused).
        text_prototypes: `(K, P)` embeddings of the prompts.
    """

    class_codes: list[int]
    class_names: list[str]
    class_names_en: list[str]
    class_prompts: dict[str, list[str]]
    frozen_prototype_codes: list[int]
    prototypes: torch.Tensor
    trainable_prototypes: torch.Tensor
    text_prototypes: torch.Tensor

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.prototypes.shape)

    def __post_init__(self) -> None:
        k = len(self.class_codes)
        for name in ("class_names", "class_names_en"):
            if len(getattr(self, name)) != k:
                raise ValueError(f"PrototypeBundle.{name} has {len(getattr(self, name))} entries for {k} class codes")
        names = ("prototypes", "trainable_prototypes", "text_prototypes")
        shapes = {name: tuple(getattr(self, name).shape) for name in names}
        if len(set(shapes.values())) != 1 or len(shapes["prototypes"]) != 2 or shapes["prototypes"][0] != k:
            raise ValueError(f"PrototypeBundle matrices must all be (K={k}, projection_dim); got {shapes}")
        missing = [c for c in self.class_codes if not self.class_prompts.get(str(c))]
        if missing:
            raise ValueError(f"PrototypeBundle has no prompt for class code(s) {missing}")
        unknown = [c for c in self.frozen_prototype_codes if c not in self.class_codes]
        if unknown:
            raise ValueError(f"PrototypeBundle.frozen_prototype_codes {unknown} are not in class_codes "
                             f"{self.class_codes}")


def check_repo_id(repo_id: str) -> str:
    """Return `repo_id` if it is a valid Hub model id (`name` or `namespace/name`), else raise a `ValueError`.

    Example:
        >>> check_repo_id("my-lab/bicpl-temporal-bone")
        'my-lab/bicpl-temporal-bone'
    """
    if not isinstance(repo_id, str):
        raise ValueError(f"Hub repo id must be a string like 'namespace/name', got {type(repo_id).__name__} "
                         f"{repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"invalid Hub repo id {repo_id!r}: {error} (expected 'namespace/name', e.g. "
                         "'my-lab/bicpl-temporal-bone')") from error
    return repo_id


def check_model_prototypes(model) -> None:
    """Raise a `ValueError` when the model's prototype tensors do not match its configured classes."""
    head, config = model.prototype_head, model.config
    expected = (config.num_classes, config.projection_dim)
    for name in ("prototypes", "text_prototypes"):
        shape = tuple(getattr(head, name).shape)
        if shape != expected:
            raise ValueError(
                f"prototype matrix prototype_head.{name} has shape {shape} but the model has "
                f"{config.num_classes} classes {config.class_codes} x projection_dim {config.projection_dim} "
                f"(expected {expected})"
            )
    codes = head.class_codes.tolist()
    if codes != list(config.class_codes):
        raise ValueError(f"prototype rows are for class codes {codes} but config.class_codes is {config.class_codes}")


def prototype_bundle_from_model(model) -> PrototypeBundle:
    """Snapshot the model's prototypes and prompts (detached CPU float32 copies)."""
    check_model_prototypes(model)
    config, head = model.config, model.prototype_head
    as_cpu = lambda t: t.detach().to("cpu", torch.float32).clone()  # noqa: E731
    return PrototypeBundle(
        class_codes=[int(c) for c in config.class_codes],
        class_names=list(config.class_names),
        class_names_en=list(config.class_names_en),
        class_prompts={str(c): list(config.class_prompts[str(c)]) for c in config.class_codes},
        frozen_prototype_codes=sorted(int(c) for c in config.frozen_prototype_codes),
        prototypes=as_cpu(model.get_prototypes()),
        trainable_prototypes=as_cpu(head.prototypes),
        text_prototypes=as_cpu(head.text_prototypes),
    )


def save_prototypes(model_or_bundle, directory: str | os.PathLike) -> list[Path]:
    """Write `prototypes.safetensors` and `prompts.json` for a `BiCPLModel` (or a `PrototypeBundle`) to `directory`.

    Returns the two paths written.

    Example:
        >>> save_prototypes(model, "bicpl-prototypes")  # doctest: +SKIP
        [PosixPath('bicpl-prototypes/prototypes.safetensors'), PosixPath('bicpl-prototypes/prompts.json')]
    """
    bundle = (model_or_bundle if isinstance(model_or_bundle, PrototypeBundle)
              else prototype_bundle_from_model(model_or_bundle))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {
        "prototypes": bundle.prototypes.contiguous(),
        "trainable_prototypes": bundle.trainable_prototypes.contiguous(),
        "text_prototypes": bundle.text_prototypes.contiguous(),
        "class_codes": torch.tensor(bundle.class_codes, dtype=torch.long),
    }
    metadata = {"format": "pt", "bicpl_prototype_format": str(PROTOTYPE_FORMAT_VERSION)}
    tensor_path, prompts_path = directory / PROTOTYPES_FILE, directory / PROMPTS_FILE
    save_file(tensors, str(tensor_path), metadata=metadata)
    frozen = set(bundle.frozen_prototype_codes)
    prompts = {
        "format_version": PROTOTYPE_FORMAT_VERSION,
        "projection_dim": bundle.shape[1],
        "classes": [
            {"code": code, "name": name, "name_en": name_en, "frozen": code in frozen,
             "prompts": list(bundle.class_prompts[str(code)])}
            for code, name, name_en in zip(bundle.class_codes, bundle.class_names, bundle.class_names_en)
        ],
        "frozen_prototype_codes": sorted(frozen),
    }
    prompts_path.write_text(json.dumps(prompts, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return [tensor_path, prompts_path]


def _read_prompts(path: Path) -> dict[str, Any]:
    try:
        prompts = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(prompts, dict) or not isinstance(prompts.get("classes"), list):
        raise ValueError(f"{path} must hold an object with a 'classes' list")
    if prompts.get("format_version") != PROTOTYPE_FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {prompts.get('format_version')!r} is not supported "
                         f"(expected {PROTOTYPE_FORMAT_VERSION})")
    for i, entry in enumerate(prompts["classes"]):
        fields = {"code": int, "name": str, "name_en": str, "frozen": bool, "prompts": list}
        for field, kind in fields.items():
            if not isinstance(entry, dict) or not isinstance(entry.get(field), kind):
                raise ValueError(f"{path}: classes[{i}].{field} must be a {kind.__name__}, got "
                                 f"{entry.get(field) if isinstance(entry, dict) else entry!r}")
        if not entry["prompts"] or not all(isinstance(p, str) and p.strip() for p in entry["prompts"]):
            raise ValueError(f"{path}: classes[{i}] (code {entry['code']}) needs a non-empty list of prompt strings")
    return prompts


def _resolve_files(source: str | os.PathLike, revision: str | None, token: str | bool | None) -> tuple[Path, Path]:
    """Local folder, or a Hub repo id whose two prototype files are downloaded."""
    directory = Path(source)
    if directory.is_dir():
        paths = directory / PROTOTYPES_FILE, directory / PROMPTS_FILE
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"prototype bundle in {directory} is incomplete: missing {missing}")
        return paths
    if os.path.exists(source):
        raise NotADirectoryError(f"load_prototypes expects a folder holding {PROTOTYPES_FILE} and {PROMPTS_FILE}, "
                                 f"got the file {source}")
    try:
        repo_id = check_repo_id(str(source))
    except ValueError as error:
        raise FileNotFoundError(f"{source} is neither a folder holding {PROTOTYPES_FILE} + {PROMPTS_FILE} nor a "
                                f"Hub repo id") from error
    return tuple(Path(hf_hub_download(repo_id, name, revision=revision, token=token))
                 for name in (PROTOTYPES_FILE, PROMPTS_FILE))


def load_prototypes(
    source: str | os.PathLike, *, revision: str | None = None, token: str | bool | None = None
) -> PrototypeBundle:
    """Read a prototype bundle from a folder (or a Hub repo id) written by `save_prototypes`.

    Raises a `ValueError` naming the file when the two files disagree (codes, sizes) or a field is malformed.

    Example:
        >>> bundle = load_prototypes("bicpl-prototypes")  # doctest: +SKIP
        >>> bundle.class_codes, bundle.shape  # doctest: +SKIP
        ([1, 2, 3, 4, 5, 6], (6, 256))
    """
    tensor_path, prompts_path = _resolve_files(source, revision, token)
    tensors = load_file(str(tensor_path))
    missing = [key for key in _TENSOR_KEYS if key not in tensors]
    if missing:
        raise ValueError(f"{tensor_path} lacks tensors {missing} (has {sorted(tensors)})")
    prompts = _read_prompts(prompts_path)
    classes = prompts["classes"]
    codes = [int(entry["code"]) for entry in classes]
    tensor_codes = tensors["class_codes"].tolist()
    if codes != tensor_codes:
        raise ValueError(f"{prompts_path} lists class codes {codes} but {tensor_path} has rows for {tensor_codes}")
    dim = prompts.get("projection_dim")
    if tensors["prototypes"].ndim != 2 or tensors["prototypes"].shape[1] != dim:
        raise ValueError(f"{tensor_path}: prototypes have shape {tuple(tensors['prototypes'].shape)} but "
                         f"{prompts_path} says projection_dim={dim}")
    frozen = [int(c) for c in prompts.get("frozen_prototype_codes", [])]
    flagged = [int(entry["code"]) for entry in classes if entry["frozen"]]
    if sorted(frozen) != sorted(flagged):
        raise ValueError(f"{prompts_path}: frozen_prototype_codes {frozen} disagree with the per-class 'frozen' flags "
                         f"{flagged}")
    return PrototypeBundle(
        class_codes=codes,
        class_names=[entry["name"] for entry in classes],
        class_names_en=[entry["name_en"] for entry in classes],
        class_prompts={str(entry["code"]): list(entry["prompts"]) for entry in classes},
        frozen_prototype_codes=sorted(frozen),
        prototypes=tensors["prototypes"],
        trainable_prototypes=tensors["trainable_prototypes"],
        text_prototypes=tensors["text_prototypes"],
    )


@torch.no_grad()
def apply_prototypes(model, bundle: PrototypeBundle) -> None:
    """Swap a bundle's prototypes, prompts and class names into `model` (same classes, same projection dim).

    The classes must match exactly (same codes in the same order): to extend the class set use
    `add_class_by_text`. Raises a `ValueError` naming both shapes when the matrix does not fit the model.

    Example:
        >>> apply_prototypes(model, load_prototypes("bicpl-prototypes"))  # doctest: +SKIP
    """
    config, head = model.config, model.prototype_head
    expected = (config.num_classes, config.projection_dim)
    if bundle.shape != expected:
        raise ValueError(
            f"prototype matrix of shape {bundle.shape} (classes {bundle.class_codes}) does not match the model: "
            f"{config.num_classes} classes {config.class_codes} x projection_dim {config.projection_dim} = {expected}"
        )
    if bundle.class_codes != list(config.class_codes):
        raise ValueError(f"prototype bundle is for class codes {bundle.class_codes} but the model has "
                         f"{config.class_codes} (same codes in the same order are required)")
    effective = torch.where(
        torch.tensor([c not in bundle.frozen_prototype_codes for c in bundle.class_codes])[:, None],
        bundle.trainable_prototypes, bundle.text_prototypes,
    )
    if not torch.allclose(F.normalize(effective, dim=-1), bundle.prototypes, atol=1e-5):
        raise ValueError("prototype bundle is inconsistent: 'prototypes' is not the normalised mix of "
                         "'trainable_prototypes' and 'text_prototypes' given frozen_prototype_codes")
    head.prototypes.copy_(bundle.trainable_prototypes.to(head.prototypes))
    head.text_prototypes.copy_(bundle.text_prototypes.to(head.text_prototypes))
    config.class_names = list(bundle.class_names)
    config.class_names_en = list(bundle.class_names_en)
    config.class_prompts = {str(c): list(bundle.class_prompts[str(c)]) for c in bundle.class_codes}
    model.set_frozen_prototype_codes(bundle.frozen_prototype_codes)


def add_class_by_text(
    model,
    tokenizer,
    code: int,
    name: str,
    prompts: list[str],
    *,
    name_en: str | None = None,
    bundle_directory: str | os.PathLike | None = None,
) -> PrototypeBundle:
    """Add a class recognised zero-shot from its description, and rewrite the saved prototype bundle if one is given.

    The new prototype is the (frozen) text embedding of `prompts` rewritten in the model's `config.prompt_style`
    (`prompt_recipe.prompts_in_model_style`: composed into findings for a v2 model), as the pipeline and the benchmark
    score them; the rewritten prompts are what `config.class_prompts` keeps, so a saved model re-encodes the same
    prototype. A model that scores zero-shot classes from findings (`config.zero_shot_scoring="findings"`) also stores
    the prompts' findings (`config.class_findings`) and scores the new class from them. See `BiCPLModel.add_class`.

    Example:
        >>> bundle = add_class_by_text(  # doctest: +SKIP
        ...     model, tokenizer, 7, "面神经鞘瘤", ["面神经管增宽，软组织肿块。"],
        ...     name_en="facial nerve schwannoma", bundle_directory="bicpl-prototypes")
        >>> bundle.class_codes[-1]  # doctest: +SKIP
        7
    """
    from .prompt_recipe import model_prompt_style, prompts_in_model_style

    model.prototype_head.check_new_class(code, prompts)  # a bad call fails before the prompts are parsed
    styled = prompts_in_model_style({int(code): list(prompts)}, model_prompt_style(model))[int(code)]
    model.add_class(code, name, styled, tokenizer, name_en=name_en)
    if model.config.zero_shot_scoring == "findings":
        # A v3 model scores a class without a trained prototype from its findings: the prompts' findings, stored.
        from ..knowledge.knowledge_base import load_knowledge_base
        from .finding_scores import class_findings_of

        model.config.class_findings = {**(model.config.class_findings or {}),
                                       **class_findings_of({int(code): styled}, load_knowledge_base())}
    if bundle_directory is not None:
        save_prototypes(model, bundle_directory)
    return prototype_bundle_from_model(model)


def push_prototypes_to_hub(
    repo_id: str,
    source,
    *,
    commit_message: str = "Upload Bi-CPL prototypes and prompts",
    private: bool | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
):
    """Push only `prototypes.safetensors` and `prompts.json` (from a model, a bundle or a folder) in one commit.

    Returns the `huggingface_hub.CommitInfo` of the commit.

    Example:
        >>> push_prototypes_to_hub("my-lab/bicpl-temporal-bone", "bicpl-prototypes")  # doctest: +SKIP
    """
    check_repo_id(repo_id)
    bundle = (load_prototypes(source) if isinstance(source, (str, os.PathLike))
              else source if isinstance(source, PrototypeBundle) else prototype_bundle_from_model(source))
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="bicpl-prototypes-") as folder:
        paths = save_prototypes(bundle, folder)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        operations = [CommitOperationAdd(path_in_repo=path.name, path_or_fileobj=str(path)) for path in paths]
        return api.create_commit(repo_id, operations, commit_message=commit_message, revision=revision,
                                 create_pr=create_pr)
