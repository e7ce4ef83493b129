"""Shared fixtures: tiny Bi-CPL configs and a local Chinese character tokenizer (no network)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

from bicpl_hf.modeling.configuration_bicpl import DEFAULT_CLASS_PROMPTS

TINY_TEXT_CONFIG = {
    "model_type": "bert",
    "vocab_size": 600,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 256,
}
TINY_VISION_CONFIG = {
    "image_size": [16, 16, 16],
    "stem_channels": 8,
    "hidden_sizes": [8, 16],
    "depths": [1, 1],
    "stage_strides": [1, 2],
}

EXTRA_TEXT = "左右侧双两耳外道鼓膜室乳突气化良好清晰听骨链完整未见异常密度影软组织骨质破坏吸收硬化积液平泡内结构检查结论所见影像"


def tiny_config_kwargs(**overrides) -> dict:
    kwargs = {"text_config": dict(TINY_TEXT_CONFIG), "vision_config": dict(TINY_VISION_CONFIG), "projection_dim": 16}
    kwargs.update(overrides)
    return kwargs


def write_char_vocab(directory) -> str:
    """A character-level BERT vocab holding every character of the default prompts (Chinese BERTs tokenise by char)."""
    chars = sorted({ch for prompts in DEFAULT_CLASS_PROMPTS.values() for p in prompts for ch in p} | set(EXTRA_TEXT))
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [c for c in chars if not c.isspace()]
    assert len(tokens) <= TINY_TEXT_CONFIG["vocab_size"]
    path = os.path.join(directory, "vocab.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(tokens) + "\n")
    return path


def save_tiny_model(folder) -> os.PathLike:
    """A tiny saved model + processor (16^3 ROI, character tokenizer) in `folder / "model"`; returns that folder."""
    from pathlib import Path

    from transformers import BertTokenizerFast

    from bicpl_hf import BiCPLConfig, BiCPLModel, BiCPLProcessor, BiCPLVolumeProcessor

    folder = Path(folder)
    tokenizer = BertTokenizerFast(vocab=write_char_vocab(folder))
    torch.manual_seed(0)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs()))
    model.initialize_prototypes(tokenizer)
    model.save_pretrained(folder / "model")
    BiCPLProcessor(BiCPLVolumeProcessor(roi_shape=(16, 16, 16), roi_size_mm=(40.0, 40.0, 40.0)),
                   tokenizer).save_pretrained(folder / "model")
    return folder / "model"


@pytest.fixture
def tiny_config():
    from bicpl_hf import BiCPLConfig

    return BiCPLConfig(**tiny_config_kwargs())


@pytest.fixture
def tokenizer(tmp_path_factory):
    from transformers import BertTokenizerFast

    directory = tmp_path_factory.mktemp("tokenizer")
    return BertTokenizerFast(vocab=write_char_vocab(directory))


@pytest.fixture
def tiny_model(tiny_config):
    from bicpl_hf import BiCPLModel

    torch.manual_seed(0)
    return BiCPLModel(tiny_config)


def random_batch(batch_size: int = 2, seq_len: int = 12, generator_seed: int = 0, image_size=(16, 16, 16)):
    g = torch.Generator().manual_seed(generator_seed)
    ids = torch.randint(5, TINY_TEXT_CONFIG["vocab_size"], (batch_size, seq_len), generator=g)
    side = torch.randint(5, TINY_TEXT_CONFIG["vocab_size"], (batch_size, 2, seq_len), generator=g)
    return {
        "pixel_values": torch.rand(batch_size, 2, 2, *image_size, generator=g),
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "side_input_ids": side,
        "side_attention_mask": torch.ones_like(side),
    }


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory):
    """`bicpl build` output of 12 tiny synthetic exams (16^3 ROIs), made once for the tests that train on it (they
    only read it): what `bicpl build --demo-salt --roi-shape 16 16 16 --roi-size-mm 40 40 40` writes."""
    from bicpl_hf.data.builder import build_dataset
    from bicpl_hf.data.deidentify import DEMO_SALT
    from bicpl_hf.processing import BiCPLVolumeProcessor
    from bicpl_hf.synthetic.export import make_synthetic_export

    root = tmp_path_factory.mktemp("tiny_build")
    export = make_synthetic_export(root / "export", n_exams=12, size="tiny", seed=0, progress=False)
    processor = BiCPLVolumeProcessor(roi_shape=[16, 16, 16], roi_size_mm=[40, 40, 40])
    build_dataset(export.xlsx_path, export.dicom_root, root / "built", processor=processor, salt=DEMO_SALT,
                  progress=False, max_slice_thickness_mm=2.0)
    return root / "built"
