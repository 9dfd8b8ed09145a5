"""`python -m cvat_function <verb>` (or `cvat-function <verb>`): every module in cvat_function/tools/cli is a verb."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from .tools import cli


def build_parser() -> argparse.ArgumentParser:
    script = Path(sys.argv[0]).name == "cvat-function"  # the console script pyproject.toml declares
    parser = argparse.ArgumentParser(prog="cvat-function" if script else "python -m cvat_function", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for info in sorted(pkgutil.iter_modules(cli.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{cli.__name__}.{info.name}")
        # a verb of two words is a module with an underscore (sync_gpu) and a verb with a hyphen (sync-gpu)
        sub = verbs.add_parser(info.name.replace("_", "-"), help=module.HELP, description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
