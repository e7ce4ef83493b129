#!/usr/bin/env python
r"""Build a de-identified Bi-CPL dataset from a hospital export (exam sheet + DICOM tree): `bicpl build`
(bicpl_hf/commands/build.py) as a script.

Writes `<output>/dataset` (a `datasets.DatasetDict` with train / validation / test),
`<output>/preprocessor_config.json` and `<output>/build_report.{json,csv}`; see
[`bicpl_hf.data.builder`] for the rules and the output columns.

The salt keys every hash (exam, patient, series). Exam ids are short sequential numbers, so the salt
must be a long secret kept out of the dataset: pass it with `--salt` or the `BICPL_SALT`
environment variable (which stays out of the shell history). `--demo-salt` uses a public salt and
is accepted only for the package's synthetic export (a folder holding its `ground_truth.json`).

Examples:
    BICPL_SALT=$(cat ~/secret-salt) python datasets_scripts/build_dataset.py \\
        --export export.xlsx --dicom-root /data/pacs --output built --num-proc 8

    python datasets_scripts/build_dataset.py --export synthetic/export.xlsx \\
        --dicom-root synthetic/dicom --output built-demo --demo-salt --roi-shape 32 32 32
"""

from __future__ import annotations

import sys

from bicpl_hf.commands.build import main

if __name__ == "__main__":
    sys.exit(main())
