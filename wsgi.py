"""WSGI entry point: ``app`` for a WSGI server, ``socketio`` for the Socket.IO server."""
from core import create_app
from core.extensions import socketio

app = create_app()

__all__ = ["app", "socketio"]
