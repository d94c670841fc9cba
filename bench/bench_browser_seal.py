"""In-browser sealing throughput: static/js/envelope.js in Debian's Chromium (issue 3, sealing in the browser).

    .venv/bin/python bench/bench_browser_seal.py [--mb 50] [--runs 3]

Serves static/ on 127.0.0.1, opens headless Chromium (Playwright, the flags of tests/browser/conftest.py) and
seals an ``--mb`` MB bid (random bytes made in the page, held in a Blob) with the keys and certificates of the
known-answer vectors (tests/crypto/vectors/envelope-v1.json), three officers, threshold 2, 1 MiB chunks:

- to a sink that only counts the bytes: the envelope code itself (read slices, AES-256-GCM, BLAKE3, sign);
- to IndexedDB, as the bid panel does before uploading (static/js/upload.js), pieces of 4 MiB on disk;
- the bid package pass (SHA-256 + CRC-32 of the files, static/js/bid_package.js).

Reports the median of ``--runs`` in MB/s (10^6 bytes per second). Skips when Chromium is absent.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import statistics
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

SCRIPT = """
async ({file, megabytes, sink}) => {
  const env = await import("/static/js/envelope.js");
  const bytes = await import("/static/js/bytes.js");
  const upload = await import("/static/js/upload.js");
  const pkg = await import("/static/js/bid_package.js");
  const size = megabytes * 1e6;
  const parts = [];
  for (let done = 0; done < size; done += 1 << 20) parts.push(bytes.randomBytes(Math.min(1 << 20, size - done)));
  const source = new Blob(parts);
  parts.length = 0;
  const signing = await env.importP256Scalar(bytes.fromHex(file.bidder.signing_private_key), "ECDSA", ["sign"]);
  let written = 0;
  const seal = "bench-" + Date.now();
  const store = upload.sealedWriter(seal);
  const started = performance.now();
  if (sink === "package") {
    await pkg.buildPackage({ids: file.ids, priceForm: {}, modules: {technical: [new File([source], "bid.bin")]}});
  } else {
    await env.sealEnvelope({source, ids: file.ids, signingKey: signing.privateKey,
      signingCertificate: bytes.fromHex(file.bidder.signing_certificate),
      encryptionCertificate: bytes.fromHex(file.bidder.encryption_certificate),
      officers: file.officers.map((o) => ({officer: o.id, certificate: bytes.fromHex(o.encryption_certificate)})),
      threshold: 2, write: sink === "indexeddb" ? (b) => store.write(b) : async (b) => { written += b.length; }});
    if (sink === "indexeddb") await store.close();
  }
  const seconds = (performance.now() - started) / 1000;
  await upload.deleteSealed(seal);
  return seconds;
}
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve() -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(ROOT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        print(f"skipped: no Chromium at {CHROMIUM}")
        return 0
    from playwright.sync_api import sync_playwright

    vectors = json.loads((ROOT / "tests/crypto/vectors/envelope-v1.json").read_text(encoding="utf-8"))
    server, base = serve()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(base + "/README.md")
            print(f"Chromium {browser.version}, {args.mb} MB bid, 1 MiB chunks, {args.runs} runs (median)")
            for sink, what in (("count", "seal, bytes counted only"), ("indexeddb", "seal into IndexedDB"),
                               ("package", "package pass (SHA-256 + CRC-32)")):
                times = [page.evaluate(SCRIPT, {"file": vectors, "megabytes": args.mb, "sink": sink})
                         for _ in range(args.runs)]
                median = statistics.median(times)
                print(f"{what:<36} {median:6.2f} s  {args.mb / median:7.1f} MB/s  "
                      f"(runs: {', '.join(f'{t:.2f}' for t in times)})", flush=True)
            browser.close()
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
