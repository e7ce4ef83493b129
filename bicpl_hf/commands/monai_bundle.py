# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
r"""`bicpl export-monai-bundle`: a saved model as a MONAI bundle (configs/metadata.json, configs/inference.json, the
weights, docs/README.md, LICENSE); see `bicpl_hf.publishing.monai_bundle`.

Example:
    $ bicpl export-monai-bundle bicpl_bundle --model runs/bicpl/final
    $ cd bicpl_bundle && python -m monai.bundle verify_net_in_out network_def --meta_file configs/metadata.json \\
          --config_file configs/inference.json
"""

from __future__ import annotations

import argparse


def run_export_monai_bundle(args: argparse.Namespace) -> int:
    """Handler of `bicpl export-monai-bundle`."""
    from ..publishing.monai_bundle import export_monai_bundle

    files = export_monai_bundle(args.model, args.bundle_dir, version=args.version, license=args.license)
    print(f"wrote a MONAI bundle of {len(files)} files to {args.bundle_dir}")
    return 0


def add_monai_bundle_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `export-monai-bundle` to the `bicpl` subcommands."""
    parser = subparsers.add_parser("export-monai-bundle", help="export a saved model as a MONAI bundle",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle_dir", metavar="DIR", help="new or empty folder for the bundle")
    parser.add_argument("--model", required=True, help="folder of a saved Bi-CPL model + processor")
    parser.add_argument("--version", default="0.1.0", help="bundle version (default: %(default)s)")
    parser.add_argument("--license", default="Apache-2.0", help="license of the bundle (default: %(default)s)")
    parser.set_defaults(func=run_export_monai_bundle)
    return parser


__all__ = ["add_monai_bundle_parser", "run_export_monai_bundle"]
