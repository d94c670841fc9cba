"""Server ingest: concurrent sealed-bid uploads over loopback, against a plain copy (issue 3, Performance).

    .venv/bin/python bench/bench_ingest.py [--quick] [--uploads 20] [--size-mib 200] [--chunk-mib 8]

1. Makes a fresh instance under /tmp with one section and ``--uploads`` enrolled bidders, and seals one
   ``--size-mib`` bid per bidder with its own keys (a real envelope, escrow shares and all) under /tmp.
2. Serves the app in a separate process (``python -m core.serve``) and uploads every bid at once, one thread
   per bidder, over the resumable API: POST /sections/<id>/uploads, PUT /uploads/<id>/chunks?offset=N in
   ``--chunk-mib`` chunks, POST /uploads/<id>/finalise. Every receipt is checked against the platform's
   signing certificate. Reports the aggregate MB/s (10^6 bytes/s) and the server's peak RSS (VmHWM).
   Target: peak < 300 MiB.
3. Copies the same files into the storage folder the same way (one thread per file), best of two runs: a
   plain copy (``shutil.copyfile``, which leaves the bytes in the page cache), and a copy that fsyncs every
   chunk, as the server does for each chunk it accepts. The issue asks for the ratio to the plain copy.

Needs about three times the total size free on /tmp; everything is deleted afterwards.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _setup
from _setup import MiB, load_average, progress

TARGET_RSS_MIB = 300


def write_plaintext(path: Path, size: int) -> None:
    block = memoryview(os.urandom(16 * MiB))
    with open(path, "wb") as out:
        for offset in range(0, size, len(block)):
            out.write(block[:size - offset])


def seal_all(hall, plaintext: Path, directory: Path) -> list[Path]:
    sealed = []
    for n, party in enumerate(progress(hall.bidders, f"sealing {len(hall.bidders)} bids")):
        target = directory / f"bid-{n:02d}.bhe"
        with open(plaintext, "rb") as source, open(target, "wb") as out:
            _setup.seal(hall, party, source, out)
        sealed.append(target)
    return sealed


class Sampler(threading.Thread):
    """Samples the server's resident set, threads and descriptors while the uploads run."""

    def __init__(self, server: _setup.Server) -> None:
        super().__init__(daemon=True)
        self.server, self.stopped, self.peak = server, threading.Event(), {"VmRSS": 0, "Threads": 0, "fds": 0}

    def run(self) -> None:
        while not self.stopped.wait(0.1):
            status = self.server.status()
            for key in self.peak:
                self.peak[key] = max(self.peak[key], status[key])


def upload(url: str, headers: dict, section_id: int, path: Path, chunk: int) -> dict:
    """One bidder's upload over the resumable API; returns the finalised bid as the server answered."""
    import requests

    size = path.stat().st_size
    with requests.Session() as http, open(path, "rb") as source:
        http.headers.update(headers)
        started = http.post(f"{url}/api/v1/sections/{section_id}/uploads", json={"size": size}, timeout=60)
        started.raise_for_status()
        upload_id = started.json()["upload"]
        offset = 0
        while data := source.read(chunk):
            response = http.put(f"{url}/api/v1/uploads/{upload_id}/chunks", params={"offset": offset}, data=data,
                                headers={"Content-Type": "application/octet-stream"}, timeout=300)
            if response.status_code != 200:
                raise RuntimeError(f"chunk at {offset} refused: {response.status_code} {response.text[:300]}")
            offset = response.json()["offset"]
        finalised = http.post(f"{url}/api/v1/uploads/{upload_id}/finalise", timeout=300)
        if finalised.status_code != 201:
            raise RuntimeError(f"finalise refused: {finalised.status_code} {finalised.text[:300]}")
        return finalised.json()


def check_receipts(results: list[dict], sealed: list[Path], hall, platform_pem: str) -> int:
    """Every upload has a receipt signed by the platform, for its bidder and its exact size."""
    from crypto.certificates import load_certificate
    from crypto.signing import verify_document

    certificate = load_certificate(platform_pem.encode())
    good = 0
    for result, path, party in zip(results, sealed, hall.bidders, strict=True):
        receipts = result.get("receipts") or []
        if not receipts:
            continue
        payload = verify_document(receipts[-1]["document"], certificate)
        if (payload["kind"] == "submitted" and payload["size"] == path.stat().st_size
                and payload["bidder"] == party.credit_code):
            good += 1
    return good


def copy_plain(source: Path, target: Path, _chunk: int) -> None:
    shutil.copyfile(source, target)


def copy_durable(source: Path, target: Path, chunk: int) -> None:
    with open(source, "rb") as src, open(target, "wb") as out:
        while data := src.read(chunk):
            out.write(data)
            out.flush()
            os.fsync(out.fileno())


def timed_copies(copy, sealed: list[Path], folder: Path, chunk: int, runs: int = 2) -> float:
    """The best of ``runs`` concurrent copies of every file (fresh target files each time)."""
    walls = []
    for _ in range(runs):
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with ThreadPoolExecutor(len(sealed)) as pool:
            list(pool.map(lambda p: copy(p, folder / p.name, chunk), sealed))
        walls.append(time.perf_counter() - started)
        shutil.rmtree(folder)
    return min(walls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 uploads of 16 MiB, for a smoke run")
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--size-mib", type=int, default=200)
    parser.add_argument("--chunk-mib", type=int, default=8, choices=range(1, 9), metavar="1..8")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the server process, e.g. MALLOC_ARENA_MAX=2")
    args = parser.parse_args()
    server_env = dict(item.split("=", 1) for item in args.server_env)
    count, size = (4, 16 * MiB) if args.quick else (args.uploads, args.size_mib * MiB)
    chunk = args.chunk_mib * MiB
    _setup.free_disk_or_exit(Path("/tmp"), 3 * count * size + 2**30)
    print(f"{count} concurrent uploads of {size // MiB} MiB sealed bids, {chunk // MiB} MiB chunks, over 127.0.0.1"
          + (f"; server environment {' '.join(args.server_env)}" if args.server_env else ""))
    with _setup.Instance("bench-ingest-") as instance:
        if instance.unmigrated:
            print(f"(tables created without a migration yet: {len(instance.unmigrated)})")
        hall = _setup.build_hall(count)
        headers = [_setup.bearer(p.user) for p in hall.bidders]
        work = instance.path / "sealed"
        work.mkdir()
        plaintext = work / "plain.bin"
        write_plaintext(plaintext, size)
        sealed = seal_all(hall, plaintext, work)
        plaintext.unlink()
        total = sum(p.stat().st_size for p in sealed)
        section_id = hall.section.id
        instance.release_database()
        with _setup.Server(instance, extra_env=server_env) as server:
            import requests

            platform_pem = requests.get(f"{server.url}/api/v1/platform/certificates", timeout=10).json()["signing"]
            idle = server.status()
            sampler = Sampler(server)
            sampler.start()
            cpu_before, mine_before = server.cpu_seconds(), resource.getrusage(resource.RUSAGE_SELF)
            load_before = load_average()
            started = time.perf_counter()
            with ThreadPoolExecutor(count) as pool:
                results = list(pool.map(lambda i: upload(server.url, headers[i], section_id, sealed[i], chunk),
                                        range(count)))
            wall = time.perf_counter() - started
            sampler.stopped.set()
            sampler.join()
            cpu = server.cpu_seconds() - cpu_before
            mine = resource.getrusage(resource.RUSAGE_SELF)
            client_cpu = mine.ru_utime + mine.ru_stime - mine_before.ru_utime - mine_before.ru_stime
            final = server.status()
            load_after = load_average()
        good = check_receipts(results, sealed, hall, platform_pem)
        plain_wall = timed_copies(copy_plain, sealed, instance.storage / "copy", chunk)
        durable_wall = timed_copies(copy_durable, sealed, instance.storage / "copy", chunk)
    rate, plain_rate, durable_rate = total / wall / 1e6, total / plain_wall / 1e6, total / durable_wall / 1e6
    peak = final["VmHWM"] / 1024
    print(f"uploads: {total / 1e6:.0f} MB in {wall:.1f} s = {rate:.0f} MB/s aggregate "
          f"({rate / count:.1f} MB/s per upload); receipts checked: {good}/{count}")
    print(f"  server CPU {cpu:.1f} s ({cpu / wall:.2f} cores), client CPU {client_cpu:.1f} s; {load_before} before, "
          f"{load_after} after")
    print(f"plain copy (shutil.copyfile, {count} threads, best of 2): {plain_wall:.1f} s = {plain_rate:.0f} MB/s;"
          f" upload/plain copy = {rate / plain_rate:.2f}")
    print(f"copy with fsync every {chunk // MiB} MiB, as the server does (best of 2): {durable_wall:.1f} s = "
          f"{durable_rate:.0f} MB/s; upload/that copy = {rate / durable_rate:.2f}")
    print(f"server memory: idle {idle['VmRSS'] / 1024:.0f} MiB, peak RSS (VmHWM) {peak:.0f} MiB, at the end "
          f"{final['VmRSS'] / 1024:.0f} MiB; peak threads "
          f"{sampler.peak['Threads']}, peak open descriptors {sampler.peak['fds']}")
    verdict = "meets" if peak < TARGET_RSS_MIB else "MISSES"
    print(f"peak server RSS {peak:.0f} MiB {verdict} the {TARGET_RSS_MIB} MiB target")
    return 0 if good == count else 1


if __name__ == "__main__":
    sys.exit(main())
