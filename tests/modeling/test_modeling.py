"""The Bi-CPL model: config round trips, save/load, Auto classes, losses, left/right, LoRA, Trainer."""

from __future__ import annotations

import json
import os

import pytest
import torch
from conftest import TINY_VISION_CONFIG, random_batch, tiny_config_kwargs
from transformers import AutoConfig, AutoModel, Trainer, TrainingArguments

import bicpl_hf
from bicpl_hf import BiCPLConfig, BiCPLModel, BiCPLVisionConfig
from bicpl_hf.text.lora import apply_text_lora, merge_text_lora


def test_config_round_trip_is_exact(tmp_path):
    config = BiCPLConfig(**tiny_config_kwargs(class_weights=[1, 2, 1, 3, 1, 1], contrastive_loss="siglip"))
    again = BiCPLConfig.from_dict(config.to_dict())
    assert again.to_dict() == config.to_dict()
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, BiCPLConfig) and isinstance(loaded.vision_config, BiCPLVisionConfig)
    without_path = lambda c: {k: v for k, v in c.to_dict().items() if k != "_name_or_path"}  # noqa: E731
    assert without_path(loaded) == without_path(config)
    saved = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert saved["class_prompts"]["4"][0].startswith("颞骨岩尖或中耳内的囊性病变")  # the proposal's prompt
    assert saved["frozen_prototype_codes"] == [4]


def test_config_defaults_and_validation():
    config = BiCPLConfig()
    assert config.class_codes == [1, 2, 3, 4, 5, 6]
    assert config.class_names[1] == "中耳胆脂瘤" and config.text_config.vocab_size == 21128
    assert BiCPLConfig(my_extra_field=3).my_extra_field == 3  # unknown keys are kept, as transformers does
    with pytest.raises(ValueError, match="frozen_prototype_codes"):
        BiCPLConfig(frozen_prototype_codes=[9])
    with pytest.raises(ValueError, match="no prompt for class code"):
        BiCPLConfig(class_codes=[1, 7])
    with pytest.raises(ValueError, match="one flag per stage"):
        BiCPLVisionConfig(a3b_stages=[True])
    with pytest.raises(ValueError, match="backbone"):
        BiCPLVisionConfig(backbone="vit")


def test_importing_twice_registers_idempotently():
    bicpl_hf.register_auto_classes()
    bicpl_hf.register_auto_classes()
    assert type(AutoConfig.for_model("bicpl")) is BiCPLConfig


def test_forward_shapes_and_loss(tiny_model):
    batch = random_batch(batch_size=3)
    labels = torch.tensor([[1, 5], [5, 5], [2, -100]])
    out = tiny_model(**batch, labels=labels)
    assert out.logits.shape == (3, 2, 6)
    assert out.image_embeds.shape == (3, 2, 16) and out.side_text_embeds.shape == (3, 2, 16)
    assert out.logits_per_image.shape == (6, 6)
    assert len(out.asymmetry_maps) == 2 and out.asymmetry_maps[0].shape == (3, 2, 8, 8, 8)
    assert set(out.loss_components) == {"itc_ear", "itc_exam", "proto", "sym", "drift"}
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert tiny_model.vision_model.stages[0].units[0].conv.unit0.conv.weight.grad is not None


def test_unknown_ears_are_ignored(tiny_model):
    batch = random_batch(batch_size=2)
    out = tiny_model(pixel_values=batch["pixel_values"], labels=torch.full((2, 2), -100))
    assert torch.isfinite(out.loss) and float(out.loss_components["proto"]) == 0.0
    # An unknown ear contributes nothing: changing what the model would be told about it changes nothing.
    tiny_model.eval()
    a = tiny_model(pixel_values=batch["pixel_values"], labels=torch.tensor([[1, -100], [5, 5]])).loss_components
    b = tiny_model(pixel_values=batch["pixel_values"], labels=torch.tensor([[1, -100], [5, 5]])).loss_components
    assert torch.equal(a["proto"], b["proto"])


def test_save_and_auto_load_give_identical_outputs(tiny_model, tmp_path):
    tiny_model.eval()
    batch = random_batch(batch_size=2)
    labels = torch.tensor([[1, 5], [3, 3]])
    expected = tiny_model(**batch, labels=labels)
    tiny_model.save_pretrained(tmp_path)
    files = sorted(os.listdir(tmp_path))
    # The whole repository (issue 16): weights, config, prototypes, prompts, card and the remote code (with the
    # zero-shot pipeline's knowledge base).
    assert [f for f in files if not f.endswith(".py")] == ["README.md", "config.json", "model.safetensors",
                                                           "otology_kb.yaml", "prompts.json", "prototypes.safetensors"]
    assert {"modeling_bicpl.py", "configuration_bicpl.py", "ear_classes.py"} <= set(files)
    assert not any(name.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt")) for name in files)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, BiCPLModel)
    got = loaded(**batch, labels=labels)
    for key in ("loss", "logits", "logits_per_image", "image_embeds", "text_embeds", "side_text_embeds"):
        assert torch.allclose(expected[key], got[key], atol=1e-6), key
    for a, b in zip(expected.asymmetry_maps, got.asymmetry_maps):
        assert torch.allclose(a, b, atol=1e-6)
    assert torch.equal(tiny_model.prototype_head.text_prototypes, loaded.prototype_head.text_prototypes)


def test_left_right_order_is_kept(tiny_model):
    """Swapping the ears swaps the per-ear outputs exactly; exams in a batch never mix."""
    tiny_model.eval()
    g = torch.Generator().manual_seed(1)
    healthy = torch.rand(2, 16, 16, 16, generator=g) * 0.2
    lesion = healthy.clone()
    lesion[:, 4:10, 4:10, 4:10] = 0.9
    pixel_values = torch.stack([torch.stack([lesion, healthy]), torch.stack([healthy, healthy])])
    out = tiny_model(pixel_values=pixel_values)
    swapped = tiny_model(pixel_values=pixel_values.flip(1))
    assert torch.allclose(out.logits, swapped.logits.flip(1), atol=1e-5)
    assert torch.allclose(out.asymmetry_maps[0], swapped.asymmetry_maps[0].flip(1), atol=1e-6)
    # The asymmetric exam gets different logits per ear; the symmetric one identical logits per ear.
    assert not torch.allclose(out.logits[0, 0], out.logits[0, 1], atol=1e-4)
    assert torch.allclose(out.logits[1, 0], out.logits[1, 1], atol=1e-5)
    # Exam 0's result does not depend on exam 1 (eval mode).
    alone = tiny_model(pixel_values=pixel_values[:1])
    assert torch.allclose(alone.logits[0], out.logits[0], atol=1e-5)


def test_single_ear_mode_encodes_each_ear_alone():
    torch.manual_seed(0)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs(bilateral=False))).eval()
    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(2, 2, 16, 16, 16, generator=g)
    pair = model(pixel_values=torch.stack([a, b])[None]).logits
    same = model(pixel_values=torch.stack([a, a])[None]).logits
    assert torch.allclose(pair[0, 0], same[0, 0], atol=1e-5)  # ear 0 is a, whatever ear 1 holds
    assert model.vision_model.asymmetry_blocks[0].__class__.__name__ == "Identity"


def test_bad_shapes_have_clear_errors(tiny_model):
    with pytest.raises(ValueError, match=r"pixel_values must have shape \(batch, 2, channels"):
        tiny_model(pixel_values=torch.rand(2, 2, 16, 16, 16))
    with pytest.raises(ValueError, match=r"pixel_values must have shape"):
        tiny_model(pixel_values=torch.rand(1, 3, 2, 16, 16, 16))
    with pytest.raises(ValueError, match=r"labels must have shape \(batch, 2\) = \(2, 2\)"):
        tiny_model(pixel_values=torch.rand(2, 2, 2, 16, 16, 16), labels=torch.tensor([1, 5]))
    with pytest.raises(ValueError, match=r"code\(s\) \[9\]"):
        tiny_model(pixel_values=torch.rand(1, 2, 2, 16, 16, 16), labels=torch.tensor([[9, 5]]))


def test_symmetry_loss_pulls_normal_pairs_and_pushes_unilateral_disease():
    from bicpl_hf.modeling.losses_bicpl import symmetry_loss

    same = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0]]), dim=-1)
    other = torch.nn.functional.normalize(torch.tensor([[0.0, 1.0]]), dim=-1)
    normal = torch.tensor([4])
    diseased = torch.tensor([0])
    assert float(symmetry_loss(same, same, normal, normal, 4, 0.5)) == pytest.approx(0.0)
    assert float(symmetry_loss(same, other, normal, normal, 4, 0.5)) == pytest.approx(1.0)
    assert float(symmetry_loss(same, same, diseased, normal, 4, 0.5)) == pytest.approx(0.5)
    assert float(symmetry_loss(same, other, diseased, normal, 4, 0.5)) == pytest.approx(0.0)
    assert float(symmetry_loss(same, same, diseased, torch.tensor([-100]), 4, 0.5)) == 0.0


def test_duplicate_texts_are_not_negatives():
    from bicpl_hf.modeling.losses_bicpl import clip_contrastive_loss, duplicate_text_targets

    targets = duplicate_text_targets(torch.tensor([0, 1, 0]))
    assert torch.allclose(targets.sum(1), torch.ones(3))
    assert targets[0, 2] == pytest.approx(0.5)
    # With one-hot targets the duplicate (0, 2) is pushed down as a negative; with duplicate targets it is not.
    grads = []
    for soft in (None, targets):
        logits = torch.tensor([[5.0, 0.0, 5.0], [0.0, 5.0, 0.0], [5.0, 0.0, 5.0]], requires_grad=True)
        clip_contrastive_loss(logits, soft).backward()
        grads.append(float(logits.grad[0, 2]))
    assert grads[0] > 0.1 and grads[1] <= 0.0


def test_gradient_checkpointing_gives_the_same_loss_and_gradients(tiny_config):
    batch = random_batch(batch_size=2)
    labels = torch.tensor([[1, 5], [5, 5]])
    results = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = BiCPLModel(tiny_config).train()
        if checkpointing:
            model.activation_checkpointing_enable()
            assert model.vision_model.stages[0].gradient_checkpointing
        out = model(**batch, labels=labels)
        out.loss.backward()
        results.append((out.loss.detach(), model.visual_projection.weight.grad.clone()))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-6)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-5)


def test_prototypes_initialised_from_prompts(tiny_model, tokenizer):
    text_prototypes = tiny_model.initialize_prototypes(tokenizer)
    assert text_prototypes.shape == (6, 16)
    assert torch.allclose(tiny_model.get_prototypes(), torch.nn.functional.normalize(text_prototypes, dim=-1), atol=1e-6)
    # A prompt ensemble is the normalised mean of its prompts' embeddings.
    code4 = tiny_model.config.class_prompts["4"]
    single = [tiny_model.encode_class_prompts(tokenizer, {4: [p]})[0] for p in code4]
    expected = torch.nn.functional.normalize(torch.stack(single).mean(0), dim=-1)
    assert torch.allclose(text_prototypes[3], expected, atol=1e-5)
    with pytest.raises(ValueError, match="not in config.class_codes"):
        tiny_model.initialize_prototypes(tokenizer, {9: ["新病"]})


def test_lora_targets_only_the_text_tower_and_merges_back(tiny_model, tmp_path):
    peft_model = apply_text_lora(tiny_model, r=4)
    names = peft_model.targeted_module_names
    assert names and all(name.startswith("text_model.encoder.layer.") for name in names)
    assert {name.rsplit(".", 1)[-1] for name in names} == {"query", "key", "value", "dense"}
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable)
    for part in ("vision_model", "visual_projection", "prototype_head", "contrastive_head", "text_projection"):
        assert any(part in n for n in trainable), part
    assert not any(n.startswith("base_model.model.text_model.") and "lora_" not in n for n in trainable)
    # Train a step so the adapters are non-zero, then merge: outputs equal, no peft needed to load.
    batch = random_batch(batch_size=2)
    optimizer = torch.optim.SGD([p for p in peft_model.parameters() if p.requires_grad], lr=0.5)
    for _ in range(2):
        optimizer.zero_grad()
        peft_model(**batch, labels=torch.tensor([[1, 5], [2, 5]])).loss.backward()
        optimizer.step()
    peft_model.eval()
    before = peft_model(**batch).side_text_embeds
    merged = merge_text_lora(peft_model).eval()
    assert torch.allclose(before, merged(**batch).side_text_embeds, atol=1e-5)
    merged.save_pretrained(tmp_path)
    state = open(tmp_path / "model.safetensors", "rb").read(200_000)
    assert b"lora_" not in state
    assert torch.allclose(before, AutoModel.from_pretrained(tmp_path).eval()(**batch).side_text_embeds, atol=1e-5)


class _BrightLesionDataset(torch.utils.data.Dataset):
    """Ears with a bright cube are code 2, clear ears code 5: a signal a tiny model can learn in a few steps."""

    def __init__(self, size: int = 8, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for i in range(size):
            volume = torch.rand(2, 2, 16, 16, 16, generator=g) * 0.1
            codes = [[2, 5], [5, 2], [5, 5], [2, 2]][i % 4]
            for ear, code in enumerate(codes):
                if code == 2:
                    volume[ear, :, 3:11, 3:11, 3:11] += 0.8
            ids = torch.randint(5, 500, (12,), generator=g)
            self.items.append({"pixel_values": volume, "input_ids": ids, "attention_mask": torch.ones_like(ids),
                               "labels": torch.tensor(codes)})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


def test_trains_with_the_stock_trainer_and_keeps_frozen_prototypes(tiny_model, tokenizer, tmp_path):
    tiny_model.initialize_prototypes(tokenizer)
    frozen_row = tiny_model.config.class_codes.index(4)
    frozen_before = tiny_model.get_prototypes()[frozen_row].detach().clone()
    param_before = tiny_model.prototype_head.prototypes[frozen_row].detach().clone()
    trainable_before = tiny_model.get_prototypes()[0].detach().clone()
    args = TrainingArguments(
        output_dir=str(tmp_path / "run"), per_device_train_batch_size=4, max_steps=16, learning_rate=3e-3,
        logging_steps=1, save_steps=16, report_to=[], use_cpu=True, seed=0, disable_tqdm=True,
    )
    trainer = Trainer(model=tiny_model, args=args, train_dataset=_BrightLesionDataset())
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 16 and all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4
    after = tiny_model.get_prototypes()
    assert torch.equal(after[frozen_row].detach(), frozen_before)
    assert torch.equal(tiny_model.prototype_head.prototypes[frozen_row].detach(), param_before)
    assert not torch.allclose(after[0].detach(), trainable_before)  # the others did train
    checkpoint = tmp_path / "run" / "checkpoint-16"
    assert (checkpoint / "model.safetensors").exists() and not list(checkpoint.glob("pytorch_model*.bin"))
    reloaded = AutoModel.from_pretrained(checkpoint).eval()
    tiny_model.eval()
    batch = _BrightLesionDataset()[0]
    px = batch["pixel_values"][None]
    assert torch.allclose(reloaded(pixel_values=px).logits, tiny_model(pixel_values=px).logits, atol=1e-5)


@pytest.mark.smoke
@pytest.mark.slow
def test_swin_backbone_runs():
    vision = {"backbone": "swin", "image_size": [32, 32, 32], "swin_feature_size": 12, "swin_depths": [1, 1, 1, 1],
              "swin_num_heads": [1, 1, 2, 2], "swin_window_size": 2}
    torch.manual_seed(0)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs(vision_config=vision)))
    out = model(pixel_values=torch.rand(1, 2, 2, 32, 32, 32), labels=torch.tensor([[2, 5]]))
    assert out.logits.shape == (1, 2, 6) and len(out.asymmetry_maps) == 4
    out.loss.backward()
    assert TINY_VISION_CONFIG["image_size"] == [16, 16, 16]


def test_add_class_by_text_survives_save_and_load(tiny_model, tokenizer, tmp_path):
    tiny_model.initialize_prototypes(tokenizer)
    tiny_model.add_class(7, "面神经鞘瘤", ["面神经管增宽，软组织肿块。检查结论：面神经鞘瘤。"], tokenizer, name_en="facial schwannoma")
    assert tiny_model.config.class_codes[-1] == 7 and 7 in tiny_model.config.frozen_prototype_codes
    pixel_values = torch.rand(1, 2, 2, 16, 16, 16)
    tiny_model.eval()
    logits = tiny_model(pixel_values=pixel_values).logits
    assert logits.shape == (1, 2, 7)
    tiny_model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert loaded.config.class_names[-1] == "面神经鞘瘤"
    assert torch.allclose(loaded(pixel_values=pixel_values).logits, logits, atol=1e-6)
    out = loaded(pixel_values=pixel_values, labels=torch.tensor([[7, 5]]))
    assert torch.isfinite(out.loss)
    with pytest.raises(ValueError, match="already exists"):
        tiny_model.add_class(7, "重复", ["x"], tokenizer)


def test_tokenizer_fixture_knows_the_report_characters(tokenizer):
    # transformers 5 ignores `vocab_file=` for BertTokenizerFast; a 5-token vocab would make every text [UNK].
    assert tokenizer.vocab_size > 100
    assert tokenizer.tokenize("左侧鼓室") == ["左", "侧", "鼓", "室"]


def test_text_hash_ids_ignore_padding_and_separate_texts():
    from bicpl_hf.modeling.losses_bicpl import text_hash_ids

    ids = torch.tensor([[2, 10, 11, 3, 0, 0], [2, 10, 11, 3, 0, 0], [2, 11, 10, 3, 0, 0]])
    mask = (ids != 0).long()
    hashed = text_hash_ids(ids, mask)
    assert hashed[0] == hashed[1] and hashed[0] != hashed[2]
    assert torch.equal(text_hash_ids(ids[:, :4], mask[:, :4]), hashed)  # padded to another length: same ids


def test_frozen_classes_can_be_left_out_of_the_training_softmax():
    from bicpl_hf.modeling.losses_bicpl import prototype_classification_loss

    logits = torch.tensor([[2.0, 0.5, 1.0], [0.1, 3.0, 0.2], [0.3, 0.4, 0.5]])
    labels = torch.tensor([0, 2, -100])  # the second ear IS labelled with the frozen class 2
    excluded = torch.tensor([False, False, True])
    got = prototype_classification_loss(logits, labels, excluded_classes=excluded)
    first = torch.nn.functional.cross_entropy(logits[0, :2], labels[0])  # class 2 left out
    second = torch.nn.functional.cross_entropy(logits[1], labels[1])  # its own class stays in
    torch.testing.assert_close(got, (first + second) / 2)
    torch.testing.assert_close(prototype_classification_loss(logits, labels),
                               torch.nn.functional.cross_entropy(logits, labels, ignore_index=-100))

    # In the model: the frozen code-4 prototype no longer pulls the image embeddings away from itself.
    torch.manual_seed(0)
    kwargs = tiny_config_kwargs()
    batch, ear_labels = random_batch(batch_size=2), torch.tensor([[1, 5], [2, 5]])
    losses = {}
    for exclude in (False, True):
        torch.manual_seed(0)
        model = BiCPLModel(BiCPLConfig(**kwargs, exclude_frozen_classes_from_loss=exclude)).eval()
        losses[exclude] = model(**batch, labels=ear_labels).loss_components["proto"]
    assert losses[True] < losses[False]  # one class fewer in every ear's softmax
