"""``modelsync completion bash|zsh|fish``: the shell's completion script, from argcomplete.

argcomplete completes from the argparse parser itself, so every command, flag and choice
completes with nothing kept by hand; the script calls ``modelsync`` back with
``_ARGCOMPLETE`` set, and ``main`` hands the parser to argcomplete before parsing (argcomplete
is imported only then: ordinary runs never load it). ``attach_completers`` adds the values
argparse cannot know: cluster names (folders of ``clusters/`` holding a ``cluster.yaml``) and
preset names.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

SHELLS = ("bash", "zsh", "fish")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "completion",
        help="print the shell completion script (bash, zsh, fish)",
        description="Print the completion script for a shell. bash: "
        'eval "$(modelsync completion bash)" in ~/.bashrc; zsh: the same in ~/.zshrc; '
        "fish: modelsync completion fish > ~/.config/fish/completions/modelsync.fish",
    )
    parser.add_argument("shell", choices=SHELLS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(["modelsync"], shell=args.shell))
    return 0


def cluster_names(parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """Clusters under ``--path`` (default ``clusters``) of ``--repo`` (default ``.``)."""
    from controller.core.layout import CLUSTER_FILE

    repo = getattr(parsed_args, "repo", None)
    root = Path(repo) if isinstance(repo, (str, Path)) and Path(repo).is_dir() else Path()
    folder = root / (getattr(parsed_args, "path", None) or "clusters")
    return sorted(p.parent.name for p in folder.glob(f"*/{CLUSTER_FILE}"))


def preset_names(**_: Any) -> list[str]:
    from controller.cli.presets import repo_catalog

    return sorted(repo_catalog().presets)


def attach_completers(parser: argparse.ArgumentParser) -> None:
    """Cluster names for every ``--cluster``, preset names for ``presets show NAME``."""
    for owner, action in _actions(parser):
        completer: Callable[..., list[str]] | None = None
        if "--cluster" in action.option_strings:
            completer = cluster_names
        elif owner.prog.endswith(" presets show") and action.dest == "name":
            completer = preset_names
        if completer is not None:
            # argcomplete reads this attribute; argparse's Action does not declare it.
            setattr(action, "completer", completer)  # noqa: B010


def _actions(
    parser: argparse.ArgumentParser,
) -> Iterable[tuple[argparse.ArgumentParser, argparse.Action]]:
    for action in parser._actions:
        yield parser, action
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)
