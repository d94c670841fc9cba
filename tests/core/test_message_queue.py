"""REDIS_URL makes Redis the Socket.IO message queue: an emit from another process reaches a connected client."""
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

REDIS_URL = os.environ.get("BIDHALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_up() -> bool:
    try:
        import redis

        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001 - unreachable in any way means skip
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not _redis_up(), reason="Redis is not reachable (it runs on developer and CI machines)")
def test_an_emit_from_another_process_reaches_clients_through_redis(tmp_path):
    import socketio as socketio_client
    from flask_socketio import SocketIO

    port = _free_port()
    env = dict(os.environ, REDIS_URL=REDIS_URL, BIDHALL_INSTANCE_DIR=str(tmp_path), BIDHALL_PORT=str(port))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=root, env=env, check=True,
                   capture_output=True)
    server = subprocess.Popen([sys.executable, "-m", "core.serve"], cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(f"{url}/api/v1/time", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        received = threading.Event()
        client = socketio_client.Client(reconnection=False)
        client.on("queue_probe", lambda data: received.set() if data == {"from": "another process"} else None)
        client.connect(url, wait_timeout=10)
        try:
            time.sleep(0.5)  # the server has subscribed to the queue by now
            SocketIO(message_queue=REDIS_URL, channel="bidhall-socketio").emit("queue_probe", {"from": "another process"})
            assert received.wait(10), "the message published on Redis never reached the client"
        finally:
            client.disconnect()
    finally:
        server.terminate()
        server.wait(10)


