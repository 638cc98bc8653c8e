"""The ``modelsync`` command: argument parsing and dispatch to the subcommands.

Exit codes follow ``flux diff`` / ``argocd app diff``: 0 success or nothing to report,
1 findings or changes, 2 usage or internal error.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from controller import __version__
from controller.cli import control, diff, presets, render, run, status, sync, validate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelsync",
        description="GitOps for LLM workloads: KAITO Workspaces in Git, Helm releases out.",
    )
    parser.add_argument("--version", action="version", version=f"modelsync {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (validate, diff, sync, run, status, render, presets, control):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Imported once a command runs: --version and --help stay as quick as Python itself.
    from controller.adapters.bundled import BundleError
    from controller.core.ports import GitError

    try:
        result: int = args.handler(args)
    except BundleError as e:
        print(f"modelsync: the bundled catalog is broken: {e}", file=sys.stderr)
        return 2
    except GitError as e:
        print(f"modelsync: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `modelsync ... | head -1`: the reader left. Say nothing more (Python would print a
        # traceback while flushing stdout at exit) and exit as a process killed by SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return result
