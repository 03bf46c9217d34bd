"""One finding type for everything that judges code or a run: the gradient checker's diagnosis, the
doctor, the checks of a user's own function and the watch over a user's own loop.

A finding is a short code (stable, for ``--json`` and tests), a one-line title, the evidence (numbers)
and what to change.  ``where`` names the layer or tensor when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding"]


@dataclass
class Finding:
    """One problem: a code, a one-line title, the evidence and a suggested fix."""

    code: str
    title: str
    evidence: str
    fix: str
    where: str = ""

    def __str__(self) -> str:
        where = f" [{self.where}]" if self.where else ""
        return f"{self.title}{where}\n  evidence: {self.evidence}\n  fix:      {self.fix}"
