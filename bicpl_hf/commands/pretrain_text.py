# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""`bicpl pretrain-text`: pretrain the BERT-family text tower offline on a local Chinese medical corpus.

The corpus is the package's otology knowledge base (unless --no-knowledge-base), the TRAIN split's reports of a built
dataset (--dataset; never validation / test), PyCMeKG's ENT diseases (--pycmekg, needs `pip install bicpl-hf[kg]`)
and your own .txt (one text per line) / .jsonl ("text" field) files (--corpus). The output folder is a standard
BERT checkpoint (config.json, model.safetensors, tokenizer files) plus pretraining.json (texts per source, steps,
loss, seconds); `BiCPLModel.from_text_pretrained(folder)` starts Bi-CPL's text tower from it.

Example:
    $ bicpl pretrain-text --output-dir text-tower --dataset built/ --epochs 5
    >>> from bicpl_hf import BiCPLModel
    >>> model = BiCPLModel.from_text_pretrained("text-tower")  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .errors import CommandError


def run_pretrain_text(args: argparse.Namespace) -> int:
    """Handler of `bicpl pretrain-text`."""
    output = Path(args.output_dir)
    if output.exists() and any(output.iterdir()):
        raise FileExistsError(f"--output-dir {output} already has content; give a new or empty folder")
    for path in args.corpus:
        if not Path(path).is_file():
            raise FileNotFoundError(f"--corpus {path} does not exist")
    if args.tokenizer is not None and not Path(args.tokenizer).is_dir():
        raise FileNotFoundError(f"--tokenizer {args.tokenizer} is not a folder with a saved tokenizer")
    if args.hidden_size % args.heads:
        raise ValueError(f"--hidden-size {args.hidden_size} must be a multiple of --heads {args.heads}")
    from ..text.pretraining import pretraining_corpus

    try:  # first, so that a bad corpus fails before torch loads
        corpus = pretraining_corpus(knowledge_base=not args.no_knowledge_base, dataset=args.dataset,
                                    pycmekg=args.pycmekg, files=args.corpus)
    except ImportError as error:  # the optional extra is missing: bad setup, not a bug
        raise CommandError(str(error)) from error
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ..modeling.configuration_bicpl import DEFAULT_CLASS_PROMPTS
    from ..text.pretraining import pretrain_text_tower
    from ..text.tokenization import build_char_tokenizer

    if args.quiet:
        hf_logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tokenizer is not None:
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    else:
        # the default class prompts' characters too: Bi-CPL's prototypes start from them (as `bicpl train` does)
        prompts = [p for texts in DEFAULT_CLASS_PROMPTS.values() for p in texts]
        tokenizer = build_char_tokenizer(corpus.texts + prompts, output)
    # 256 positions at least: BiCPLProcessor truncates whole reports at 256 tokens, longer than --max-length
    text_config = {"hidden_size": args.hidden_size, "num_hidden_layers": args.layers,
                   "num_attention_heads": args.heads, "intermediate_size": args.intermediate,
                   "max_position_embeddings": max(256, args.max_length)}
    record = pretrain_text_tower(corpus, tokenizer, text_config, output, objective=args.objective, epochs=args.epochs,
                                 batch_size=args.batch_size, learning_rate=args.learning_rate,
                                 max_length=args.max_length, seed=args.seed, device=args.device, quiet=args.quiet)
    for source, count in record["corpus_counts"].items():
        dropped = f" ({count['empty']} empty, {count['duplicate']} duplicate left out)" if count["kept"] < count[
            "read"] else ""
        print(f"{source}: {count['kept']} texts{dropped}")
    print(f"pretrained a {args.layers}-layer, {args.hidden_size}-wide BERT ({record['objective']}, vocabulary "
          f"{len(tokenizer)}) on {record['texts']} texts: {record['steps']} steps, loss {record['first_loss']:.3f} -> "
          f"{record['final_loss']:.3f}, {record['seconds']:.1f} s")
    print(f"wrote {output} (load it with BiCPLModel.from_text_pretrained)")
    return 0


def add_pretrain_text_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `pretrain-text` to the `bicpl` subcommands."""
    parser = subparsers.add_parser("pretrain-text", help="pretrain the text tower offline on a local medical corpus",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", required=True, help="new folder for the pretrained text model")
    corpus = parser.add_argument_group("corpus")
    corpus.add_argument("--dataset", help="output folder of `bicpl build`: its TRAIN split's reports are added")
    corpus.add_argument("--corpus", nargs="+", default=[], metavar="FILE",
                        help=".txt (one text per line) or .jsonl (a \"text\" field per line) files")
    corpus.add_argument("--pycmekg", action="store_true",
                        help="add PyCMeKG's ENT diseases as sentences (pip install bicpl-hf[kg])")
    corpus.add_argument("--no-knowledge-base", action="store_true", help="leave out the otology knowledge base")
    model = parser.add_argument_group("model")
    model.add_argument("--tokenizer", help="folder of a saved BERT tokenizer (default: a character tokenizer of the "
                                           "corpus and the default class prompts)")
    model.add_argument("--hidden-size", type=int, default=64, help="(default: %(default)s)")
    model.add_argument("--layers", type=int, default=2, help="(default: %(default)s)")
    model.add_argument("--heads", type=int, default=4, help="(default: %(default)s)")
    model.add_argument("--intermediate", type=int, default=128, help="feed-forward width (default: %(default)s)")
    model.add_argument("--max-length", type=int, default=128, help="tokens per text (default: %(default)s)")
    training = parser.add_argument_group("training")
    training.add_argument("--objective", choices=["mlm", "mlm+simcse"], default="mlm",
                          help="masked LM, or masked LM plus unsupervised SimCSE (default: %(default)s)")
    training.add_argument("--epochs", type=float, default=10.0, help="(default: %(default)s)")
    training.add_argument("--batch-size", type=int, default=32, help="(default: %(default)s)")
    training.add_argument("--learning-rate", type=float, default=5e-4, help="(default: %(default)s)")
    training.add_argument("--seed", type=int, default=0)
    training.add_argument("--device", choices=["cpu", "auto"], default="cpu",
                          help="cpu, or auto: the accelerator the Trainer finds (default: %(default)s)")
    training.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or training logs")
    parser.set_defaults(func=run_pretrain_text)
    return parser


__all__ = ["add_pretrain_text_parser", "run_pretrain_text"]
