"""``glassnet export``: write a saved model as ONNX, safetensors or a PyTorch state_dict."""

from __future__ import annotations

import argparse
from pathlib import Path

from glassnet.cli.common import load
from glassnet.cli.options import DEBUG
from glassnet.cli.registry import Command, register


def add_arguments(p: argparse.ArgumentParser) -> None:
    from glassnet.export import EXPORTERS

    p.add_argument("--debug", **DEBUG)
    p.add_argument("model", type=Path, help="a model file written by glassnet train -o")
    p.add_argument("--format", required=True, choices=list(EXPORTERS),
                   help="; ".join(f"{e.name}: {e.description} (needs {e.needs})" for e in EXPORTERS.values()))
    p.add_argument("-o", "--output", type=Path, required=True, help="the file to write")


def run(args: argparse.Namespace) -> int:
    from glassnet.export import export

    model = load(args.model)
    export(model, args.output, args.format)
    print(f"{args.model} ({model.describe()}) exported as {args.format} to {args.output}")
    return 0


register(Command(
    name="export",
    help="export a saved model to ONNX, safetensors or a PyTorch state_dict",
    description="Write a saved model in another framework's format. ONNX: a graph taking the raw features "
    "(the saved scaling is inside it) and returning 'probabilities' and 'label'. safetensors: the weights with "
    "the architecture and preprocessing as metadata (glassnet reads it back). torch: a state_dict.",
    add_arguments=add_arguments,
    run=run,
    order=75,
))
