"""docs/own-code.md shows real output: every block after a marker is what the command prints today.

Markers in the page:

* ``<!-- run: glassnet ARGS -->`` followed by a ```` ```text ```` block: the output of ``glassnet ARGS``
  (run from the repository root);
* ``<!-- source: FILE:NAME -->`` followed by a ```` ```python ```` block: the source of function NAME in FILE;
* ``<!-- script: FILE ARGS -->`` followed by a ```` ```text ```` block: the output of ``python FILE ARGS``.

    python tests/check/test_own_code_doc.py --write

rewrites the blocks after a change.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "own-code.md"
MARKER = re.compile(r"<!-- (run|source|script): (.+?) -->\n```(\w+)\n(.*?)```", re.S)


def _run(argv: str) -> str:
    from glassnet.cli.main import main

    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        with contextlib.redirect_stdout(out):
            main(argv.split()[1:])
    finally:
        os.chdir(cwd)
    return out.getvalue()


def _source(spec: str) -> str:
    file, name = spec.rsplit(":", 1)
    text = (REPO / file).read_text()
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return "\n".join(text.splitlines()[node.lineno - 1:node.end_lineno]) + "\n"


def _script(spec: str) -> str:
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, *spec.split()], cwd=REPO, capture_output=True, text=True, timeout=600,
                         env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def rendered(page: str) -> str:
    def block(m: re.Match) -> str:
        kind, spec, lang = m.group(1), m.group(2), m.group(3)
        body = {"run": _run, "source": _source, "script": _script}[kind](spec)
        return f"<!-- {kind}: {spec} -->\n```{lang}\n{body}```"
    return MARKER.sub(block, page)


#: numbers at rounding level (a relative error of 2.10e-07) depend on the BLAS kernel; they are compared masked
ROUNDING = re.compile(r"\d\.\d+e-(0[5-9]|1\d)")


def test_the_page_shows_what_the_commands_print():
    page = DOC.read_text()
    assert len(MARKER.findall(page)) >= 4
    fresh = rendered(page)
    assert ROUNDING.sub("~", fresh) == ROUNDING.sub("~", page), (
        "docs/own-code.md is out of date: python tests/check/test_own_code_doc.py --write")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/check/test_own_code_doc.py --write")
    DOC.write_text(rendered(DOC.read_text()))
    print(f"wrote {DOC}")
