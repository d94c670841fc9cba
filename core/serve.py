"""``make run``: serve the platform on the embedded defaults and say where to log in."""
from __future__ import annotations

from core.config import server_address
from core.extensions import socketio


def main() -> None:
    from wsgi import app

    host, port = server_address()
    from demo.seed import DEMO_PASSWORD, login_table

    print(f"\nbidhall 电子招标投标交易平台: http://{host}:{port}/  (login: http://{host}:{port}/login)")
    print(f"demo logins, password {DEMO_PASSWORD}:")
    for line in login_table():
        print("  " + line)
    if app.config["ACCELERATOR"] > 1:
        print(f"deadline accelerator ON: every statutory interval divided by {app.config['ACCELERATOR']}")
    socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, use_reloader=False, log_output=False)


if __name__ == "__main__":
    main()
