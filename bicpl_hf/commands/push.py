# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""`bicpl push`: publish a saved Bi-CPL model folder (+ processor) to the Hub as one bundle in one commit.

The token comes from `hf auth login` or the `HF_TOKEN` environment variable, never from the command line
(where it would show up in the shell history and the process list).

Example:
    $ bicpl push runs/bicpl-final my-lab/bicpl-temporal-bone --dry-run
    $ bicpl push runs/bicpl-final my-lab/bicpl-temporal-bone --private \
          --dataset my-lab/tbct --eval-results test_metrics.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _load_model_and_processor(model_dir: Path, processor_dir: Path):
    from ..modeling import BiCPLModel
    from ..processing.processing_bicpl import BiCPLProcessor

    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a saved Bi-CPL model: config.json is missing")
    if not (processor_dir / "processor_config.json").is_file():
        raise FileNotFoundError(
            f"no processor in {processor_dir} (processor_config.json is missing): save the BiCPLProcessor used in "
            "training there with processor.save_pretrained(...), or point --processor-dir at it"
        )
    return BiCPLModel.from_pretrained(model_dir), BiCPLProcessor.from_pretrained(processor_dir)


def _read_eval_results(path: str | None) -> dict | None:
    if path is None:
        return None
    try:
        results = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"--eval-results {path}: cannot read a JSON metrics object ({error})") from error
    if not isinstance(results, dict):
        raise ValueError(f"--eval-results {path} must hold a JSON object of metric name -> number")
    return results


def run_push(args: argparse.Namespace) -> int:
    """Handler of `bicpl push`; prints every file and its size. Returns the exit status."""
    from ..publishing.hub import push_bundle, saved_training_results

    model_dir = Path(args.model_dir)
    try:
        model, processor = _load_model_and_processor(model_dir, Path(args.processor_dir or model_dir))
        upload = push_bundle(
            model,
            processor,
            args.repo_id,
            dry_run=args.dry_run,
            commit_message=args.commit_message,
            private=args.private,
            revision=args.revision,
            create_pr=args.create_pr,
            eval_results=(_read_eval_results(args.eval_results) if args.eval_results is not None
                          else saved_training_results(model_dir)),
            datasets=args.dataset,
            base_model=args.base_model,
            eval_dataset=args.eval_dataset,
            license=args.license,
            tags=args.tag or (),
        )
    except (ValueError, OSError) as error:
        print(f"bicpl push: error: {error}", file=sys.stderr)
        return 2
    print(upload.listing())
    if upload.commit is not None:
        print(upload.commit.commit_url)
    return 0


def add_push_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `push` subcommand to the `bicpl` command's subparsers.

    Example:
        >>> parser = argparse.ArgumentParser(prog="bicpl")
        >>> push = add_push_parser(parser.add_subparsers(dest="command"))
        >>> parser.parse_args(["push", "out", "me/bicpl", "--dry-run"]).dry_run
        True
    """
    push = subparsers.add_parser(
        "push", help="publish a saved model + processor to the Hub in one commit",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    push.add_argument("model_dir", help="folder written by BiCPLModel.save_pretrained")
    push.add_argument("repo_id", help="Hub model repository, namespace/name")
    push.add_argument("--processor-dir", help="folder of the saved BiCPLProcessor (default: model_dir)")
    push.add_argument("--dry-run", action="store_true", help="build the bundle and list every file; upload nothing")
    push.add_argument("--private", action="store_true", default=None, help="create the repository as private")
    push.add_argument("--commit-message", default="Upload Bi-CPL model, processor, prototypes and model card")
    push.add_argument("--revision", help="branch to commit to")
    push.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    push.add_argument("--dataset", action="append", help="Hub id of a training/evaluation dataset (repeatable)")
    push.add_argument("--base-model", help="Hub id of the text tower's pretrained checkpoint")
    push.add_argument("--eval-results", help="JSON file of metric name -> number (from bicpl_hf.metrics); default: "
                      "the eval_results.json / test_results.json that `bicpl train` saved beside the model")
    push.add_argument("--eval-dataset", help="Hub id of the dataset the metrics were computed on")
    push.add_argument("--tag", action="append", help="extra Hub tag of the model card (repeatable)")
    push.add_argument("--license", default="apache-2.0", help="license of the model card (default apache-2.0)")
    push.set_defaults(func=run_push)
    return push


def main(argv: list[str] | None = None) -> int:
    """`python -m bicpl_hf.commands.push push ...`, the same as `bicpl push ...`."""
    parser = argparse.ArgumentParser(prog="bicpl")
    add_push_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    from .errors import run_command

    sys.exit(run_command(main))
