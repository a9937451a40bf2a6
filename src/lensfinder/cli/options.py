"""Argument helpers shared by several steps (argparse lives only in ``lensfinder.cli``)."""

from __future__ import annotations

from lensfinder.constants import HTTP_TIMEOUT_S, PRECISIONS, SCORING_PRECISIONS
from lensfinder.io import InputError, nearest_hint

__all__ = ["add_retry_arguments", "add_precision_argument", "add_scoring_precision_argument", "parse_key_values",
           "non_negative_int", "positive_float"]

def add_retry_arguments(parser, retried: str = "timeouts and 5xx") -> None:
    """``--retries``, ``--backoff`` and ``--timeout`` of every downloading step."""
    parser.add_argument("--retries", type=int, default=4, help=f"retries on {retried}")
    parser.add_argument("--backoff", type=float, default=2.0, help="first retry wait in seconds (doubles)")
    parser.add_argument("--timeout", type=float, default=HTTP_TIMEOUT_S, help="HTTP timeout in seconds")


def add_precision_argument(parser) -> None:
    """``--precision`` of ``lensfinder train`` and ``lensfinder finetune`` (the workflow's training.precision)."""
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="Keras precision policy of the training: auto (the default) is mixed_float16 where a "
                             "GPU is visible and float32 on a CPU")


def add_scoring_precision_argument(parser) -> None:
    """``--precision`` of ``lensfinder infer`` and ``lensfinder rescore`` (the workflow's inference.precision)."""
    parser.add_argument("--precision", choices=SCORING_PRECISIONS, default="float32",
                        help="what the network computes in: mixed_bfloat16 scores the default network about twice "
                             "as fast on CPUs with bfloat16 instructions (AVX-512 BF16, AMX; `lensfinder info` says) "
                             "and slower on others; the logits stay float32 (default float32, as the workflow's "
                             "inference.precision)")


def parse_key_values(items, source: str = "--set", valid=None) -> dict:
    """``key=value`` strings (values read as YAML) as a dict.

    Parameters
    ----------
    items : iterable of str or None
        The repeated ``--set key=value`` option.
    source : str
        What to name in error messages.
    valid : collection of str, optional
        The keys allowed; an unknown key is an :class:`~lensfinder.io.InputError` that lists them.
    """
    import yaml

    out = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"{source}: {item!r}: expected key=value")
        key, text = item.split("=", 1)
        key = key.strip()
        if valid is not None and key not in valid:
            raise InputError(f"{source}: unknown key {key!r}{nearest_hint(key, valid)}; "
                             f"valid keys: {', '.join(sorted(valid))}")
        try:
            out[key] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"{source}: {key}: cannot parse {text!r} as YAML ({exc})") from exc
    return out


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0 (a seed or a shard number: numpy's SeedSequence takes no negative)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= 0") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value}: expected an integer >= 0")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (a PSF FWHM, a size: zero, a negative, inf or nan is no measurement)."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a finite number > 0") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: expected a finite number > 0")
    return value
