"""Offline pretraining of the text tower: the corpus's sources and counts, bad corpus files, and the folder it writes
loading with AutoModel and `BiCPLModel.from_text_pretrained` (tiny BERT, a few steps)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY_VISION_CONFIG

from bicpl_hf.text.pretraining import (
    PYCMEKG_MISSING,
    knowledge_base_sentences,
    pretrain_text_tower,
    pretraining_corpus,
    pycmekg_sentences,
    read_text_file,
)
from bicpl_hf.text.tokenization import build_char_tokenizer

TINY_BERT = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
REPORTS = {
    "train": ["右侧上鼓室软组织密度影，盾板变钝。", "双侧外耳道通畅，鼓室清晰。", "右侧上鼓室软组织密度影，盾板变钝。"],
    "validation": ["验证集报告不应进入语料。"],
    "test": ["测试集报告不应进入语料。"],
}


def write_built_dataset(folder):
    """A built dataset's layout (`dataset/dataset_dict.json`, three splits) with only what the corpus reads."""
    from datasets import Dataset, DatasetDict

    DatasetDict({name: Dataset.from_dict({"report": texts}) for name, texts in REPORTS.items()}).save_to_disk(
        str(folder / "dataset"))
    return folder


def test_corpus_sources_are_counted_and_only_the_train_split_is_read(tmp_path):
    built = write_built_dataset(tmp_path / "built")
    notes = tmp_path / "notes.txt"
    notes.write_text("本例随访三月复查\n\n双侧外耳道通畅，鼓室清晰。\n岩骨术后改变待查\n", encoding="utf-8")
    records = tmp_path / "more.jsonl"
    records.write_text('{"text": "患儿左耳流脓两年"}\n{"text": "本例随访三月复查", "id": 2}\n', encoding="utf-8")

    corpus = pretraining_corpus(dataset=built, files=[notes, records])

    kb = knowledge_base_sentences()
    assert list(corpus.counts) == ["knowledge_base", "dataset_train_reports", str(notes), str(records)]
    assert corpus.counts["knowledge_base"] == {"read": len(kb), "kept": len(set(kb)), "empty": 0,
                                               "duplicate": len(kb) - len(set(kb))}
    assert corpus.counts["dataset_train_reports"] == {"read": 3, "kept": 2, "empty": 0, "duplicate": 1}
    # the .txt repeats a train report (duplicate across sources) and has one empty line
    assert corpus.counts[str(notes)] == {"read": 4, "kept": 2, "empty": 1, "duplicate": 1}
    assert corpus.counts[str(records)] == {"read": 2, "kept": 1, "empty": 0, "duplicate": 1}
    assert len(corpus.texts) == sum(c["kept"] for c in corpus.counts.values()) == len(set(corpus.texts))
    assert not any("验证集" in t or "测试集" in t for t in corpus.texts)
    assert "中耳胆脂瘤又称胆脂瘤。" in corpus.texts and "盾板变钝" in corpus.texts


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.jsonl", '{"text": "鼓室清晰"}\n{"txt": "乳突"}\n', 'bad.jsonl, line 2: expected a JSON object with a string "text"'),
    ("bad.jsonl", '{"text": "鼓室清晰"}\n\n{"text": 3\n', "bad.jsonl, line 3: not a JSON object"),
    ("bad.txt", b"\xe9\xbc\x93\xe5\xae\xa4\n\xff\xfe\n", "bad.txt, line 2: not UTF-8 text"),
    ("bad.csv", "text\n", "must be .txt"),
])
def test_a_bad_corpus_file_names_the_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        read_text_file(path)


def test_missing_pycmekg_raises_the_one_line_hint(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pyCMeKG", None)
    monkeypatch.setitem(__import__("sys").modules, "pyCMeKG.knowledgeGraph", None)
    with pytest.raises(ImportError) as caught:
        pretraining_corpus(pycmekg=True)
    assert str(caught.value) == PYCMEKG_MISSING == "PyCMeKG corpus needs the optional extra: pip install bicpl-hf[kg]"


def test_pycmekg_sentences_when_installed():
    pytest.importorskip("pyCMeKG", reason="PyCMeKG (the optional extra bicpl-hf[kg]) is not installed")
    sentences = pycmekg_sentences()
    assert any(s.startswith("中耳胆脂瘤的常见发病部位是上鼓室") for s in sentences)
    assert not any(s.startswith("龟鹿益肾胶囊") for s in sentences)  # a drug, outside the ENT departments
    assert len(sentences) == len(set(sentences)) > 100


@pytest.mark.parametrize("objective", ["mlm", "mlm+simcse"])
def test_pretrained_folder_loads_as_the_bicpl_text_tower(tmp_path, objective):
    from transformers import AutoModel

    from bicpl_hf import BiCPLModel

    corpus = pretraining_corpus(files=[], dataset=write_built_dataset(tmp_path / "built"))
    output = tmp_path / "tower"
    tokenizer = build_char_tokenizer(corpus.texts, output)
    record = pretrain_text_tower(corpus, tokenizer, TINY_BERT, output, objective=objective, epochs=1, batch_size=64,
                                 max_length=32, seed=0)

    assert {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "pretraining.json"} <= {
        p.name for p in output.iterdir()}
    saved = json.loads((output / "pretraining.json").read_text(encoding="utf-8"))
    assert saved == json.loads(json.dumps(record))
    assert saved["corpus_counts"] == corpus.counts and saved["objective"] == objective
    assert saved["steps"] == -(-len(corpus) // 64) and saved["final_loss"] > 0
    encoder = AutoModel.from_pretrained(output, add_pooling_layer=False)
    assert encoder.config.hidden_size == 16 and encoder.config.vocab_size == len(tokenizer)
    model = BiCPLModel.from_text_pretrained(output, vision_config=dict(TINY_VISION_CONFIG), projection_dim=16)
    tower = model.text_model.state_dict()
    assert set(tower) == set(encoder.state_dict())
    for name, weight in encoder.state_dict().items():
        torch.testing.assert_close(tower[name], weight, rtol=0, atol=0, msg=name)
    # pretraining moved the weights away from a fresh model of the same seed
    from transformers import BertConfig, BertForMaskedLM, set_seed

    set_seed(0)
    fresh = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                       max_position_embeddings=512, **TINY_BERT)).bert
    assert not torch.equal(fresh.embeddings.word_embeddings.weight, tower["embeddings.word_embeddings.weight"])
