"""`bicpl` command line: the end-to-end demo and the package's tools."""

from __future__ import annotations

import argparse
import sys

# Each command module imports only what its options need and leaves the work to its handler, which imports it when
# the command runs: `bicpl --help` or a wrong flag answers without torch (tests/test_startup_imports.py).
from ..data.splits import HELD_OUT_CODE
from .benchmark import add_benchmark_parser, add_seed_arguments
from .build import add_build_arguments
from .devices import check_device, quiet_libraries
from .diagnose import add_diagnose_parser
from .embed import add_embed_parser
from .errors import run_command
from .inspect_dataset import add_inspect_parser
from .monai_bundle import add_monai_bundle_parser
from .pretrain_text import add_pretrain_text_parser
from .push import add_push_parser


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(output_dir=args.output_dir, seed=args.seed, quick=args.quick, num_proc=args.num_proc)
    return 0


def _experiments(args: argparse.Namespace) -> int:
    if args.seeds or args.held_out != HELD_OUT_CODE or args.device or args.enrich_test:  # the multi-seed Setting B runner
        from .benchmark import run_seeds_on_built_dataset

        args.seeds = args.seeds or [args.seed]
        run_seeds_on_built_dataset(args)
        return 0
    from .experiments import run_experiment_command

    run_experiment_command(args.dataset, args.output_dir, variants=args.variants, settings=args.settings,
                           seed=args.seed, contrastive_epochs=args.contrastive_epochs,
                           prototype_epochs=args.prototype_epochs, batch_size=args.batch_size,
                           unseen_false_positive_rate=None if args.no_calibration else args.unseen_false_positive_rate)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bicpl", description=__doc__,
                                     epilog="add --debug anywhere to see the traceback of an error")
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
    add_seed_arguments(experiments)  # --seeds / --held-out / --device: Setting B over seeds, mean ± sd
    experiments.add_argument("--enrich-test", action="store_true",
                             help="re-split by patient with the held-out class and code 4 enriched in test")
    experiments.add_argument("--split-seed", type=int, default=0, help="seed of --enrich-test's patient split")
    experiments.set_defaults(func=_experiments)
    add_benchmark_parser(commands)
    add_push_parser(commands)
    build = commands.add_parser("build", help="build a de-identified dataset from a hospital export",
                                description="see `bicpl build --help`; the same as datasets_scripts/build_dataset.py")
    add_build_arguments(build).set_defaults(func=_build)
    # `bicpl train` takes every TrainingArguments flag: main() hands its arguments to HfArgumentParser.
    commands.add_parser("train", add_help=False, help="train on a built dataset (every TrainingArguments flag)")
    add_diagnose_parser(commands)
    add_inspect_parser(commands)
    add_embed_parser(commands)
    add_pretrain_text_parser(commands)
    add_monai_bundle_parser(commands)
    return parser


def _build(args: argparse.Namespace) -> int:
    from .build import run_build

    return run_build(args)


def _run(argv: list[str]) -> int:
    if argv[:1] == ["train"]:  # every TrainingArguments flag: `bicpl train` parses with HfArgumentParser
        from .train import main as train_main

        return train_main(argv[1:])
    args = build_parser().parse_args(argv)
    check_device(getattr(args, "device", None))  # before any model loads: one `error:` line, not a CUDA traceback
    if getattr(args, "quiet", False) or getattr(args, "no_progress", False):
        quiet_libraries()
    return args.func(args)


def main(argv: list[str] | None = None) -> int:
    """The `bicpl` console script: one `error: ...` line and status 2 on bad input (`--debug`: traceback)."""
    return run_command(_run, argv)


if __name__ == "__main__":
    sys.exit(main())
