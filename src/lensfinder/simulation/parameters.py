"""Declared parameters: each one's default, kind, bounds and doc, and the one check they all go through.

:class:`Param` (declared with :func:`param` as a dataclass field, as
lenstronomy's profiles declare their parameter names and bounds) turns a
given value into its stored form or raises an error that names the key.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from lensfinder.io import InputError, nearest_hint

__all__ = ["Param", "param", "POSITIVE", "NON_NEGATIVE", "FRACTION", "AXIS_RATIO"]

#: Common bounds.
POSITIVE, NON_NEGATIVE, FRACTION, AXIS_RATIO = "(0, inf)", "[0, inf)", "[0, 1]", "(0, 1]"

_KIND_OF_DEFAULT = {bool: "flag", int: "integer", float: "number", str: "text", tuple: "range"}


def _interval(text: str):
    """``"(0, 1]"`` -> (0.0, True, 1.0, False): low, low open, high, high open."""
    low, high = (s.strip() for s in text[1:-1].split(","))
    if text[0] not in "([" or text[-1] not in ")]":
        raise ValueError(f"bounds: expected an interval like '(0, 1]', got {text!r}")
    return float(low), text[0] == "(", float(high), text[-1] == ")"


def _bounds_failure(bounds: str, values) -> str | None:
    """What ``values`` violate of the interval ``bounds`` (None: nothing)."""
    low, low_open, high, high_open = _interval(bounds)
    if all((v > low if low_open else v >= low) and (v < high if high_open else v <= high) for v in values):
        return None
    if high == math.inf:
        if low == 0:
            return "must be positive" if low_open else "must not be negative"
        return f"must exceed {low:g}" if low_open else f"must be at least {low:g}"
    return f"must lie in {bounds}"


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


#: a number in exponent form without a decimal point, which YAML 1.1 (PyYAML, Snakemake's config) reads as text
_EXPONENT_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def _numeric(value):
    """``value`` with a string such as ``"1e11"`` read as the number it is; anything else as it was."""
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_numeric(v) for v in value)
    return value


@dataclasses.dataclass(frozen=True)
class Param:
    """One declared parameter.

    Parameters
    ----------
    default : object
        Value of every recipe that does not override it.
    kind : str
        ``number``, ``integer``, ``flag``, ``text``, ``choice``; ``range``
        (``[low, high]``, or one number for a fixed value), ``int_range``,
        ``normal`` (``[mean, sigma]``); ``paths`` (files or directories; one
        string is a list of one), ``names`` (likewise, band names); ``weights`` (a mapping of ``choices`` to
        weights >= 0); ``settings`` (a mapping that ``check`` validates).
    doc : str
        Short description with units (shown in error messages).
    bounds : str, optional
        Interval every number must lie in, e.g. ``"(0, 1]"`` or ``"[0, inf)"``
        (for ranges: both ends).
    choices : tuple of str
        Allowed values (``choice``) or keys (``weights``).
    aliases : tuple of str
        Former names still accepted in overrides.
    check : callable, optional
        ``check(value, where)`` raising :class:`~lensfinder.io.InputError`, for ``settings``.
    """

    default: Any
    kind: str
    doc: str
    bounds: str | None = None
    choices: tuple = ()
    aliases: tuple = ()
    check: Callable | None = None

    def __post_init__(self):
        if self.bounds is not None:
            _interval(self.bounds)  # a typo fails at import

    def checked(self, name: str, value, source: str):
        """``value`` of parameter ``name`` in its stored form (tuples, read-only mappings).

        Raises
        ------
        InputError
            Naming ``source``, ``name``, what was expected and what was given.
        """
        def fail(what):
            raise InputError(f"{source}: {name}: {what} ({self.doc}), got {value!r}")

        kind = self.kind
        if kind == "flag":
            if not isinstance(value, bool):
                fail("expected true or false")
            return value
        if kind in ("text", "choice"):
            if not isinstance(value, str):
                fail("expected a string")
            if kind == "choice" and value not in self.choices:
                fail(f"expected one of {', '.join(self.choices)}")
            return value
        if kind in ("paths", "names"):
            paths = (value,) if isinstance(value, str) else value
            if not isinstance(paths, (list, tuple)) or not all(isinstance(v, str) for v in paths):
                fail("expected a list of " + ("paths" if kind == "paths" else "names"))
            return tuple(paths)
        if kind in ("weights", "settings"):
            if not isinstance(value, Mapping) or (kind == "weights" and not value):
                fail("expected a mapping" + (" kind -> weight" if kind == "weights" else ""))
            for key, w in value.items() if kind == "weights" else ():
                if key not in self.choices:
                    fail(f"unknown kind {key!r}{nearest_hint(key, self.choices)}; "
                         f"expected among {', '.join(self.choices)}")
                if not _is_number(w) or w < 0:
                    fail(f"weight of {key} must be a number >= 0")
            if kind == "weights" and sum(value.values()) <= 0:
                fail("weights must not all be zero")
            if self.check is not None:
                self.check(value, f"{source}: {name}")
            return MappingProxyType(dict(value))
        if kind in ("number", "range", "int_range", "normal"):
            value = _numeric(value)
        if kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                fail("expected an integer")
            numbers = stored = value
        elif kind == "number":
            if not _is_number(value):
                fail("expected a number")
            numbers = stored = float(value)
        else:  # range, int_range, normal: two numbers, or one for a fixed value
            pair = value if isinstance(value, (list, tuple)) else (value, value)
            if len(pair) != 2 or not all(_is_number(v) for v in pair):
                fail("expected [mean, sigma], two numbers" if kind == "normal"
                     else "expected [low, high] (two numbers) or one number")
            if kind == "normal":
                if pair[1] < 0:
                    fail("expected [mean, sigma] with sigma >= 0")
                return float(pair[0]), float(pair[1])
            if pair[0] > pair[1]:
                fail("lower bound larger than upper bound")
            if kind == "int_range":
                if any(v != int(v) for v in pair):
                    fail("expected integers")
                stored = (int(pair[0]), int(pair[1]))
            else:
                stored = (float(pair[0]), float(pair[1]))
            numbers = stored
        what = self.bounds and _bounds_failure(self.bounds, numbers if isinstance(numbers, tuple) else (numbers,))
        if what:
            fail(what)
        return stored


def param(default, doc, kind=None, bounds=None, choices=(), aliases=(), check=None):
    """A dataclass field declared by a :class:`Param` (kind inferred from a scalar default; a pair is a range)."""
    kind = kind or ("choice" if choices and isinstance(default, str) else _KIND_OF_DEFAULT[type(default)])
    return dataclasses.field(metadata={"param": Param(default, kind, doc, bounds, tuple(choices), aliases, check)})
