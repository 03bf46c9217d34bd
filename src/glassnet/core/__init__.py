"""The numeric core: stable primitives, activation functions, weight initialisers, the float environment.

Nothing here knows about layers, losses or training; everything else builds on it.
"""
