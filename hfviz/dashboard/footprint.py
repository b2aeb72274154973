"""How much memory a dashboard session holds: a measured number, not a guess.

:func:`deep_nbytes` walks a session's values (dicts, lists, dataclasses such as
:class:`~hfviz.ecg.prepare.PreparedECG`, numpy arrays, torch tensors, pandas frames, plotly
figures, bytes) and adds up what they hold, counting every object once. It is an estimate of
the Python heap a session keeps alive: array buffers exactly (``nbytes``), Python objects by
``sys.getsizeof``; memory shared with other sessions (the cached model) is not reached because
sessions hold no reference to it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

#: Objects nested deeper than this are not followed (guards against unusual object graphs).
MAX_DEPTH = 12


def deep_nbytes(obj: Any, *, _seen: set[int] | None = None, _depth: int = 0) -> int:
    """Bytes held by ``obj`` and everything it references (each object counted once).

    Parameters
    ----------
    obj : any
        A session-state value.

    Returns
    -------
    int
        Bytes: array and tensor buffers plus ``sys.getsizeof`` of the Python objects around them.
    """
    seen = set() if _seen is None else _seen
    if id(obj) in seen or _depth > MAX_DEPTH or obj is None or isinstance(obj, (bool, int, float, type)):
        return 0
    seen.add(id(obj))
    nxt = {"_seen": seen, "_depth": _depth + 1}
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes) + (deep_nbytes(obj.base, **nxt) if obj.base is not None else 0)
    if isinstance(obj, (bytes, bytearray, str, memoryview)):
        return sys.getsizeof(obj)
    kind = type(obj).__module__.split(".")[0]
    if kind == "torch" and hasattr(obj, "element_size"):
        return int(obj.element_size() * obj.nelement())
    if kind == "pandas" and hasattr(obj, "memory_usage"):
        usage = obj.memory_usage(deep=True)
        return int(usage.sum() if hasattr(usage, "sum") else usage)
    if kind == "plotly" and hasattr(obj, "_data"):
        return sys.getsizeof(obj) + deep_nbytes(obj._data, **nxt) + deep_nbytes(obj._layout, **nxt)
    size = sys.getsizeof(obj)
    if isinstance(obj, Mapping):
        return size + sum(deep_nbytes(k, **nxt) + deep_nbytes(v, **nxt) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return size + sum(deep_nbytes(v, **nxt) for v in obj)
    if hasattr(obj, "__dict__"):
        return size + deep_nbytes(vars(obj), **nxt)
    if hasattr(obj, "__slots__"):
        return size + sum(deep_nbytes(getattr(obj, s, None), **nxt) for s in obj.__slots__)
    return size


def footprint(values: Mapping[str, Any]) -> dict[str, int]:
    """Bytes per key of ``values`` (e.g. a session state) and their ``"total"``; objects shared by keys count once."""
    seen: set[int] = set()
    out = {str(k): deep_nbytes(v, _seen=seen) for k, v in values.items()}
    out["total"] = sum(out.values())
    return out


# --- giving freed memory back to the system (glibc) ---------------------------------------------
#: ``mallopt`` parameter number of ``M_ARENA_MAX`` in glibc's ``malloc.h``.
_M_ARENA_MAX = -8


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    """glibc through ctypes, or ``None`` (another C library or platform: the calls below do nothing)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


def limit_malloc_arenas(n: int) -> bool:
    """Cap glibc's malloc arenas at ``n`` for arenas created from now on (``MALLOC_ARENA_MAX``).

    glibc gives each new thread its own arena (up to 8 per core), and each keeps the high-water
    mark of what its threads once allocated; a server with one script thread per session then
    holds ~100 MB per session it has served. Returns whether the cap was set.
    """
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, int(n)) == 1)


def release_free_memory() -> bool:
    """Return freed heap pages to the operating system (glibc ``malloc_trim(0)``); whether it ran.

    Called after a heavy computation and when a session replaces its ECG: the memory the
    computation used is free inside the process but stays resident until trimmed.
    """
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
