#!/usr/bin/env bash
# Reproduce the vendored front-end files under static/vendor/ from the npm registry.
#
# Each package is fetched with `npm pack` into a temporary folder, its tarball is checked against the
# integrity recorded in static/vendor/VERSIONS.md, and only the built files the pages load are copied
# (plus the licence). Run from the repository root: `bash tools/vendor_frontend.sh`. Needs node/npm and
# openssl; nothing is fetched at run time by the application.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# name version integrity files...
fetch() {
  local name="$1" version="$2" integrity="$3"
  shift 3
  local target="$VENDOR/$name-$version"
  local tarball
  tarball="$WORK/$(cd "$WORK" && npm pack --silent "$name@$version" 2>/dev/null | tail -n1)"
  local actual
  actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  if [[ "$actual" != "$integrity" ]]; then
    echo "integrity mismatch for $name@$version: got $actual, expected $integrity" >&2
    exit 1
  fi
  mkdir -p "$WORK/$name" "$target"
  tar -xzf "$tarball" -C "$WORK/$name"
  rm -f "$tarball"
  for file in "$@"; do
    cp "$WORK/$name/package/$file" "$target/$(basename "$file")"
  done
  echo "vendored $name@$version into ${target#$ROOT/}"
}

# hash-wasm: BLAKE3 (the envelope's ciphertext digest), SHA-256 (the bid package manifest, streamed) and
# CRC-32 (the stored ZIP), as WebAssembly with UMD wrappers that register `globalThis.hashwasm`.
fetch hash-wasm 4.13.0 \
  "sha512-GrWl7wsV46fKIXQZB5ebskLZLAmKL6d9RS0fspCxDeQyjoNu1AfTJTMLPOJyfzaQm0ldFiwFN21/w+sE/kgEFQ==" \
  dist/blake3.umd.min.js dist/sha256.umd.min.js dist/crc32.umd.min.js LICENSE

# socket.io-client: the live opening hall and evaluation room (Flask-SocketIO 5 speaks Socket.IO protocol 5).
fetch socket.io-client 4.8.4 \
  "sha512-7wjKAvVXYOJsbmUgkWbnhPD4bFpkqrUR0++XOjpGFmqDqsqV1CI93VTraeExLxpjxEqrWgFoSRZu1ihjLWfkAA==" \
  dist/socket.io.esm.min.js LICENSE
