"""hfviz: heart-failure risk from a 12-lead ECG with an LLM-informed dual-attention network.

Data flows one way through the package::

    io (file) -> record -> preprocess -> model -> survival / explain -> plots -> ui/pages

Research and demonstration software. The shipped models are trained on synthetic data
and are not for clinical decisions.
"""

from hfviz.errors import DataFormatError, ECGFormatError, HfvizError, ModelFileError
from hfviz.ecg.record import LEADS, ECGRecord

__all__ = ["LEADS", "ECGRecord", "HfvizError", "ECGFormatError", "DataFormatError", "ModelFileError"]
__version__ = "0.1.0"
