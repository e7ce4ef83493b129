"""Multi-process training on CPU (gloo backend).

- DDP with contrastive negatives gathered across ranks gives the loss and the gradients of one process on the same
  global batch (batch split across 2 ranks), for the CLIP and the SigLIP loss.
- The stock `Trainer` (through `build_trainer`) runs under `torchrun --nproc_per_node 2`, keeps the ranks' weights
  identical and saves a checkpoint that loads (`examples/ddp_smoke.py`).
- The Swin variant trains sharded with PyTorch FSDP2 (`fully_shard`) on CPU and saves a full checkpoint
  (`examples/ddp_smoke.py --fsdp2`; accelerate itself runs FSDP configs on CPU as plain DDP).

Starting processes that import torch and transformers is what costs, so ONE torchrun launch does both jobs: this
file run as a script is the worker
(`torchrun --standalone --nproc_per_node 2 tests/training/test_distributed.py --output D`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_TEXT_CONFIG, TINY_VISION_CONFIG, tiny_config_kwargs
from safetensors.torch import load_file, save_file

REPO = Path(__file__).resolve().parents[2]
WORLD_SIZE = 2
LOSS_TYPES = ("clip", "siglip")
# Global batch of 4 exams. Each rank's half has the same number of labelled ears and of symmetry pairs, so the
# mean of the per-rank (local) prototype and symmetry losses equals the global mean, as DDP's averaging assumes.
LABELS = [[5, 5], [2, 5], [1, 5], [5, 5]]


def _load_ddp_smoke():
    spec = importlib.util.spec_from_file_location("ddp_smoke", REPO / "examples" / "ddp_smoke.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _deterministic_model(loss_type: str):
    """Tiny model with per-sample determinism: group norm (batch-norm statistics would differ per rank), no dropout."""
    from bicpl_hf import BiCPLConfig, BiCPLModel

    config = BiCPLConfig(**tiny_config_kwargs(
        contrastive_loss=loss_type,
        vision_config={**TINY_VISION_CONFIG, "norm": "group"},
        text_config={**TINY_TEXT_CONFIG, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
    ))
    torch.manual_seed(0)
    return BiCPLModel(config)


def _global_batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    vocab, seq_len, batch = TINY_TEXT_CONFIG["vocab_size"], 12, len(LABELS)
    side = torch.randint(5, vocab, (batch, 2, seq_len), generator=g)
    side[3, 0] = side[0, 1]  # one side text on each rank is the same: a positive pair ACROSS ranks
    ids = torch.randint(5, vocab, (batch, seq_len), generator=g)
    return {
        "pixel_values": torch.rand(batch, 2, 2, *TINY_VISION_CONFIG["image_size"], generator=g),
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "side_input_ids": side,
        "side_attention_mask": torch.ones_like(side),
        "labels": torch.tensor(LABELS),
    }


def _rank_slice(batch: dict[str, torch.Tensor], rank: int, world_size: int) -> dict[str, torch.Tensor]:
    per_rank = len(LABELS) // world_size
    return {k: v[rank * per_rank:(rank + 1) * per_rank] for k, v in batch.items()}


def _gradients(model) -> dict[str, torch.Tensor]:
    return {f"grad.{name}": p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}


# ------------------------------------------------------------------------------------------------ worker (torchrun)
def _worker(output: Path) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    for loss_type in LOSS_TYPES:
        model = _deterministic_model(loss_type)
        # Default find_unused_parameters=False: every parameter must take a gradient, or DDP fails.
        ddp = DistributedDataParallel(model)
        loss = ddp(**_rank_slice(_global_batch(), rank, world_size)).loss
        loss.backward()
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        tensors = {"loss": mean_loss / world_size, **_gradients(model)}
        save_file(tensors, str(output / f"{loss_type}_rank{rank}.safetensors"))
    # The Trainer run reuses this process group (accelerate adopts an initialised one).
    ddp_smoke = _load_ddp_smoke()
    # Checkpointing on: with Trainer's defaults DDP then assumes every parameter takes a gradient.
    ddp_smoke.run_smoke(output / "trainer", backbone="resnet", steps=2, per_device_batch_size=2,
                        activation_checkpointing=True)
    ddp_smoke.run_fsdp2_smoke(output / "fsdp2", backbone="swin", steps=2, per_device_batch_size=2)
    dist.destroy_process_group()


# ------------------------------------------------------------------------------------------------ tests
@pytest.fixture(scope="module")
def torchrun_output(tmp_path_factory) -> Path:
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available in this build of torch")
    output = tmp_path_factory.mktemp("torchrun")
    # tests/ too: the worker (this file run as a script) imports the shared tiny configs from conftest.py
    python_path = [str(REPO), str(REPO / "tests")]
    python_path += [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(python_path)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD_SIZE}",
               str(Path(__file__).resolve()), "--output", str(output)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, encoding="utf-8", errors="replace",
                            timeout=300)
    if result.returncode != 0:
        pytest.fail(f"torchrun exited with {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return output


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_ddp_loss_and_gradients_match_one_process_on_the_global_batch(torchrun_output, loss_type):
    model = _deterministic_model(loss_type)
    batch = _global_batch()
    reference = model(**batch).loss
    reference.backward()
    expected = _gradients(model)
    ranks = [load_file(str(torchrun_output / f"{loss_type}_rank{r}.safetensors")) for r in range(WORLD_SIZE)]

    torch.testing.assert_close(ranks[0]["loss"], reference.detach(), rtol=1e-5, atol=1e-5)
    assert {"grad.visual_projection.weight", "grad.text_projection.weight"} <= set(expected)
    for saved in ranks:
        assert set(saved) - {"loss"} == set(expected)
        for name, gradient in expected.items():
            torch.testing.assert_close(saved[name], gradient, rtol=1e-5, atol=1e-5, msg=lambda m: f"{name}: {m}")

    # The match above needs the negatives of the other rank: the mean of the two ranks' local-only losses differs.
    with torch.no_grad():
        local = [model(**_rank_slice(batch, r, WORLD_SIZE)).loss for r in range(WORLD_SIZE)]
    assert abs(float(sum(local)) / WORLD_SIZE - reference.item()) > 1e-3


def test_trainer_runs_under_torchrun_and_saves_a_checkpoint(torchrun_output):
    from bicpl_hf import BiCPLModel

    summaries = [json.loads((torchrun_output / "trainer" / f"rank{r}.json").read_text()) for r in range(WORLD_SIZE)]
    for rank, summary in enumerate(summaries):
        assert summary["rank"] == rank and summary["world_size"] == WORLD_SIZE
        assert summary["distributed_type"] in ("DistributedType.MULTI_CPU", "DistributedType.MULTI_GPU")
        assert summary["global_step"] == 2 and len(summary["step_losses"]) == 2
        assert all(torch.isfinite(torch.tensor(summary["step_losses"])))
    # DDP keeps the replicas identical, and the checkpoint holds exactly those weights.
    assert summaries[0]["parameter_checksum"] == summaries[1]["parameter_checksum"]
    checkpoint = Path(summaries[0]["checkpoint"])
    assert (checkpoint / "model.safetensors").is_file() and (checkpoint / "trainer_state.json").is_file()
    saved = BiCPLModel.from_pretrained(checkpoint)
    assert _load_ddp_smoke().parameter_checksum(saved) == summaries[0]["parameter_checksum"]


def test_fsdp2_shards_the_swin_model_on_cpu_and_saves_a_full_checkpoint(torchrun_output):
    from bicpl_hf import BiCPLModel

    summaries = [json.loads((torchrun_output / "fsdp2" / f"rank{r}.json").read_text()) for r in range(WORLD_SIZE)]
    for rank, summary in enumerate(summaries):
        assert summary["rank"] == rank and summary["world_size"] == WORLD_SIZE
        assert summary["sharded_parameters"] == summary["parameters"] > 0  # every parameter is a sharded DTensor
        assert len(summary["step_losses"]) == 2 and all(torch.isfinite(torch.tensor(summary["step_losses"])))
    assert summaries[0]["step_losses"] == summaries[1]["step_losses"]  # all-reduced means agree
    saved = BiCPLModel.from_pretrained(summaries[0]["checkpoint"])
    assert saved.config.vision_config.backbone == "swin"
    assert saved.contrastive_head.logit_scale.shape == (1,)  # FSDP refuses 0-dim parameters


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="torchrun worker of tests/training/test_distributed.py")
    parser.add_argument("--output", type=Path, required=True)
    _worker(parser.parse_args().output)
