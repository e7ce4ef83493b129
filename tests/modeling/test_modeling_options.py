"""Model-side options from the related papers: knowledge bank (BrgSA), hard negatives (CT-GLIP), soft labels."""

from __future__ import annotations

import pytest
import torch
from conftest import random_batch, tiny_config_kwargs
from transformers import AutoModel

from bicpl_hf import BiCPLConfig, BiCPLModel
from bicpl_hf.modeling.losses_bicpl import attribute_soft_targets, hard_negative_loss

BANK_TEXTS = ["上鼓室软组织密度影", "骨质破坏", "骨壁变薄", "气液平面"]


def test_knowledge_bank_is_initialised_from_text_trained_and_round_trips(tokenizer, tmp_path):
    torch.manual_seed(0)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs(knowledge_bank_size=4, knowledge_bank_heads=2)))
    rows = model.initialize_knowledge_bank(tokenizer, BANK_TEXTS)
    assert torch.allclose(model.knowledge_bank.bank, rows)
    batch = random_batch(batch_size=2)
    out = model(**batch, labels=torch.tensor([[1, 5], [2, 5]]))
    out.loss.backward()
    assert model.knowledge_bank.bank.grad is not None and model.knowledge_bank.bank.grad.abs().sum() > 0
    model.eval()
    expected = model(**batch)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert torch.equal(loaded.knowledge_bank.bank, model.knowledge_bank.bank)
    got = loaded(**batch)
    for key in ("logits", "image_embeds", "side_text_embeds"):
        assert torch.allclose(expected[key], got[key], atol=1e-6), key
    # The bank changes the embeddings: without it the same weights give other outputs.
    with pytest.raises(ValueError, match="got 3 texts for a knowledge bank of 4 rows"):
        model.initialize_knowledge_bank(tokenizer, BANK_TEXTS[:3])
    with pytest.raises(ValueError, match="has no knowledge bank"):
        BiCPLModel(BiCPLConfig(**tiny_config_kwargs())).initialize_knowledge_bank(tokenizer, BANK_TEXTS)


def test_hard_negatives_add_a_loss_term_that_ignores_padding_rows(tiny_model, tokenizer):
    batch = random_batch(batch_size=2)
    negatives = tokenizer(["右侧鼓室骨质破坏", "左侧听骨链完整", "左侧鼓室未见积液", "左侧乳突气化良好"] * 2,
                          padding="max_length", max_length=12, return_tensors="pt")
    ids = negatives["input_ids"].view(2, 2, 2, 12)
    mask = negatives["attention_mask"].view(2, 2, 2, 12).clone()
    mask[1, 1, 1] = 0  # an absent negative
    ids[1, 1, 1] = 0
    out = tiny_model(**batch, hard_negative_input_ids=ids, hard_negative_attention_mask=mask,
                     labels=torch.tensor([[2, 5], [5, 5]]))
    assert "itc_hard" in out.loss_components and torch.isfinite(out.loss_components["itc_hard"])
    without = tiny_model(**batch, labels=torch.tensor([[2, 5], [5, 5]]))
    assert "itc_hard" not in without.loss_components
    with pytest.raises(ValueError, match="hard_negative_input_ids must be"):
        tiny_model(**batch, hard_negative_input_ids=ids[:, 0], labels=torch.tensor([[2, 5], [5, 5]]))


def test_hard_negative_loss_rewards_the_positive_and_masks_missing_negatives():
    positive = torch.tensor([5.0, 5.0])
    easy = hard_negative_loss(positive, torch.tensor([[0.0, 0.0], [0.0, 0.0]]), torch.ones(2, 2))
    hard = hard_negative_loss(positive, torch.tensor([[5.0, 5.0], [5.0, 5.0]]), torch.ones(2, 2))
    assert easy < hard
    # A masked-out negative counts for nothing, however high it scores.
    masked = hard_negative_loss(positive, torch.tensor([[0.0, 99.0], [0.0, 99.0]]), torch.tensor([[1, 0], [1, 0]]))
    only_first = hard_negative_loss(positive, torch.zeros(2, 1), torch.ones(2, 1))
    assert float(masked) == pytest.approx(float(only_first), rel=1e-5)
    assert float(hard_negative_loss(positive, torch.zeros(2, 2), torch.zeros(2, 2))) == 0.0


def test_soft_label_targets_sum_to_one_and_follow_attribute_overlap():
    targets = torch.eye(4)
    attributes = torch.tensor([[1, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]], dtype=torch.float)
    soft = attribute_soft_targets(targets, attributes, alpha=0.5)
    assert torch.allclose(soft.sum(-1), torch.ones(4))
    assert soft[0, 1] > 0 and soft[0, 2] == 0  # same lesion attributes share mass; lesion vs normal does not
    assert soft[2, 3] > 0  # two normal ears are not pure negatives either
    assert torch.equal(attribute_soft_targets(targets, attributes, alpha=0.0), targets)


def test_soft_labels_change_the_ear_contrastive_loss(tokenizer):
    torch.manual_seed(0)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs(soft_label_alpha=0.5))).eval()
    batch = random_batch(batch_size=2)
    vectors = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]])
    plain = model(**batch, return_loss=True).loss_components["itc_ear"]
    soft = model(**batch, side_attribute_vectors=vectors, return_loss=True).loss_components["itc_ear"]
    assert not torch.allclose(plain, soft)
