"""glassnet.core.text: lines and tables that fit a terminal width."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.core.text import MIN_WIDTH, fit_lines, table
from glassnet.errors import ConfigError


def test_fit_lines_wraps_long_lines_with_a_hanging_indent_and_keeps_short_ones():
    text = "short\n    " + " ".join(["word"] * 40)
    out = fit_lines(text, 40).split("\n")
    assert out[0] == "short"
    assert all(len(line) <= 40 for line in out)
    assert out[1].startswith("    word") and all(line.startswith("      word") for line in out[2:])
    assert " ".join(" ".join(out[1:]).split()) == " ".join(["word"] * 40)  # nothing lost


def test_fit_lines_never_cuts_a_word():
    word = "x" * 60
    assert fit_lines(f"a {word}", 40).split("\n") == ["a", f"  {word}"]


def test_table_splits_into_blocks_that_repeat_the_key_columns():
    headers = ["key"] + [f"col{i}" for i in range(8)]
    rows = [[str(r)] + [f"{r * i + 0.123456789:+.9f}" for i in range(8)] for r in range(3)]
    wide = table(headers, rows, width=200)
    assert len(wide) == 5 and max(map(len, wide)) > 80
    narrow = table(headers, rows, width=80)
    assert max(map(len, narrow)) <= 80
    blocks = "\n".join(narrow).split("\n\n")
    assert len(blocks) >= 2 and all(b.split("\n")[0].split()[0] == "key" for b in blocks)
    cells = {c for b in blocks for line in b.split("\n")[2:] for c in line.split()[1:]}
    assert cells == {c for r in rows for c in r[1:]}  # every cell printed exactly in one block


def test_no_width_is_no_limit():
    line = "word " * 50
    assert fit_lines(line) == line
    assert len(table(["a", "b"], [["x" * 60, "y" * 60]])) == 3


def test_width_is_checked():
    with pytest.raises(ConfigError, match="width must be an integer"):
        fit_lines("x", "80")
    assert fit_lines("a " * 30, 5).split("\n")[0] == ("a " * 30).strip()[: MIN_WIDTH].rstrip()


def test_a_rule_is_shortened_not_left_wide():
    assert fit_lines("Title\n" + "=" * 70, 50).split("\n") == ["Title", "=" * 50]
