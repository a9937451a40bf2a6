"""Learning curves of networks trained from another network (``lensfinder train --init-weights``).

A run from a network writes that network's epochs (stage ``init``) before its own (``this run``),
numbered on, so the report's learning curve shows where the run began (docs/learning.md).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

__all__ = ["init_history_path", "with_init_history"]

log = logging.getLogger(__name__)


def init_history_path(init_weights):
    """Where the learning curve of the network ``init_weights`` is: its ``.history.csv`` beside it, else the
    ``history`` its sidecar records (``lensfinder train --history`` elsewhere: the workflow's networks
    that training.soup fine-tunes); None when neither is a file."""
    beside = Path(init_weights).with_suffix(".history.csv")
    if beside.is_file():
        return beside
    try:
        recorded = json.loads(Path(init_weights).with_suffix(".json").read_text(encoding="utf-8")).get("history")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(recorded) if isinstance(recorded, str) and Path(recorded).is_file() else None


def with_init_history(history, init_weights):
    """The learning curve to write after starting from ``init_weights``: that network's own epochs
    (:func:`init_history_path`, when there are any) then this run's, numbered on, with a
    ``stage`` column (``init`` or ``this run``)."""
    import pandas as pd

    earlier_path = init_history_path(init_weights)
    if earlier_path is None:
        return history.assign(stage="this run")
    try:
        earlier = pd.read_csv(earlier_path)
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable (%s); the learning curve holds this run's epochs alone", earlier_path, exc)
        return history.assign(stage="this run")
    if "epoch" not in earlier.columns:
        log.warning("%s: no epoch column; the learning curve holds this run's epochs alone", earlier_path)
        return history.assign(stage="this run")
    offset = int(earlier["epoch"].max()) if len(earlier) else 0
    ours = history.assign(stage="this run")
    if len(ours):
        ours["epoch"] = ours["epoch"] + offset
    return pd.concat([earlier.assign(stage="init"), ours], ignore_index=True)
