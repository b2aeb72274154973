"""The library's exceptions.

Every problem with user-supplied input ends in one of these, with a sentence a
clinician can act on (which file, what was wrong). Pages turn them into
``st.error``, the command line into ``error: …`` with exit code 2.
"""

from __future__ import annotations


class HfvizError(Exception):
    """Base class of every error the library raises on purpose."""


class ECGFormatError(HfvizError, ValueError):
    """An ECG file or array cannot be turned into a valid :class:`~hfviz.ecg.record.ECGRecord`.

    The message names the file and the problem, e.g.
    ``"upload.csv: sampling rate 50 Hz is below the 100 Hz minimum."``
    """


class DataFormatError(HfvizError, ValueError):
    """A table or dataset (cohort CSV, predictions CSV, dataset folder) is malformed."""


class ModelFileError(HfvizError, RuntimeError):
    """A model file is missing, truncated, tampered with (checksum mismatch) or unreadable."""
