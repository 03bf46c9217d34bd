"""The contract every registered command keeps, checked over the command registry.

A new module in ``glassnet/cli/commands/`` is covered by these tests without
touching them: ``--help`` works and shows the command's own description, a
usage mistake is one ``glassnet: error:`` line with exit status 2, a glassnet
error raised while the command runs is one line with exit status 2, and
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from glassnet.cli.main import build_parser, main
from glassnet.cli.registry import COMMANDS, discover
from glassnet.errors import ConfigError

NAMES = sorted(discover())


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _minimal_argv(name: str, where) -> list[str]:
    """The command with a value for each required argument: a choice when there are choices, else a path."""
    argv = [name]
    for action in _subparser(name)._actions:
        if not (action.required or (not action.option_strings and action.nargs not in ("?", "*"))):
            continue
        if action.option_strings:
            argv.append(action.option_strings[0])
        value = sorted(action.choices)[0] if action.choices else str(where)
        argv.extend([value] * (1 if action.nargs in (None, "?", "+") else int(action.nargs)))
    return argv


def test_every_command_module_registers_at_least_one_command():
    assert set(NAMES) >= {"train", "gradcheck", "doctor", "evaluate", "predict", "info", "report", "explain"}
    assert all(COMMANDS[name].run is not None and COMMANDS[name].help for name in NAMES)


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert f"\n    {name} " in out or f"\n    {name}\n" in out, name


@pytest.mark.parametrize("name", NAMES)
def test_help_shows_the_commands_own_description(name, capsys):
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: glassnet {name}")
    first_words = " ".join(COMMANDS[name].description.split()[:6])
    assert first_words in " ".join(out.split())


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_option_is_one_error_line_and_exit_2(name, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main([*_minimal_argv(name, tmp_path), "--no-such-option"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("glassnet: error: ")
    assert "--no-such-option" in err


@pytest.mark.parametrize("name", NAMES)
def test_an_error_while_running_is_one_line_and_debug_shows_the_traceback(name, tmp_path, capsys, monkeypatch):
    def planted(args):
        raise ConfigError(f"planted failure in {name}\nsecond line")

    monkeypatch.setitem(COMMANDS, name, dataclasses.replace(COMMANDS[name], run=planted))
    argv = _minimal_argv(name, tmp_path)
    assert main(argv) == 2
    assert capsys.readouterr().err == f"glassnet: error: planted failure in {name}\n"
    with pytest.raises(ConfigError, match=f"planted failure in {name}"):
        main(["--debug", *argv])
