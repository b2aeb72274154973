"""Batch: many ECGs (files, or .zip archives of them) scored at once into a sortable, filterable table.

Every ECG is scored with the cohort's shared model; files that cannot be read are listed with one
sentence each. A row opens in the Patient view or on one side of the Compare view, read again
from the uploaded bytes (nothing is stored on disk).
"""

import streamlit as st

from hfviz.dashboard import batch_table, ui, uploads

ui.page_setup()
st.title("Batch")
ui.notice()

files = st.file_uploader(
    "ECG files, or .zip archives of them", accept_multiple_files=True, key=ui.K_BATCH_UPLOAD,
    help=f"Choose many files at once (a WFDB record: its .hea with its .dat/.mat), or .zip archives (folders inside "
         f"are fine; up to {uploads.MAX_ZIP_ENTRIES:,} entries and {uploads.MAX_BATCH_BYTES / 2**20:.0f} MB unpacked). "
         f"Up to {uploads.MAX_BATCH_ECGS:,} ECGs per batch. Files are read in memory, never stored.")
with ui.guard("Scoring the batch"):
    ui.score_batch_upload(files)

result = ui.batch_result()
if result is None:
    st.info("Choose several ECG files (any supported format, mixed formats are fine) or a .zip of them to score "
            "them all in one table.")
    st.stop()

for sentence in result.refused:
    st.error(ui.md_escape(sentence))
n_ok, n_bad = len(result.table), len(result.failures)
summary = f"**{n_ok} ECG{'s' * (n_ok != 1)} scored** against the **{result.cohort_label}**"
if n_bad:
    summary += f"; {n_bad} file{'s' * (n_bad != 1)} could not be scored (listed below)"
if result.skipped:
    summary += (f"; {result.skipped} archive entr{'ies' if result.skipped != 1 else 'y'} skipped as not ECG"
                f"{'s' * (result.skipped != 1)} (folders, hidden files, documents)")
st.markdown(summary + ".")
if not files:
    st.caption("This table is kept from the last batch. To open one of its ECGs, upload the same files again "
               "(uploads are not kept when you leave this page).")

# --- filters, table ----------------------------------------------------------------------------
table = result.table
c1, c2, c3 = st.columns(3)
text = c1.text_input("File name contains", key=ui.K_FILTER_TEXT)
groups = c2.multiselect("Risk group", sorted(table["risk group"].unique()), key=ui.K_FILTER_GROUPS)
formats = c3.multiselect("Format", sorted(table["format"].unique()), key=ui.K_FILTER_FORMATS)
flagged = st.toggle("Only ECGs with quality flags", key=ui.K_FILTER_FLAGGED)
shown = batch_table.filter_table(table, text=text, groups=groups, formats=formats, flagged_only=flagged)

phone = ui.compact_layout()
chosen = ui.show_table(shown, (text, tuple(groups), tuple(formats), flagged), phone=phone)

# --- the chosen ECG ------------------------------------------------------------------------------
if chosen is not None:
    st.markdown(f"**Chosen:** {ui.md_escape(chosen)}")
    b1, b2, b3 = st.columns(3)
    if b1.button("Open in Patient view", key="batch.open", icon=":material/open_in_new:", width="stretch"):
        with ui.guard("Opening the ECG"):
            ui.open_from_batch(files, chosen, "patient")  # switches page when it worked
    if ui.compare_available():
        for col, side in ((b2, "A"), (b3, "B")):
            if col.button(f"Compare with…: make it ECG {side}", key=f"batch.compare_{side}",
                          icon=":material/compare_arrows:", width="stretch"):
                with ui.guard("Opening the ECG"):
                    if ui.open_from_batch(files, chosen, side):
                        st.success(f"{ui.md_escape(chosen)} is now ECG {side} of the Compare page.",
                                   icon=":material/check_circle:")
        sides = ui.compare_labels()
        st.caption("Compare page: " + "; ".join(f"ECG {s} = {ui.md_escape(label) if label else 'not chosen yet'}"
                                                for s, label in sides.items()))
        st.page_link(ui.COMPARE_PAGE, label="Go to the Compare page", icon=":material/compare_arrows:")
if ui.batch_error():
    st.error(ui.md_escape(ui.batch_error()))

st.caption(f"{len(shown)} of {n_ok} ECGs shown. Click a column header to sort, a row to open that ECG in the Patient "
           f"view or compare it. Percentiles and groups are within the {result.cohort_label}; HF-free percentages "
           "come from a **synthetic** cohort's baseline hazard and describe simulated people, not real patients.")
st.download_button("Download the table (CSV)", data=batch_table.table_csv(table, result.cohort_label),
                   file_name="hfviz-batch.csv", mime="text/csv", key="batch.download", icon=":material/download:")

# --- failures ----------------------------------------------------------------------------------------
if n_bad:
    st.subheader(f"Could not be scored ({n_bad})")
    if phone:  # each sentence names its file: a list reads better than a two-column table on a narrow screen
        st.markdown("\n".join(f"- {ui.md_escape(reason)}" for reason in result.failures["reason"]))
    else:
        st.dataframe(result.failures, hide_index=True, key="batch.failures",
                     column_config={"reason": st.column_config.TextColumn("reason", width="large")})
