"""The experiment runner: baselines, Bi-CPL and its ablation, in the proposal's Settings A and B, one split, one seed.

Variants: `bicpl_hf.training.variants` (all built from [`BiCPLModel`], so they share code, data, budget and
evaluation).

Setting A: supervised on codes 1, 2, 3, 5. Setting B: every exam with an ear of the held-out class (code 2 unless
`held_out` says otherwise) leaves training; that class must be recognised zero-shot. Code 4 is never trained on.
Both are evaluated on the same untouched test split. After
training, every variant gets the same calibrated stacking of its classes absent from training (one logit offset set
on the validation ears of the trained classes, `bicpl_hf.training.calibration`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import TrainingArguments

from ..data.splits import HELD_OUT_CODE
from ..knowledge.knowledge_base import class_prompts, load_knowledge_base
from ..modeling import BiCPLConfig, BiCPLModel
from ..processing.ear_classes import CLASS_CODES, CLASS_NAMES_ZH, NORMAL_CODE
from .calibration import calibrate_unseen_class_offset
from .evaluation import (
    DatasetPredictions,
    composed_prototype_auc,
    normal_ear_rates,
    predict_dataset,
    score_held_out,
    score_predictions,
)
from .recipe import TextAnchorRefreshCallback, build_trainer, codes_absent_from
from .scored_ears import ScoredEarRecord
from .variants import BASELINE_VARIANTS, KNOWLEDGE_VARIANTS, V2_ABLATION_VARIANTS, VARIANTS, Variant

logger = logging.getLogger(__name__)

TAIL_CODES = (4, 6)
SETTING_ZERO_SHOT = {"A": (4,), "B": (2, 4)}  # with the default held-out class; see `zero_shot_codes`


def zero_shot_codes(setting: str, held_out: int = HELD_OUT_CODE) -> tuple[int, ...]:
    """Codes scored as zero-shot in a setting: code 4 always, and in Setting B the held-out class."""
    return (4,) if setting == "A" or held_out == 4 else (int(held_out), 4)


@dataclass
class ExperimentBudget:
    contrastive_epochs: float = 6.0
    prototype_epochs: float = 8.0
    batch_size: int = 8
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    bootstrap: int = 200
    # Calibrated stacking of the classes absent from training, on the validation split's trained-class ears
    # (`bicpl_hf.training.calibration`); None = raw logits.
    unseen_false_positive_rate: float | None = 0.05
    device: str | None = None  # "cpu" or "cuda"; None = what the Trainer picks (a GPU when there is one)
    # A pretrained text tower (a folder `AutoModel` loads, e.g. from `bicpl pretrain-text`) for the variants with
    # `pretrained_text`; its tokenizer must be the processor's. None = every tower starts from scratch.
    text_model_path: str | None = None
    dataloader_num_workers: int = 0
    # Train the vision tower's 3D convolutions in channels_last_3d (measured 24% faster per step on CPU,
    # benchmarks/README.md); None = on CPU only. Weights go back to the contiguous layout after training.
    channels_last: bool | None = None


@dataclass
class RunResult:
    variant: str
    setting: str
    metrics: dict
    seconds: float
    n_train_exams: int
    predictions: DatasetPredictions | None = field(default=None, repr=False)
    unseen_offset: float | None = None  # calibrated-stacking logit offset of the classes absent from training
    ears: ScoredEarRecord | None = field(default=None, repr=False)  # per-ear scores for the protocol's tables

    def row(self) -> dict:
        return {"variant": self.variant, "setting": self.setting, "seconds": round(self.seconds, 1),
                "n_train_exams": self.n_train_exams, "unseen_offset": self.unseen_offset, **self.metrics}


def make_variant_model(variant: Variant, base_config: dict, tokenizer, seed: int,
                       text_model_path: str | None = None) -> BiCPLModel:
    """A fresh model for `variant` from a `BiCPLConfig` kwargs dict (text/vision configs, projection dim, ...);
    `text_model_path` gives the text tower's weights to a variant with `pretrained_text`."""
    kwargs = {**base_config, "bilateral": variant.bilateral}
    vision = dict(kwargs.get("vision_config") or {})
    n_stages = len(vision.get("hidden_sizes", [32, 64, 128, 256]))
    vision["a3b_stages"] = [variant.a3b] * n_stages
    vision.update(dict(variant.vision_overrides))
    kwargs["vision_config"] = vision
    if not variant.text_prototypes:
        kwargs["drift_loss_weight"] = 0.0  # no text anchor to stay close to
    if not variant.use_text_in_prototype_stage and not variant.contrastive_stage:
        kwargs.update(itc_ear_weight=0.0, itc_exam_weight=0.0)
    kwargs.update(dict(variant.config_overrides))
    if variant.knowledge_prompts:
        codes = kwargs.get("class_codes") or list(CLASS_CODES)
        kwargs["class_prompts"] = class_prompts(load_knowledge_base(), codes)
    if variant.prompt_style in ("findings", "composed"):
        from ..modeling.configuration_bicpl import DEFAULT_CLASS_PROMPTS
        from ..zero_shot.prompt_recipe import prompts_in_model_style

        # The config keeps the prompts in the model's style and the style itself, so the pipeline, `diagnose` and
        # `add_class_by_text` score a user's prompt as this model was trained to (one zero-shot computation).
        prompts = kwargs.get("class_prompts") or DEFAULT_CLASS_PROMPTS
        kwargs["class_prompts"] = prompts_in_model_style(prompts, variant.prompt_style)
        kwargs["prompt_style"] = variant.prompt_style
    elif variant.prompt_style != "report":
        raise ValueError(f"variant {variant.name}: prompt_style must be 'report', 'findings' or 'composed'")
    if kwargs.get("zero_shot_scoring") == "findings":
        from ..zero_shot.finding_scores import class_findings_of

        kwargs["class_findings"] = class_findings_of(kwargs["class_prompts"], load_knowledge_base())
    bank_texts = None
    if variant.knowledge_bank:
        from ..knowledge import attribute_texts

        bank_texts = attribute_texts()
        kwargs["knowledge_bank_size"] = len(bank_texts)
    torch.manual_seed(seed)
    model = BiCPLModel(BiCPLConfig(**kwargs))
    if variant.pretrained_text and text_model_path:
        from transformers import AutoModel

        pretrained = AutoModel.from_pretrained(text_model_path, add_pooling_layer=False)
        if pretrained.config.vocab_size != model.config.text_config.vocab_size:
            raise ValueError(f"the text model in {text_model_path} has a vocabulary of {pretrained.config.vocab_size} "
                             f"tokens, the processor's tokenizer {model.config.text_config.vocab_size}: pretrain it "
                             "with the same tokenizer (bicpl pretrain-text --tokenizer)")
        missing, _ = model.text_model.load_state_dict(pretrained.state_dict(), strict=False)
        if missing:
            raise ValueError(f"{text_model_path} lacks text-tower weights {missing[:5]}")
    if bank_texts is not None:
        model.initialize_knowledge_bank(tokenizer, bank_texts)
    if variant.text_prototypes or variant.classify_with_prompts:
        model.initialize_prototypes(tokenizer)
    return model


def _arguments(output_dir: Path, epochs: float, budget: ExperimentBudget, seed: int) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(output_dir), num_train_epochs=epochs, per_device_train_batch_size=budget.batch_size,
        learning_rate=budget.learning_rate, weight_decay=budget.weight_decay, warmup_steps=0.05,
        lr_scheduler_type="cosine", logging_strategy="epoch", save_strategy="no", report_to=[], seed=seed,
        data_seed=seed, dataloader_num_workers=budget.dataloader_num_workers, disable_tqdm=True,
        use_cpu=budget.device == "cpu", dataloader_pin_memory=budget.device != "cpu" and torch.cuda.is_available(),
    )


def variant_collator_options(variant: Variant, train_dataset) -> dict:
    """The collator options of `variant`: its own, plus the finding vocabulary of `train_dataset` (findings present in
    at least 3 training ears) when it trains the finding-level alignment."""
    options = dict(variant.collator_options)
    if variant.finding_alignment:
        from ..knowledge.finding_vocabulary import finding_vocabulary

        options["finding_vocabulary"] = finding_vocabulary(train_dataset["findings_triples"])
    return options


def train_variant(variant: Variant, model: BiCPLModel, processor, train_dataset, output_dir: Path,
                  budget: ExperimentBudget, seed: int) -> BiCPLModel:
    """Stage 1 (alignment), then text prototypes from the aligned text tower, then stage 2 (prototypes)."""
    tokenizer = processor.tokenizer
    collator_options = variant_collator_options(variant, train_dataset)
    if variant.contrastive_stage:
        build_trainer(model, processor, _arguments(output_dir / "contrastive", budget.contrastive_epochs, budget, seed),
                      train_dataset, stage="contrastive", collator_options=collator_options).train()
        if variant.text_prototypes:
            model.initialize_prototypes(tokenizer)  # the random text tower of __init__ knew nothing
    if variant.prototype_stage:
        trainer = build_trainer(
            model, processor, _arguments(output_dir / "prototype", budget.prototype_epochs, budget, seed),
            train_dataset, stage="prototype", balance="reweight" if variant.class_weighted else None,
            include_text=variant.use_text_in_prototype_stage, collator_options=collator_options,
            callbacks=[TextAnchorRefreshCallback(tokenizer)] if variant.refresh_anchors else None,
        )
        trainer.train()
        if variant.text_prototypes and variant.use_text_in_prototype_stage:
            # Text-only (frozen) classes follow the final text tower; trained prototypes keep what they learned.
            model.initialize_prototypes(tokenizer, reset_trainable=False)
    if variant.classify_with_prompts:
        # CLIP-style classification: the classes are the prompts as the trained text tower now encodes them.
        model.initialize_prototypes(tokenizer, reset_trainable=True)
        model.set_frozen_prototype_codes(list(model.config.class_codes))
    return model


def _class_prompts_of(variant: Variant, base_config: dict) -> dict[int, list[str]]:
    """The class prompts (code -> prompts, as written) a variant starts from: the knowledge base's ensembles or the
    config's defaults."""
    from ..modeling.configuration_bicpl import DEFAULT_CLASS_PROMPTS

    codes = base_config.get("class_codes") or list(CLASS_CODES)
    if variant.knowledge_prompts:
        return {int(c): list(p) for c, p in class_prompts(load_knowledge_base(), codes).items()}
    prompts = base_config.get("class_prompts") or DEFAULT_CLASS_PROMPTS
    return {int(c): list(prompts[c] if c in prompts else prompts[str(c)]) for c in codes}


def _paraphrase_cosine(model, processor, predictions, paraphrases: dict | None, codes: Sequence[int]):
    """`(code -> (N, 2, P) cosines, code -> kinds)` of each paraphrase of the zero-shot classes `codes`, every
    paraphrase encoded alone the way the model was trained to score a prompt (`prompt_cosines`)."""
    if not paraphrases:
        return {}, {}
    from .evaluation import prompt_cosines

    cosines, kinds = {}, {}
    for code in codes:
        entries = paraphrases.get(int(code)) or []
        if entries:
            prompts = {i: [entry["text"]] for i, entry in enumerate(entries)}
            cosines[int(code)] = prompt_cosines(model, processor.tokenizer, predictions, prompts)
            kinds[int(code)] = [entry["kind"] for entry in entries]
    return cosines, kinds


def _finding_record(variant: Variant, model, processor, predictions, test, codes, paraphrases, budget,
                    output_dir: Path):
    """Bi-CPL v3: the region head's logits of every scorable finding on the test ears (`finding_logits.npz`, what the
    development class's score rule is chosen from), and each paraphrase of the zero-shot classes `codes` scored as the
    model scores a user's prompt for a new class: from the findings it states, or, stating none (a name, English),
    by the cosine to its text prototype."""
    from .evaluation import prompt_cosines
    from .region_findings import dataset_finding_logits, prompt_set_scores, scorable_findings

    entries = {int(code): (paraphrases or {}).get(int(code)) or [] for code in codes}
    knowledge_base = load_knowledge_base()  # read once: every paraphrase that names a disease looks it up
    states = {e["text"]: untrained_findings(model, [e["text"]], knowledge_base) for items in entries.values()
              for e in items}
    stated = {f for found in states.values() for f in found}
    findings = sorted(set(scorable_findings(model)) | stated)  # every finding a class or a paraphrase is scored by
    logits = dataset_finding_logits(model, processor, test, findings, budget.batch_size)
    output_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(output_dir / "finding_logits.npz", logits=logits, findings=np.asarray(findings, dtype=str))
    record = {"rule": model.config.finding_score_rule, "class_findings": model.config.class_findings,
              "frozen_prototype_codes": model.config.frozen_prototype_codes, "region_findings": model.config.region_findings,
              "finding_likelihood": model.config.finding_likelihood}
    (output_dir / "finding_scores.json").write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    scores, kinds = {}, {}
    for code, items in entries.items():
        if items:
            sets = {i: [e["text"]] for i, e in enumerate(items)}
            by_findings = prompt_set_scores(logits, findings, sets, model.config.finding_score_rule,
                                            model.config.region_findings, model.region_finding_head.scorable,
                                            knowledge_base, model.config.finding_likelihood)
            by_prototype = prompt_cosines(model, processor.tokenizer, predictions, sets)
            scores[code] = np.where(np.array([bool(states[e["text"]]) for e in items]), by_findings, by_prototype)
            kinds[code] = [e["kind"] for e in items]
    return scores, kinds


def untrained_findings(model, prompts, knowledge_base) -> list:
    """The scorable findings `prompts` state for a new class of `model` (a disease they name read in `knowledge_base`;
    empty: it is scored by its prototype)."""
    from ..zero_shot.finding_scores import prompt_findings

    return [f for f in prompt_findings(prompts, knowledge_base) if model.region_finding_head.scorable(f)]


def run_one(variant: Variant, setting: str, views: dict, processor, base_config: dict, budget: ExperimentBudget,
            output_dir: Path, seed: int, held_out: int = HELD_OUT_CODE,
            normal_variant_column: str | None = "normal_variant", cohort: str = "",
            paraphrases: dict | None = None,
            scored_codes: Sequence[int] | None = None) -> tuple[RunResult, BiCPLModel | None]:
    """Train, calibrate and score one variant; in Setting B the held-out class's zero-shot metrics are added as
    `zs/...` (`bicpl_hf.metrics.zero_shot_metrics`), with the normal-variant rate when the test split has the
    boolean column `normal_variant_column`.

    The run's per-ear scores (`RunResult.ears`, a [`ScoredEarRecord`] of cohort `cohort`) hold the raw cosine of
    every paraphrase in `paraphrases` (code -> `[{"text", "kind"}, ...]`) of the classes `scored_codes` (default: the
    setting's zero-shot classes). A variant of the attribute-composition family returns no model."""
    from .scored_ears import scored_ears

    start = time.time()
    view = views[setting]
    zero_shot = zero_shot_codes(setting, held_out)
    scored_codes = tuple(zero_shot if scored_codes is None else scored_codes)
    model, offset = None, None
    unseen = codes_absent_from(view["train"], base_config.get("class_codes") or list(CLASS_CODES))
    paraphrase_cosine, paraphrase_kinds = {}, {}
    if variant.family == "attribute_composition":
        from .attribute_composition import run_attribute_composition

        class_codes = list(base_config.get("class_codes") or CLASS_CODES)
        predictions, _ = run_attribute_composition(
            view, processor, base_config, budget, seed, output_dir / f"{variant.name}_{setting}",
            class_codes=class_codes, class_prompts=_class_prompts_of(variant, base_config))
        class_names, normal_code = [CLASS_NAMES_ZH.get(c, str(c)) for c in class_codes], NORMAL_CODE
        if paraphrases:  # each paraphrase read into findings, as Bi-CPL v3 reads a user's prompt
            from ..knowledge.finding_vocabulary import finding_vocabulary
            from .attribute_composition import prompt_scores

            vocabulary = finding_vocabulary(view["train"]["findings_triples"])
            knowledge_base = load_knowledge_base()
            for code in scored_codes:
                entries = paraphrases.get(int(code)) or []
                if entries:
                    paraphrase_cosine[int(code)] = prompt_scores(
                        predictions.image_embeds, vocabulary, {i: [e["text"]] for i, e in enumerate(entries)},
                        knowledge_base)
                    paraphrase_kinds[int(code)] = [e["kind"] for e in entries]
    else:
        from .region_findings import region_geometry_of

        geometry = region_geometry_of(processor)
        if variant.region_findings:
            from ..knowledge.finding_vocabulary import finding_vocabulary

            base_config = {**base_config, "region_geometry": geometry,
                           "region_findings": [list(f) for f in finding_vocabulary(view["train"]["findings_triples"])],
                           "finding_score_rule": variant.finding_score_rule}
        elif "coarse_roi_size_mm" in geometry:
            # The processor appends a coarse ROI's channels: the model knows it and reads the fine ones only.
            base_config = {**base_config, "region_geometry": geometry}
        model = make_variant_model(variant, base_config, processor.tokenizer, seed,
                                   text_model_path=budget.text_model_path)
        if variant.region_findings and model.config.finding_score_rule == "likelihood_ratio":
            from .region_findings import estimate_finding_likelihood

            trained = [c for c in model.config.class_codes if c not in set(model.config.frozen_prototype_codes)]
            model.config.finding_likelihood = estimate_finding_likelihood(
                view["train"], model.config.region_findings, model.config.class_findings, trained)
        channels_last = budget.channels_last
        if channels_last is None:
            channels_last = budget.device == "cpu" or (budget.device is None and not torch.cuda.is_available())
        if channels_last:
            model.to(memory_format=torch.channels_last_3d)  # only 5-D conv weights change layout
        train_variant(variant, model, processor, view["train"], output_dir / f"{variant.name}_{setting}", budget, seed)
        model.to(memory_format=torch.contiguous_format)  # safetensors saves contiguous tensors
        if budget.unseen_false_positive_rate is not None and unseen:
            try:
                offset = calibrate_unseen_class_offset(model, processor, view["validation"], unseen,
                                                       false_positive_rate=budget.unseen_false_positive_rate,
                                                       batch_size=budget.batch_size)
                logger.info("%s / setting %s: classes %s absent from training calibrated with offset %.2f",
                            variant.name, setting, unseen, offset)
            except ValueError as error:
                logger.warning("%s / setting %s: classes %s absent from training are NOT calibrated: %s",
                               variant.name, setting, unseen, error)
        text_mode = dict(variant.collator_options).get("text_mode", "raw")
        predictions = predict_dataset(model, processor, view["test"], batch_size=budget.batch_size,
                                      with_text=variant.name != "vision_cnn", text_mode=text_mode)
        class_names, normal_code = model.config.class_names, model.config.normal_code
        if variant.region_findings:
            paraphrase_cosine, paraphrase_kinds = _finding_record(
                variant, model, processor, predictions, view["test"], scored_codes, paraphrases, budget,
                output_dir / f"{variant.name}_{setting}")
        elif variant.zero_shot:
            paraphrase_cosine, paraphrase_kinds = _paraphrase_cosine(model, processor, predictions, paraphrases,
                                                                     scored_codes)
    metrics = score_predictions(predictions, class_names, tail_codes=TAIL_CODES, zero_shot_codes=zero_shot,
                                bootstrap=budget.bootstrap, seed=seed)
    if held_out in unseen:
        metrics.update(score_held_out(predictions, held_out, unseen, view["test"], normal_variant_column))
        if model is not None and (variant.text_prototypes or variant.classify_with_prompts):
            metrics.update(composed_prototype_auc(model, processor.tokenizer, predictions, held_out))
    metrics.update(normal_ear_rates(predictions, normal_code))
    ears = scored_ears(predictions, list(view["test"]["patient_key"]), cohort=cohort, variant=variant.name,
                       seed=seed, zero_shot=variant.zero_shot, paraphrase_cosine=paraphrase_cosine,
                       paraphrase_kinds=paraphrase_kinds)
    result = RunResult(variant.name, setting, metrics, time.time() - start, len(view["train"]), predictions,
                       unseen_offset=offset, ears=ears)
    logger.info("%s / setting %s: macro-F1 %.3f in %.0f s", variant.name, setting, metrics["macro_f1"], result.seconds)
    return result, model


def run_experiments(
    views: dict,
    processor,
    base_config: dict,
    output_dir: str | Path,
    *,
    variants: Sequence[str] = BASELINE_VARIANTS,
    settings: Sequence[str] = ("A", "B"),
    budget: ExperimentBudget | None = None,
    seed: int = 0,
    keep_model: str = "bicpl",
    progress: Callable[[str], None] | None = None,
    held_out: int = HELD_OUT_CODE,
    normal_variant_column: str | None = "normal_variant",
    cohort: str = "",
    paraphrases: dict | None = None,
    scored_codes: Sequence[int] | None = None,
) -> tuple[list[RunResult], dict[str, BiCPLModel]]:
    """Train and evaluate every (variant, setting) on the same split and seed.

    Args:
        views: setting name -> `DatasetDict` view (from `bicpl_hf.data.splits.setting_view`).
        processor: the [`BiCPLProcessor`] the data were built with (its tokenizer encodes the text).
        base_config: `BiCPLConfig` kwargs shared by every variant (text/vision configs, projection dim, ...).
        keep_model: trained models of this variant are returned (per setting) for saving and diagnosis.
        held_out: the class the Setting B view holds out (the views must have been made with the same code).
        cohort, paraphrases, scored_codes: as in [`run_one`]; each run's per-ear scores are written as
            `ears_<variant>_<setting>.npz` ([`ScoredEarRecord`]).
    """
    budget = budget or ExperimentBudget()
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; choose from {sorted(VARIANTS)}")
    output_dir = Path(output_dir)
    results, kept = [], {}
    for setting in settings:
        for name in variants:
            if progress:
                progress(f"training {name} in setting {setting}")
            result, model = run_one(VARIANTS[name], setting, views, processor, base_config, budget, output_dir, seed,
                                    held_out=held_out, normal_variant_column=normal_variant_column, cohort=cohort,
                                    paraphrases=paraphrases, scored_codes=scored_codes)
            results.append(result)
            output_dir.mkdir(parents=True, exist_ok=True)
            p = result.predictions
            np.savez(output_dir / f"predictions_{name}_{setting}.npz", logits=p.logits, labels=p.labels,
                     class_codes=np.asarray(p.class_codes), cosine=p.cosine)
            result.ears.save(output_dir / f"ears_{name}_{setting}.npz")
            if name == keep_model:
                kept[setting] = model
    (output_dir / "results.json").write_text(
        json.dumps({"budget": asdict(budget), "seed": seed, "held_out": held_out, "runs": [r.row() for r in results]},
                   ensure_ascii=False, indent=2), encoding="utf-8")
    (output_dir / "results.md").write_text(results_table(results), encoding="utf-8")
    return results, kept


def _fmt(metrics: dict, key: str) -> str:
    value = metrics.get(key)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    low, high = metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high")
    return f"{value:.3f}" + (f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else "")


def results_table(results: Sequence[RunResult]) -> str:
    """Markdown table: one row per (setting, variant); 95% bootstrap CIs (resampled by exam) in brackets."""
    lines = [
        "| setting | variant | accuracy | macro-F1 | AUC (macro) | tail recall (4, 6) | zero-shot AUC (held-out) "
        "| code-4 recall | ear→text R@5 | train exams | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m = r.metrics
        names = [key.split("/", 1)[1] for key in m if key.startswith("support/")]
        cg = next((n for n in names if "胆脂瘤" in n or n == "2"), None)
        zero_shot = "zs/auc_probability" if "zs/auc_probability" in m else f"zero_shot_auc/{cg}"
        granuloma = next((n for n in names if "胆固醇肉芽肿" in n or n == "4"), None)
        variant = VARIANTS.get(r.variant)
        zs_cell = "(trained)" if r.setting != "B" else "n/a" if variant and not variant.zero_shot else _fmt(m, zero_shot)
        lines.append(
            f"| {r.setting} | {r.variant} | {_fmt(m, 'accuracy')} | {_fmt(m, 'macro_f1')} | {_fmt(m, 'auc_macro')} "
            f"| {_fmt(m, 'tail_recall')} | {zs_cell} "
            f"| {_fmt(m, f'recall/{granuloma}')} | {_fmt(m, 'i2t_recall@5')} | {r.n_train_exams} | {r.seconds:.0f} |"
        )
    return "\n".join(lines) + "\n"


__all__ = [
    "BASELINE_VARIANTS",
    "KNOWLEDGE_VARIANTS",
    "V2_ABLATION_VARIANTS",
    "VARIANTS",
    "ExperimentBudget",
    "RunResult",
    "Variant",
    "make_variant_model",
    "results_table",
    "run_experiments",
    "run_one",
    "train_variant",
    "variant_collator_options",
    "zero_shot_codes",
]
