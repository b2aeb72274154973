"""A scripted app session for benchmarks (Streamlit's ``AppTest``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hfviz.dashboard.ui.state import K_UPLOAD


def scripted_session(root: Path, upload: Sequence[tuple[str, bytes]]) -> Any:
    """A scripted app session (``streamlit.testing.v1.AppTest``) with ``upload`` loaded on the Patient page.

    For benchmarks and checks that drive the app without a browser; the caller switches pages and
    times them (``at.switch_page(...).run()``), so Streamlit stays imported in this module only.

    Parameters
    ----------
    root : Path
        Repository root holding ``app.py`` and ``pages/``.
    upload : sequence of (str, bytes)
        The ECG file(s) to upload.
    """
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(root / "app.py"), default_timeout=120).run()
    at.switch_page("pages/1_Patient.py").run()
    at.file_uploader(key=K_UPLOAD).set_value([(n, b, "application/octet-stream") for n, b in upload]).run()
    return at
