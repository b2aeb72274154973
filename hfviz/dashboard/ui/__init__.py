"""The only Streamlit-aware package of hfviz: cached model loader, session state, shared widgets.

Pages stay thin: they read widgets, call one function of the Streamlit-free library
(:mod:`hfviz.risk.assess`, :mod:`hfviz.risk.explain`, :mod:`hfviz.risk.cohort`,
:mod:`hfviz.dashboard.report`, the ``*_figures`` modules) or of this package, and render. This
package holds what every page shares and is the only place that reads ``st.session_state``:

* :func:`get_model` — the read-only :class:`~hfviz.risk.model.RiskModel` of a cohort, loaded once per
  process with ``st.cache_resource`` and shared by every session. Nothing writes to it;
  attributions run on private copies of it (see :mod:`hfviz.risk.model_copies`), at most one in
  flight per session (:mod:`hfviz.dashboard.session_limits`).
* :func:`init_state` — the session's keys, set once (``if key not in st.session_state``); keys are
  named ``"page.widget"``.
* :func:`sidebar` — the cohort selector (key ``"sidebar.cohort"``) and the current ECG, on every
  page.
* :func:`load_uploaded` / :func:`load_example` — uploaded bytes go straight from the browser to
  :func:`hfviz.ecg.io.read_ecg` as ``(name, bytes)`` pairs; nothing is written to disk.
* :func:`guard` — library errors become one ``st.error`` sentence, never a traceback.
* accessors of the session's data (:func:`current_ecg`, :func:`current_ecg_label`, …).

Rooms: :mod:`~hfviz.dashboard.ui.state` (session keys), :mod:`~hfviz.dashboard.ui.models` (shared
models, cohort analyses), :mod:`~hfviz.dashboard.ui.widgets` (page set-up, sidebar, guard),
:mod:`~hfviz.dashboard.ui.ecg_session` (the current ECG), :mod:`~hfviz.dashboard.ui.results`
(attributions, per-session figure cache), :mod:`~hfviz.dashboard.ui.compare` (the Compare page's two
sides), :mod:`~hfviz.dashboard.ui.batch` (the Batch page; imported by that page only),
:mod:`~hfviz.dashboard.ui.testing` (scripted sessions);
everything is re-exported here, so pages write ``ui.get_model()``.

Streamlit-free helpers it uses live in :mod:`hfviz.dashboard.sources` (bundled examples, upload
signatures) and :mod:`hfviz.dashboard.settings` (models folder, torch threads).

Per-patient data (the ECG, its risk and attributions) lives only in the session's own
``st.session_state``; no patient data goes into a process-wide cache, so sessions cannot see
each other's ECGs.
"""

from hfviz.dashboard.session_limits import K_IN_FLIGHT, MAX_IN_FLIGHT_PER_SESSION  # noqa: F401 - tests
from hfviz.dashboard.settings import MODELS_DIR_ENV, models_dir  # noqa: F401 - tests set ui.MODELS_DIR_ENV
from hfviz.dashboard.ui.compare import (  # noqa: F401
    COMPARE_SIDES,
    K_COMPARE_BASELINE,
    K_COMPARE_CACHE,
    K_COMPARE_METHOD,
    K_COMPARE_STEPS,
    compare_attributions,
    compare_cached_figure,
    compare_result,
    compare_risk,
    compare_side,
    compare_side_error,
    compare_side_is_synthetic,
    compare_side_label,
    compare_side_panel,
    init_compare_state,
    load_side_example,
    load_side_upload,
    on_example_chosen,
    side_key,
    take_patient_ecg,
)
from hfviz.dashboard.ui.compare import clear_side as clear_compare_side  # noqa: F401
from hfviz.dashboard.ui.compare import set_side as set_compare_side  # noqa: F401
from hfviz.dashboard.ui.ecg_session import (  # noqa: F401
    clear_ecg,
    current_ecg,
    current_ecg_is_synthetic,
    current_ecg_label,
    ecg_error,
    keep_ecg_with_error,
    load_example,
    load_uploaded,
    set_ecg,
    uploader_identity,
)
from hfviz.dashboard.ui.models import (  # noqa: F401
    MALLOC_ARENAS,
    _load_model,
    cohort_km,
    cohort_label,
    current_cohort,
    get_model,
    get_statement_reader,
    load_predictions_upload,
    predictions_error,
    shipped_analysis,
    uploaded_predictions,
)
from hfviz.dashboard.ui.results import (  # noqa: F401
    _MAX_CACHED_ATTRIBUTIONS,
    attributions,
    attributions_with_progress,
    computed_attributions,
    model_output,
    model_reading,
    session_cached,
    session_footprint,
)
from hfviz.dashboard.ui.state import (  # noqa: F401
    _DEFAULTS,
    K_COHORT,
    K_COMPACT,
    K_ECG,
    K_ECG_ERROR,
    K_ECG_LABEL,
    K_ECG_TOKEN,
    K_EXAMPLE,
    K_FIG_CACHE,
    K_INTERP_CACHE,
    K_PRED_ERROR,
    K_PRED_SIG,
    K_PRED_TABLE,
    K_PRED_UPLOAD,
    K_SOURCE,
    K_UPLOAD,
    K_UPLOAD_ROUND,
    K_UPLOAD_SEEN,
    K_UPLOAD_SIG,
    init_state,
)
from hfviz.dashboard.ui.testing import (  # noqa: F401
    scripted_session,
)
from hfviz.dashboard.ui.widgets import (  # noqa: F401
    PAGE_ICON,
    PAGE_TITLE,
    compact_layout,
    guard,
    notice,
    page_setup,
    require_ecg,
    sidebar,
    sidebar_status,
)
