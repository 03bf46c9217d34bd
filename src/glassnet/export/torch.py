"""Export a glassnet model as a PyTorch ``state_dict`` file.

::

    export_torch(model, "model.pt")              # glassnet export model.npz --format torch -o model.pt
    net = glassnet.interop.torch.to_torch(model)  # or any nn.Sequential of the same layers
    net.load_state_dict(torch.load("model.pt", weights_only=True))

The keys are those of :func:`glassnet.interop.torch.to_torch`'s
``nn.Sequential``: ``"<i>.weight" = W^T : (n_out, n_in)`` and ``"<i>.bias" =
b : (n_out,)`` for each ``Dense`` layer ``i``, in the model's dtype.  The file
holds tensors only (``torch.load(..., weights_only=True)`` reads it); the
input scaling is not in it (export to safetensors or ONNX to keep it).
Needs PyTorch (``pip install "glassnet[torch]"``).
"""

from __future__ import annotations

import os

from glassnet.errors import ConfigError
from glassnet.io.serialize import atomic_write
from glassnet.nn.model import Sequential

__all__ = ["export_torch"]


def export_torch(model: Sequential, path: str | os.PathLike) -> None:
    """Write the ``state_dict`` of ``to_torch(model)`` atomically to ``path``."""
    try:
        import torch

        from glassnet.interop.torch import to_torch
    except ImportError:
        raise ConfigError('exporting to PyTorch needs torch: pip install "glassnet[torch]"') from None
    state = to_torch(model).state_dict()
    atomic_write(path, lambda f: torch.save(state, f))
