"""``--policy FILE``: the controller's chart policy for the commands that judge or render
Workspaces without a controller (``validate``, ``diff``, ``render``).

The file is the controller's config (or one holding only ``policy:``), read by the
controller's own loader and schema, so CI judges a pull request the way the controller will.
Without the flag the strict defaults apply: what the controller chart installs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from controller.core.chartpolicy import ChartPolicy


class PolicyFileError(Exception):
    """The file given with --policy cannot be read or breaks the config schema."""


def add_policy_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="the controller's config file (or one holding only policy:) whose chart policy "
        "applies; default: the strict defaults the controller chart installs",
    )


def policy_of(args: argparse.Namespace) -> ChartPolicy:
    path: Path | None = args.policy
    if path is None:
        return ChartPolicy()
    from controller.engine.settings import SettingsError, chart_policy, load_settings

    try:
        return chart_policy(load_settings(path))
    except SettingsError as e:
        raise PolicyFileError(f"--policy: {e}") from e
