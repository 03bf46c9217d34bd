"""``glassnet completion bash|zsh``: the script is generated from the parser, and bash really completes with it."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import subprocess

import pytest

from glassnet.cli.main import main
from glassnet.cli.registry import discover
from glassnet.core.activations import ACTIVATIONS

pytest.importorskip("shtab")


def script(shell: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["completion", shell]) == 0
    return out.getvalue()


def bash_complete(tmp_path, *words: str) -> list[str]:
    """What bash offers for the last of ``words``, with the generated script loaded."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    (tmp_path / "glassnet.bash").write_text(script("bash"))
    line = " ".join(words)
    program = (
        f"source {tmp_path / 'glassnet.bash'}\n"
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); "
        f"COMP_LINE={shlex.quote(line)}; "
        "COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _shtab_glassnet; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [w for w in done.stdout.splitlines() if w]


def test_bash_completes_commands_options_and_registry_choices(tmp_path):
    assert set(bash_complete(tmp_path, "glassnet", "")) >= set(discover())
    assert sorted(bash_complete(tmp_path, "glassnet", "ex")) == ["explain", "export"]
    assert sorted(bash_complete(tmp_path, "glassnet", "train", "--activation", "si")) == \
        sorted(a for a in ACTIVATIONS if a.startswith("si"))
    assert bash_complete(tmp_path, "glassnet", "export", "m.npz", "--format", "") == ["onnx", "safetensors", "torch"]
    assert "--print-config" in bash_complete(tmp_path, "glassnet", "train", "--print")


def test_bash_script_is_valid_bash(tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    (tmp_path / "g.bash").write_text(script("bash"))
    assert subprocess.run(["bash", "-n", str(tmp_path / "g.bash")]).returncode == 0


def test_zsh_script_names_every_command():
    text = script("zsh")
    assert text.startswith("#compdef glassnet")
    for name in discover():
        assert re.search(rf"^\s+{re.escape(name)}:'", text, re.M), name
    if shutil.which("zsh"):
        assert subprocess.run(["zsh", "-n"], input=text, text=True).returncode == 0


def test_unknown_shell_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["completion", "tcsh"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith("glassnet: error: argument shell: invalid choice: 'tcsh'")
