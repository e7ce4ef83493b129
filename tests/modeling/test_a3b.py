"""A3B: the cross-attention block between the ears (default) and the v1 gate, and the late bilateral fusion."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY_VISION_CONFIG, random_batch, tiny_config_kwargs

from bicpl_hf import BiCPLConfig, BiCPLModel, BiCPLVisionConfig
from bicpl_hf.modeling.modeling_bicpl_vision import (
    AsymmetryAwareAttention,
    BilateralCrossAttention,
    attention_grid,
)

# Stage 0 of the tiny model has 8^3 = 512 voxels per ear: 64 tokens makes the block attend on a 4^3 pooled grid.
POOLED_VISION = {**TINY_VISION_CONFIG, "a3b_max_tokens": 64}
LABELS = torch.tensor([[1, 5], [3, 3]])


def _model(seed: int = 0, **overrides) -> BiCPLModel:
    torch.manual_seed(seed)
    return BiCPLModel(BiCPLConfig(**tiny_config_kwargs(**overrides)))


def _cross_attention_blocks(model: BiCPLModel) -> list[BilateralCrossAttention]:
    return [b for b in model.vision_model.asymmetry_blocks if isinstance(b, BilateralCrossAttention)]


def _difference_columns(model: BiCPLModel) -> torch.Tensor:
    return model.visual_projection.weight[:, model.config.vision_config.hidden_size:]


def _as_if_trained(model: BiCPLModel, seed: int = 1) -> BiCPLModel:
    """Non-zero γ and difference columns, as training leaves them (at init both are zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in _cross_attention_blocks(model):
            block.layer_scale.copy_(torch.randn(block.layer_scale.shape, generator=g))
        columns = _difference_columns(model)
        columns.copy_(0.1 * torch.randn(columns.shape, generator=g))
    return model


def _pixels(seed: int = 0, batch_size: int = 2) -> torch.Tensor:
    return torch.rand(batch_size, 2, 2, 16, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_default_block_and_its_checkpoint_keys():
    model = _model()
    assert model.config.vision_config.a3b_mode == "cross_attention"
    blocks = model.vision_model.asymmetry_blocks
    assert all(isinstance(b, BilateralCrossAttention) for b in blocks) and blocks[1].num_heads == 2
    expected = [f"1.{name}.{p}" for name in ("norm", "position", "query", "key", "value", "output", "gate")
                for p in ("weight", "bias")]
    assert sorted(k for k in blocks.state_dict() if k.startswith("1.")) == sorted(expected + ["1.layer_scale"])


def test_attention_grid_pools_by_powers_of_two_until_it_fits():
    assert attention_grid((8, 12, 10), 2048) == (8, 12, 10)
    assert attention_grid((16, 24, 20), 2048) == (8, 12, 10)  # benchmark ROI stage 0: 7,680 -> 960 tokens
    assert attention_grid((32, 32, 32), 2048) == (8, 8, 8)
    assert attention_grid((3, 3, 3), 1) == (1, 1, 1)


@pytest.mark.parametrize("vision", [TINY_VISION_CONFIG, POOLED_VISION], ids=["full", "pooled"])
def test_swapping_the_ears_swaps_embeddings_and_maps_exactly(vision):
    model = _as_if_trained(_model(vision_config=vision)).eval()
    pixel_values = _pixels()
    with torch.no_grad():
        out = model.get_image_features(pixel_values)
        swapped = model.get_image_features(pixel_values.flip(1))
    torch.testing.assert_close(swapped.pooler_output, out.pooler_output.flip(1), rtol=0, atol=1e-6)
    assert len(out.asymmetry_maps) == 2
    for a, b in zip(out.asymmetry_maps, swapped.asymmetry_maps):
        assert a.shape[:2] == (2, 2) and 0 < a.min() and a.max() < 1
        torch.testing.assert_close(b, a.flip(1), rtol=0, atol=1e-6)
    # Trained, the partner matters: the block and the fusion are not the identity any more.
    with torch.no_grad():
        other = model.get_image_features(torch.stack([pixel_values[:, 0], _pixels(seed=9)[:, 1]], dim=1))
    assert not torch.allclose(other.pooler_output[:, 0], out.pooler_output[:, 0], atol=1e-4)


def test_at_init_an_ear_is_encoded_as_if_alone():
    model = _model(vision_config=POOLED_VISION).eval()
    pixel_values = _pixels()
    partner_changed = pixel_values.clone()
    partner_changed[:, 1] = _pixels(seed=3)[:, 1]
    with torch.no_grad():
        out = model.get_image_features(pixel_values).pooler_output
        changed = model.get_image_features(partner_changed).pooler_output
    torch.testing.assert_close(changed[:, 0], out[:, 0], rtol=0, atol=1e-6)
    assert not torch.allclose(changed[:, 1], out[:, 1], atol=1e-4)

    # The same weights without the bilateral parts (A3B blocks, difference columns) give the same embeddings.
    single = _model(vision_config=POOLED_VISION, bilateral=False).eval()
    state = {k: v for k, v in model.state_dict().items() if ".asymmetry_blocks." not in k}
    state["visual_projection.weight"] = model.visual_projection.weight[:, : single.visual_projection.in_features]
    single.load_state_dict(state, strict=True)
    with torch.no_grad():
        alone = single.get_image_features(pixel_values).pooler_output
    torch.testing.assert_close(alone, out, rtol=0, atol=1e-5)


def test_gamma_and_difference_columns_learn_from_the_first_step():
    model = _model().train()
    blocks = _cross_attention_blocks(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(**random_batch(), labels=LABELS).loss.backward()
    for block in blocks:
        assert block.layer_scale.grad.abs().sum() > 0
        # γ = 0 hides the attention and gate from the loss until γ has moved.
        assert block.query.weight.grad.abs().sum() == 0 and block.gate.weight.grad.abs().sum() == 0
    assert model.visual_projection.weight.grad[:, model.config.vision_config.hidden_size:].abs().sum() > 0
    optimizer.step()
    optimizer.zero_grad()
    assert all(block.layer_scale.abs().sum() > 0 for block in blocks)
    assert _difference_columns(model).abs().sum() > 0
    model(**random_batch(generator_seed=1), labels=LABELS).loss.backward()
    for block in blocks:
        for parameter in (block.query.weight, block.key.weight, block.value.weight, block.gate.weight,
                          block.position.weight):
            assert parameter.grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["cross_attention", "gate"])
def test_save_and_load_keep_trained_weights_and_the_mode(mode, tmp_path):
    vision = {**TINY_VISION_CONFIG, "a3b_mode": mode}
    model = _as_if_trained(_model(vision_config=vision)).eval()
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["vision_config"]["a3b_mode"] == mode
    loaded = BiCPLModel.from_pretrained(tmp_path).eval()
    assert loaded.config.vision_config.a3b_mode == mode
    block_type = BilateralCrossAttention if mode == "cross_attention" else AsymmetryAwareAttention
    assert all(isinstance(b, block_type) for b in loaded.vision_model.asymmetry_blocks)
    # Loading does not run the zero initialisation over the trained γ and difference columns.
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    assert _difference_columns(loaded).abs().sum() > 0
    pixel_values = _pixels()
    with torch.no_grad():
        expected, got = model.get_image_features(pixel_values), loaded.get_image_features(pixel_values)
    torch.testing.assert_close(got.pooler_output, expected.pooler_output, rtol=0, atol=1e-6)
    for a, b in zip(expected.asymmetry_maps, got.asymmetry_maps):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6)


def test_a3b_options_are_checked():
    with pytest.raises(ValueError, match=r"a3b_mode must be one of \['cross_attention', 'gate'\], got 'attention'"):
        BiCPLVisionConfig(a3b_mode="attention")
    with pytest.raises(ValueError, match=r"a3b_heads \(3\) must divide the width of every stage .* \[32, 64"):
        BiCPLVisionConfig(a3b_heads=3)
    with pytest.raises(ValueError, match="must be positive"):
        BiCPLVisionConfig(a3b_max_tokens=0)
    # The gate ignores the cross-attention fields; stages without A3B do not need to be divisible.
    assert BiCPLVisionConfig(a3b_mode="gate", a3b_heads=3).a3b_heads == 3
    assert BiCPLVisionConfig(hidden_sizes=[31, 64], depths=[1, 1], stage_strides=[1, 2],
                             a3b_stages=[False, True]).a3b_heads == 2
    # A config saved before `a3b_mode` existed loads with the default (the v1 block needs a3b_mode="gate").
    old = {k: v for k, v in BiCPLVisionConfig(a3b_mode="gate").to_dict().items() if k != "a3b_mode"}
    assert BiCPLVisionConfig.from_dict(old).a3b_mode == "cross_attention"
