"""Lazy re-exports for subpackage ``__init__`` modules (PEP 562).

A subpackage names its public objects and the module each lives in; the module
is imported on first attribute access, so ``import lensfinder.learning`` stays
cheap (no TensorFlow, no numba) until a name is used.
"""

from __future__ import annotations

import importlib

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: dict[str, str]):
    """``(__getattr__, __dir__, __all__)`` for a package re-exporting ``names``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict
        Public name -> submodule (relative to ``package``) that defines it.
    """
    exported = sorted(names)

    def __getattr__(name: str):
        try:
            module = names[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__():
        return exported

    return __getattr__, __dir__, exported
