// The bid package built in the page: the same ZIP as bidtool/package.py (stored, UTF-8 names) holding
// ``bidhall-bid.json`` (canonical JSON: ids, the validated price form, each module file's size and SHA-256,
// the creation fingerprint) and ``modules/<module>/<file>``.
//
// The files are read once to hash them (SHA-256 for the manifest, CRC-32 for the ZIP); the package is then a
// Blob composed of the ZIP headers and the File objects themselves, so nothing is copied into memory:
// sealing reads it chunk by chunk through Blob.slice().

import {concat, sha256, toHex, utf8} from "./bytes.js";
import {canonical, formatUtc} from "./canonical.js";
import {createCrc32, createSha256} from "./hashing.js";

export const MANIFEST = "bidhall-bid.json";
export const FORMAT = "bidhall.bid-package.v1";
export const MODULES = ["qualification", "commercial", "technical", "priced_bill"];
export const TOOL_VERSION = "bidhall-web 1";
const READ_BLOCK = 4 << 20;
const LIMIT = 0xffffffff;

export class PackageError extends Error {}

function serverNow() {
  return globalThis.bidhallServerNow ? globalThis.bidhallServerNow() : Date.now();
}

/** A random id kept by this browser profile: the browser's stand-in for bidtool's machine id. */
function installId() {
  let id = localStorage.getItem("bidhall.install-id");
  if (!id) {
    id = toHex(crypto.getRandomValues(new Uint8Array(16)));
    localStorage.setItem("bidhall.install-id", id);
  }
  return id;
}

async function sha256Text(text) {
  return toHex(await sha256(utf8(text)));
}

/**
 * The creation fingerprint the collusion analysis compares between bids (hashes only). A page cannot read
 * the machine id, MAC address or host name: it records a per-browser-profile id and the user agent instead.
 */
export async function creationFingerprint() {
  return {tool_version: TOOL_VERSION, machine_id_sha256: await sha256Text(installId()),
    mac_sha256: await sha256Text("unknown"), host_sha256: await sha256Text(navigator.userAgent),
    created_at: formatUtc(serverNow())};
}

function relativeName(file) {
  const name = (file.webkitRelativePath || file.name).replace(/\\/g, "/");
  const parts = name.split("/");
  if (!name || parts.some((part) => part === "" || part === "." || part === "..")) {
    throw new PackageError(`文件名 ${name} 不可用 (unusable file name)`);
  }
  return name;
}

function dosTime(milliseconds) {
  const d = new Date(milliseconds + 8 * 3600 * 1000);  // Beijing time, as the platform shows it
  const time = (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | Math.floor(d.getUTCSeconds() / 2);
  const date = ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate();
  return [time, date];
}

function littleEndian(size, fields) {
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const [bytes, value] of fields) {
    if (bytes === 2) view.setUint16(offset, value, true);
    else view.setUint32(offset, value, true);
    offset += bytes;
  }
  return out;
}

function localHeader(entry, stamp) {
  return concat(littleEndian(30, [[4, 0x04034b50], [2, 20], [2, 0x0800], [2, 0], [2, stamp[0]], [2, stamp[1]],
    [4, entry.crc], [4, entry.size], [4, entry.size], [2, entry.name.length], [2, 0]]), entry.name);
}

function centralHeader(entry, stamp) {
  return concat(littleEndian(46, [[4, 0x02014b50], [2, 20], [2, 20], [2, 0x0800], [2, 0], [2, stamp[0]],
    [2, stamp[1]], [4, entry.crc], [4, entry.size], [4, entry.size], [2, entry.name.length], [2, 0], [2, 0], [2, 0],
    [2, 0], [4, 0], [4, entry.offset]]), entry.name);
}

async function hashFile(file, onBytes) {
  const digest = await createSha256();
  const crc = await createCrc32();
  for (let offset = 0; offset < file.size; offset += READ_BLOCK) {
    const block = new Uint8Array(await file.slice(offset, offset + READ_BLOCK).arrayBuffer());
    digest.update(block);
    crc.update(block);
    onBytes(block.length);
  }
  return {sha256: digest.hex(), crc: crc.value()};
}

/**
 * Build the package from ``modules`` (module → array of File) for the section ``ids`` and the validated
 * ``priceForm``. Returns {blob, manifest, size}. ``onProgress({done, total})`` follows the hashing.
 */
export async function buildPackage({ids, priceForm, modules, onProgress = () => {}}) {
  const unknown = Object.keys(modules).filter((module) => !MODULES.includes(module));
  if (unknown.length) throw new PackageError(`未知的模块 ${unknown.join(", ")} (unknown module)`);
  const chosen = MODULES.flatMap((module) => (modules[module] || []).map((file) => ({module, file})));
  if (!chosen.length) throw new PackageError("投标文件至少需要一个模块 (a bid needs at least one module)");
  const total = chosen.reduce((sum, item) => sum + item.file.size, 0);
  let done = 0;
  const listing = {};
  const entries = [];
  const seen = new Set();
  for (const {module, file} of chosen) {
    const relative = relativeName(file);
    const zipName = `modules/${module}/${relative}`;
    if (seen.has(zipName)) throw new PackageError(`模块 ${module} 中有重名文件 ${relative} (duplicate file name)`);
    seen.add(zipName);
    if (file.size >= LIMIT) throw new PackageError(`文件 ${relative} 超过 4 GiB，请使用 bidtool (file too large for the page)`);
    const hashed = await hashFile(file, (count) => { done += count; onProgress({done, total}); });
    (listing[module] = listing[module] || []).push({path: relative, size: file.size, sha256: hashed.sha256});
    entries.push({name: utf8(zipName), data: file, size: file.size, crc: hashed.crc});
  }
  const manifest = {format: FORMAT, ids, price_form: priceForm, modules: listing, fingerprint: await creationFingerprint()};
  const manifestBytes = canonical(manifest);
  const manifestCrc = (await createCrc32()).update(manifestBytes).value();
  entries.unshift({name: utf8(MANIFEST), data: manifestBytes, size: manifestBytes.length, crc: manifestCrc});
  if (entries.length >= 0xffff) throw new PackageError("文件过多 (too many files)");
  const stamp = dosTime(serverNow());
  const parts = [];
  let offset = 0;
  for (const entry of entries) {
    entry.offset = offset;
    const header = localHeader(entry, stamp);
    parts.push(header, entry.data);
    offset += header.length + entry.size;
    if (offset >= LIMIT) throw new PackageError("投标文件包超过 4 GiB，请使用 bidtool (package too large for the page)");
  }
  const central = concat(...entries.map((entry) => centralHeader(entry, stamp)));
  const end = littleEndian(22, [[4, 0x06054b50], [2, 0], [2, 0], [2, entries.length], [2, entries.length],
    [4, central.length], [4, offset], [2, 0]]);
  parts.push(central, end);
  const blob = new Blob(parts, {type: "application/zip"});
  return {blob, manifest, size: blob.size};
}
