"""The bid package: what gets sealed. A ZIP holding a manifest and the bid's modules.

``bidhall-bid.json`` (canonical JSON) names the section, the filled price form, every module's files with
their sizes and SHA-256, and the creation fingerprint (tool version; hashes of the machine id, the MAC address
and the host name; the time) that the collusion analysis compares after the opening. docs/bid-package.md
specifies it.
"""
from __future__ import annotations

import hashlib
import socket
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from bidtool import __version__
from crypto.canonical import canonical_json, format_utc, parse_canonical_json

MANIFEST = "bidhall-bid.json"
FORMAT = "bidhall.bid-package.v1"
MODULES = ("qualification", "commercial", "technical", "priced_bill")
MODULE_LABELS = {"qualification": "资格审查文件", "commercial": "商务标", "technical": "技术标", "priced_bill": "已标价工程量清单"}


class PackageError(ValueError):
    pass


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def creation_fingerprint(now: datetime | None = None) -> dict[str, str]:
    """Hashes only: the platform compares them between bids, it never needs the machine's identifiers."""
    machine_id = ""
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            machine_id = Path(candidate).read_text().strip()
            break
        except OSError:
            continue
    return {"tool_version": __version__, "machine_id_sha256": _sha256_hex(machine_id or "unknown"),
            "mac_sha256": _sha256_hex(format(uuid.getnode(), "012x")),
            "host_sha256": _sha256_hex(socket.gethostname()),
            "created_at": format_utc(now or datetime.now(timezone.utc))}


def _files_of(path: Path) -> Iterable[tuple[Path, str]]:
    if path.is_file():
        yield path, path.name
    elif path.is_dir():
        for item in sorted(path.rglob("*")):
            if item.is_file():
                yield item, item.relative_to(path).as_posix()
    else:
        raise PackageError(f"找不到文件或文件夹 {path} (no such file or folder)")


def build_package(out: Path, *, ids: dict[str, str], price_form: dict, modules: dict[str, list[Path]],
                  progress: Callable[[int], None] | None = None, fingerprint: dict[str, str] | None = None) -> dict:
    """Write the package ZIP to ``out``; returns the manifest. ``fingerprint`` defaults to this machine's
    (the demo, playing several bidders' machines on one computer, passes each one's)."""
    unknown = set(modules) - set(MODULES)
    if unknown:
        raise PackageError(f"未知的模块 {', '.join(sorted(unknown))}；模块为 {', '.join(MODULES)} (unknown module)")
    if not any(modules.values()):
        raise PackageError("投标文件至少需要一个模块 (a bid needs at least one module)")
    listing: dict[str, list[dict]] = {}
    entries: list[tuple[Path, str]] = []
    for module in MODULES:
        for root in modules.get(module, []):
            for source, relative in _files_of(Path(root)):
                digest, size = hashlib.sha256(), 0
                with open(source, "rb") as stream:
                    while block := stream.read(1 << 20):
                        digest.update(block)
                        size += len(block)
                name = f"modules/{module}/{relative}"
                if any(name == e[1] for e in entries):
                    raise PackageError(f"模块 {module} 中有重名文件 {relative} (duplicate file name)")
                listing.setdefault(module, []).append({"path": relative, "size": size, "sha256": digest.hexdigest()})
                entries.append((source, name))
    manifest = {"format": FORMAT, "ids": ids, "price_form": price_form, "modules": listing,
                "fingerprint": fingerprint or creation_fingerprint()}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr(MANIFEST, canonical_json(manifest))
        for source, name in entries:
            with open(source, "rb") as stream, archive.open(name, "w", force_zip64=True) as target:
                while block := stream.read(1 << 20):
                    target.write(block)
                    if progress:
                        progress(len(block))
    return manifest


def read_manifest(package: Path | str) -> dict:
    """Open a package (e.g. a decrypted bid) and check every file against the manifest."""
    try:
        with zipfile.ZipFile(package) as archive:
            manifest = parse_canonical_json(archive.read(MANIFEST))
            if manifest.get("format") != FORMAT:
                raise PackageError(f"不是 bidhall 投标文件包 (format {manifest.get('format')!r})")
            for module, files in manifest["modules"].items():
                for item in files:
                    digest = hashlib.sha256()
                    with archive.open(f"modules/{module}/{item['path']}") as stream:
                        while block := stream.read(1 << 20):
                            digest.update(block)
                    if digest.hexdigest() != item["sha256"]:
                        raise PackageError(f"文件 {module}/{item['path']} 与清单不符 (file does not match the manifest)")
            return manifest
    except (zipfile.BadZipFile, KeyError) as exc:
        raise PackageError(f"投标文件包已损坏 (the package is damaged): {exc}") from None
