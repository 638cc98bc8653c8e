"""Shell completion: ``modelsync completion SHELL`` prints a script, and a real bash that
sources it completes commands, flags, choices, cluster names and preset names by calling
``modelsync`` back (argcomplete's protocol), in a fresh process as a shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = {
    **os.environ,
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    "PYTHONPATH": str(REPO),
}

# Source the script, then do what bash does on <Tab>: fill COMP_* and call the function the
# script registered for modelsync; print what it offers, one per line.
_ASK = """
eval "$(modelsync completion bash)"
function=$(complete -p modelsync | sed -E 's/.* -F ([^ ]+) .*/\\1/')
read -r -a COMP_WORDS <<< "$LINE"
[[ "$LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$LINE"
COMP_POINT=${#LINE}
"$function" modelsync "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\\n' "${COMPREPLY[@]}"
"""


def complete(line: str, cwd: Path = REPO) -> list[str]:
    done = subprocess.run(
        ["bash", "-c", _ASK],
        cwd=cwd,
        env={**ENV, "LINE": line},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [word.strip() for word in done.stdout.splitlines() if word.strip()]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "-F _python_argcomplete modelsync"),
        ("zsh", "compdef _python_argcomplete modelsync"),
        ("fish", "complete --command modelsync"),
    ],
)
def test_each_shell_gets_a_script(shell: str, marker: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "controller", "completion", shell],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    assert marker in done.stdout
    assert "_ARGCOMPLETE" in done.stdout  # it calls modelsync back for the words


def test_bash_parses_the_script() -> None:
    script = subprocess.run(
        [sys.executable, "-m", "controller", "completion", "bash"],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0


def test_commands_and_flags_complete() -> None:
    assert complete("modelsync val") == ["validate"]
    assert set(complete("modelsync s")) == {"sync", "status", "suspend"}
    assert "--cluster" in complete("modelsync validate --clu")
    assert set(complete("modelsync status -o ")) == {"table", "json", "yaml"}
    assert set(complete("modelsync presets ")) >= {"list", "show", "add"}


def test_cluster_names_come_from_the_clusters_folder(tmp_path: Path) -> None:
    assert complete("modelsync validate --cluster ") == ["dev", "prod"]
    assert complete("modelsync diff --base HEAD --cluster p") == ["prod"]
    for name in ("east", "west"):
        (tmp_path / "fleet" / name).mkdir(parents=True)
        (tmp_path / "fleet" / name / "cluster.yaml").write_text("kind: Cluster\n")
    (tmp_path / "fleet" / "notes").mkdir()
    line = f"modelsync sync --repo {tmp_path} --path fleet --cluster "
    assert complete(line) == ["east", "west"]


def test_preset_names_complete() -> None:
    assert complete("modelsync presets show phi-3.5-mini") == ["phi-3.5-mini-instruct"]


def test_completing_imports_argcomplete_only_then() -> None:
    probe = (
        "import sys, controller.cli.main as m; m.main(['--version']); "
        "print('argcomplete' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=ENV, capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "False"
