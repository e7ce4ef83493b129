"""Zero-shot ear diagnosis: per-ear class probabilities and asymmetry maps for one exam or many.

Classes come from the model's own prototypes, or from any Chinese prompts the user gives (code -> prompts, ensembles
averaged): a new class is added by text alone. Offered as a plain function, [`diagnose`], and as a transformers
pipeline registered under the task `"zero-shot-ear-diagnosis"`. A saved model ships this file and the ones it imports
as remote code (`custom_pipelines` in `config.json`, written by `bicpl_hf.publishing.hub`), so the pipeline also runs
where bicpl_hf is not installed: `pipeline("zero-shot-ear-diagnosis", model=repo, trust_remote_code=True)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
from transformers import AutoModel, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.utils import cached_file

from ..knowledge.knowledge_base import DEFAULT_KNOWLEDGE_BASE, KnowledgeBase, load_knowledge_base
from .asymmetry_maps import upsampled_asymmetry_map
from .candidate_labels import candidate_label_prompts
from .finding_scores import untrained_class_findings
from .prompt_recipe import encode_prompts_as_trained

TASK = "zero-shot-ear-diagnosis"
SIDES = ("left", "right")


@dataclass
class EarDiagnosis:
    """The diagnosis of one ear. `probabilities` maps class code -> probability (sums to one)."""

    side: str
    probabilities: dict[int, float]
    top_code: int
    top_name: str
    top_probability: float
    asymmetry_map: np.ndarray | None = field(default=None, repr=False)


@dataclass
class ExamDiagnosis:
    """Both ears of one exam (left first) and the processor's ear metadata (ROI geometry for overlays)."""

    left: EarDiagnosis
    right: EarDiagnosis
    ear_metadata: list[dict] | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {side: {"top_code": ear.top_code, "top_name": ear.top_name, "top_probability": ear.top_probability,
                       "probabilities": ear.probabilities} for side, ear in (("left", self.left), ("right", self.right))}


def resolve_classes(
    model,
    tokenizer,
    class_prompts: dict | None = None,
    class_names: dict | None = None,
    candidate_labels: list[str] | str | None = None,
    hypothesis_template: str | None = None,
    knowledge_base: KnowledgeBase | None = None,
    with_findings: bool = False,
):
    """`(codes, names, prototypes or None)` (and, `with_findings`, the classes' findings for a model that scores
    classes without a trained prototype from findings, see `finding_scores.untrained_class_findings`): the model's
    own classes, those defined by `class_prompts` (free text),
    or the diseases of `knowledge_base` (default: the package's) named by `candidate_labels` (see
    `candidate_label_prompts`). Prompts are encoded the way the model was trained to score them
    (`prompt_recipe.encode_prompts_as_trained`: composed into findings for a `prompt_style="composed"` model), exactly
    as the benchmark scores them."""
    config = model.config
    if candidate_labels is not None:
        if class_prompts is not None:
            raise ValueError("give either candidate_labels (disease names) or class_prompts (free text), not both")
        class_prompts, kb_names = candidate_label_prompts(candidate_labels, hypothesis_template, knowledge_base)
        class_names = {**kb_names, **(class_names or {})}
    elif hypothesis_template is not None:
        raise ValueError("hypothesis_template fills in the names of candidate_labels; give candidate_labels too")
    if class_prompts is None:
        own = list(config.class_codes), list(config.class_names), None
        return (*own, None) if with_findings else own
    if not class_prompts:
        raise ValueError("class_prompts is empty: give at least one class code -> prompt(s)")
    prompts = {int(code): [p] if isinstance(p, str) else list(p) for code, p in class_prompts.items()}
    known = dict(zip(config.class_codes, config.class_names))
    names = [(class_names or {}).get(code, known.get(code, str(code))) for code in prompts]
    prototypes = encode_prompts_as_trained(model, tokenizer, prompts)
    if with_findings:
        return list(prompts), names, prototypes, untrained_class_findings(config, prompts, knowledge_base)
    return list(prompts), names, prototypes


def _exam_diagnoses(probs, codes, names, maps, metadata) -> list[ExamDiagnosis]:
    exams = []
    for i in range(probs.shape[0]):
        ears = []
        for ear, side in enumerate(SIDES):
            p = probs[i, ear]
            top = int(p.argmax())
            ears.append(EarDiagnosis(
                side=side,
                probabilities={int(c): float(v) for c, v in zip(codes, p)},
                top_code=int(codes[top]),
                top_name=str(names[top]),
                top_probability=float(p[top]),
                asymmetry_map=None if maps is None else maps[i, ear].numpy(),
            ))
        exams.append(ExamDiagnosis(left=ears[0], right=ears[1], ear_metadata=None if metadata is None else metadata[i]))
    return exams


@torch.no_grad()
def diagnose_pixel_values(model, pixel_values, codes, names, prototypes=None, ear_metadata=None,
                          class_findings=None) -> list[ExamDiagnosis]:
    """The diagnoses of processed exams `(batch, 2, C, D, H, W)` for the classes from `resolve_classes`."""
    pixel_values = torch.as_tensor(pixel_values).to(model.device, model.dtype)
    out = model(pixel_values=pixel_values, class_prototypes=prototypes, class_findings=class_findings)
    probs = out.logits.float().softmax(-1).cpu().numpy()
    maps = upsampled_asymmetry_map(out.asymmetry_maps, pixel_values.shape[-3:])
    return _exam_diagnoses(probs, codes, names, None if maps is None else maps.float().cpu(), ear_metadata)


@torch.no_grad()
def diagnose(
    model,
    processor,
    volumes,
    class_prompts: dict | None = None,
    class_names: dict | None = None,
    batch_size: int = 1,
    candidate_labels: list[str] | str | None = None,
    hypothesis_template: str | None = None,
    progress=None,
) -> ExamDiagnosis | list[ExamDiagnosis]:
    """Diagnose one exam (a DICOM folder, NIfTI/NRRD/MHA file, `SimpleITK.Image`) or a list of exams.

    Classes: the model's own, `class_prompts` (code -> free-text prompts), or `candidate_labels` (disease names,
    Chinese or English, resolved through the knowledge base; `hypothesis_template` as in `candidate_label_prompts`).
    `progress` (e.g. a `tqdm`) is updated by the number of exams of each batch.

    Example:

    ```python
    >>> from transformers import AutoModel, AutoProcessor
    >>> model, processor = AutoModel.from_pretrained("my-bicpl"), AutoProcessor.from_pretrained("my-bicpl")  # doctest: +SKIP
    >>> result = diagnose(model, processor, "exam_dicom_folder/", class_prompts={
    ...     2: ["上鼓室软组织影，听小骨骨质破坏。检查结论：中耳胆脂瘤。"], 5: ["中耳未见异常。"]})  # doctest: +SKIP
    >>> result.left.top_code, result.right.probabilities  # doctest: +SKIP
    ```"""
    single = not isinstance(volumes, (list, tuple))
    sources = [volumes] if single else list(volumes)
    model.eval()
    codes, names, prototypes, findings = resolve_classes(model, processor.tokenizer, class_prompts, class_names,
                                                         candidate_labels, hypothesis_template, with_findings=True)
    results: list[ExamDiagnosis] = []
    for start in range(0, len(sources), batch_size):
        inputs = processor(volumes=sources[start : start + batch_size], return_tensors="pt")
        results += diagnose_pixel_values(model, inputs["pixel_values"], codes, names, prototypes,
                                         inputs["ear_metadata"], findings)
        if progress is not None:
            progress.update(len(sources[start : start + batch_size]))
    return results[0] if single else results


class ZeroShotEarDiagnosisPipeline(Pipeline):
    """`pipeline("zero-shot-ear-diagnosis", model=...)`: per-ear probabilities, top class and asymmetry map.

    Speaks transformers' zero-shot dialect: `candidate_labels` are disease names (Chinese or English) resolved
    through the knowledge base to prompt ensembles, `hypothesis_template` adds one prompt per class (a Chinese
    sentence with `{}`, see `candidate_label_prompts`); `class_prompts` gives free-text prompts instead. A list of
    exams gives a list of results, `batch_size` exams per forward pass; `device` and `dtype` are honoured.

    Example:

    ```python
    >>> from transformers import pipeline
    >>> import bicpl_hf  # registers the task; without bicpl_hf, pass trust_remote_code=True (the model's copy)
    >>> diagnoser = pipeline("zero-shot-ear-diagnosis", model="my-bicpl", device="cpu")  # doctest: +SKIP
    >>> diagnoser("exam_dicom_folder/", candidate_labels=["胆脂瘤", "cholesterol granuloma", "正常"])  # doctest: +SKIP
    >>> prompts = {4: ["膨胀性囊性病变，骨壁变薄但完整。"]}
    >>> diagnoser(["exam_1/", "exam_2.nii.gz"], batch_size=2, class_prompts=prompts)  # doctest: +SKIP
    ```"""

    _load_processor = True
    _load_image_processor = False
    _load_tokenizer = False
    _load_feature_extractor = False

    def _sanitize_parameters(self, class_prompts=None, class_names=None, candidate_labels=None,
                             hypothesis_template=None, **kwargs):
        if kwargs:
            raise TypeError(f"zero-shot-ear-diagnosis got unexpected arguments {sorted(kwargs)}")
        forward = {}
        if class_prompts is not None or candidate_labels is not None or hypothesis_template is not None:
            forward = {"class_prompts": class_prompts, "class_names": class_names,
                       "candidate_labels": candidate_labels, "hypothesis_template": hypothesis_template}
        return {}, forward, {}

    def __call__(self, inputs, batch_size: int | None = None, **kwargs):
        """One exam -> an `ExamDiagnosis`; a list of exams -> a list, `batch_size` exams per forward pass."""
        if not isinstance(inputs, list):
            return super().__call__(inputs, **kwargs)
        batch_size = batch_size or self._batch_size or 1
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        results = []
        for start in range(0, len(inputs), batch_size):
            # A tuple is one model input for transformers' Pipeline: the processor reads the whole batch at once.
            results += super().__call__(tuple(inputs[start : start + batch_size]), **kwargs)
        return results

    def preprocess(self, inputs):
        features = self.processor(volumes=list(inputs) if isinstance(inputs, tuple) else inputs, return_tensors="pt")
        features["is_batch"] = isinstance(inputs, tuple)
        return features

    def save_pretrained(self, save_directory, **kwargs):
        """The model (`kwargs` as in its `save_pretrained`) and the processor. With bicpl_hf installed the model's save
        also writes this pipeline as remote code (`bicpl_hf.publishing.hub.write_pipeline_code`), imports flattened;
        transformers' own copy of a pipeline's file would follow the package's `..` imports out of the folder."""
        self.model.save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory)

    @cached_property
    def knowledge_base(self) -> KnowledgeBase:
        """The knowledge base that resolves `candidate_labels` (and the diseases a prompt names, for a model scoring
        new classes from findings): the package's, or, for the remote-code copy of this
        pipeline (transformers copies only the `.py` files into its module cache), the one saved with the model."""
        path = DEFAULT_KNOWLEDGE_BASE
        if not path.is_file():
            try:
                path = cached_file(self.model.name_or_path, path.name)
            except (OSError, ValueError) as error:
                raise FileNotFoundError(
                    f"candidate_labels, and the diseases named in the prompts of a model that scores new classes from "
                    f"findings, are resolved through the knowledge base {path.name} saved with a Bi-CPL model, but the "
                    f"model's folder or repository {self.model.name_or_path!r} has none: save the model again with "
                    "bicpl_hf (or, for a model scoring new classes by prototypes, give class_prompts={code: "
                    "[prompt, ...]} instead of candidate_labels)") from error
        return load_knowledge_base(path)

    def _forward(self, model_inputs, class_prompts=None, class_names=None, candidate_labels=None,
                 hypothesis_template=None):
        # The knowledge base resolves candidate labels, and the diseases a prompt names for a findings-scored model.
        findings_scored = getattr(self.model.config, "zero_shot_scoring", None) == "findings"
        knowledge_base = self.knowledge_base if candidate_labels is not None or findings_scored else None
        codes, names, prototypes, findings = resolve_classes(
            self.model, self.processor.tokenizer, class_prompts, class_names, candidate_labels, hypothesis_template,
            knowledge_base, with_findings=True)
        pixel_values = model_inputs["pixel_values"].to(self.model.device, self.model.dtype)
        out = self.model(pixel_values=pixel_values, class_prototypes=prototypes, class_findings=findings)
        maps = upsampled_asymmetry_map(out.asymmetry_maps, pixel_values.shape[-3:])
        return {
            "probs": out.logits.float().softmax(-1).cpu(),
            "maps": None if maps is None else maps.float().cpu(),
            "codes": codes,
            "names": names,
            "ear_metadata": model_inputs["ear_metadata"],
            "is_batch": model_inputs["is_batch"],
        }

    def postprocess(self, model_outputs):
        exams = _exam_diagnoses(model_outputs["probs"].numpy(), model_outputs["codes"], model_outputs["names"],
                                model_outputs["maps"], model_outputs["ear_metadata"])
        return exams if model_outputs["is_batch"] else exams[0]


def register_pipeline() -> None:
    """Register the task with transformers' pipeline factory (idempotent)."""
    if TASK not in PIPELINE_REGISTRY.get_supported_tasks():
        PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=ZeroShotEarDiagnosisPipeline, pt_model=AutoModel,
                                            type="multimodal")


__all__ = [
    "TASK",
    "EarDiagnosis",
    "ExamDiagnosis",
    "ZeroShotEarDiagnosisPipeline",
    "diagnose",
    "diagnose_pixel_values",
    "register_pipeline",
]
