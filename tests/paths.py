"""Paths the tests share, so that no test counts ``parents[...]`` from its own folder.

``REPO`` is the repository root; ``SHARED_MNIST`` lists the places where the real MNIST test set
may lie: ``../shared/data/mnist`` beside the clone (as CI has it), then this machine's copy.
"""
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_MNIST = [REPO.parent / "shared" / "data" / "mnist", Path("/work/shared/data/mnist")]
