"""Shared fixtures: the real public ECG samples beside the project."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "ecg-samples"


@pytest.fixture(scope="session")
def samples() -> Path:
    """Folder of real public ECG files; tests using it skip when it is absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"real ECG samples not found at {SAMPLES} (they live outside the repository)")
    return SAMPLES
