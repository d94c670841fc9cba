"""Opening many bids: server-side decryption after the keys are released (issue 4, Performance).

    .venv/bin/python bench/bench_opening.py [--quick] [--bids 200] [--size-mib 20]

Setup (not timed): a fresh instance under /tmp with one section and ``--bids`` enrolled bidders; each seals a
real bid package (bidtool's format: manifest, price form, one ``--size-mib`` module) and submits it; the
deadline passes, the hall opens and the host starts the opening. Each bidder's content key is unwrapped on
its side beforehand, as the browser or ``bidtool decrypt`` does.

Timed: every bid is opened in turn with ``trading.opening_operations.decrypt`` and committed, which is what
the decrypt API and socket event do: decrypt and check every chunk, the signature and the receipt digest,
then check the package's files against its manifest and read the price form. Reports the total time, MB/s
(10^6 plaintext bytes per second) and the ratio to ``openssl speed -evp aes-256-gcm -bytes 16384`` measured
in the same run (one core). It also shows where the time went (the envelope, the package check and the
commits are timed inside the same run), and what the live broadcast that the API adds after each decryption
costs with this many bids.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import _setup
from _setup import MiB, load_average, progress


def submit_all(hall, size: int) -> int:
    """Seal and submit one package per bidder; returns the plaintext bytes of all packages."""
    module = os.urandom(size)
    total = 0
    for n, party in enumerate(progress(hall.bidders, f"sealing and submitting {len(hall.bidders)} bids")):
        package = _setup.bid_package(_setup.bid_ids(hall, party), n, module)
        total += len(package)
        _setup.submit_sealed(hall, party, package)
    return total


def open_hall(hall):
    from core.db import db
    from trading import opening_operations as ops

    _setup.move_to_deadline(hall)
    opening = ops.hall_for(hall.section)
    ops.start(opening, hall.agent.user)
    db.session.commit()
    return opening.id


class Stopwatch:
    """Wraps a function looked up through a module attribute and adds up the seconds spent in it."""

    def __init__(self, module, name: str) -> None:
        self.seconds, original = 0.0, getattr(module, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        setattr(module, name, timed)


def open_every_bid(hall) -> tuple[list[float], dict[str, float]]:
    """The timed part: one decrypt and one commit per bid, as the API does. Returns seconds per bid, and the
    seconds spent in the envelope, in the package check and in the commits."""
    import sqlalchemy as sa

    from core.accounts import User
    from core.db import db
    from crypto import envelope
    from trading import opening_operations as ops
    from trading.opening import BidDecryption, DecryptionState

    rows = dict(db.session.execute(sa.select(BidDecryption.bid_id, BidDecryption.id)).all())
    work = [(rows[p.bid_id], p.user_id, p.content_key) for p in hall.bidders]
    db.session.commit()
    db.session.expire_all()
    opened, checked = Stopwatch(envelope, "open_envelope"), Stopwatch(ops, "read_manifest")
    times, committing = [], 0.0
    for decryption_id, user_id, key in progress(work, "opening"):
        started = time.perf_counter()
        decryption = db.session.get(BidDecryption, decryption_id)
        ops.decrypt(decryption, db.session.get(User, user_id), key, "127.0.0.1")
        middle = time.perf_counter()
        db.session.commit()
        committing += time.perf_counter() - middle
        times.append(time.perf_counter() - started)
        if decryption.state is not DecryptionState.DECRYPTED:
            raise RuntimeError(f"bid {decryption.bid_id} did not open: {decryption.last_error}")
    return times, {"envelope": opened.seconds, "package": checked.seconds, "commit": committing}


def broadcast_cost(opening_id: int, runs: int = 3) -> float:
    """Median seconds of one hall broadcast (state for everyone, one message per bidder), no clients connected."""
    from core.db import db
    from trading.hall_state import broadcast
    from trading.opening import Opening

    times = []
    for _ in range(runs):
        db.session.remove()
        started = time.perf_counter()
        broadcast(db.session.get(Opening, opening_id))
        db.session.commit()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 bids of 2 MiB, for a smoke run")
    parser.add_argument("--bids", type=int, default=200)
    parser.add_argument("--size-mib", type=int, default=20)
    args = parser.parse_args()
    count, size = (20, 2 * MiB) if args.quick else (args.bids, args.size_mib * MiB)
    _setup.free_disk_or_exit(Path("/tmp"), 2 * count * size + 2**30)
    print(f"opening {count} bids of {size // MiB} MiB by server-side decryption (in-process, one after another)")
    with _setup.Instance("bench-opening-") as instance:
        if instance.unmigrated:
            print(f"(tables created without a migration yet: {len(instance.unmigrated)})")
        hall = _setup.build_hall(count)
        plaintext = submit_all(hall, size)
        opening_id = open_hall(hall)
        ceiling, command = _setup.openssl_aes_gcm(1 if args.quick else 3)
        print(f"{command}: " + (f"{ceiling / 1e6:.0f} MB/s" if ceiling else "no figure"))
        load_before = load_average()
        started = time.perf_counter()
        times, parts = open_every_bid(hall)
        wall = time.perf_counter() - started
        load_after = load_average()
        fan_out = broadcast_cost(opening_id)
    rate = plaintext / wall / 1e6
    print(f"opened {len(times)} bids, {plaintext / 1e6:.0f} MB of plaintext, in {wall:.1f} s = {rate:.0f} MB/s "
          f"({load_before} before, {load_after} after)")
    if ceiling:
        print(f"  = {rate * 1e6 / ceiling:.0%} of openssl AES-256-GCM at 16 KiB blocks ({ceiling / 1e6:.0f} MB/s, one "
              f"core)")
    print(f"  per bid: median {statistics.median(times) * 1000:.0f} ms, slowest {max(times) * 1000:.0f} ms")
    other = sum(times) - sum(parts.values())
    print(f"  where the time went: envelope decrypt and check, writing the opened package "
          f"{parts['envelope']:.1f} s ({plaintext / parts['envelope'] / 1e6:.0f} MB/s); package check against its "
          f"manifest (re-read, zip CRC-32, SHA-256) {parts['package']:.1f} s ({plaintext / parts['package'] / 1e6:.0f}"
          f" MB/s); commits {parts['commit']:.1f} s; the rest (queries, audit chain, price form, rename) {other:.1f} s")
    print(f"the decrypt API and socket event also broadcast the hall after each bid: {fan_out * 1000:.0f} ms per "
          f"broadcast with {count} bids and no clients connected (not in the time above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
