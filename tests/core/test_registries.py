"""Every registry behaves the same way: lookup, building, errors and duplicate names.

The cases are generated from the registries themselves, so a new registry
entry (or a new registry added to ``LOOKUPS``) is covered without a new test.
"""

from __future__ import annotations

import pytest

from glassnet.core.activations import ACTIVATIONS, ActivationFunction, get_activation
from glassnet.core.activations import register as register_activation
from glassnet.core.init import INITIALIZERS, get_initializer
from glassnet.core.registry import add, build, lookup
from glassnet.errors import ConfigError
from glassnet.nn.layers import LAYERS, Layer, layer_from_config, register_layer
from glassnet.nn.losses import LOSSES, Loss, get_loss
from glassnet.nn.losses import register as register_loss
from glassnet.optim.optimizers import OPTIMIZERS, Optimizer, get_optimizer
from glassnet.optim.optimizers import register as register_optimizer
from glassnet.optim.schedules import SCHEDULES, Schedule, get_schedule
from glassnet.optim.schedules import register as register_schedule

# (kind as it appears in messages, registry, base class, getter, a keyword that no entry accepts)
LOOKUPS = [
    ("activation", ACTIVATIONS, ActivationFunction, get_activation),
    ("loss", LOSSES, Loss, get_loss),
    ("optimizer", OPTIMIZERS, Optimizer, get_optimizer),
    ("schedule", SCHEDULES, Schedule, get_schedule),
]
REGISTER = {
    "activation": (ACTIVATIONS, register_activation),
    "loss": (LOSSES, register_loss),
    "optimizer": (OPTIMIZERS, register_optimizer),
    "schedule": (SCHEDULES, register_schedule),
}
PLURAL = {"activation": "activations", "loss": "losses", "optimizer": "optimizers", "schedule": "schedules"}


def _default_kwargs(registry, name):
    """The smallest arguments that build the entry (none, or ``lr`` for a schedule); None if it needs more."""
    for kwargs in ({}, {"lr": 0.1}):
        try:
            registry[name](**kwargs)
        except TypeError:
            continue
        return kwargs
    return None


def _default_instance(registry, name):
    kwargs = _default_kwargs(registry, name)
    return None if kwargs is None else registry[name](**kwargs)


@pytest.mark.parametrize(("kind", "registry", "base", "get"), LOOKUPS, ids=[c[0] for c in LOOKUPS])
def test_unknown_name_lists_every_known_name(kind, registry, base, get):
    with pytest.raises(ConfigError) as info:
        get("no-such-entry")
    message = str(info.value)
    assert message.startswith(f"unknown {kind} 'no-such-entry'; known {PLURAL[kind]}: ")
    assert message.split(": ", 1)[1].split(", ") == sorted(registry)
    with pytest.raises(ConfigError, match=f"unknown {kind} 3"):
        get(3)


@pytest.mark.parametrize(("kind", "registry", "base", "get"), LOOKUPS, ids=[c[0] for c in LOOKUPS])
def test_every_entry_builds_by_name_and_an_instance_passes_through(kind, registry, base, get):
    built = 0
    for name in registry:
        instance = _default_instance(registry, name)
        if instance is None:
            continue
        assert isinstance(get(name, **_default_kwargs(registry, name)), registry[name])
        assert get(instance) is instance
        built += 1
    assert built >= 1


@pytest.mark.parametrize(("kind", "registry", "base", "get"), LOOKUPS, ids=[c[0] for c in LOOKUPS])
def test_instance_with_keyword_arguments_is_refused(kind, registry, base, get):
    """An instance keeps its own settings; silently dropping the keywords would hide a mistake."""
    name, instance = next((n, i) for n in sorted(registry) if (i := _default_instance(registry, n)) is not None)
    with pytest.raises(ConfigError, match=f"only accepted with a {kind} name"):
        get(instance, unexpected_setting=1)


@pytest.mark.parametrize(("kind", "registry", "base", "get"), LOOKUPS, ids=[c[0] for c in LOOKUPS])
def test_bad_keyword_names_the_entry(kind, registry, base, get):
    name = sorted(registry)[0]
    with pytest.raises(ConfigError, match=f"bad arguments for {kind} '{name}'"):
        get(name, unexpected_setting=1)


@pytest.mark.parametrize("kind", sorted(REGISTER))
def test_a_duplicate_name_is_refused_and_the_registry_is_unchanged(kind):
    registry, register = REGISTER[kind]
    taken = sorted(registry)[0]
    before = dict(registry)
    impostor = type("Impostor", (), {"name": taken})
    with pytest.raises(ValueError, match=f"{kind} '{taken}' registered twice"):
        register(impostor)
    assert registry == before


def test_a_layer_type_name_is_registered_once():
    before = dict(LAYERS)
    impostor = type("Dense", (Layer,), {})
    with pytest.raises(ValueError, match="layer type 'Dense' registered twice"):
        register_layer(impostor)
    assert LAYERS == before
    with pytest.raises(ConfigError, match="unknown layer type 'Dens'; known layer types: "):
        layer_from_config("Dens", {})


def test_initializers_unknown_name():
    with pytest.raises(ConfigError, match="unknown initializer 'glorot'; known initializers: "):
        get_initializer("glorot")
    assert get_initializer("he_normal") is INITIALIZERS["he_normal"]


def test_registry_primitives_directly():
    registry: dict[str, object] = {}
    assert add(registry, "widget", "a", 1) == 1
    with pytest.raises(ValueError, match="widget 'a' registered twice"):
        add(registry, "widget", "a", 2)
    with pytest.raises(ValueError, match="non-empty string name"):
        add(registry, "widget", "", 3)
    assert registry == {"a": 1}
    assert lookup(registry, "widget", "a") == 1
    with pytest.raises(ConfigError, match="unknown widget 'b'; known widgets: a"):
        lookup(registry, "widget", "b")
    factories = {"pair": lambda x=0: (x, x)}
    assert build(factories, "widget", "pair", tuple, {"x": 2}) == (2, 2)
    assert build(factories, "widget", (1, 2), tuple, {}) == (1, 2)
    with pytest.raises(ConfigError, match="only accepted with a widget name"):
        build(factories, "widget", (1, 2), tuple, {"x": 2})
