# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""`bicpl train`: train Bi-CPL on a dataset built by `bicpl build`, with the stock `transformers.Trainer`.

Every `TrainingArguments` flag works on the command line. Single process, several GPUs or several machines:

    bicpl train --dataset built/ --text_model /models/chinese-medical-bert \
        --output_dir runs/bicpl --num_train_epochs 10 --per_device_train_batch_size 8 --lora_r 8 --setting A
    torchrun --nproc_per_node 4 examples/train_bicpl.py ...        # the same as a script; or: accelerate launch ...

Stage 1 aligns ear ROIs with their side texts (`--contrastive_epochs`; saved in `<output_dir>/contrastive`, no
evaluation there), stage 2 trains the prototypes (`--num_train_epochs`; evaluation, best-model selection and
`checkpoint-*` folders in `<output_dir>`). Every checkpoint holds the model and the processor (`bicpl diagnose --model
<checkpoint>` works); with `--lora_r` the model is peft's adapter, applied to the run's base model saved once in
`<output_dir>/lora_base`. `--resume_from_checkpoint <checkpoint>|true` skips a finished stage 1 and resumes the unfinished
stage from its checkpoint. `train_results.json`, `eval_results.json`, `test_results.json` and `all_results.json` go to
`<output_dir>` and to `<output_dir>/final` (model + processor; its model card lists them). Without `--text_model` a
small BERT is trained from scratch with a character vocabulary built from the training reports (offline demo use),
written to `<output_dir>/char_vocab`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from transformers import AutoTokenizer, HfArgumentParser, PrinterCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from ..data.splits import load_built_dataset, setting_view
from ..metrics import make_compute_metrics
from ..modeling import BiCPLConfig, BiCPLModel
from ..modeling.configuration_bicpl import DEFAULT_CLASS_PROMPTS
from ..processing import BiCPLProcessor, BiCPLVolumeProcessor
from ..text.lora import LORA_BASE_FOLDER, apply_text_lora, merge_text_lora
from ..text.tokenization import build_char_tokenizer
from ..training import build_trainer, codes_absent_from
from ..training.calibration import calibrate_unseen_class_offset
from ..training.evaluation import predict_dataset, score_predictions
from ..training.region_findings import region_geometry_of

CONTRASTIVE_FOLDER = "contrastive"  # stage 1's output folder inside --output_dir


@dataclass
class ScriptArguments:
    dataset: str = field(metadata={"help": "output folder of build_dataset.py (holds dataset/ and the processor)"})
    text_model: str | None = field(default=None, metadata={"help": "local BERT-family checkpoint (with tokenizer)"})
    setting: str = field(default="A", metadata={"help": "A (codes 1,2,3,5 supervised) or B (code 2 held out)"})
    contrastive_epochs: float = field(default=3.0, metadata={"help": "epochs of stage 1; 0 skips it"})
    lora_r: int = field(default=0, metadata={"help": "LoRA rank on the text tower; 0 trains it fully"})
    balance: str | None = field(default=None, metadata={"help": "None, 'reweight' or 'sample'"})
    unseen_false_positive_rate: float | None = field(
        default=0.05, metadata={"help": "calibrated stacking of the classes absent from training (None = off)"})
    projection_dim: int = 256
    quiet: bool = field(default=False, metadata={
        "help": "no progress bars, per-step logs or library warnings (sets --disable_tqdm); the metrics remain"})


def build_model(script: ScriptArguments, volume_processor, train_reports, vocab_dir: str | None = None,
                args: TrainingArguments | None = None):
    """The model and its tokenizer. Without `--text_model` the character vocabulary is written to `vocab_dir`
    (default, and on DDP ranks other than 0: a fresh temporary folder of its own)."""
    vision = {"image_size": list(volume_processor.roi_shape), "in_channels": len(volume_processor.windows)}
    # A processor with a coarse ROI appends its windows as channels: the model is told, and its encoder reads the fine.
    extra = {"region_geometry": region_geometry_of(volume_processor)} if volume_processor.coarse_roi_size_mm else {}
    if script.text_model:
        tokenizer = AutoTokenizer.from_pretrained(script.text_model)
        model = BiCPLModel.from_text_pretrained(script.text_model, tokenizer=tokenizer, vision_config=vision,
                                                projection_dim=script.projection_dim, **extra)
        return model, tokenizer
    corpus = list(train_reports) + [p for prompts in DEFAULT_CLASS_PROMPTS.values() for p in prompts]
    if vocab_dir is None or (args is not None and args.process_index != 0):
        # other DDP ranks: their own folder (the same corpus gives the same vocabulary; no rank waits or races)
        vocab_dir = tempfile.mkdtemp(prefix="bicpl_char_vocab_")
    tokenizer = build_char_tokenizer(corpus, vocab_dir)
    text = {"vocab_size": tokenizer.vocab_size, "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 256, "max_position_embeddings": 512}
    model = BiCPLModel(BiCPLConfig(text_config=text, vision_config=vision, projection_dim=script.projection_dim,
                                   text_pooling="mean", **extra))
    model.initialize_prototypes(tokenizer)
    return model, tokenizer


def lora_base_model(model: BiCPLModel, folder: str, args: TrainingArguments, resume: bool) -> BiCPLModel:
    """The model a LoRA run's adapters apply to, saved once in `folder` and loaded from it. Its checkpoints hold only
    the adapters and the fully trained modules; peft records this folder in their adapter_config.json
    (`base_model_name_or_path`, from the model's `name_or_path`), so each one loads on its own. A resumed run reuses
    the saved base: a text tower trained from scratch starts random."""
    folder = os.path.abspath(folder)  # as recorded: the checkpoints load from any working directory
    with args.main_process_first(desc="LoRA base model"):  # other processes load what the main one saved
        if args.should_save and not (resume and os.path.isfile(os.path.join(folder, "config.json"))):
            model.save_pretrained(folder)
        return BiCPLModel.from_pretrained(folder)


def parse_args(argv: list[str] | None = None) -> tuple[ScriptArguments, TrainingArguments]:
    """`ScriptArguments` and every `TrainingArguments` flag, from the command line."""
    parser = HfArgumentParser((ScriptArguments, TrainingArguments), prog="bicpl train", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    script, args = parser.parse_args_into_dataclasses(argv)
    if script.setting not in ("A", "B"):
        raise ValueError(f"--setting must be A or B, got {script.setting!r}")
    if script.quiet:
        args = dataclasses.replace(args, disable_tqdm=True)
    _check_report_to(args)
    return script, args


def _check_report_to(args: TrainingArguments) -> None:
    """`--report_to X` with X not installed: one error line instead of the Trainer's traceback."""
    from transformers.integrations import get_available_reporting_integrations

    requested = [r for r in (args.report_to or []) if r not in ("none", "all")]
    available = set(get_available_reporting_integrations())
    missing = [r for r in requested if r not in available]
    if missing:
        raise ValueError(f"--report_to {' '.join(missing)}: not installed here (installed: "
                         f"{', '.join(sorted(available)) or 'none'}); pip install it or pass --report_to none")


def _dataset_folder(path: str) -> str:
    """The build folder (it holds the processor) from the build folder or its `dataset` subfolder."""
    folder = Path(path)
    if not (folder / "dataset" / "dataset_dict.json").is_file() and (folder / "dataset_dict.json").is_file():
        folder = folder.parent
    return str(folder)


def _resume_target(resume: str | bool | None, output_dir: str) -> str | bool | None:
    """`--resume_from_checkpoint`: a checkpoint folder, or true/last for the newest checkpoint in `output_dir` (None
    when there is none yet, e.g. stage 1 was still running when the run stopped)."""
    if resume is None or resume is False or str(resume).lower() in ("", "false", "no", "none"):
        return None
    if resume is True or str(resume).lower() in ("true", "yes", "last"):
        return get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None
    if not os.path.isdir(resume):
        raise FileNotFoundError(f"--resume_from_checkpoint {resume}: no such checkpoint folder")
    return resume


def contrastive_arguments(args: TrainingArguments, epochs: float) -> TrainingArguments:
    """Stage 1's arguments: its own folder, no evaluation set, hence no evaluation, best-model selection or push."""
    save_strategy = "epoch" if str(getattr(args.save_strategy, "value", args.save_strategy)) == "best" else args.save_strategy
    return dataclasses.replace(
        args, output_dir=os.path.join(args.output_dir, CONTRASTIVE_FOLDER), num_train_epochs=epochs,
        resume_from_checkpoint=None, eval_strategy="no", do_eval=False, eval_on_start=False,
        load_best_model_at_end=False, metric_for_best_model=None, greater_is_better=None, save_strategy=save_strategy,
        push_to_hub=False)


def _run_contrastive_stage(script, args, trainable, model, processor, tokenizer, train_dataset, resume) -> None:
    stage1 = contrastive_arguments(args, script.contrastive_epochs)
    trainer = build_trainer(trainable, processor, stage1, train_dataset, stage="contrastive")
    if script.quiet:
        trainer.remove_callback(PrinterCallback)  # --disable_tqdm swaps the bar for printed logs
    finished = os.path.join(stage1.output_dir, "trainer_state.json")  # written by save_state when the stage ends
    if resume is not None and os.path.isfile(finished):
        trainer._load_from_checkpoint(stage1.output_dir)  # the finished stage's weights (full model or LoRA adapter)
        print(f"stage 1 (contrastive) finished earlier in {stage1.output_dir}: skipped")
    else:
        checkpoint = _resume_target(True, stage1.output_dir) if resume is not None else None
        trainer.train(resume_from_checkpoint=checkpoint)
        trainer.save_model()
        trainer.save_state()
    model.initialize_prototypes(tokenizer)  # prototypes from the aligned text tower


def _finite(metrics: dict) -> dict:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def train(script: ScriptArguments, args: TrainingArguments) -> dict:
    """Stage 1 (contrastive), stage 2 (prototypes), merge LoRA, calibrate, test; saves `<output_dir>/final`
    (model + processor: a loadable repository) and the `*_results.json` metrics. Returns the test metrics."""
    dataset = setting_view(load_built_dataset(script.dataset), script.setting)
    dataset = dataset.with_format("numpy", columns=["pixel_values"], output_all_columns=True)
    volume_processor = BiCPLVolumeProcessor.from_pretrained(_dataset_folder(script.dataset))
    model, tokenizer = build_model(script, volume_processor, dataset["train"]["report"],
                                   vocab_dir=os.path.join(args.output_dir, "char_vocab"), args=args)
    processor = BiCPLProcessor(volume_processor, tokenizer)
    requested = args.resume_from_checkpoint
    trainable = model
    if script.lora_r:
        model = lora_base_model(model, os.path.join(args.output_dir, LORA_BASE_FOLDER), args, requested is not None)
        trainable = apply_text_lora(model, r=script.lora_r)
    resume = _resume_target(requested, args.output_dir) if requested is not None else None
    if requested is not None and resume is None:  # true/last but stage 2 has no checkpoint yet
        resume = ""  # resume stage 1 if it has a checkpoint, start stage 2 afresh

    if script.contrastive_epochs > 0:
        _run_contrastive_stage(script, args, trainable, model, processor, tokenizer, dataset["train"],
                               None if requested is None else resume)
    trainer = build_trainer(trainable, processor, args, dataset["train"], dataset["validation"], stage="prototype",
                            balance=script.balance, compute_metrics=make_compute_metrics(model.config.class_codes))
    if script.quiet:
        trainer.remove_callback(PrinterCallback)
    train_result = trainer.train(resume_from_checkpoint=resume or None)
    train_metrics = {**train_result.metrics, "train_samples": len(dataset["train"])}
    trainer.log_metrics("train", train_metrics)
    trainer.save_metrics("train", train_metrics)
    trainer.save_state()
    eval_metrics = None
    if len(dataset["validation"]):
        eval_metrics = {**trainer.evaluate(), "eval_samples": len(dataset["validation"])}
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)

    final = merge_text_lora(trainable) if script.lora_r else model
    final.initialize_prototypes(tokenizer, reset_trainable=False)  # text-only classes follow the final text tower
    unseen = codes_absent_from(dataset["train"], final.config.class_codes)
    if script.unseen_false_positive_rate is not None and unseen:
        try:
            calibrate_unseen_class_offset(final, processor, dataset["validation"], unseen,
                                          false_positive_rate=script.unseen_false_positive_rate)
        except ValueError as error:  # e.g. no validation ears of a trained class
            print(f"classes {unseen} absent from training are NOT calibrated: {error}", file=sys.stderr)
    zero_shot = (4,) if script.setting == "A" else (2, 4)
    metrics = score_predictions(predict_dataset(final, processor, dataset["test"]), final.config.class_names,
                                tail_codes=(4, 6), zero_shot_codes=zero_shot, bootstrap=0)
    test_metrics = {f"test_{k}": v for k, v in _finite(metrics).items()}
    test_metrics["test_samples"] = len(dataset["test"])
    trainer.save_metrics("test", test_metrics)
    if trainer.is_world_process_zero():
        folder = os.path.join(args.output_dir, "final")
        os.makedirs(folder, exist_ok=True)
        for name in ("train_results.json", "eval_results.json", "test_results.json", "all_results.json"):
            if os.path.isfile(os.path.join(args.output_dir, name)):  # the model card reads them
                shutil.copyfile(os.path.join(args.output_dir, name), os.path.join(folder, name))
        final.save_pretrained(folder)
        processor.save_pretrained(folder)
        print({k: round(v, 4) for k, v in metrics.items() if k in ("accuracy", "macro_f1", "auc_macro", "zero_shot_auc")})
        print(f"saved model + processor to {folder} (checkpoints and *_results.json in {args.output_dir})")
    return metrics


def main(argv: list[str] | None = None) -> int:
    """`bicpl train ...`; `examples/train_bicpl.py` runs the same."""
    script, args = parse_args(argv)
    if script.quiet:  # as every command's --quiet: no library logging, progress bars or warnings
        from .devices import quiet_libraries

        quiet_libraries()
    train(script, args)
    return 0


__all__ = ["CONTRASTIVE_FOLDER", "ScriptArguments", "build_model", "contrastive_arguments", "lora_base_model", "main",
           "parse_args", "train"]
