"""What every experiment command sets up the same way: torch threads, the char tokenizer, processor and small model
config of a built dataset, the Setting B text tower, and variant names (`bicpl benchmark`, `bicpl experiments` and
`bicpl demo` share these; commands never import each other)."""

from __future__ import annotations

from pathlib import Path

from ..data.splits import HELD_OUT_CODE
from ..processing.ear_classes import CLASS_CODES

# The default table of `bicpl benchmark`: the supervised CNN (no zero-shot score), the fair baselines of the zero-shot
# protocol and Bi-CPL v2.
BENCHMARK_VARIANTS = ("vision_cnn", "single_ear_clip", "attribute_composition", "bicpl_v2-bilateral", "bicpl_v2",
                      "bicpl_v3")


def base_model_config(tokenizer, roi: int, widths: list[int]) -> dict:
    """Shared `BiCPLConfig` kwargs: a small BERT (no pretrained Chinese BERT offline) and a small 3D ResNet."""
    return {
        "text_config": {"model_type": "bert", "vocab_size": tokenizer.vocab_size, "hidden_size": 64,
                        "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
                        "max_position_embeddings": 256},
        "vision_config": {"image_size": [roi] * 3, "stem_channels": 8, "hidden_sizes": widths,
                          "depths": [1] * len(widths), "stage_strides": [1] + [2] * (len(widths) - 1)},
        "projection_dim": 64,
        "text_pooling": "mean",
    }


def set_torch_threads(num_threads: int | None, say=print) -> None:
    """torch intra-op threads: `num_threads`, or (None) one thread when the CPUs are already busy.

    On a shared 2-core machine, torch's default (one thread per core) made a training step 5x slower than one
    thread (benchmarks/README.md): the threads wait on cores other processes hold."""
    import os

    import torch

    if num_threads is None:
        cpus = os.cpu_count() or 1
        busy = hasattr(os, "getloadavg") and os.getloadavg()[0] >= cpus - 0.5
        num_threads = 1 if busy else None
        if num_threads:
            say(f"the {cpus} CPUs are busy (load {os.getloadavg()[0]:.1f}): training with 1 torch thread")
    if num_threads:
        torch.set_num_threads(int(num_threads))


def processor_and_config(dataset, volume_processor, tokenizer_dir: Path, widths=(16, 32, 64),
                         held_out: int | None = HELD_OUT_CODE):
    """The char tokenizer, the processor and the shared model config of a built dataset, as `bicpl experiments` makes
    them.

    The tokenizer's characters come from the reports of the Setting B TRAINING exams for `held_out` (no report of a
    held-out-class exam, nor of validation or test; `held_out=None`: every training report), the class prompts, the
    knowledge base's texts and the prompt paraphrases the benchmark scores (they stand in for the full vocabulary a real
    Chinese BERT has; they say nothing about any exam)."""
    from ..data.splits import setting_view
    from ..knowledge import attribute_texts, class_prompts, load_knowledge_base
    from ..knowledge.paraphrases import load_prompt_paraphrases
    from ..modeling.configuration_bicpl import DEFAULT_CLASS_PROMPTS
    from ..processing import BiCPLProcessor
    from ..text.tokenization import build_char_tokenizer

    train = dataset["train"] if held_out is None else setting_view(dataset, "B", held_out=held_out)["train"]
    corpus = list(train["report"]) + [p for ps in DEFAULT_CLASS_PROMPTS.values() for p in ps]
    corpus += attribute_texts() + [p for ps in class_prompts(load_knowledge_base(), list(CLASS_CODES)).values()
                                   for p in ps]
    corpus += [entry["text"] for entries in load_prompt_paraphrases().values() for entry in entries]
    tokenizer = build_char_tokenizer(corpus, tokenizer_dir)
    processor = BiCPLProcessor(volume_processor, tokenizer)
    config = base_model_config(tokenizer, volume_processor.roi_shape[0], list(widths))
    config["vision_config"]["image_size"] = list(volume_processor.roi_shape)
    return processor, config


def pretrain_setting_text_tower(dataset, processor, config: dict, held_out: int, output_dir: Path, *, objective: str,
                                epochs: float, seed: int, progress=print) -> str:
    """Pretrain the text tower for Setting B on the knowledge base and the reports of the Setting B TRAINING exams only
    (`bicpl_hf.text.pretraining`; no report of a held-out-class exam, nor of validation or test, is read), with the
    processor's tokenizer and the benchmark's text config; returns the folder (reused when it already holds one)."""
    from ..data.splits import setting_view
    from ..text.pretraining import SOURCE_DATASET, pretrain_text_tower, pretraining_corpus

    folder = output_dir / f"text-tower-heldout{held_out}-{objective}-{epochs:g}ep-seed{seed}"
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        progress(f"reusing the pretrained text tower in {folder}")
        return str(folder)
    corpus = pretraining_corpus(knowledge_base=True)
    corpus.add(SOURCE_DATASET, setting_view(dataset, "B", held_out=held_out)["train"]["report"])
    progress(f"pretraining the text tower ({objective}, {epochs:g} epochs) on {len(corpus)} texts: {corpus.counts}")
    record = pretrain_text_tower(corpus, processor.tokenizer, dict(config["text_config"]), folder, objective=objective,
                                 epochs=epochs, seed=seed)
    progress(f"text tower pretrained in {record.get('seconds', 0):.0f} s into {folder}")
    return str(folder)


def needs_pretrained_text(args, variants) -> bool:
    """Whether to pretrain a text tower: some variant starts from one and `--no-pretrain-text` was not given."""
    from .experiments import VARIANTS

    return bool(args.pretrain_text) and any(VARIANTS[name].pretrained_text for name in variants if name in VARIANTS)


def resolve_variants(names) -> list[str]:
    """Variant names from names and group names (`baselines`, `knowledge`, `v2`, `all`, `benchmark`), in order, once
    each."""
    from .experiments import BASELINE_VARIANTS, KNOWLEDGE_VARIANTS, V2_ABLATION_VARIANTS, VARIANTS

    groups = {"baselines": BASELINE_VARIANTS, "knowledge": KNOWLEDGE_VARIANTS, "all": tuple(VARIANTS),
              "v2": V2_ABLATION_VARIANTS,
              "benchmark": BENCHMARK_VARIANTS}
    return list(dict.fromkeys(n for v in names for n in groups.get(v, (v,))))


__all__ = ["BENCHMARK_VARIANTS", "base_model_config", "needs_pretrained_text", "pretrain_setting_text_tower",
           "processor_and_config", "resolve_variants", "set_torch_threads"]
