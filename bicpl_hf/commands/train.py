# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""`bicpl train`: train Bi-CPL on a dataset built by `bicpl build`, with the stock `transformers.Trainer`.

Every `TrainingArguments` flag works on the command line. Single process, several GPUs or several machines:

    bicpl train --dataset built/ --text_model /models/chinese-medical-bert \
        --output_dir runs/bicpl --num_train_epochs 10 --per_device_train_batch_size 8 --lora_r 8 --setting A
    torchrun --nproc_per_node 4 examples/train_bicpl.py ...        # the same as a script; or: accelerate launch ...

Stage 1 aligns ear ROIs with their side texts (`--contrastive_epochs`), stage 2 trains the prototypes
(`--num_train_epochs`); `--resume_from_checkpoint` resumes stage 2. Without `--text_model` a small BERT is trained
from scratch with a character vocabulary built from the training reports (offline demo use).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from dataclasses import dataclass, field

from transformers import AutoTokenizer, HfArgumentParser, TrainingArguments

from ..data.splits import load_built_dataset, setting_view
from ..metrics import make_compute_metrics
from ..modeling import BiCPLConfig, BiCPLModel
from ..modeling.configuration_bicpl import DEFAULT_CLASS_PROMPTS
from ..processing import BiCPLProcessor, BiCPLVolumeProcessor
from ..text.lora import apply_text_lora, merge_text_lora
from ..text.tokenization import build_char_tokenizer
from ..training import build_trainer, codes_absent_from
from ..training.calibration import calibrate_unseen_class_offset
from ..training.evaluation import predict_dataset, score_predictions


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
    quiet: bool = field(default=False, metadata={"help": "no progress bars (sets --disable_tqdm)"})


def build_model(script: ScriptArguments, volume_processor, train_reports):
    vision = {"image_size": list(volume_processor.roi_shape), "in_channels": len(volume_processor.windows)}
    if script.text_model:
        tokenizer = AutoTokenizer.from_pretrained(script.text_model)
        model = BiCPLModel.from_text_pretrained(script.text_model, tokenizer=tokenizer, vision_config=vision,
                                                projection_dim=script.projection_dim)
        return model, tokenizer
    corpus = list(train_reports) + [p for prompts in DEFAULT_CLASS_PROMPTS.values() for p in prompts]
    tokenizer = build_char_tokenizer(corpus, os.path.join(os.environ.get("TMPDIR", "/tmp"), "bicpl_char_vocab"))
    text = {"vocab_size": tokenizer.vocab_size, "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 256, "max_position_embeddings": 512}
    model = BiCPLModel(BiCPLConfig(text_config=text, vision_config=vision, projection_dim=script.projection_dim,
                                   text_pooling="mean"))
    model.initialize_prototypes(tokenizer)
    return model, tokenizer


def parse_args(argv: list[str] | None = None) -> tuple[ScriptArguments, TrainingArguments]:
    """`ScriptArguments` and every `TrainingArguments` flag, from the command line."""
    parser = HfArgumentParser((ScriptArguments, TrainingArguments), prog="bicpl train", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    script, args = parser.parse_args_into_dataclasses(argv)
    if script.setting not in ("A", "B"):
        raise ValueError(f"--setting must be A or B, got {script.setting!r}")
    if script.quiet:
        args = dataclasses.replace(args, disable_tqdm=True)
    return script, args


def train(script: ScriptArguments, args: TrainingArguments) -> dict:
    """Stage 1 (contrastive), stage 2 (prototypes), merge LoRA, calibrate, test; saves `<output_dir>/final`
    (model + processor: a loadable repository). Returns the test metrics."""
    dataset = setting_view(load_built_dataset(script.dataset), script.setting)
    dataset = dataset.with_format("numpy", columns=["pixel_values"], output_all_columns=True)
    volume_processor = BiCPLVolumeProcessor.from_pretrained(script.dataset)
    model, tokenizer = build_model(script, volume_processor, dataset["train"]["report"])
    processor = BiCPLProcessor(volume_processor, tokenizer)
    trainable = apply_text_lora(model, r=script.lora_r) if script.lora_r else model

    if script.contrastive_epochs > 0:
        stage1 = dataclasses.replace(args, output_dir=os.path.join(args.output_dir, "contrastive"),
                                     num_train_epochs=script.contrastive_epochs, resume_from_checkpoint=None)
        build_trainer(trainable, processor, stage1, dataset["train"], stage="contrastive").train()
        model.initialize_prototypes(tokenizer)  # prototypes from the aligned text tower
    trainer = build_trainer(trainable, processor, args, dataset["train"], dataset["validation"], stage="prototype",
                            balance=script.balance, compute_metrics=make_compute_metrics(model.config.class_codes))
    trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)

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
    if trainer.is_world_process_zero():
        final.save_pretrained(os.path.join(args.output_dir, "final"))
        processor.save_pretrained(os.path.join(args.output_dir, "final"))
        print({k: round(v, 4) for k, v in metrics.items() if k in ("accuracy", "macro_f1", "auc_macro", "zero_shot_auc")})
    return metrics


def main(argv: list[str] | None = None) -> int:
    """`bicpl train ...`; `examples/train_bicpl.py` runs the same."""
    train(*parse_args(argv))
    return 0


__all__ = ["ScriptArguments", "build_model", "main", "parse_args", "train"]
