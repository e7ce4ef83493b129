"""`bicpl` command line: the end-to-end demo and the package's tools."""

from __future__ import annotations

import argparse
import sys

from .build import add_build_arguments
from .diagnose import add_diagnose_parser
from .embed import add_embed_parser
from .inspect import add_inspect_parser
from .monai_bundle import add_monai_bundle_parser
from .push import add_push_parser


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(output_dir=args.output_dir, seed=args.seed, quick=args.quick, num_proc=args.num_proc)
    return 0


def _experiments(args: argparse.Namespace) -> int:
    from .experiments import run_experiment_command

    run_experiment_command(args.dataset, args.output_dir, variants=args.variants, settings=args.settings,
                           seed=args.seed, contrastive_epochs=args.contrastive_epochs,
                           prototype_epochs=args.prototype_epochs, batch_size=args.batch_size,
                           unseen_false_positive_rate=None if args.no_calibration else args.unseen_false_positive_rate)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bicpl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="end-to-end demo on the built-in synthetic data")
    demo.add_argument("--output-dir", default="bicpl_demo_output", help="where data, checkpoints and the report go")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quick", action="store_true", help="a seconds-long run on tiny data (tests use it)")
    demo.add_argument("--num-proc", type=int, default=2, help="processes for data generation and building")
    demo.set_defaults(func=_demo)
    experiments = commands.add_parser("experiments", help="train and evaluate variants on a built dataset")
    experiments.add_argument("dataset", help="output folder of build_dataset.py")
    experiments.add_argument("--output-dir", default="bicpl_experiments")
    experiments.add_argument("--variants", nargs="+", default=["baselines"],
                             help="variant names, or 'baselines' / 'knowledge' / 'all'")
    experiments.add_argument("--settings", nargs="+", default=["A", "B"], choices=["A", "B"])
    experiments.add_argument("--seed", type=int, default=0)
    experiments.add_argument("--contrastive-epochs", type=float, default=6.0)
    experiments.add_argument("--prototype-epochs", type=float, default=8.0)
    experiments.add_argument("--batch-size", type=int, default=8)
    experiments.add_argument("--unseen-false-positive-rate", type=float, default=0.05,
                             help="calibrated stacking: share of validation ears of trained classes that may fall to "
                                  "a class absent from training")
    experiments.add_argument("--no-calibration", action="store_true", help="score with the raw prototype logits")
    experiments.set_defaults(func=_experiments)
    add_push_parser(commands)
    build = commands.add_parser("build", help="build a de-identified dataset from a hospital export",
                                description="see `bicpl build --help`; the same as datasets_scripts/build_dataset.py")
    add_build_arguments(build).set_defaults(func=_build)
    # `bicpl train` takes every TrainingArguments flag: main() hands its arguments to HfArgumentParser.
    commands.add_parser("train", add_help=False, help="train on a built dataset (every TrainingArguments flag)")
    add_diagnose_parser(commands)
    add_inspect_parser(commands)
    add_embed_parser(commands)
    add_monai_bundle_parser(commands)
    return parser


def _build(args: argparse.Namespace) -> int:
    from .build import run_build

    return run_build(args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv[:1] == ["train"]:
            from .train import main as train_main

            return train_main(argv[1:])
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (ValueError, OSError, KeyError) as error:  # bad input: one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
