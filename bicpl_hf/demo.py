"""The end-to-end demo behind `bicpl demo` (README's main command)."""

from __future__ import annotations

import os
import time

import torch
from transformers import AutoModel, BertTokenizerFast, Trainer, TrainingArguments

from .modeling import BiCPLConfig, BiCPLModel
from .modeling.configuration_bicpl import DEFAULT_CLASS_PROMPTS


class _LesionPairs(torch.utils.data.Dataset):
    """Ear pairs where a bright cube marks a diseased ear (code 2) and clear ears are normal (code 5)."""

    def __init__(self, size: int, image_size: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for i in range(size):
            volume = torch.rand(2, 2, image_size, image_size, image_size, generator=g) * 0.1
            codes = [[2, 5], [5, 2], [5, 5], [2, 2]][i % 4]
            lo, hi = image_size // 4, 3 * image_size // 4
            for ear, code in enumerate(codes):
                if code == 2:
                    volume[ear, :, lo:hi, lo:hi, lo:hi] += 0.8
            self.items.append({"pixel_values": volume, "labels": torch.tensor(codes)})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


def _char_tokenizer(directory: str) -> BertTokenizerFast:
    chars = sorted({ch for prompts in DEFAULT_CLASS_PROMPTS.values() for p in prompts for ch in p if not ch.isspace()})
    path = os.path.join(directory, "vocab.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n")
    return BertTokenizerFast(vocab=path)


def run_demo(output_dir: str = "bicpl_demo_output", seed: int = 0, quick: bool = False) -> dict:
    """Build a small model, train it with the stock Trainer, save, reload with AutoModel and diagnose."""
    start = time.time()
    os.makedirs(output_dir, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = _char_tokenizer(output_dir)
    config = BiCPLConfig(
        text_config={"vocab_size": tokenizer.vocab_size, "hidden_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "intermediate_size": 128},
        vision_config={"image_size": [24, 24, 24], "hidden_sizes": [16, 32, 64], "depths": [1, 1, 1],
                       "stage_strides": [1, 2, 2], "stem_channels": 8},
        projection_dim=64,
    )
    model = BiCPLModel(config)
    model.initialize_prototypes(tokenizer)
    args = TrainingArguments(
        output_dir=os.path.join(output_dir, "trainer"), per_device_train_batch_size=4,
        max_steps=10 if quick else 40, learning_rate=3e-3, logging_steps=5, report_to=[], use_cpu=True, seed=seed,
        save_strategy="no",
    )
    trainer = Trainer(model=model, args=args, train_dataset=_LesionPairs(16, 24, seed))
    trainer.train()
    model_dir = os.path.join(output_dir, "model")
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    reloaded = AutoModel.from_pretrained(model_dir).eval()
    probe = _LesionPairs(4, 24, seed + 1)
    with torch.no_grad():
        pixel_values = torch.stack([item["pixel_values"] for item in probe])
        probs = reloaded(pixel_values=pixel_values).logits.softmax(-1)
    names = config.class_names
    lines = []
    for i, item in enumerate(probe):
        for ear, side in enumerate(("left", "right")):
            top = int(probs[i, ear].argmax())
            lines.append(f"exam {i} {side:5s}: true code {int(item['labels'][ear])}, predicted code "
                         f"{config.class_codes[top]} {names[top]} (p={float(probs[i, ear, top]):.2f})")
    print("\n".join(lines))
    summary = {"model_dir": model_dir, "seconds": round(time.time() - start, 1)}
    print(f"demo finished in {summary['seconds']} s; model saved to {model_dir}")
    return summary
