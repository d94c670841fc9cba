// Streaming BLAKE3, SHA-256 and CRC-32 from the vendored hash-wasm build (static/vendor/VERSIONS.md).
// WebCrypto has SHA-256 only over a whole buffer and no BLAKE3; the envelope hashes every chunk record with
// BLAKE3 (docs/envelope.md §5.3) and the bid package hashes each module file as it streams past.

const VENDOR = new URL("../vendor/hash-wasm-4.13.0/", import.meta.url);
const FILES = ["blake3.umd.min.js", "sha256.umd.min.js", "crc32.umd.min.js"];
let loading = null;

function loadScript(file) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = new URL(file, VENDOR).href;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${file} from static/vendor`));
    document.head.appendChild(script);
  });
}

/** The hash-wasm namespace, loading the vendored files once. */
export function hashWasm() {
  if (!loading) {
    const ready = globalThis.hashwasm && globalThis.hashwasm.createBLAKE3 && globalThis.hashwasm.createSHA256 &&
      globalThis.hashwasm.createCRC32;
    loading = (ready ? Promise.resolve() : FILES.reduce((chain, file) => chain.then(() => loadScript(file)),
      Promise.resolve())).then(() => globalThis.hashwasm);
    loading.catch(() => { loading = null; });
  }
  return loading;
}

/** A reusable BLAKE3 hasher (32-byte output): {init(), update(bytes), digest() → Uint8Array}. */
export async function createBlake3() {
  const hasher = await (await hashWasm()).createBLAKE3(256);
  hasher.init();
  return {
    init() { hasher.init(); return this; },
    update(bytes) { hasher.update(bytes); return this; },
    digest() { return hasher.digest("binary"); },
  };
}

/** A streaming SHA-256 hasher: {update(bytes), hex()}. */
export async function createSha256() {
  const hasher = await (await hashWasm()).createSHA256();
  hasher.init();
  return {
    update(bytes) { hasher.update(bytes); return this; },
    hex() { return hasher.digest("hex"); },
  };
}

/** A streaming CRC-32 (the ZIP checksum): {update(bytes), value() → unsigned integer}. */
export async function createCrc32() {
  const hasher = await (await hashWasm()).createCRC32();
  hasher.init();
  return {
    update(bytes) { hasher.update(bytes); return this; },
    value() { return parseInt(hasher.digest("hex"), 16) >>> 0; },
  };
}

export async function blake3(bytes) {
  return (await createBlake3()).update(bytes).digest();
}
