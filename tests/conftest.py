"""One summary line per suite whose size matters to a reader of the CI log (the PyTorch differential tests)."""

from __future__ import annotations

from collections import Counter

#: file -> how the summary line names it
COUNTED = {"tests/interop/test_torch_differential.py": "PyTorch differential suite (float64, relative 1e-10)"}


def pytest_terminal_summary(terminalreporter) -> None:
    for path, title in COUNTED.items():
        outcomes: Counter[str] = Counter()
        for outcome in ("passed", "failed", "skipped", "error", "xfailed", "xpassed"):
            nodes = {r.nodeid for r in terminalreporter.stats.get(outcome, []) if r.nodeid.startswith(path)}
            outcomes[outcome] = len(nodes)
        total = sum(outcomes.values())
        if total:
            terminalreporter.write_line(
                f"{title}: {total} cases, {outcomes['passed']} passed, {outcomes['failed'] + outcomes['error']} "
                f"failed, {outcomes['skipped']} skipped"
            )
