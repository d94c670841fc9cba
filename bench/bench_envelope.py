"""Bid envelope throughput and memory against the machine's own AES-256-GCM ceiling (issue 3, Performance).

    .venv/bin/python bench/bench_envelope.py [--quick] [--runs 3] [--dir /tmp]

1. Runs ``openssl speed -evp aes-256-gcm -bytes 16384 -seconds 3`` and parses its figure.
2. Seals, opens and (keylessly) verifies a 1 GiB bid file to file, ``--runs`` times, and reports the median
   and best throughput in MB/s (10^6 bytes/s, openssl's unit), the ratio to the openssl figure and the CPU
   seconds used. Target: seal and open ≥ 70% of openssl.
3. Seals and opens a 256 MiB and a 2 GiB bid, each in a fresh child process, and reports the child's peak
   RSS (VmHWM) and its peak before sealing. Target: peak < 100 MiB whatever the size.

Files live under ``--dir`` and are deleted afterwards. Output goes to the page cache (no fsync). Step 2 runs
twice: writing new files each run (what a server does), and rewriting the same files in place. The second is
the steady state of the envelope code itself; the first also measures the VM: memory freed by deleting a file
is returned to the hypervisor after a few seconds (virtio-balloon free page reporting), and the next first
touch of it costs two to three times the normal kernel time, at random. Before timing, 1 GiB is written and
deleted once for the same reason. ``--quick`` uses 64 MiB / 16 MiB / 128 MiB.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from crypto.certificates import (Holder, PlatformCA, create_encryption_request, create_signing_request,  # noqa: E402
                                 generate_encryption_key, generate_signing_key)
from crypto.envelope import (BidIds, open_envelope, read_header, seal, unwrap_content_key,  # noqa: E402
                             verify_envelope)

MiB = 1 << 20
IDS = BidIds("E3504219400202007001", "E3504219400202007001-01", "91350100M000100Y43")
TARGET_RATIO = 0.70
TARGET_RSS_MIB = 100


def openssl_figure(seconds: int) -> tuple[float | None, str]:
    """Bytes per second of ``openssl speed`` AES-256-GCM at 16 KiB blocks, and the command line."""
    command = ["openssl", "speed", "-evp", "aes-256-gcm", "-bytes", "16384", "-seconds", str(seconds)]
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, f"{' '.join(command)} failed: {exc}"
    match = re.search(r"^AES-256-GCM\s+([\d.]+)k\s*$", output, flags=re.M | re.I)
    return (float(match.group(1)) * 1000 if match else None), " ".join(command)


class Parties:
    """A CA, a bidder and three opening officers, as in a real section."""

    def __init__(self) -> None:
        ca = PlatformCA.create("bench CA")
        self.bidder = self._party(ca, "bench bidder", IDS.bidder, "bidder")
        self.officers = [self._party(ca, f"officer {n}", f"user:{n}", "opening_officer") for n in range(3)]

    @staticmethod
    def _party(ca: PlatformCA, name: str, identifier: str, role: str) -> dict:
        signing = generate_signing_key()
        signing_cert = ca.issue_signing_certificate(create_signing_request(signing, name),
                                                    Holder(name, identifier, role))
        encryption = generate_encryption_key()
        encryption_cert = ca.issue_encryption_certificate(
            create_encryption_request(encryption.public_key(), signing, signing_cert), signing_cert,
            revoked_serials=set())
        return {"signing": signing, "signing_cert": signing_cert, "encryption": encryption,
                "encryption_cert": encryption_cert}

    def seal(self, source: Path, target: Path) -> None:
        with open(source, "rb") as plaintext, output(target) as out:
            seal(plaintext, out, ids=IDS, bidder_signing_key=self.bidder["signing"],
                 bidder_signing_cert=self.bidder["signing_cert"],
                 bidder_encryption_cert=self.bidder["encryption_cert"],
                 officers=[(f"user:{n}", o["encryption_cert"]) for n, o in enumerate(self.officers)], threshold=2)
            out.truncate()

    def open(self, source: Path, target: Path) -> None:
        with open(source, "rb") as envelope, output(target) as out:
            key = unwrap_content_key(read_header(envelope), self.bidder["encryption"])
            envelope.seek(0)
            open_envelope(envelope, out, key, expected_ids=IDS, bidder_signing_cert=self.bidder["signing_cert"])
            out.truncate()

    def verify(self, source: Path) -> None:
        with open(source, "rb") as envelope:
            verify_envelope(envelope, expected_ids=IDS, bidder_signing_cert=self.bidder["signing_cert"])


def output(path: Path):
    """A new file, or an existing one rewritten in place (never truncated to zero first: on ext4 that makes
    close() start writeback, which would be timed)."""
    return open(path, "r+b" if path.exists() else "wb")


def write_input(path: Path, size: int) -> None:
    """Random-looking bytes (a 16 MiB random block repeated), flushed to disk so no writeback runs later."""
    block = memoryview(os.urandom(16 * MiB))
    with open(path, "wb") as out:
        for offset in range(0, size, len(block)):
            out.write(block[:size - offset])
        out.flush()
        os.fsync(out.fileno())


def warm_up(directory: Path, size: int) -> None:
    scratch = directory / "warm-up.bin"
    with open(scratch, "wb") as out:
        block = bytes(16 * MiB)
        for _ in range(max(1, size // len(block))):
            out.write(block)
    scratch.unlink()


def busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine so far (all cores, from /proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def timed(action) -> tuple[float, float, float, float]:
    """Wall seconds; this process's user and system CPU seconds; other processes' CPU seconds meanwhile."""
    before, machine, start = resource.getrusage(resource.RUSAGE_SELF), busy_seconds(), time.perf_counter()
    action()
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    return wall, user, system, max(0.0, busy_seconds() - machine - user - system)


def throughput(directory: Path, size: int, runs: int, ceiling: float | None) -> dict[str, dict[str, float]]:
    """Median MB/s of seal, open and verify, writing new files and rewriting the same files."""
    parties = Parties()
    plain, sealed, opened = directory / "bid.tar", directory / "bid.bhe", directory / "opened.tar"
    write_input(plain, size)
    medians: dict[str, dict[str, float]] = {}
    try:
        warm_up(directory, size)
        for mode in ("new files", "rewrite"):
            samples: dict[str, list[tuple[float, ...]]] = {"seal": [], "open": [], "verify": []}
            for _ in range(runs):
                samples["seal"].append(timed(lambda: parties.seal(plain, sealed)))
                samples["open"].append(timed(lambda: parties.open(sealed, opened)))
                samples["verify"].append(timed(lambda: parties.verify(sealed)))
                if mode == "new files":
                    sealed.unlink()
                    opened.unlink()
            medians[mode] = report(mode, size, samples, ceiling)
    finally:
        for path in (plain, sealed, opened):
            path.unlink(missing_ok=True)
    return medians


def report(mode: str, size: int, samples: dict[str, list[tuple[float, ...]]],
           ceiling: float | None) -> dict[str, float]:
    gib = size / (1 << 30)
    print(f"envelope of {size // MiB} MiB, file to file ({mode}), chunk 1 MiB, 2 worker threads, "
          f"{len(samples['seal'])} runs:")
    medians = {}
    for name, runs in samples.items():
        rates = [size / run[0] / 1e6 for run in runs]
        median = statistics.median(rates)
        user, system = (statistics.median(run[i] for run in runs) / gib for i in (1, 2))
        others = statistics.median(run[3] / run[0] for run in runs)
        ratio = f"= {median * 1e6 / ceiling:4.0%} of openssl" if ceiling else ""
        print(f"  {name:7s} {median:5.0f} MB/s median {ratio}   CPU per GiB {user:.2f} user + {system:.2f} sys"
              f"   other processes {others:.2f} cores   runs: {', '.join(f'{r:.0f}' for r in rates)}")
        medians[name] = median * 1e6
        if others > 0.2:
            print(f"  (other processes used {others:.2f} of the {os.cpu_count()} cores during {name}: the machine "
                  f"was busy and this figure is low)")
    return medians


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM). Unlike ru_maxrss it is not inherited from the parent."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, flags=re.M).group(1))


def child(size: int, directory: Path) -> None:
    """Seal and open the ``size``-byte input the parent wrote, in this fresh process; print RSS as JSON."""
    parties = Parties()
    plain, sealed, opened = directory / "mem.tar", directory / "mem.bhe", directory / "mem-opened.tar"
    try:
        baseline = peak_rss_kib()
        seal_wall = timed(lambda: parties.seal(plain, sealed))[0]
        plain.unlink()
        open_wall = timed(lambda: parties.open(sealed, opened))[0]
        peak = peak_rss_kib()
    finally:
        for path in (plain, sealed, opened):
            path.unlink(missing_ok=True)
    print(json.dumps({"baseline_kib": baseline, "peak_kib": peak, "seal_s": seal_wall, "open_s": open_wall}))


def memory(directory: Path, size: int) -> float:
    write_input(directory / "mem.tar", size)
    output = subprocess.run([sys.executable, __file__, "--child", str(size), "--dir", str(directory)],
                            capture_output=True, text=True, check=True).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    peak = figures["peak_kib"] / 1024
    print(f"  {size // MiB:5d} MiB bid: peak RSS {peak:5.1f} MiB (before sealing {figures['baseline_kib'] / 1024:.1f}"
          f" MiB; seal {size / figures['seal_s'] / 1e6:.0f} MB/s, open {size / figures['open_s'] / 1e6:.0f} MB/s)")
    return peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.dir)
        return 0
    directory = Path(tempfile.mkdtemp(prefix="bench-envelope-", dir=args.dir))
    try:
        ceiling, command = openssl_figure(1 if args.quick else 3)
        print(f"{command}: " + (f"{ceiling / 1e6:.0f} MB/s" if ceiling else "no figure"))
        print(f"CPU cores: {os.cpu_count()}")
        rates = throughput(directory, (64 if args.quick else 1024) * MiB, args.runs, ceiling)
        print("peak memory, each size in a fresh process:")
        peaks = [memory(directory, size * MiB) for size in ((16, 128) if args.quick else (256, 2048))]
    finally:
        for leftover in directory.iterdir():
            leftover.unlink()
        directory.rmdir()
    if ceiling:
        for mode, figures in rates.items():
            for name in ("seal", "open"):
                verdict = "meets" if figures[name] >= TARGET_RATIO * ceiling else "MISSES"
                print(f"{name} ({mode}): {figures[name] / ceiling:.0%} of openssl AES-256-GCM, {verdict} the "
                      f"{TARGET_RATIO:.0%} target")
    verdict = "meets" if max(peaks) < TARGET_RSS_MIB else "MISSES"
    print(f"peak RSS {max(peaks):.1f} MiB, {verdict} the {TARGET_RSS_MIB} MiB target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
