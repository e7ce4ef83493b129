"""Pin every dependency of setup.cfg to its lower bound, as a pip constraints file (`make test-min` uses it).

    python tools/min_constraints.py --skip torch > constraints.txt
    pip install --constraint constraints.txt -e ".[dev]"

Only `install_requires` is pinned: the `dev` tools (pytest, ruff, ...) and the dependencies of the dependencies
resolve as usual, so the run checks that each `>=` bound we promise is enough for the code, and nothing else.
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import configparser
import re
import sys
from pathlib import Path

SETUP_CFG = Path(__file__).resolve().parents[1] / "setup.cfg"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_LOWER = re.compile(r">=\s*([0-9][^,;\s]*)")


def lower_bounds(setup_cfg: str | Path = SETUP_CFG) -> dict[str, str]:
    """`{name: lower bound}` of `[options] install_requires`; every dependency must have a `>=` bound."""
    parser = configparser.ConfigParser(inline_comment_prefixes=None)
    parser.read(setup_cfg, encoding="utf-8")
    bounds, missing = {}, []
    for line in parser["options"]["install_requires"].splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, lower = _NAME.match(line), _LOWER.search(line)
        if name is None or lower is None:
            missing.append(line)
            continue
        bounds[name.group(1)] = lower.group(1)
    if missing:
        raise ValueError(f"{setup_cfg}: no '>=' lower bound in {missing}; every dependency needs one (test-min pins it)")
    return bounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", nargs="*", default=[], metavar="NAME",
                        help="dependencies to leave unpinned, e.g. torch (installed before, from its own index)")
    args = parser.parse_args(argv)
    bounds = lower_bounds()
    unknown = sorted(set(args.skip) - set(bounds))
    if unknown:
        parser.error(f"--skip {' '.join(unknown)}: not in install_requires ({', '.join(bounds)})")
    for name, lower in bounds.items():
        if name not in args.skip:
            print(f"{name}=={lower}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
