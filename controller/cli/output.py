"""How every command prints data: ``-o table|json|yaml`` (long form ``--output``).

The CLI's one output seam; a command that prints data uses these four and nothing else:

- ``add_output_option(parser, choices=OUTPUTS)`` adds ``-o/--output`` (default: unset, which
  ``selected`` reads as ``table``, the human form). Pass a mutually exclusive group instead of
  the parser when the command keeps an older ``--format`` beside it.
- ``selected(args, formats=...)`` the output asked for: ``-o`` when given, else the older
  ``--format`` mapped through ``formats`` (``{"text": "table"}``: the names that mean the
  same), else ``table``. Report formats that are not data (``github`` annotations,
  ``markdown`` comments) come back as they are, for the command to write.
- ``emit(data, output, table)`` writes ``data`` (plain dicts, lists, strings, numbers) as
  indented JSON or as YAML (the same document: YAML is made from the JSON, so both carry
  exactly the same values), or calls ``table()`` to print the human form.
- ``print_table(columns, rows)`` a borderless table (rich), sized to the terminal, 160
  columns when stdout is not one; ``console()`` the Console it prints with.

A reader that leaves early (``modelsync status | head -1``) surfaces as ``BrokenPipeError``
from all of them, rich's included; ``main`` turns it into a quiet exit 141.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

OUTPUTS = ("table", "json", "yaml")


def add_output_option(
    parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup,
    choices: Sequence[str] = OUTPUTS,
) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=choices,
        help=f"print as {', '.join(choices)} (default {choices[0]})",
    )


def selected(args: argparse.Namespace, formats: Mapping[str, str] | None = None) -> str:
    output: str | None = getattr(args, "output", None)
    if output:
        return output
    legacy: str | None = getattr(args, "format", None)
    if legacy:
        return (formats or {}).get(legacy, legacy)
    return "table"


def emit(data: object, output: str, table: Callable[[], object]) -> None:
    if output == "json":
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif output == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(json.loads(json.dumps(data)), sort_keys=False))
    else:
        table()


def console() -> Console:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1 on its own; the CLI exits every command alike (main.py).
            raise BrokenPipeError

    return _Console(width=None if sys.stdout.isatty() else 160, highlight=False)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    from rich.table import Table

    table = Table(*columns, box=None, pad_edge=False)
    for row in rows:
        table.add_row(*row)
    console().print(table)
