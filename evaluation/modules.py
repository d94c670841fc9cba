"""Modular review (模块化评审): the decrypted bids split into their modules, read side by side in the browser.

A bid package (docs/bid-package.md) keeps its files under ``modules/<module>/``; the opening stored the
decrypted package in the storage folder and its manifest (every file's path, size and SHA-256). An expert
picks a module and sees that module of every bidder next to each other. Files are served inline from the
package, never as a download: PDF for the browser's own viewer, text and images as they are. Nothing else is
served inline, and nothing that a browser would run (HTML, SVG) is ever served as itself.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from flask import current_app

from core.db import db
from core.errors import NotFound
from evaluation.evaluation_data import opening_of
from evaluation.evaluation_models import EvaluatedBid, Evaluation
from trading.opening import BidDecryption

#: The modules of docs/bid-package.md in the order a review reads them; others follow alphabetically.
MODULES = {"qualification": "资格审查文件", "commercial": "商务标", "technical": "技术标", "priced_bill": "已标价工程量清单"}
INLINE = {".pdf": "application/pdf", ".txt": "text/plain; charset=utf-8", ".csv": "text/plain; charset=utf-8",
          ".md": "text/plain; charset=utf-8", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
          ".gif": "image/gif", ".webp": "image/webp"}
VIEWERS = {"application/pdf": "pdf", "image/png": "image", "image/jpeg": "image", "image/gif": "image",
           "image/webp": "image"}


@dataclass(frozen=True)
class ModuleFile:
    path: str
    size: int
    sha256: str

    @property
    def content_type(self) -> str | None:
        return INLINE.get(PurePosixPath(self.path).suffix.lower())

    @property
    def viewer(self) -> str:
        """How the page shows it: the PDF viewer, an image, text, or not inline at all."""
        if self.content_type is None:
            return "none"
        return VIEWERS.get(self.content_type, "text")


def _decryption(bid: EvaluatedBid) -> BidDecryption:
    return db.session.scalar(sa.select(BidDecryption).where(BidDecryption.bid_id == bid.bid_id))


def manifest_modules(bid: EvaluatedBid) -> dict[str, list[ModuleFile]]:
    decryption = _decryption(bid)
    modules = json.loads(decryption.manifest or "{}").get("modules", {}) if decryption else {}
    return {name: [ModuleFile(f["path"], int(f["size"]), f["sha256"]) for f in files]
            for name, files in modules.items()}


def modules_of(evaluation: Evaluation) -> list[tuple[str, str]]:
    names = {name for bid in evaluation.bidders for name in manifest_modules(bid)}
    ordered = [m for m in MODULES if m in names] + sorted(names - set(MODULES))
    return [(name, MODULES.get(name, name)) for name in ordered]


def side_by_side(evaluation: Evaluation, module: str) -> list[tuple[EvaluatedBid, list[ModuleFile]]]:
    """Each bidder with its files of ``module`` (an empty list when it has none)."""
    return [(bid, manifest_modules(bid).get(module, [])) for bid in evaluation.bidders]


def read_file(evaluation: Evaluation, bid: EvaluatedBid, module: str, path: str) -> tuple[bytes, ModuleFile]:
    """The file's bytes from the decrypted package, checked against the manifest's size and SHA-256."""
    entry = next((f for f in manifest_modules(bid).get(module, []) if f.path == path), None)
    if entry is None or opening_of(evaluation).id != _decryption(bid).opening_id:
        raise NotFound("投标文件中没有这个文件 (no such file in the bid)")
    package = Path(current_app.config["STORAGE_DIR"]) / _decryption(bid).plaintext_key
    try:
        with zipfile.ZipFile(package) as archive:
            data = archive.read(f"modules/{module}/{path}")
    except (KeyError, FileNotFoundError, zipfile.BadZipFile):
        raise NotFound("解密后的投标文件缺失该文件 (the decrypted package lacks this file)") from None
    if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
        raise NotFound("文件与投标文件清单不符，已拒绝显示 (the file does not match the bid's manifest)",
                       code="file_mismatch")
    return data, entry
