"""The runtime's one error family, and how a program reports it before exiting.

Everything a user can get wrong in a Workspace (a bad config file, a missing dataset, QLoRA
asked for where there is no GPU) becomes a ``ConfigError``; the entry points turn it into a
single stderr line and exit code 2, so a pod log shows the reason and nothing else, and a
Job's ``podFailurePolicy`` can stop retrying on that code. Anything else is a bug or an
infrastructure failure and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from modelsync_runtime import EXIT_CONFIG_ERROR

__all__ = ["ConfigError", "exit_with_config_error"]


class ConfigError(Exception):
    """The configuration cannot be used as given; the message is one line for the pod log."""


def exit_with_config_error(program: str, error: ConfigError) -> NoReturn:
    """Print ``<program>: error: <reason>`` on one line and exit with code 2."""
    reason = " ".join(str(error).split())
    print(f"{program}: error: {reason}", file=sys.stderr, flush=True)
    sys.exit(EXIT_CONFIG_ERROR)
