"""The ``modelsync`` command: argument parsing and dispatch to the subcommands.

Exit codes follow ``flux diff`` / ``argocd app diff``: 0 success or nothing to report,
1 findings or changes, 2 usage or internal error (a mistyped command, flag, choice or
cluster included: CI must never pass on a typo), 128 + 13 = 141 when the reader of stdout
left early (``modelsync ... | head -1``), 130 on Ctrl-C.

argparse parses (it starts in a few milliseconds; docs/decisions.md says why not click);
argcomplete completes from the same parser (completion.py); mistyped commands, choices and
flags get a did-you-mean from ``did_you_mean``, the one the validation findings use.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from controller import __version__
from controller.cli import (
    completion,
    control,
    diff,
    presets,
    render,
    run,
    status,
    sync,
    validate,
)
from controller.core.findings import did_you_mean


class Parser(argparse.ArgumentParser):
    """argparse with a did-you-mean on a mistyped command or choice (``modelsync valdate``)."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            names = [str(c) for c in choices]
            hint = did_you_mean(str(value), names)
            raise argparse.ArgumentError(
                action, f"invalid choice: {value!r}{hint} (choose from {', '.join(names)})"
            )

    def unrecognized(self, extra: Sequence[str]) -> NoReturn:
        """Exit 2 on arguments no parser took, with the closest flag of this command."""
        flags = [o for a in self._actions for o in a.option_strings]
        hints = [did_you_mean(e.split("=", 1)[0], flags) for e in extra if e.startswith("-")]
        self.error(f"unrecognized arguments: {' '.join(extra)}{''.join(hints)}")


def build_parser() -> Parser:
    parser = Parser(
        prog="modelsync",
        description="GitOps for LLM workloads: KAITO Workspaces in Git, Helm releases out.",
    )
    parser.add_argument(
        "--version", action="store_true", help="print the version (with --url: the controller's)"
    )
    parser.add_argument(
        "--url",
        dest="controller_url",
        metavar="URL",
        help="with --version: a running controller, e.g. http://localhost:8080",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in (validate, diff, sync, run, status, render, presets, control, completion):
        module.register(commands)
    _remember_parsers(parser)
    completion.attach_completers(parser)
    return parser


def _remember_parsers(parser: argparse.ArgumentParser) -> None:
    """Each (sub)command parser stores itself in ``args.parser_``: unknown flags are reported
    by the command they were given to (argparse's own parse_args reports them at the top)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(parser_=sub)
                _remember_parsers(sub)


def version(url: str | None) -> int:
    print(f"modelsync {__version__}")
    if url is None:
        return 0
    try:
        body = status.controller_status(url)
    except (OSError, ValueError) as e:
        print(f"modelsync --version: cannot ask the controller at {url}: {e}", file=sys.stderr)
        return 2
    print(f"controller {body.get('version', 'unknown')} (cluster {body.get('cluster', '?')})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asking for completions (completion.py)
        import argcomplete

        argcomplete.autocomplete(parser)
    args, extra = parser.parse_known_args(argv)
    if extra:
        getattr(args, "parser_", parser).unrecognized(extra)
    if args.version:
        return _quiet_on_broken_pipe(lambda: version(args.controller_url))
    if args.command is None:
        parser.error("the following arguments are required: COMMAND")
    if args.controller_url is not None:
        parser.error("--url before the command goes with --version; give it after the command")
    # Imported once a command runs: --version and --help stay as quick as Python itself.
    from controller.adapters.bundled import BundleError
    from controller.core.ports import GitError

    try:
        return _quiet_on_broken_pipe(lambda: int(args.handler(args)))
    except BundleError as e:
        print(f"modelsync: the bundled catalog is broken: {e}", file=sys.stderr)
        return 2
    except GitError as e:
        print(f"modelsync: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _quiet_on_broken_pipe(command: Callable[[], int]) -> int:
    try:
        code: int = command()
        sys.stdout.flush()  # a broken pipe shows here, while it can still be handled
    except BrokenPipeError:
        # `modelsync ... | head -1`: the reader left. Say nothing more (Python would print a
        # traceback while flushing stdout at exit) and exit as a process killed by SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return code
