"""``glassnet explain``: step-by-step derivations, each ending with a live numeric check."""

from __future__ import annotations

import argparse

from glassnet.cli.options import DEBUG
from glassnet.cli.registry import Command, register


def add_arguments(x: argparse.ArgumentParser) -> None:
    from glassnet.check.explain import TOPICS

    x.add_argument("--debug", **DEBUG)
    x.add_argument("topic", nargs="?", help=f"topic: {', '.join(TOPICS)}; omit to list the topics")
    x.add_argument("--seed", type=int, default=0, help="seed of the random numbers in the live check")


def run(args: argparse.Namespace) -> int:
    from glassnet.check.explain import TOPICS, explain

    if args.topic is None:
        print("topics: " + ", ".join(TOPICS))
        return 0
    print(explain(args.topic, seed=args.seed))
    return 0


register(Command(
    name="explain",
    help="step-by-step derivations, each ending with a live numeric check",
    description="Print a derivation (softmax-cross-entropy, l2, gradcheck, or any activation name).",
    add_arguments=add_arguments,
    run=run,
    order=90,
))
