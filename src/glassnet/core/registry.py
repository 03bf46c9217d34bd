"""The two operations every glassnet registry shares: adding an entry and looking one up.

glassnet's registries are plain dicts from a name to a class (activations,
layers, losses, optimizers, schedules) or to a function (initialisers).  They
stay dicts so that code can iterate them and tests can cover every entry;
this module gives them one behaviour:

* :func:`add` refuses a second entry under a taken name, so a typo'd
  subclass cannot silently replace a built-in one;
* :func:`build` turns a spec into an instance the same way everywhere:

  ======================  ==========================================
  spec                    result
  ======================  ==========================================
  registered name         ``registry[name](**kwargs)``
  instance of ``base``    the instance itself; kwargs are an error
  anything else           ``ConfigError`` listing the known names
  bad kwargs              ``ConfigError`` naming the entry
  ======================  ==========================================

  (``get_loss("x", l=1)`` and ``get_loss(instance, l=1)`` used to differ:
  the second ignored its keyword arguments.)

Example::

    ACTIVATIONS: dict[str, type[ActivationFunction]] = {}
    register = adder(ACTIVATIONS, "activation")      # class decorator

    def get_activation(spec, **kwargs):
        return build(ACTIVATIONS, "activation", spec, ActivationFunction, kwargs)
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, TypeVar

from glassnet.errors import ConfigError

__all__ = ["accepts", "add", "adder", "build", "lookup"]

T = TypeVar("T")


def add(registry: dict[str, Any], kind: str, name: str, entry: T) -> T:
    """``registry[name] = entry``; ``ValueError`` if ``name`` is taken or empty."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a {kind} needs a non-empty string name to be registered, got {name!r}")
    if name in registry:
        raise ValueError(f"{kind} {name!r} registered twice ({registry[name]!r} and {entry!r})")
    registry[name] = entry
    return entry


def adder(registry: dict[str, Any], kind: str, key: Callable[[Any], str] = lambda cls: cls.name) -> Callable[[T], T]:
    """A class decorator adding ``cls`` to ``registry`` under ``key(cls)`` (default ``cls.name``)."""

    def register(cls: T) -> T:
        return add(registry, kind, key(cls), cls)

    register.__doc__ = f"Class decorator: add a {kind} to the registry under its name (refuses duplicates)."
    return register


def lookup(registry: dict[str, T], kind: str, name: Any) -> T:
    """``registry[name]``, or a ``ConfigError`` listing the known names."""
    if isinstance(name, str) and name in registry:
        return registry[name]
    plural = kind + ("es" if kind.endswith("s") else "s")
    raise ConfigError(f"unknown {kind} {name!r}; known {plural}: {', '.join(sorted(registry))}")


def build(registry: dict[str, Callable[..., T]], kind: str, spec: Any, base: type, kwargs: dict[str, Any]) -> T:
    """An instance of ``base`` from a registered name and constructor kwargs, or ``spec`` itself.

    An instance passed with keyword arguments is refused rather than silently
    keeping its own settings.
    """
    if isinstance(spec, base):
        if kwargs:
            raise ConfigError(
                f"keyword arguments {sorted(kwargs)} are only accepted with a {kind} name, "
                f"not with a {type(spec).__name__} instance"
            )
        return spec  # type: ignore[return-value]
    factory = lookup(registry, kind, spec)
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad arguments for {kind} {spec!r}: {exc}") from None


def accepts(factory: Callable[..., Any], argument: str) -> bool:
    """Whether ``factory`` (a registered class or function) takes a keyword ``argument``.

    The registry entries declare their hyperparameters by their constructor
    signature; callers ask this instead of keeping lists of names
    (``accepts(OPTIMIZERS["nesterov"], "momentum")`` is True, for "adam" False).
    """
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return argument in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
