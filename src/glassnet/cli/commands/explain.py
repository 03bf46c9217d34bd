"""``glassnet explain``: step-by-step derivations, each ending with a live numeric check."""

from __future__ import annotations

import argparse

from glassnet.cli.common import terminal_width
from glassnet.cli.options import DEBUG
from glassnet.cli.registry import Command, register


def add_arguments(x: argparse.ArgumentParser) -> None:
    from glassnet.check.explain import ALIASES, TOPICS

    x.add_argument("--debug", **DEBUG)
    x.add_argument("topic", nargs="?", help=f"topic: {', '.join(TOPICS)} (or {', '.join(ALIASES)}); omit to list "
                   "the topics")
    x.add_argument("--seed", type=int, default=0, help="seed of the random numbers in the live check")


def run(args: argparse.Namespace) -> int:
    from glassnet.check.explain import ALIASES, TOPICS, explain
    from glassnet.core.text import DEFAULT_WIDTH, fit_lines

    width = terminal_width()
    if args.topic is None:  # one line each when not on a terminal, for scripts
        print(fit_lines(f"topics: {', '.join(TOPICS)}", width))
        print(fit_lines("aliases: " + ", ".join(f"{a} = {t}" for a, t in ALIASES.items()), width))
        return 0
    print(explain(args.topic, seed=args.seed, width=width or DEFAULT_WIDTH))
    return 0


register(Command(
    name="explain",
    help="step-by-step derivations, each ending with a live numeric check",
    description="Print a derivation (softmax-cross-entropy or softmax, dense, mse, l2, gradcheck, batchnorm, or any "
    "activation name), fitted to the terminal's width (80 columns when output is not a terminal).",
    add_arguments=add_arguments,
    run=run,
    order=90,
))
