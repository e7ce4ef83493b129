# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Offline pretraining of the BERT-family text tower on a local Chinese medical corpus.

With no Hub, the text tower starts from random weights and sees only the training reports, so the words of an
unseen class's prompts (胆脂瘤, 盾板) never get trained. This module assembles what IS local into a corpus and
pretrains a `BertForMaskedLM` on it with the stock `transformers.Trainer`:

- `pretraining_corpus`: the otology knowledge base written as sentences, the TRAIN split's reports of a built
  dataset, the PyCMeKG knowledge graph (optional extra `bicpl-hf[kg]`) and the user's own `.txt` / `.jsonl` files;
  every source's texts are counted (read, kept, empty, duplicate), nothing is dropped silently.
- `pretrain_text_tower`: masked-language-model pretraining (optionally plus unsupervised SimCSE) that writes a
  standard folder (`config.json`, `model.safetensors`, tokenizer files, `pretraining.json`) which
  `AutoModel.from_pretrained(folder, add_pooling_layer=False)` and `BiCPLModel.from_text_pretrained(folder)` load.

Example:
    >>> from bicpl_hf.text import build_char_tokenizer, pretraining_corpus, pretrain_text_tower
    >>> corpus = pretraining_corpus(dataset="built/")  # doctest: +SKIP
    >>> tokenizer = build_char_tokenizer(corpus.texts, "text-tower")  # doctest: +SKIP
    >>> pretrain_text_tower(corpus, tokenizer, {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    ...                     "intermediate_size": 128}, "text-tower", epochs=3)  # doctest: +SKIP
    >>> BiCPLModel.from_text_pretrained("text-tower")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

OBJECTIVES = ("mlm", "mlm+simcse")
SOURCE_KNOWLEDGE_BASE = "knowledge_base"
SOURCE_DATASET = "dataset_train_reports"
SOURCE_PYCMEKG = "pycmekg"
PYCMEKG_MISSING = "PyCMeKG corpus needs the optional extra: pip install bicpl-hf[kg]"
# The disease relations of PyCMeKG worth reading for ear CT (its drug relations, 成份 / 用法用量 …, are left out).
PYCMEKG_PREDICATES = ("别称", "上位关系", "常见发病部位", "常见症状", "临床症状及体征", "相关症状", "检查", "常见病因",
                      "病因", "并发症", "相关疾病", "多发群体", "就诊科室", "治疗")
# Subjects kept by default: those whose name or 就诊科室 contains one of these (the ENT departments: ~250 diseases).
PYCMEKG_KEYWORDS = ("耳",)
PRETRAINING_RECORD = "pretraining.json"
MLM_PROBABILITY = 0.15
SIMCSE_TEMPERATURE = 0.05  # the SimCSE paper's


@dataclass
class PretrainingCorpus:
    """Texts for pretraining and, per source, how many were read, kept, empty and duplicate.

    `counts[source] = {"read": n, "kept": k, "empty": e, "duplicate": d}` with `read == kept + empty + duplicate`;
    a duplicate is a text seen before in this source or an earlier one, and is counted where it appears again.
    """

    texts: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set, repr=False)

    def add(self, source: str, texts: Iterable[str]) -> None:
        """Add `texts` under `source` (whitespace-stripped; empty and repeated texts are counted, not kept)."""
        if source in self.counts:
            raise ValueError(f"corpus source {source!r} was added twice")
        count = {"read": 0, "kept": 0, "empty": 0, "duplicate": 0}
        for text in texts:
            count["read"] += 1
            text = text.strip()
            if not text:
                count["empty"] += 1
            elif text in self._seen:
                count["duplicate"] += 1
            else:
                self._seen.add(text)
                self.texts.append(text)
                count["kept"] += 1
        self.counts[source] = count

    def __len__(self) -> int:
        return len(self.texts)


def knowledge_base_sentences(kb=None) -> list[str]:
    """The otology knowledge base as Chinese sentences: names, synonyms, key findings, every disease's prompts and
    the taxonomy's attribute phrases (`attribute_texts`)."""
    from ..knowledge import attribute_texts, class_prompts, load_knowledge_base, prompts_for

    kb = load_knowledge_base() if kb is None else kb
    sentences = []
    coded = class_prompts(kb, kb.codes)
    for disease in kb:
        sentences.append(f"{disease.name_zh}的英文名是{disease.name_en}。")
        sentences += [f"{disease.name_zh}又称{synonym}。" for synonym in disease.synonyms]
        sentences += [f"{disease.name_zh}的影像特征：{finding}。" for finding in disease.key_findings]
        sentences += coded[str(disease.code)] if disease.code is not None else prompts_for(disease)
    return sentences + attribute_texts(kb, include_key_findings=True)


def dataset_train_reports(path: str | os.PathLike) -> list[str]:
    """The reports of the TRAIN split of a built dataset (`bicpl build`'s output folder). Never the validation or
    test split: their reports are what the tower is evaluated on."""
    from ..data.splits import load_built_dataset

    train = load_built_dataset(path)["train"]
    if "report" not in train.column_names:
        raise ValueError(f"{path}: the train split has no 'report' column (columns: {train.column_names})")
    return list(train["report"])


def pycmekg_sentences(keywords: Sequence[str] | None = PYCMEKG_KEYWORDS,
                      predicates: Sequence[str] = PYCMEKG_PREDICATES) -> list[str]:
    """PyCMeKG's (subject, predicate, objects) triples as sentences, e.g. "中耳胆脂瘤的常见发病部位是上鼓室、中鼓室、…".

    Args:
        keywords: keep the subjects whose name or 就诊科室 contains one of these (`None`: every subject).
        predicates: the relations to write.

    Raises:
        ImportError: PyCMeKG (the optional extra `bicpl-hf[kg]`) is not installed.
    """
    try:
        from pyCMeKG.knowledgeGraph import KnowledgeGraph
    except ImportError as error:
        raise ImportError(PYCMEKG_MISSING) from error

    graph = KnowledgeGraph().db_dic  # {subject: {predicate: [object, ...]}}
    sentences = []
    for subject, relations in graph.items():
        departments = relations.get("就诊科室", [])
        if keywords is not None and not any(k in subject or any(k in d for d in departments) for k in keywords):
            continue
        for predicate in predicates:
            objects = [str(o).strip() for o in relations.get(predicate, []) if str(o).strip()]
            if objects:
                sentences.append(f"{subject}的{predicate}是{'、'.join(objects)}。")
    return sentences


def read_text_file(path: str | os.PathLike) -> list[str]:
    """Texts of a `.txt` (one text per line) or `.jsonl` (one object with a string "text" per line) file; a line
    that is not UTF-8, not JSON or has no string "text" is an error naming the file and the line."""
    path = Path(path)
    if path.suffix not in (".txt", ".jsonl"):
        raise ValueError(f"{path}: a corpus file must be .txt (one text per line) or .jsonl (a \"text\" field per "
                         f"line), not {path.suffix or 'without suffix'}")
    texts = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}, line {number}: not UTF-8 text ({error.reason})") from error
            if path.suffix == ".txt":
                texts.append(line)
                continue
            if not line.strip():
                texts.append("")  # counted as empty
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: not a JSON object ({error.msg})") from error
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise ValueError(f"{path}, line {number}: expected a JSON object with a string \"text\" field")
            texts.append(record["text"])
    return texts


def pretraining_corpus(*, knowledge_base=True, dataset: str | os.PathLike | None = None, pycmekg: bool = False,
                       files: Sequence[str | os.PathLike] = ()) -> PretrainingCorpus:
    """Assemble the pretraining corpus from the local sources, in this order, each counted in `counts`.

    Args:
        knowledge_base (`bool` or `KnowledgeBase`): the package's otology knowledge base as sentences (`True`: the
            default one; a `KnowledgeBase`: that one; `False`: left out).
        dataset: a built dataset's folder; its TRAIN split's reports are added (never validation / test).
        pycmekg: add PyCMeKG's ENT diseases as sentences (needs `pip install bicpl-hf[kg]`).
        files: `.txt` / `.jsonl` files of further texts, each its own source (named by its path).
    """
    corpus = PretrainingCorpus()
    if knowledge_base is not False:
        corpus.add(SOURCE_KNOWLEDGE_BASE, knowledge_base_sentences(None if knowledge_base is True else knowledge_base))
    if dataset is not None:
        corpus.add(SOURCE_DATASET, dataset_train_reports(dataset))
    if pycmekg:
        corpus.add(SOURCE_PYCMEKG, pycmekg_sentences())
    for path in files:
        corpus.add(str(path), read_text_file(path))
    if not corpus.texts:
        raise ValueError(f"the pretraining corpus is empty (sources: {corpus.counts or 'none'})")
    return corpus


def _mean_pool(hidden, attention_mask):
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def _simcse_classes():
    """The collator and Trainer of "mlm+simcse" (defined on first use: transformers imports are heavy)."""
    import torch
    import torch.nn.functional as F
    from transformers import DataCollatorForLanguageModeling, Trainer

    class MlmSimcseCollator(DataCollatorForLanguageModeling):
        """MLM batch plus the unmasked `sentence_input_ids` that SimCSE encodes twice."""

        def __call__(self, features, return_tensors=None):
            clean = self.tokenizer.pad([{"input_ids": f["input_ids"]} for f in features], return_tensors="pt")
            batch = super().__call__(features, return_tensors)
            batch["sentence_input_ids"] = clean["input_ids"]
            batch["sentence_attention_mask"] = clean["attention_mask"]
            return batch

    class MlmSimcseTrainer(Trainer):
        """MLM loss + unsupervised SimCSE: each unmasked sentence encoded twice (dropout noise) is its own positive,
        the batch's other sentences are negatives; mean-pooled last hidden states, cosine / temperature."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            ids, mask = inputs.pop("sentence_input_ids"), inputs.pop("sentence_attention_mask")
            outputs = model(**inputs)
            encoder = model.bert
            first = _mean_pool(encoder(input_ids=ids, attention_mask=mask).last_hidden_state, mask)
            second = _mean_pool(encoder(input_ids=ids, attention_mask=mask).last_hidden_state, mask)
            logits = F.normalize(first, dim=-1) @ F.normalize(second, dim=-1).T / SIMCSE_TEMPERATURE
            simcse = F.cross_entropy(logits, torch.arange(len(ids), device=logits.device))
            loss = outputs.loss + simcse
            return (loss, outputs) if return_outputs else loss

    return MlmSimcseCollator, MlmSimcseTrainer


def pretrain_text_tower(
    corpus: PretrainingCorpus | Sequence[str],
    tokenizer,
    text_config: dict,
    output_dir: str | os.PathLike,
    *,
    objective: str = "mlm",
    epochs: float = 3.0,
    batch_size: int = 32,
    learning_rate: float = 5e-4,
    max_length: int = 128,
    seed: int = 0,
    device: str = "cpu",
    quiet: bool = True,
) -> dict:
    r"""
    Pretrain a `BertForMaskedLM` on `corpus` and save it as a standard text-model folder.

    Args:
        corpus ([`PretrainingCorpus`] or `list[str]`): the texts (a corpus's `counts` go into `pretraining.json`).
        tokenizer (`PreTrainedTokenizerBase`): a BERT tokenizer; its vocabulary sets `vocab_size`.
        text_config (`dict`): `BertConfig` fields (`hidden_size`, `num_hidden_layers`, ...); `vocab_size` and
            `pad_token_id` come from the tokenizer, `max_position_embeddings` (default 512) is at least
            `max_length`.
        output_dir (`str` or `os.PathLike`): where `config.json`, `model.safetensors`, the tokenizer files and
            `pretraining.json` are written.
        objective (`str`): "mlm" or "mlm+simcse" (MLM plus unsupervised SimCSE on the unmasked sentences).
        epochs, batch_size, learning_rate, seed: the `TrainingArguments` of the run.
        max_length (`int`): texts are truncated to this many tokens.
        device (`str`): "cpu", or "auto" for the accelerator the Trainer finds.

    Returns:
        `dict`: what `pretraining.json` holds (corpus counts per source, steps, first / final logged training loss
        (MLM, plus SimCSE's for "mlm+simcse"), seconds, the BERT sizes).
    """
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        DataCollatorForLanguageModeling,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if device not in ("cpu", "auto"):
        raise ValueError(f"device must be 'cpu' or 'auto' (the Trainer's accelerator), got {device!r}")
    if epochs <= 0 or batch_size < 1 or learning_rate <= 0 or max_length < 8:
        raise ValueError(f"need epochs > 0, batch_size >= 1, learning_rate > 0, max_length >= 8; got {epochs}, "
                         f"{batch_size}, {learning_rate}, {max_length}")
    texts = list(corpus.texts if isinstance(corpus, PretrainingCorpus) else corpus)
    if not texts:
        raise ValueError("the pretraining corpus is empty")
    fields = {k: v for k, v in text_config.items() if k not in ("model_type", "vocab_size", "pad_token_id")}
    # BERT's default 512 unless given: Bi-CPL encodes whole reports and prompt ensembles, longer than `max_length`.
    fields["max_position_embeddings"] = max(fields.get("max_position_embeddings", 512), max_length)
    config = BertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **fields)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    set_seed(seed)
    model = BertForMaskedLM(config)
    encoded = tokenizer(texts, truncation=True, max_length=max_length, return_special_tokens_mask=True)
    rows = [{key: encoded[key][i] for key in encoded} for i in range(len(texts))]
    simcse = objective == "mlm+simcse"
    collator_class, trainer_class = _simcse_classes() if simcse else (DataCollatorForLanguageModeling, Trainer)
    collator = collator_class(tokenizer=tokenizer, mlm_probability=MLM_PROBABILITY, seed=seed)
    steps_per_epoch = -(-len(rows) // batch_size)
    args = TrainingArguments(
        output_dir=str(output_dir), num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=learning_rate, warmup_steps=max(1, int(0.06 * steps_per_epoch * epochs)), weight_decay=0.01,
        seed=seed, data_seed=seed, save_strategy="no", report_to="none", use_cpu=device == "cpu",
        logging_steps=max(1, steps_per_epoch), disable_tqdm=quiet, remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    if quiet:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    try:
        trainer = trainer_class(model=model, args=args, train_dataset=rows, data_collator=collator)
        if quiet:
            trainer.remove_callback(PrinterCallback)  # disable_tqdm swaps the bar for printed logs
        started = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - started
        model.save_pretrained(output_dir)
        tokenizer.save_pretrained(output_dir)
    finally:
        hf_logging.set_verbosity(verbosity)
        if quiet and bars:
            hf_logging.enable_progress_bar()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    record = {
        "objective": objective,
        "texts": len(texts),
        "corpus_counts": corpus.counts if isinstance(corpus, PretrainingCorpus) else {"texts": {"read": len(texts)}},
        "steps": trainer.state.global_step,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "max_length": max_length,
        "seed": seed,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else result.training_loss,
        "mean_loss": result.training_loss,
        "seconds": round(seconds, 2),
        "text_config": {k: v for k, v in config.to_dict().items()
                        if k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                 "intermediate_size", "max_position_embeddings")},
    }
    (output_dir / PRETRAINING_RECORD).write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n",
                                                 encoding="utf-8")
    return record


__all__ = [
    "OBJECTIVES",
    "PRETRAINING_RECORD",
    "PYCMEKG_MISSING",
    "PretrainingCorpus",
    "dataset_train_reports",
    "knowledge_base_sentences",
    "pretrain_text_tower",
    "pretraining_corpus",
    "pycmekg_sentences",
    "read_text_file",
]
