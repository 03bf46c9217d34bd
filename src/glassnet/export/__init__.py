"""Export a trained model to other frameworks' formats: ONNX, safetensors, a PyTorch ``state_dict``.

:data:`EXPORTERS` maps a format name to its :class:`Exporter`; ``glassnet
export --format`` offers exactly these names.  Each exporter imports its
optional package only when called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from glassnet.nn.model import Sequential

__all__ = ["Exporter", "EXPORTERS", "export"]


@dataclass(frozen=True)
class Exporter:
    """A format: ``write(model, path)``, the usual file suffix, and what it needs installed."""

    name: str
    write: Callable[[Sequential, str | os.PathLike], None]
    suffix: str
    needs: str
    description: str


def _onnx(model, path):
    from glassnet.export.onnx import export_onnx

    export_onnx(model, path)


def _safetensors(model, path):
    from glassnet.io.safetensors import save_model_safetensors

    save_model_safetensors(path, model)


def _torch(model, path):
    from glassnet.export.torch import export_torch

    export_torch(model, path)


#: format name -> Exporter
EXPORTERS: dict[str, Exporter] = {
    e.name: e for e in (
        Exporter("onnx", _onnx, ".onnx", 'pip install "glassnet[onnx]"',
                 "an ONNX graph taking raw features, returning probabilities and the label"),
        Exporter("safetensors", _safetensors, ".safetensors", "nothing",
                 "weights plus architecture and preprocessing metadata; glassnet load_model reads it back"),
        Exporter("torch", _torch, ".pt", 'pip install "glassnet[torch]"',
                 "a PyTorch state_dict for glassnet.interop.torch.to_torch's nn.Sequential"),
    )
}


def export(model: Sequential, path: str | os.PathLike, format: str) -> None:
    """Write ``model`` to ``path`` in ``format`` (a key of :data:`EXPORTERS`)."""
    from glassnet.errors import ConfigError

    if format not in EXPORTERS:
        raise ConfigError(f"unknown export format {format!r}; known formats: {', '.join(EXPORTERS)}")
    EXPORTERS[format].write(model, path)
