"""Take a newer framework release: replace the files the framework owns (its framework-files.txt lists them)
with the release's, and never the user's room (model_handler.py, function.yaml, function-gpu.yaml,
requirements.txt, weights.lock, test_model_handler.py).

SOURCE is the template as a git repository (local path or URL, with --ref TAG), a plain folder, or a wheel
(the package only). A framework file changed here since the installed release stops the upgrade, naming it,
unless --force; the installed release's hashes are in .cvat-function.lock (written by each upgrade) or, before
the first one, taken from the source at --base (default: tag v<installed version>). Nothing is half-written.
Exit code: 0 done (or nothing to do), 1 refused, 2 the source or the repository cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..upgrade import UpgradeError, format_plan, upgrade

HELP = "take a newer framework release (git tag, folder or wheel) without touching your model or labels"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="the template: git URL or path (with --ref), a folder, or a .whl")
    parser.add_argument(
        "--ref", help="tag, branch or commit of a git source (a URL without it: HEAD; a path without it: its files)"
    )
    parser.add_argument(
        "--base", help="the release this repository has now, when it has no .cvat-function.lock (tag, folder or wheel)"
    )
    parser.add_argument("--repo", type=Path, default=Path("."), help="the repository to upgrade (default: .)")
    parser.add_argument("--dry-run", action="store_true", help="list what would change; write nothing")
    parser.add_argument("--force", action="store_true", help="overwrite framework files changed here")


def run(args: argparse.Namespace) -> int:
    try:
        plan = upgrade(args.repo, args.source, ref=args.ref, base=args.base, force=args.force, dry_run=args.dry_run)
    except UpgradeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # while writing: every file was put back
        print(f"error: upgrade failed and was undone, nothing changed: {e}", file=sys.stderr)
        return 2
    print(format_plan(plan, args.dry_run), file=sys.stderr if plan.conflicts else sys.stdout)
    return 1 if plan.conflicts else 0
