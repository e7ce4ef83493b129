"""Smoke test of multi-process Bi-CPL training: two steps of the stock `Trainer`, then a checkpoint.

Builds a tiny Bi-CPL model, a character-level Chinese tokenizer and a small in-memory dataset (random ear ROIs
with a marker lesion and matching reports), trains two optimizer steps with `bicpl_hf.training.build_trainer` and
saves `checkpoint-<steps>`. Every rank writes `rank<k>.json` with a checksum of its parameters, so the ranks can be
compared (DDP keeps them identical). Nothing is downloaded.

    torchrun --standalone --nproc_per_node 2 examples/ddp_smoke.py --output-dir /tmp/bicpl_ddp
    accelerate launch --multi_gpu --num_processes 2 examples/ddp_smoke.py --output-dir /tmp/bicpl_ddp   # GPUs

It also runs as a single process (`python examples/ddp_smoke.py --output-dir ...`). On a machine without a GPU the
processes use the gloo backend.

`--fsdp2` shards the model with PyTorch's `fully_shard` (FSDP2) directly, one shard unit per Swin stage and per BERT
layer like `examples/accelerate_fsdp.yaml`, and trains with a plain loop. This is the way to smoke-test FSDP on CPU:
`accelerate` (1.15) only turns FSDP on for GPU-like devices and runs a CPU launch as DDP (`MULTI_CPU`) instead.

    torchrun --standalone --nproc_per_node 2 examples/ddp_smoke.py --fsdp2 --backbone swin --output-dir /tmp/bicpl_fsdp2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
from datasets import Array5D, Dataset, Features, Value
from transformers import BertTokenizerFast, TrainingArguments

from bicpl_hf import BiCPLConfig, BiCPLModel, BiCPLProcessor, BiCPLVolumeProcessor
from bicpl_hf.data import BiCPLDataCollator, add_report_columns
from bicpl_hf.modeling.configuration_bicpl import DEFAULT_CLASS_PROMPTS
from bicpl_hf.text.tokenization import build_char_tokenizer
from bicpl_hf.training import build_trainer

# (left code, right code) -> (findings, impression), in the export's structure.
REPORTS = {
    (2, 5): ("左侧上鼓室见软组织密度影，听小骨骨质破坏。右侧鼓室清晰，听骨链完整。", "左侧中耳胆脂瘤。右侧中耳未见异常。"),
    (5, 2): ("右侧上鼓室见软组织密度影，听小骨骨质破坏。左侧鼓室清晰，听骨链完整。", "右侧中耳胆脂瘤。左侧中耳未见异常。"),
    (5, 5): ("双侧鼓室清晰，听骨链完整，乳突气化良好。", "双侧中耳未见异常。"),
    (1, 5): ("左侧鼓室内见软组织密度影，乳突硬化。右侧鼓室清晰。", "左侧慢性化脓性中耳炎。右侧中耳未见异常。"),
}


def char_tokenizer(directory: str | os.PathLike) -> BertTokenizerFast:
    """A character-level BERT tokenizer (Chinese BERTs split Chinese text into characters) covering the reports
    and the default class prompts, written to `directory/vocab.txt`."""
    texts = [t for pair in REPORTS.values() for t in pair] + [p for ps in DEFAULT_CLASS_PROMPTS.values() for p in ps]
    return build_char_tokenizer(texts + ["影像所见：检查结论："], directory)


def tiny_config(vocab_size: int, backbone: str = "resnet", image_size: int = 16) -> BiCPLConfig:
    """A Bi-CPL config small enough to train in seconds on a CPU (2-layer BERT, 2-stage ResNet or 2-stage Swin)."""
    vision = {"backbone": backbone, "image_size": [image_size] * 3}
    if backbone == "resnet":
        vision.update(stem_channels=8, hidden_sizes=[8, 16], depths=[1, 1], stage_strides=[1, 2])
    else:
        vision.update(swin_feature_size=12, swin_depths=[1, 1], swin_num_heads=[1, 2], swin_window_size=4)
    text = {"model_type": "bert", "vocab_size": vocab_size, "hidden_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 256}
    return BiCPLConfig(text_config=text, vision_config=vision, projection_dim=16)


def tiny_dataset(n_exams: int = 8, image_size: int = 16, seed: int = 0) -> Dataset:
    """`n_exams` exams with the built dataset's columns; a diseased ear gets a brighter cube in its ROI."""
    rng = np.random.default_rng(seed)
    pairs = list(REPORTS)
    rows = {"pixel_values": [], "report": [], "left_code": [], "right_code": []}
    lo, hi = image_size // 4, 3 * image_size // 4
    for i in range(n_exams):
        codes = pairs[i % len(pairs)]
        volume = (rng.random((2, 2, image_size, image_size, image_size)) * 0.1).astype(np.float16)
        for ear, code in enumerate(codes):
            if code != 5:
                volume[ear, :, lo:hi, lo:hi, lo:hi] += np.float16(0.6 if code == 2 else 0.3)
        findings, impression = REPORTS[codes]
        rows["pixel_values"].append(volume)
        rows["report"].append(f"影像所见：{findings}\n检查结论：{impression}")
        rows["left_code"].append(codes[0])
        rows["right_code"].append(codes[1])
    features = Features({"pixel_values": Array5D((2, 2, image_size, image_size, image_size), "float16"),
                         "report": Value("string"), "left_code": Value("int64"), "right_code": Value("int64")})
    return Dataset.from_dict(rows, features=features).map(add_report_columns).with_format(
        "numpy", columns=["pixel_values"], output_all_columns=True
    )


def parameter_checksum(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter's bytes in name order (buffers such as BatchNorm statistics left out: under DDP
    each rank updates them from its own batch)."""
    digest = hashlib.sha256()
    for name, parameter in sorted(model.named_parameters()):
        digest.update(name.encode())
        digest.update(parameter.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def run_smoke(output_dir: str | os.PathLike, backbone: str = "resnet", steps: int = 2,
              per_device_batch_size: int = 2, seed: int = 0, activation_checkpointing: bool = False) -> dict:
    """Train `steps` steps with `build_trainer` in whatever process group the launcher set up; save a checkpoint.

    Every parameter takes a gradient at every step, so DDP runs with Trainer's defaults, checkpointing included.

    Returns (and writes to `output_dir/rank<k>.json`) the world size, the global step, the logged training loss,
    the checkpoint folder and the parameter checksum of this rank.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    image_size = 16 if backbone == "resnet" else 32  # the Swin stem patches by 2 and each stage merges by 2
    with tempfile.TemporaryDirectory() as vocab_dir:
        tokenizer = char_tokenizer(vocab_dir)
    processor = BiCPLProcessor(BiCPLVolumeProcessor(roi_shape=[image_size] * 3), tokenizer)
    torch.manual_seed(seed)  # the same initial weights on every rank (DDP would broadcast rank 0's anyway)
    model = BiCPLModel(tiny_config(len(tokenizer), backbone, image_size))
    model.initialize_prototypes(tokenizer)
    args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=per_device_batch_size,
        max_steps=steps,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="steps",
        save_steps=steps,
        report_to=[],
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        seed=seed,
        dataloader_drop_last=True,  # gathered contrastive negatives need equal per-rank batches
        gradient_checkpointing=activation_checkpointing,
    )
    trainer = build_trainer(model, processor, args, tiny_dataset(8, image_size, seed), stage="joint")
    result = trainer.train()
    state = trainer.state
    summary = {
        "rank": int(args.process_index),
        "world_size": int(args.world_size),
        "backbone": backbone,
        "global_step": int(state.global_step),
        "train_loss": float(result.training_loss),
        "step_losses": [float(entry["loss"]) for entry in state.log_history if "loss" in entry],
        "checkpoint": str(output_dir / f"checkpoint-{steps}"),
        "parameter_checksum": parameter_checksum(trainer.model),
        "distributed_type": str(trainer.accelerator.distributed_type),
    }
    (output_dir / f"rank{summary['rank']}.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def run_fsdp2_smoke(output_dir: str | os.PathLike, backbone: str = "swin", steps: int = 2,
                    per_device_batch_size: int = 2, seed: int = 0) -> dict:
    """`steps` AdamW steps of a `fully_shard`-ed (FSDP2) tiny model under torchrun; rank 0 gathers the full state
    dict and saves `checkpoint-<steps>` with `save_pretrained`. Uses the process group if one is initialised."""
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    owns_group = not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    image_size = 16 if backbone == "resnet" else 32
    with tempfile.TemporaryDirectory() as vocab_dir:
        tokenizer = char_tokenizer(vocab_dir)
    processor = BiCPLProcessor(BiCPLVolumeProcessor(roi_shape=[image_size] * 3), tokenizer)
    torch.manual_seed(seed)
    config = tiny_config(len(tokenizer), backbone, image_size)
    model = BiCPLModel(config)
    model.initialize_prototypes(tokenizer)
    model.to(device)
    mesh = init_device_mesh(device, (world_size,))
    units = {"BiCPLSwinStage", "BiCPLResNetStage", "BertLayer"}  # the model's _no_split_modules
    for module in model.modules():
        if type(module).__name__ in units:
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    collator = BiCPLDataCollator(processor)
    dataset = tiny_dataset(steps * per_device_batch_size * world_size, image_size, seed)
    losses = []
    for step in range(steps):
        # Rank r takes its slice of this step's global batch (what a DistributedSampler without shuffling does).
        start = (step * world_size + rank) * per_device_batch_size
        batch = collator([dataset[i] for i in range(start, start + per_device_batch_size)])
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        losses.append(float(mean_loss) / world_size)
    sharded = sum(1 for p in model.parameters() if type(p).__name__ == "DTensor")
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    checkpoint = output_dir / f"checkpoint-{steps}"
    if rank == 0:
        unsharded = BiCPLModel(config)
        unsharded.load_state_dict(state)
        unsharded.save_pretrained(checkpoint)
    summary = {
        "rank": rank,
        "world_size": world_size,
        "backbone": backbone,
        "global_step": steps,
        "step_losses": losses,
        "sharded_parameters": sharded,
        "parameters": sum(1 for _ in model.parameters()),
        "checkpoint": str(checkpoint),
        "distributed_type": "FSDP2 (torch fully_shard)",
    }
    (output_dir / f"rank{rank}.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    dist.barrier()
    if owns_group:
        dist.destroy_process_group()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--backbone", choices=("resnet", "swin"), default="resnet")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--per-device-batch-size", type=int, default=2)
    parser.add_argument("--activation-checkpointing", action="store_true")
    parser.add_argument("--fsdp2", action="store_true", help="shard with torch FSDP2 and a plain loop (CPU works)")
    args = parser.parse_args()
    if args.fsdp2:
        summary = run_fsdp2_smoke(args.output_dir, args.backbone, args.steps, args.per_device_batch_size)
    else:
        summary = run_smoke(args.output_dir, args.backbone, args.steps, args.per_device_batch_size,
                            activation_checkpointing=args.activation_checkpointing)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
