"""The storage folder: files are streamed in with constant memory, hashed on the way, and land atomically.

A file is written to a temporary name, fsynced and renamed, so a crash never leaves half a file under a
real name. Files are addressed by an opaque key, never by a user-supplied name.
"""
from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdMixin, utcnow
from core.errors import ValidationError

CHUNK = 1024 * 1024


class StoredFile(IdMixin, Base):
    __tablename__ = "stored_files"

    key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(120), default="application/octet-stream")
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def path(self) -> Path:
        return storage_root() / self.key


@dataclass
class Written:
    key: str
    size: int
    sha256: str


def storage_root() -> Path:
    return Path(current_app.config["STORAGE_DIR"])


def write_stream(stream: BinaryIO, *, area: str, max_bytes: int, field: str = "file") -> Written:
    """Stream ``stream`` into the storage area, refusing empty and oversize files; nothing is kept on error."""
    folder = storage_root() / area
    folder.mkdir(parents=True, exist_ok=True)
    key = f"{area}/{uuid.uuid4().hex}"
    final = storage_root() / key
    tmp = final.with_suffix(".part")
    digest, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ValidationError(
                        f"文件超过大小上限 {max_bytes // (1024 * 1024)} MiB (file larger than the limit)", field=field)
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise ValidationError("文件为空 (the file is empty)", field=field)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return Written(key, size, digest.hexdigest())


def store_upload(stream: BinaryIO, filename: str, content_type: str | None, *, area: str, max_bytes: int,
                 field: str = "file") -> StoredFile:
    written = write_stream(stream, area=area, max_bytes=max_bytes, field=field)
    safe_name = os.path.basename(filename or "file").strip() or "file"
    return StoredFile(key=written.key, filename=safe_name[:255], size=written.size, sha256=written.sha256,
                      content_type=content_type or "application/octet-stream")
