"""500 bidders in one opening hall over Socket.IO on loopback (issue 4, Performance).

    .venv/bin/python bench/bench_hall.py [--quick] [--bidders 500] [--in-flight 5 | --burst] [--phase-limit 400]

Setup (not timed): a fresh instance under /tmp with one section and ``--bidders`` enrolled bidders, each with
a small sealed bid (a real package and envelope) submitted; the deadline passes and the hall opens. Each
bidder's content key is unwrapped on its side beforehand, and each gets a signed session cookie.

Then the app is served in a separate process (``python -m core.serve``: Flask-SocketIO in threading mode on
Werkzeug) and every bidder is a python-socketio ``AsyncClient`` (websocket transport) in this one process:

1. connect, and ``join_hall`` (the full current state comes back with the acknowledgement);
2. sign in: ``challenge``, sign it with the organisation's key, ``sign_in``; latency is from asking for the
   challenge to the sign-in's acknowledgement;
3. the host starts the opening over HTTP;
4. decrypt: ``decrypt`` with the content key; latency to the acknowledgement;
5. the host triggers the read-out over HTTP; latency is from just before that call to each client's receipt
   of the ``hall_state`` message that carries the read-out.

In each phase at most ``--in-flight`` requests are outstanding; the next bidder goes as soon as one is
answered (``--burst``: all at once). A request left unanswered for 60 s is sent again, up to three times, and
counted. Reports p50/p99 of each, how many completed, the server's CPU seconds and peak RSS (VmHWM), its peak
threads and open descriptors, and this process's CPU (the clients share the two cores with the server).
Each phase gives up after ``--phase-limit`` seconds and reports what completed by then.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import resource
import sys
import time
from dataclasses import dataclass

import socketio

import _setup
from _setup import load_average, percentile, progress


@dataclass
class Bidder:
    cookie: str
    bid_id: int
    content_key: str
    signing_key: object
    certificate: str
    sio: object = None
    messages: int = 0
    read_out_at: float | None = None
    read_out_rows: int = 0
    disconnected: bool = False
    closing: bool = False

    def attach(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False,
                                        websocket_extra_options={"max_msg_size": 64 << 20})
        self.sio.on("hall_state", self.on_state)
        self.sio.on("disconnect", self.on_disconnect)

    def on_state(self, state: dict) -> None:
        self.messages += 1
        if self.read_out_at is None and state.get("state") == "read_out":
            self.read_out_at = time.perf_counter()
            self.read_out_rows = len((state.get("read_out") or {}).get("rows", []))

    def on_disconnect(self, *_reason) -> None:
        self.disconnected = not self.closing


# -- setup -------------------------------------------------------------------------------------------------

def prepare(instance: _setup.Instance, count: int) -> tuple[int, dict, list[Bidder]]:
    from trading import opening_operations as ops

    hall = _setup.build_hall(count)
    for n, party in enumerate(progress(hall.bidders, f"sealing and submitting {count} bids")):
        package = _setup.bid_package(_setup.bid_ids(hall, party), n, f"技术标 {n}".encode() * 200)
        _setup.submit_sealed(hall, party, package, chunk_size=16384)
    bidders = [Bidder(_setup.session_cookie(instance.app, p.user), p.bid_id, p.content_key, p.signing_key,
                      p.certificate_pem) for p in progress(hall.bidders, "sessions")]
    host = _setup.bearer(hall.agent.user)
    _setup.move_to_deadline(hall)
    ops.hall_for(hall.section)
    section_id = hall.section.id
    instance.release_database()
    return section_id, host, bidders


# -- the phases ----------------------------------------------------------------------------------------------

#: A request whose acknowledgement has not come after this long is sent again, as a user would click again.
ACK_TIMEOUT = 60.0
ATTEMPTS = 3


class Phase:
    """Runs one action per bidder with at most ``in_flight`` outstanding, a progress bar and a time limit.

    Latency is from the first attempt to the acknowledged success. An action whose acknowledgement never
    comes (the server's handler died) is retried up to ``ATTEMPTS`` times; retries are counted.
    """

    def __init__(self, name: str, limit: float) -> None:
        self.name, self.limit = name, limit
        self.latencies: list[float] = []
        self.failures: dict[str, int] = {}
        self.retries = 0
        self.wall = 0.0

    async def run(self, bidders: list[Bidder], action, in_flight: int) -> None:
        from tqdm import tqdm

        bar = tqdm(total=len(bidders), desc=self.name, leave=False, dynamic_ncols=True)
        gate = asyncio.Semaphore(in_flight)

        async def attempt(bidder: Bidder) -> float:
            started = time.perf_counter()
            for number in range(1, ATTEMPTS + 1):
                try:
                    await action(bidder, number)
                    return time.perf_counter() - started
                except socketio.exceptions.TimeoutError:
                    if number == ATTEMPTS:
                        raise
                    self.retries += 1
            raise AssertionError("unreachable")

        async def one(bidder: Bidder) -> None:
            try:
                async with gate:
                    self.latencies.append(await attempt(bidder))
            except Exception as exc:  # noqa: BLE001 - every failure is counted by kind and reported
                kind = getattr(exc, "code", None) or type(exc).__name__
                self.failures[kind] = self.failures.get(kind, 0) + 1
            finally:
                bar.update()

        started = time.perf_counter()
        tasks = [asyncio.ensure_future(one(b)) for b in bidders]
        done, pending = await asyncio.wait(tasks, timeout=self.limit)
        for task in pending:
            task.cancel()
        if pending:
            self.failures["not done within the phase limit"] = len(pending)
            await asyncio.gather(*pending, return_exceptions=True)
        self.wall = time.perf_counter() - started
        bar.close()

    def line(self, total: int) -> str:
        ms = [value * 1000 for value in self.latencies]
        figures = (f"p50 {percentile(ms, 50):7.0f} ms  p99 {percentile(ms, 99):7.0f} ms  max {max(ms):7.0f} ms"
                   if ms else "no completion")
        failed = "; failed: " + ", ".join(f"{k} {v}" for k, v in self.failures.items()) if self.failures else ""
        retried = f"; {self.retries} sent again after {ACK_TIMEOUT:.0f} s without an answer" if self.retries else ""
        return (f"  {self.name:<9} {len(self.latencies):4d}/{total} done in {self.wall:6.1f} s "
                f"({len(self.latencies) / self.wall:5.1f}/s)   {figures}{failed}{retried}")


class Refused(Exception):
    def __init__(self, reply: dict) -> None:
        super().__init__(reply)
        self.code = (reply.get("error") or {}).get("code", "refused")


async def call(bidder: Bidder, event: str, data: dict) -> dict:
    reply = await bidder.sio.call(event, data, timeout=ACK_TIMEOUT)
    if not reply.get("ok"):
        raise Refused(reply)
    return reply


async def hall_run(url: str, section_id: int, host: dict, bidders: list[Bidder], limit: float, in_flight: int,
                   server: _setup.Server) -> dict:
    import aiohttp

    from crypto.signing import sign_bytes

    for bidder in bidders:
        bidder.attach()

    async def connect(bidder: Bidder, _attempt: int) -> None:
        await bidder.sio.connect(url, headers={"Cookie": bidder.cookie}, transports=["websocket"],
                                 wait_timeout=ACK_TIMEOUT)

    async def join(bidder: Bidder, _attempt: int) -> None:
        await call(bidder, "join_hall", {"section_id": section_id})

    async def sign_in(bidder: Bidder, _attempt: int) -> None:
        challenge = (await call(bidder, "challenge", {"section_id": section_id}))["challenge"]
        signature = base64.b64encode(sign_bytes(bidder.signing_key, base64.b64decode(challenge))).decode()
        await call(bidder, "sign_in", {"section_id": section_id, "challenge": challenge, "signature": signature,
                                       "certificate": bidder.certificate})

    async def decrypt(bidder: Bidder, attempt: int) -> None:
        try:
            reply = await call(bidder, "decrypt", {"bid": bidder.bid_id, "content_key": bidder.content_key})
        except Refused as refused:
            if attempt > 1 and refused.code == "already_decrypted":
                return  # the unanswered first attempt had gone through after all
            raise
        if reply.get("state") != "decrypted":
            raise Refused({"error": {"code": f"state {reply.get('state')}"}})

    figures: dict = {"phases": [], "cpu": {}, "peak": {"VmRSS": 0, "Threads": 0, "fds": 0}}
    sampling = asyncio.ensure_future(sample(server, figures["peak"]))

    async def phase(name: str, action, width: int = in_flight) -> None:
        cpu = server.cpu_seconds()
        step = Phase(name, limit)
        await step.run(bidders, action, width)
        figures["phases"].append(step)
        figures["cpu"][name] = server.cpu_seconds() - cpu

    async with aiohttp.ClientSession(headers=host) as http:
        await phase("connect", connect, 50)  # Werkzeug's listen queue is 128: connect in waves
        await phase("join", join)
        await phase("sign-in", sign_in)
        async with http.post(f"{url}/api/v1/sections/{section_id}/opening/start") as response:
            started = await response.json()
            if response.status != 200 or started.get("state") != "decrypting":
                raise RuntimeError(f"the host could not start the opening: {response.status} {started}")
        await phase("decrypt", decrypt)
        cpu = server.cpu_seconds()
        figures["read_out_load"] = load_average()
        asked = time.perf_counter()
        async with http.post(f"{url}/api/v1/sections/{section_id}/opening/read-out") as response:
            body = await response.json()
            figures["read_out_http"] = (time.perf_counter() - asked, response.status,
                                        len((body.get("read_out") or {}).get("rows", [])), body.get("error"))
        deadline = time.perf_counter() + (limit if figures["read_out_http"][1] == 200 else 0)
        while time.perf_counter() < deadline and any(
                b.read_out_at is None and not b.disconnected for b in bidders):
            await asyncio.sleep(0.01)
        figures["cpu"]["read-out"] = server.cpu_seconds() - cpu
        figures["read_out"] = [b.read_out_at - asked for b in bidders if b.read_out_at is not None]
        figures["read_out_rows"] = {b.read_out_rows for b in bidders if b.read_out_at is not None}
    sampling.cancel()
    for bidder in bidders:
        bidder.closing = True
    await asyncio.gather(*(b.sio.disconnect() for b in bidders if b.sio.connected), return_exceptions=True)
    return figures


async def sample(server: _setup.Server, peak: dict) -> None:
    while True:
        status = server.status()
        for key in peak:
            peak[key] = max(peak[key], status[key])
        await asyncio.sleep(0.25)


def report(figures: dict, bidders: list[Bidder], server_status: dict, server_cpu: float, client_cpu: float,
           wall: float, in_flight: int, errors: dict[str, int]) -> None:
    count = len(bidders)
    print(f"phases ({count} bidders; at most {in_flight} requests in flight at a time):")
    for step in figures["phases"]:
        print(step.line(count) + f"   server CPU {figures['cpu'][step.name]:.1f} s")
    seconds, status, rows, error = figures["read_out_http"]
    reached = figures["read_out"]
    print(f"read-out: the host's HTTP call answered {status} in {seconds * 1000:.0f} ms with {rows} rows"
          + (f": {error.get('code')} {error.get('message')}" if error else ""))
    if reached:
        print(f"  broadcast reached {len(reached)}/{count} bidders (rows per message: "
              f"{', '.join(map(str, sorted(figures['read_out_rows'])))}): p50 {percentile(reached, 50) * 1000:.0f} ms"
              f"  p99 {percentile(reached, 99) * 1000:.0f} ms  max {max(reached) * 1000:.0f} ms after the host's call;"
              f" server CPU {figures['cpu']['read-out']:.1f} s; {figures['read_out_load']}")
    else:
        print(f"  the broadcast reached none of the {count} bidders")
    print(f"hall_state messages received by the bidders in all: {sum(b.messages for b in bidders)}; "
          f"disconnected on their own: {sum(b.disconnected and b.read_out_at is None for b in bidders)}")
    print(f"server: CPU {server_cpu:.1f} s over {wall:.0f} s ({server_cpu / wall:.2f} cores), peak RSS (VmHWM) "
          f"{server_status['VmHWM'] / 1024:.0f} MiB, peak threads {figures['peak']['Threads']}, peak open "
          f"descriptors {figures['peak']['fds']}")
    print(f"clients (this process): CPU {client_cpu:.1f} s ({client_cpu / wall:.2f} cores)")
    for error, times in errors.items():
        print(f"server log: {times} × {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 bidders, for a smoke run")
    parser.add_argument("--bidders", type=int, default=500)
    parser.add_argument("--phase-limit", type=float, default=400, help="seconds before a phase gives up")
    parser.add_argument("--in-flight", type=int, default=5,
                        help="requests outstanding at once in each phase (bidders arrive as others finish)")
    parser.add_argument("--burst", action="store_true", help="every bidder's request at once (--in-flight = all)")
    args = parser.parse_args()
    count = 50 if args.quick else args.bidders
    soft, hard = _setup.raise_open_files_limit()
    threads = resource.getrlimit(resource.RLIMIT_NPROC)
    print(f"{count} bidders in one hall over Socket.IO on 127.0.0.1; open files limit {soft}/{hard} (soft raised to "
          f"hard for this process and the server), threads/processes limit {threads[0]}")
    with _setup.Instance("bench-hall-") as instance:
        if instance.unmigrated:
            print(f"(tables created without a migration yet: {len(instance.unmigrated)})")
        section_id, host, bidders = prepare(instance, count)
        with _setup.Server(instance) as server:
            print(f"server pid {server.pid} up; {load_average()}")
            cpu_before, mine_before = server.cpu_seconds(), resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            in_flight = count if args.burst else args.in_flight
            figures = asyncio.run(hall_run(server.url, section_id, host, bidders, args.phase_limit, in_flight,
                                           server))
            wall = time.perf_counter() - started
            server_cpu = server.cpu_seconds() - cpu_before
            mine = resource.getrusage(resource.RUSAGE_SELF)
            client_cpu = mine.ru_utime + mine.ru_stime - mine_before.ru_utime - mine_before.ru_stime
            status = server.status()
            errors = server.errors()
            print(f"done; {load_average()}")
    report(figures, bidders, status, server_cpu, client_cpu, wall, in_flight, errors)
    complete = len(figures["read_out"]) == count and all(len(p.latencies) == count for p in figures["phases"])
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
