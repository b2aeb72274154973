"""Colour conventions shared by the dashboard's figures (ECG paper colours live in :mod:`.ecg_figures`)."""

#: Signed scale: red raises risk, blue lowers it (RdBu reversed); the middle is white.
SIGNED_SCALE = "RdBu_r"
#: Sequential scale for non-negative values (attention), white at zero.
UNSIGNED_SCALE = "YlOrRd"
#: One colour per group or method, in legend order (low to high risk).
GROUP_COLOURS = ("#2b7bba", "#f0a030", "#d7301f", "#7b3294", "#1a9850", "#636363")
