"""Module families: one registry (registry.py) of pure SymPy formulations, one file per group.

Importing this package registers every family. Only the costs path imports it (it pulls in
SymPy); the ``tree`` command never does.
"""
from analyzer.costs.formulas import (activations, containers, conv, decoder, embedding, image_encoder,  # noqa: F401
                               linear, mlp, moe, norms, projector, transformer, vit, vit_windowed)
from analyzer.costs.formulas.registry import REGISTRY, FamilyError, family, get, inclusive  # noqa: F401
