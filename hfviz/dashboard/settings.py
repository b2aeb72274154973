"""The app process's settings from the environment (no Streamlit): models folder, torch threads."""

from __future__ import annotations

import os

#: Environment variable that points the app at another models folder (tests, researchers).
MODELS_DIR_ENV = "HFVIZ_MODELS_DIR"
#: Environment variable with the number of torch intra-op threads of the app process (default 1).
TORCH_THREADS_ENV = "HFVIZ_TORCH_THREADS"


def models_dir() -> str | None:
    """Models folder: ``$HFVIZ_MODELS_DIR`` when set, else ``None`` (the repository's ``models/``)."""
    return os.environ.get(MODELS_DIR_ENV) or None


def configure_torch() -> int:
    """Set the app process's torch intra-op threads (``$HFVIZ_TORCH_THREADS``, default 1).

    One thread per request: a server answers several sessions at once, and on 2 shared cores
    two OpenMP threads per request made Integrated Gradients 3-5x slower under load (measured:
    64 steps 2.0 s with 2 threads vs 0.7 s with 1 while other jobs ran).

    Returns
    -------
    int
        The number of threads now set.
    """
    import torch

    try:
        n = max(1, int(os.environ.get(TORCH_THREADS_ENV, "1")))
    except ValueError:
        n = 1
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
