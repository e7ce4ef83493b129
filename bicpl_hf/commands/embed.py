# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""`bicpl embed`: precomputed embeddings of a built dataset, to probe, retrieve and cluster without the encoder.

Writes a `datasets.DatasetDict` (`save_to_disk`, one split per split of the built dataset) with ONE ROW PER EAR:
`exam_key`, `side` ("left" / "right"), `code` (the ear's class code, -100 = unlabelled), `image_embedding` (the ear's
projected embedding), `text_embedding` (the report's sentences about this ear) and `report_embedding` (the whole
report), all L2-normalised in the model's shared space, so a dot product is the cosine the model uses.

Example:
    $ bicpl embed built/ --model runs/bicpl/final --output embeddings/
    >>> from datasets import load_from_disk
    >>> ears = load_from_disk("embeddings")["test"].with_format("numpy")  # doctest: +SKIP
    >>> (ears["image_embedding"] @ ears["text_embedding"].T).shape  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path

SIDES = ("left", "right")


def _text_embeddings(model, tokenizer, texts: list[str], max_length: int):
    import torch
    import torch.nn.functional as F

    encoded = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    names = ("input_ids", "attention_mask", "token_type_ids")
    encoded = {k: v.to(model.device) for k, v in encoded.items() if k in names}
    with torch.no_grad():
        return F.normalize(model.get_text_features(**encoded).pooler_output.float(), dim=-1).cpu().numpy()


def embed_split(model, processor, split, batch_size: int, progress=None) -> dict[str, list]:
    """The per-ear rows of one split."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    columns = {name: [] for name in ("exam_key", "side", "code", "image_embedding", "text_embedding",
                                     "report_embedding")}
    for start in range(0, len(split), batch_size):
        rows = split[start : start + batch_size]
        pixel_values = torch.as_tensor(np.asarray(rows["pixel_values"], dtype=np.float32))
        with torch.no_grad():
            image = model.get_image_features(pixel_values.to(model.device, model.dtype)).pooler_output
        image = F.normalize(image.float(), dim=-1).cpu().numpy()
        side_texts = [t for pair in zip(rows["left_text"], rows["right_text"]) for t in pair]
        text = _text_embeddings(model, processor.tokenizer, side_texts, processor.side_max_length)
        report = _text_embeddings(model, processor.tokenizer, list(rows["report"]), processor.max_length)
        for i, exam_key in enumerate(rows["exam_key"]):
            for ear, side in enumerate(SIDES):
                columns["exam_key"].append(exam_key)
                columns["side"].append(side)
                columns["code"].append(int(rows[f"{side}_code"][i]))
                columns["image_embedding"].append(image[i, ear])
                columns["text_embedding"].append(text[2 * i + ear])
                columns["report_embedding"].append(report[i])
        if progress is not None:
            progress.update(len(rows["exam_key"]))
    return columns


def run_embed(args: argparse.Namespace) -> int:
    """Handler of `bicpl embed`."""
    from datasets import Dataset, DatasetDict, Features, Sequence, Value
    from tqdm.auto import tqdm
    from transformers import AutoModel, AutoProcessor
    from transformers.utils.logging import disable_progress_bar

    from ..data.splits import load_built_dataset

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    model_dir = Path(args.model)
    if not (model_dir / "config.json").is_file() and not (model_dir / "adapter_config.json").is_file():
        raise FileNotFoundError(f"--model {model_dir} is not a saved Bi-CPL model: config.json is missing")
    output = Path(args.output)
    if output.exists() and any(output.iterdir()):
        raise FileExistsError(f"--output {output} already has content; give a new or empty folder")
    dataset = load_built_dataset(args.dataset)
    splits = args.splits or list(dataset)
    unknown = [s for s in splits if s not in dataset]
    if unknown:
        raise ValueError(f"--splits {unknown}: the dataset has the splits {list(dataset)}")
    if args.quiet:
        disable_progress_bar()
    if (model_dir / "config.json").is_file():
        model = AutoModel.from_pretrained(model_dir)
    else:  # a checkpoint of a `bicpl train --lora_r` run: peft's adapter on the run's base model
        from ..text.lora import load_lora_checkpoint

        model = load_lora_checkpoint(model_dir)
    model = model.to(args.device).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    expected = (2, model.config.vision_config.in_channels, *model.config.vision_config.image_size)
    found = tuple(dataset[splits[0]].features["pixel_values"].shape)
    if found != expected:
        raise ValueError(f"{args.dataset}: pixel_values are {found} per exam but the model expects {expected} "
                         "(build the dataset with the model's processor)")
    dim = model.config.projection_dim
    vector = Sequence(Value("float32"), length=dim)
    features = Features({"exam_key": Value("string"), "side": Value("string"), "code": Value("int64"),
                         "image_embedding": vector, "text_embedding": vector, "report_embedding": vector})
    result = {}
    with tqdm(total=sum(len(dataset[s]) for s in splits), desc="embedding", unit="exam", disable=args.quiet) as bar:
        for name in splits:
            split = dataset[name].with_format("numpy", columns=["pixel_values"], output_all_columns=True)
            result[name] = Dataset.from_dict(embed_split(model, processor, split, args.batch_size, bar),
                                             features=features)
    DatasetDict(result).save_to_disk(str(output))
    print(f"wrote {sum(len(d) for d in result.values())} ear embeddings ({dim} dims) of {splits} to {output}")
    return 0


def add_embed_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `embed` to the `bicpl` subcommands."""
    parser = subparsers.add_parser("embed", help="per-ear image and report embeddings of a built dataset",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="output folder of `bicpl build`")
    parser.add_argument("--model", required=True, help="folder of a saved Bi-CPL model + processor")
    parser.add_argument("--output", required=True, help="new folder for the embeddings (datasets.save_to_disk)")
    parser.add_argument("--splits", nargs="+", help="splits to embed (default: all)")
    parser.add_argument("--batch-size", type=int, default=8, help="exams per forward pass (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_embed)
    return parser


__all__ = ["add_embed_parser", "embed_split", "run_embed"]
