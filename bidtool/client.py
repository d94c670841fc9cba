"""The platform's JSON API as bidtool uses it; errors come back as the platform's own messages."""
from __future__ import annotations

import json
from pathlib import Path

import requests


class PlatformError(RuntimeError):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{message} [{code}, HTTP {status}]")
        self.status, self.code, self.message = status, code, message


class Platform:
    def __init__(self, server: str, token: str | None = None, timeout: float = 60):
        self.server = server.rstrip("/")
        self.session = requests.Session()
        self.timeout = timeout
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs):
        response = self.session.request(method, f"{self.server}/api/v1{path}", timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                raise PlatformError(response.status_code, error.get("code", "error"), error.get("message", ""))
            except (ValueError, KeyError):
                raise PlatformError(response.status_code, "http_error", response.text[:300]) from None
        return response.json()


class Home:
    """bidtool's folder: the server and token (config.json) and the holder's keys and certificates."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    def config(self) -> dict:
        return json.loads(self.config_file.read_text()) if self.config_file.exists() else {}

    def save_config(self, **values) -> None:
        config = self.config() | values
        self.config_file.write_text(json.dumps(config, indent=2))
        self.config_file.chmod(0o600)

    def platform(self) -> Platform:
        config = self.config()
        if "server" not in config:
            raise SystemExit("请先登录：bidtool login --server URL --username NAME (log in first)")
        return Platform(config["server"], config.get("token"))

    def file(self, name: str) -> Path:
        return self.path / name
