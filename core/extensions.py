"""Extensions are created once here and bound to the app in ``create_app``."""
from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_socketio import SocketIO
from flask_wtf.csrf import CSRFProtect

from core.db import db  # noqa: F401  (re-exported: one place to import extensions from)

login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[], storage_uri="memory://")
# Threading mode: aiortc runs on its own asyncio loop thread beside it; no eventlet or gevent in-process.
socketio = SocketIO(async_mode="threading")
