"""JSON helpers shared by every room (imports nothing from hfviz)."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import numpy as np


def json_default(obj: Any) -> Any:
    """The one ``default=`` for :func:`json.dumps`: NumPy scalars and arrays as Python values.

    Parameters
    ----------
    obj : object
        Something :mod:`json` cannot encode by itself.

    Returns
    -------
    object
        ``obj.item()`` for a NumPy scalar (``np.generic``: floats, ints, bools), ``obj.tolist()``
        for an array, otherwise ``str(obj)`` (paths, dates …), so that writing never fails.
    """
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def plain_dict(cfg) -> dict:
    """A config dataclass as a JSON-safe dict: ``dataclasses.asdict`` with tuples turned into lists.

    The one config-to-dict helper (model, pretraining, fine-tuning and reproduce configs alike).
    """
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def print_json(obj: Any) -> None:
    """Write ``obj`` to stdout as indented JSON (the command line's machine-readable output)."""
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
