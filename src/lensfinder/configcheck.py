"""One clear line for a configuration that fails the workflow's schema.

Snakemake's ``validate`` reports a configuration that breaks
``workflow/schemas/config.schema.yaml`` with the whole schema attached: more
than 2,000 lines for one misspelt key, the key itself at the top and the
offending value at the bottom. When it fails, the workflow asks
:func:`schema_problem` for one line instead: the key's dotted path, what is
wrong with it, what the schema expects there (its allowed values, bounds,
default, or the keys that exist, with the nearest to a misspelt one) and
the configuration file (or ``--config``) that set it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from lensfinder.io import nearest_hint

__all__ = ["schema_problem", "setting_source"]

_MISSING = object()


def _lookup(mapping, path: Sequence[str | int]):
    """The value at ``path`` (keys, and list indices as ints) in nested mappings and lists, or ``_MISSING``."""
    node = mapping
    for key in path:
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node):
            node = node[key]
        else:
            return _MISSING
    return node


def _dotted(path: Sequence[str | int]) -> str:
    """``kids.tiles[0]`` for ``["kids", "tiles", 0]``."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text or "(top level)"


def _shown(file) -> str:
    """A file's path relative to the working directory when it lies below it, else as given."""
    relative = os.path.relpath(file)
    return str(file) if relative.startswith("..") else relative


def setting_source(path: Sequence[str | int], files: Sequence[str | os.PathLike] = (),
                   overrides: Mapping | None = None) -> str | None:
    """Which source sets the key at ``path``: ``--config``, the last file that does, or None.

    ``files`` are the configuration files from the lowest precedence to the
    highest (``config/config.yaml`` first, then each ``--configfile``);
    ``overrides`` is ``--config``, which wins over every file. A file that
    cannot be read or parsed is passed over (Snakemake has read them all by
    then, so this does not happen in a run).
    """
    import yaml

    if overrides and _lookup(overrides, path) is not _MISSING:
        return "--config"
    for file in reversed(list(files)):
        try:
            content = yaml.safe_load(Path(file).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if _lookup(content, path) is not _MISSING:
            return _shown(file)
    return None


def _value(value) -> str:
    """A value as the configuration files write it: ``null``, ``true``, ``'dihedral'``, ``[0, 2]``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)


def _kinds(schema: Mapping, values: bool = True) -> list[str]:
    """The kinds of value a (sub)schema takes: its values (unless ``values`` is false), const, types or branches."""
    if "enum" in schema:
        return ["one of " + ", ".join(_value(v) for v in schema["enum"])] if values else []
    if "const" in schema:
        return [_value(schema["const"])]
    if "type" in schema:
        return [" or ".join(schema["type"] if isinstance(schema["type"], list) else [schema["type"]])]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return [" or ".join(kind for branch in schema[key] for kind in _kinds(branch))]
    return []


def _expected(schema: Mapping, values: bool = True) -> str:
    """What a (sub)schema asks for: its kinds of value, bounds and default."""
    parts = _kinds(schema, values)
    for key, words in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in schema:
            parts.append(f"{words} {schema[key]}")
    expected = "expected " + ", ".join(parts) if parts else ""
    if "default" in schema:
        expected += ("; " if expected else "") + f"the default: {_value(schema['default'])}"
    return expected


def _referring(schema: Mapping, error) -> Mapping:
    """The subschema ``error`` was raised by, with the default of the key that reached it through ``$ref``
    (``recipe: {$ref: "#/$defs/recipe", default: broad}``: the shared definition has no default of its own)."""
    node: object = schema
    for key in list(error.absolute_schema_path)[:-1]:  # the path runs through the referring key
        try:
            node = node[key]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return error.schema
    if isinstance(node, Mapping) and "$ref" in node and "default" in node and "default" not in error.schema:
        return {**error.schema, "default": node["default"]}
    return error.schema


def _reads_as_other_than_text(value) -> bool:
    """Whether ``value`` is text that YAML reads as something else (``'6'``, ``'true'``, ``'null'``): what
    Snakemake's ``--config`` leaves of the numbers and booleans inside a mapping (its YAML base loader)."""
    import yaml

    if not isinstance(value, str):
        return False
    try:
        return not isinstance(yaml.safe_load(value), str)
    except yaml.YAMLError:
        return False


def schema_problem(config: Mapping, schema_path: str | os.PathLike, files: Sequence[str | os.PathLike] = (),
                   overrides: Mapping | None = None, prefix: Sequence[str] = ()) -> str | None:
    """One line on the first way ``config`` breaks the schema at ``schema_path``, or None if it does not.

    The line starts with ``config:`` and the key's dotted path (``training.epochs``),
    says what is wrong and what is expected there, and names the source that set
    the key (:func:`setting_source` over ``files`` and ``overrides``). ``config`` may be
    one block of the configuration (``experiments``, with its own schema): ``prefix``
    is its path in the whole configuration (``["experiments"]``). Among several
    problems, jsonschema's ``best_match`` picks the one reported (the most specific).

    Examples
    --------
    A misspelt top-level key: ``config: trainig: unknown key 'trainig' (did you mean 'training'?);
    the keys here: bands, experiments, ... (set in my.yaml; every key: config/README.md)``.
    """
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(dict(config)))
    if error is None:
        return None
    path = [*prefix, *error.absolute_path]
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(str(key) for key in error.instance if key not in known)
        key = unknown[0] if unknown else "?"
        path.append(key)
        what = f"unknown key '{key}'{nearest_hint(key, known)}; the keys here: " + ", ".join(known)
    else:
        what = error.message
        shown = ("type", "enum", "const", "oneOf", "anyOf", "minimum", "maximum", "exclusiveMinimum",
                 "exclusiveMaximum")
        expected = (_expected(_referring(schema, error), values=error.validator != "enum")
                    if error.validator in shown else "")
        if error.validator == "not":  # jsonschema's words ("should not be valid under {...}") say too little
            what = f"{error.instance!r} is not allowed here"
            expected = f"expected {error.schema['description']}" if "description" in error.schema else ""
        if expected:
            what += f"; {expected}"
    source = setting_source(path, files, overrides)
    if source == "--config" and len(path) > 1 and error.validator == "type" and _reads_as_other_than_text(
            error.instance):
        what += ("; Snakemake's --config reads the values inside a mapping or list as text: give them in a "
                 "YAML file with --configfile")
    where = f"set in {source}; " if source else ""
    return (f"config: {_dotted(path)}: {what} "
            f"({where}every key: config/README.md, the schema: workflow/schemas/{Path(schema_path).name})")
