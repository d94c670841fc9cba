"""Imports every model module, so the metadata (migrations, tests) sees all tables. One list, one place."""
import core.accounts  # noqa: F401
import core.audit  # noqa: F401
import core.notifications  # noqa: F401
import core.storage  # noqa: F401
import trading.models  # noqa: F401
import core.pki  # noqa: F401
import core.pki_api  # noqa: F401
import core.counters  # noqa: F401
import trading.bids  # noqa: F401
import trading.opening  # noqa: F401
import evaluation.experts  # noqa: F401
import evaluation.draw_models  # noqa: F401
import evaluation.media.models  # noqa: F401
import guarantees.models  # noqa: F401
import guarantees.records  # noqa: F401
import supervision.models  # noqa: F401
import evaluation.evaluation_models  # noqa: F401
