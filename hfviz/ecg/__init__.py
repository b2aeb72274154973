"""The ECG room: from a file to a validated 12-lead record, its median beat and measurements.

Data flow: file -> :mod:`~hfviz.ecg.io` (``read_ecg``: one reader per format) ->
:mod:`~hfviz.ecg.record` (``ECGRecord``, 12 leads in mV) -> :mod:`~hfviz.ecg.signal`
(500 Hz, cleaning, R peaks, median beat, model input) -> :mod:`~hfviz.ecg.delineate`
(global fiducials) -> :mod:`~hfviz.ecg.measure` (PR/P/QRS/QT/QTc, axes, voltages) -> :mod:`~hfviz.ecg.prepare` (``PreparedECG``, all of it
for one record). Imports only :mod:`hfviz.errors`; nothing here knows about models or pages.
"""
