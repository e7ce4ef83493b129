"""The model's parts: the backbone registry, the prototype head, the logit-scale cap, and forward's input contract."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from conftest import TINY_VISION_CONFIG, random_batch, tiny_config_kwargs
from torch import nn

from bicpl_hf import BiCPLConfig, BiCPLModel, BiCPLProcessor, BiCPLVisionConfig, BiCPLVolumeProcessor
from bicpl_hf.modeling import BACKBONES, IGNORE_INDEX, BiCPLBackbone, BiCPLPrototypeHead
from bicpl_hf.modeling.modeling_bicpl_heads import MAX_LOGIT_SCALE

# Non-text state-dict keys of the tiny ResNet model as every checkpoint saved before the cross-attention A3B writes
# them (2 units in stage 0, the v1 gate A3B after stage 1 only): a refactor must keep them, or old checkpoints stop
# loading (with `a3b_mode="gate"`).
SAVED_KEYS = [
    "vision_model.stem.conv.weight", "vision_model.stem.conv.bias",
    "vision_model.stem.adn.N.weight", "vision_model.stem.adn.N.bias",
    *[f"vision_model.stages.0.units.{u}.conv.unit{c}.{part}.{p}" for u in (0, 1) for c in (0, 1)
      for part in ("conv", "adn.N") for p in ("weight", "bias")],
    *[f"vision_model.stages.1.units.0.conv.unit{c}.{part}.{p}" for c in (0, 1)
      for part in ("conv", "adn.N") for p in ("weight", "bias")],
    "vision_model.stages.1.units.0.residual.weight", "vision_model.stages.1.units.0.residual.bias",
    "vision_model.asymmetry_blocks.1.difference_conv.weight", "vision_model.asymmetry_blocks.1.difference_conv.bias",
    "visual_projection.weight", "text_projection.weight", "contrastive_head.logit_scale",
    "prototype_head.prototypes", "prototype_head.logit_scale", "prototype_head.text_prototypes",
    "prototype_head.class_codes", "prototype_head.trainable",
]
GROUP_NORM_VISION = {**TINY_VISION_CONFIG, "depths": [2, 1], "norm": "group", "a3b_stages": [False, True],
                     "a3b_mode": "gate"}


class ToyBackbone(BiCPLBackbone):
    """A backbone of plain strided convolutions: what adding one takes."""

    @staticmethod
    def stage_channels(config):
        return [config.stem_channels * 2 ** (i + 1) for i in range(len(config.depths))]

    @classmethod
    def build(cls, config):
        channels = cls.stage_channels(config)
        stem = nn.Conv3d(config.in_channels, config.stem_channels, 3, padding=1)
        stages = nn.ModuleList(nn.Conv3d(c_in, c_out, 3, stride=2, padding=1)
                               for c_in, c_out in zip([config.stem_channels] + channels[:-1], channels))
        return stem, stages, channels


def test_unknown_backbone_names_the_field_and_the_known_ones():
    with pytest.raises(ValueError, match=r"BiCPLVisionConfig.backbone must be one of \['resnet', 'swin'\], got 'vit'"):
        BiCPLVisionConfig(backbone="vit")
    with pytest.raises(ValueError, match="hidden_sizes, depths and stage_strides"):
        BiCPLVisionConfig(depths=[1])  # the ResNet entry's own check
    with pytest.raises(ValueError, match="multiple of 12"):
        BiCPLVisionConfig(backbone="swin", swin_feature_size=16)


def test_a_new_backbone_is_one_registry_entry(monkeypatch, tmp_path):
    monkeypatch.setitem(BACKBONES, "toy", ToyBackbone)
    config = BiCPLConfig(**tiny_config_kwargs(vision_config={**TINY_VISION_CONFIG, "backbone": "toy"}))
    vision = config.vision_config
    assert vision.stage_channels == [16, 32] and vision.hidden_size == 32 and vision.a3b_stages == [True, True]
    torch.manual_seed(0)
    model = BiCPLModel(config).eval()
    out = model(pixel_values=torch.rand(1, 2, 2, 16, 16, 16), labels=torch.tensor([[1, 5]]))
    assert out.logits.shape == (1, 2, 6) and [m.shape[-1] for m in out.asymmetry_maps] == [8, 4]
    model.save_pretrained(tmp_path)
    loaded = BiCPLModel.from_pretrained(tmp_path).eval()
    again = loaded.config.vision_config
    assert (again.backbone, again.stage_channels, again.a3b_stages) == ("toy", [16, 32], [True, True])
    pixel_values = torch.rand(1, 2, 2, 16, 16, 16)
    torch.testing.assert_close(loaded(pixel_values=pixel_values).logits, model(pixel_values=pixel_values).logits)


def test_state_dict_keys_are_those_of_saved_checkpoints():
    torch.manual_seed(0)
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs(vision_config=GROUP_NORM_VISION)))
    keys = [k for k in model.state_dict() if not k.startswith("text_model.")]
    assert sorted(keys) == sorted(SAVED_KEYS)
    # A state dict in that layout loads strictly into a fresh model and reproduces its outputs.
    other = BiCPLModel(BiCPLConfig(**tiny_config_kwargs(vision_config=GROUP_NORM_VISION)))
    other.load_state_dict(model.state_dict(), strict=True)
    pixel_values = torch.rand(1, 2, 2, 16, 16, 16)
    torch.testing.assert_close(other.eval()(pixel_values=pixel_values).logits,
                               model.eval()(pixel_values=pixel_values).logits)


def test_swin_entry_keeps_the_checkpoint_layout():
    vision = {"backbone": "swin", "image_size": [32, 32, 32], "swin_feature_size": 12, "swin_depths": [1, 1],
              "swin_num_heads": [1, 2], "swin_window_size": 2}
    model = BiCPLModel(BiCPLConfig(**tiny_config_kwargs(vision_config=vision)))
    keys = set(model.vision_model.state_dict())
    assert {"stem.0.proj.weight", "stages.0.layer.blocks.0.attn.qkv.weight",
            "stages.1.layer.downsample.reduction.weight", "asymmetry_blocks.1.layer_scale"} <= keys
    assert model.config.vision_config.stage_channels == [24, 48] and model.visual_projection.in_features == 96


def test_prototype_head_manages_its_classes_and_the_config():
    config = BiCPLConfig(**tiny_config_kwargs(class_logit_offsets=[0.0, 0.0, 0.0, 1.5, 0.0, 0.0]))
    head = BiCPLPrototypeHead(config)
    torch.manual_seed(0)
    head.set_text_prototypes(torch.randn(6, 16))
    assert torch.equal(head.prototypes.data, head.text_prototypes)

    labels = torch.tensor([[1, IGNORE_INDEX], [6, 5]])
    assert head.labels_to_indices(labels).tolist() == [[0, IGNORE_INDEX], [5, 4]]
    with pytest.raises(ValueError, match=r"code\(s\) \[9\].*use -100 for an unknown ear"):
        head.labels_to_indices(torch.tensor([[9, 5]]))

    ears = torch.nn.functional.normalize(torch.randn(2, 2, 16), dim=-1)
    raw = head(ears, head.effective_prototypes())  # prototypes given: no offsets
    torch.testing.assert_close(head(ears) - raw, torch.tensor([0.0, 0.0, 0.0, 1.5, 0.0, 0.0]).expand_as(raw))

    head.set_frozen_codes([2, 4])
    assert config.frozen_prototype_codes == [2, 4] and head.trainable.tolist() == [True, False, True, False, True, True]
    with pytest.raises(ValueError, match=r"codes \[9\] are not in config.class_codes"):
        head.set_frozen_codes([9])

    new_row = torch.nn.functional.normalize(torch.randn(1, 16), dim=-1)
    head.add_class(7, "面神经鞘瘤", ["面神经管增宽。"], new_row, name_en="facial schwannoma")
    assert head.class_codes.tolist() == [1, 2, 3, 4, 5, 6, 7] and not bool(head.trainable[-1])
    assert config.class_codes[-1] == 7 and config.class_names_en[-1] == "facial schwannoma"
    assert config.frozen_prototype_codes == [2, 4, 7] and config.class_logit_offsets[-1] == 0.0
    torch.testing.assert_close(head.effective_prototypes()[-1], new_row[0])
    with pytest.raises(ValueError, match="already exists"):
        head.check_new_class(7, ["x"])
    with pytest.raises(ValueError, match="non-empty list of prompts"):
        head.check_new_class(8, "一句话")


def test_logit_scales_are_capped_and_paired_logits_match_the_matrix(tiny_model):
    with torch.no_grad():
        tiny_model.contrastive_head.logit_scale.fill_(10.0)  # exp(10) >> 100
        tiny_model.prototype_head.logit_scale.fill_(10.0)
    embeds = torch.nn.functional.normalize(torch.randn(4, 16), dim=-1)
    logits = tiny_model.contrastive_head(embeds, embeds)
    torch.testing.assert_close(logits.diagonal(), torch.full((4,), MAX_LOGIT_SCALE))
    torch.testing.assert_close(tiny_model.contrastive_head.paired_logits(embeds, embeds), logits.diagonal())
    assert float(tiny_model.prototype_head(embeds).detach().abs().max()) <= MAX_LOGIT_SCALE + 1e-4


def test_forward_names_every_key_the_processor_and_collator_send(tiny_model, tokenizer):
    # Trainer drops batch keys that forward does not name: each one the pipeline produces must be a parameter.
    parameters = inspect.signature(BiCPLModel.forward).parameters
    processor = BiCPLProcessor(image_processor=BiCPLVolumeProcessor(), tokenizer=tokenizer)
    collator_keys = ["labels", "side_attribute_vectors", "side_text_ids", "hard_negative_input_ids",
                     "hard_negative_attention_mask", "hard_negative_token_type_ids", "ear_metadata", "side_texts"]
    assert not [key for key in [*processor.model_input_names, *collator_keys] if key not in parameters]
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    with pytest.raises(TypeError, match="side_input_idz"):
        tiny_model(**random_batch(), side_input_idz=torch.zeros(2, 2, 3, dtype=torch.long))


def test_texts_of_any_leading_shape_share_one_encoding_path(tiny_model):
    tiny_model.eval()
    batch = random_batch(batch_size=2)
    out = tiny_model(**batch, hard_negative_input_ids=batch["side_input_ids"][:, :, None], return_loss=True)
    # A hard negative identical to the side text scores like the positive: softmax over two equal logits.
    assert float(out.loss_components["itc_hard"]) == pytest.approx(math.log(2.0), rel=1e-4)
    flat = tiny_model.get_text_features(batch["side_input_ids"].flatten(0, 1)).pooler_output
    torch.testing.assert_close(out.side_text_embeds, torch.nn.functional.normalize(flat, dim=-1).view(2, 2, -1))
    with pytest.raises(ValueError, match=r"side_input_ids must be \(batch, 2, seq_len\) with batch=2; got \(2, 12\)"):
        tiny_model(pixel_values=batch["pixel_values"], side_input_ids=batch["input_ids"])
