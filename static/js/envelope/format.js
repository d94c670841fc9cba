// The byte layout of a bid envelope, version 1 (docs/envelope.md §5): constants, errors, the header JSON
// and its checks, chunk frames and the trailer. The same rules as crypto/envelope/format.py.

import {parseCertificate} from "../asn1.js";
import {concat, equal, fromHex, readU32, toHex, u16, u32, u64, utf8} from "../bytes.js";
import {CanonicalError, canonical, parseCanonical} from "../canonical.js";

export const FORMAT = "bidhall-envelope/1";
export const MAGIC = new Uint8Array([0x89, 0x42, 0x48, 0x45, 0x4e, 0x56, 0x0d, 0x0a]);
export const VERSION = 1;
export const PREAMBLE_SIZE = 14;
export const FRAME_SIZE = 17;
export const TRAILER_SIZE = 109;
export const TAG_SIZE = 16;
export const SIGNATURE_SIZE = 64;
export const NONCE_PREFIX_SIZE = 7;
export const DEFAULT_CHUNK_SIZE = 1 << 20;
export const MIN_CHUNK_SIZE = 1 << 12;
export const MAX_CHUNK_SIZE = 1 << 23;
export const MAX_HEADER_SIZE = 1 << 20;
export const MAX_CHUNKS = 2 ** 32;
export const CHUNK_TAG = 0x43;
export const TRAILER_TAG = 0x54;
export const ECDH_ES = "ECDH-ES-P256-HKDF-SHA256-A256GCM";
export const RSA_OAEP = "RSA-OAEP-SHA256";
export const HEADER_SIGNATURE_CONTEXT = utf8("bidhall-envelope/1 header\0");
export const TRAILER_SIGNATURE_CONTEXT = utf8("bidhall-envelope/1 trailer\0");
export const BODY_DIGEST_CONTEXT = utf8("bidhall-envelope/1 body\0");
const ID_PATTERN = /^[^\x00-\x1f\x7f]{1,128}$/u;

/** Every envelope error carries the code crypto/envelope/errors.py uses for the same problem. */
export class EnvelopeError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const fail = (code, message) => { throw new EnvelopeError(code, message); };
const malformed = (message) => fail("envelope_malformed", message);

export function checkId(value, what) {
  if (typeof value !== "string" || !ID_PATTERN.test(value)) {
    malformed(`the ${what} id must be a string of 1–128 printable characters`);
  }
  return value;
}

function fields(value, where, required) {
  if (!value || typeof value !== "object" || Array.isArray(value)) malformed(`${where} must be a JSON object`);
  const keys = Object.keys(value);
  const missing = required.filter((key) => !keys.includes(key));
  const extra = keys.filter((key) => !required.includes(key));
  if (missing.length || extra.length) malformed(`${where}: missing [${missing}] / unexpected [${extra}] fields`);
}

function hexField(value, key, where, size) {
  const text = value[key];
  if (typeof text !== "string" || !/^[0-9a-f]*$/.test(text) || text.length % 2 ||
      (size !== null && text.length !== 2 * size)) {
    malformed(`${where}.${key} must be ${size || "some"} bytes of lowercase hex`);
  }
  return fromHex(text);
}

function intField(value, key, where, low, high) {
  const number = value[key];
  if (typeof number !== "number" || !Number.isInteger(number) || number < low || number > high) {
    malformed(`${where}.${key} must be an integer from ${low} to ${high}`);
  }
  return number;
}

function checkWrap(value, where) {
  const ecdh = value && value.algorithm === ECDH_ES;
  fields(value, where, ["algorithm", "recipient", "recipient_key", "wrapped_key"].concat(ecdh ? ["ephemeral_key"] : []));
  hexField(value, "recipient", where, 32);
  hexField(value, "recipient_key", where, 32);
  if (ecdh) {
    hexField(value, "wrapped_key", where, 48);
    hexField(value, "ephemeral_key", where, 65);
  } else if (value.algorithm === RSA_OAEP) {
    const wrapped = hexField(value, "wrapped_key", where, null);
    if (wrapped.length < 256 || wrapped.length > 2048) malformed(`${where}: an RSA-OAEP wrapped key has 256–2048 bytes`);
  } else {
    malformed(`${where}: unknown key-wrap algorithm ${JSON.stringify(value.algorithm)}`);
  }
  return value;
}

/** Preamble + canonical header JSON: what the header signature and the header hash cover. */
export function encodeHeader(json) {
  const body = canonical(json);
  if (body.length > MAX_HEADER_SIZE) malformed(`the header would be ${body.length} bytes; the limit is ${MAX_HEADER_SIZE}`);
  return concat(MAGIC, u16(VERSION), u32(body.length), body);
}

/** Check magic and version; return the header length. */
export function parsePreamble(preamble) {
  if (preamble.length < PREAMBLE_SIZE) fail("envelope_truncated", "the envelope ends inside its preamble");
  if (!equal(preamble.subarray(0, 8), MAGIC)) {
    fail("envelope_not_an_envelope", "this file is not a bidhall bid envelope (wrong magic bytes)");
  }
  const version = (preamble[8] << 8) | preamble[9];
  if (version !== VERSION) fail("envelope_not_an_envelope", `envelope format version ${version} is not supported`);
  const length = readU32(preamble, 10);
  if (length < 2 || length > MAX_HEADER_SIZE) malformed(`the header length ${length} is outside 2..${MAX_HEADER_SIZE}`);
  return length;
}

/**
 * Parse preamble + header JSON and check the header signature first (so any change to a signed header is
 * HeaderTampered), then every field. Returns {encoded, signature, json, ids, chunkSize, noncePrefix,
 * keyCommitment, signerCertificate (parsed), bidderKey, threshold, shares, headerHash, size}.
 */
export async function parseHeader(encoded, signature) {
  parsePreamble(encoded.subarray(0, PREAMBLE_SIZE));
  let json;
  try {
    json = parseCanonical(encoded.subarray(PREAMBLE_SIZE));
  } catch (error) {
    if (!(error instanceof CanonicalError)) throw error;
    fail("envelope_header_tampered", `the envelope header is not valid canonical JSON (${error.message}): it was altered`);
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    fail("envelope_header_tampered", "the envelope header is not a JSON object: it was altered");
  }
  let signer;
  let valid = false;
  try {
    signer = parseCertificate(hexField(json, "signer_certificate", "header", null));
    const key = await crypto.subtle.importKey("spki", signer.spki, {name: "ECDSA", namedCurve: "P-256"}, false, ["verify"]);
    valid = await crypto.subtle.verify({name: "ECDSA", hash: "SHA-256"}, key, signature,
      concat(HEADER_SIGNATURE_CONTEXT, encoded));
  } catch (error) {
    valid = false;
  }
  if (!valid) {
    fail("envelope_header_tampered", "the envelope header does not match the bidder's header signature: the header " +
      "was altered after sealing");
  }
  fields(json, "header", ["format", "ids", "chunk_size", "nonce_prefix", "key_commitment", "created_at",
    "signer_certificate", "bidder_key", "escrow"]);
  if (json.format !== FORMAT) fail("envelope_not_an_envelope", `header format ${JSON.stringify(json.format)} is not ${FORMAT}`);
  fields(json.ids, "header.ids", ["project", "section", "bidder"]);
  for (const key of ["project", "section", "bidder"]) checkId(json.ids[key], key);
  fields(json.escrow, "header.escrow", ["threshold", "shares"]);
  const entries = json.escrow.shares;
  if (!Array.isArray(entries) || entries.length < 2 || entries.length > 255) {
    malformed("header.escrow.shares must list 2 to 255 officers");
  }
  const shares = entries.map((entry, i) => {
    const where = `header.escrow.shares[${i}]`;
    fields(entry, where, ["officer", "x", "wrap"]);
    if (entry.x !== i + 1 || typeof entry.officer !== "string" || !ID_PATTERN.test(entry.officer)) {
      malformed(`${where} must have x = ${i + 1} and an officer id`);
    }
    return {officer: entry.officer, x: entry.x, wrap: checkWrap(entry.wrap, `${where}.wrap`)};
  });
  if (new Set(shares.map((share) => share.officer)).size !== shares.length) malformed("header.escrow.shares names an officer twice");
  if (typeof json.created_at !== "string" || json.created_at.length > 64) malformed("header.created_at must be a time string");
  return {
    encoded, signature, json, ids: {...json.ids},
    chunkSize: intField(json, "chunk_size", "header", MIN_CHUNK_SIZE, MAX_CHUNK_SIZE),
    noncePrefix: hexField(json, "nonce_prefix", "header", NONCE_PREFIX_SIZE),
    keyCommitment: hexField(json, "key_commitment", "header", 32),
    signerCertificate: signer, bidderKey: checkWrap(json.bidder_key, "header.bidder_key"),
    threshold: intField(json.escrow, "threshold", "header.escrow", 2, shares.length), shares,
    headerHash: new Uint8Array(await crypto.subtle.digest("SHA-256", encoded)),
    size: encoded.length + SIGNATURE_SIZE,
  };
}

/** STREAM nonce: 7-byte prefix | u32 counter | final flag. */
export function chunkNonce(prefix, index, final) {
  return concat(prefix, u32(index), new Uint8Array([final ? 1 : 0]));
}

/** Check a chunk frame against its expected position; return {final, length} (docs/envelope.md §5.2). */
export function checkFrame(frame, index, header) {
  if (frame[0] !== CHUNK_TAG) malformed(`expected chunk ${index} but found a record of type ${frame[0]}`);
  if (!equal(frame.subarray(1, 8), header.noncePrefix)) {
    fail("envelope_chunk_foreign", `chunk ${index} was sealed for another envelope (nonce prefix ` +
      `${toHex(frame.subarray(1, 8))}, this bid's is ${toHex(header.noncePrefix)})`);
  }
  const counter = readU32(frame, 8);
  const flag = frame[12];
  const length = readU32(frame, 13);
  if (counter < index) fail("envelope_chunk_duplicate", `chunk ${counter} appears a second time, at position ${index}`);
  if (counter > index) {
    fail("envelope_chunk_out_of_order", `chunk ${counter} found where chunk ${index} was expected: chunks are ` +
      "missing or out of order");
  }
  const full = header.chunkSize + TAG_SIZE;
  if (length > full) fail("envelope_chunk_oversize", `chunk ${index} claims ${length} bytes; a chunk holds at most ${full}`);
  if (flag > 1 || (flag === 0 && length !== full) || (flag === 1 && !(length >= TAG_SIZE && length < full))) {
    malformed(`chunk ${index} has an invalid length ${length} for a ${flag === 1 ? "final" : "non-final"} chunk`);
  }
  return {final: flag === 1, length};
}

/** What the closing signature covers: the header hash, the sizes and the ciphertext digest. */
export function trailerMessage(headerHash, chunkCount, plaintextSize, digest) {
  return concat(TRAILER_SIGNATURE_CONTEXT, headerHash, u32(chunkCount), u64(plaintextSize), digest);
}

export function encodeTrailer(chunkCount, plaintextSize, digest, signature) {
  return concat(new Uint8Array([TRAILER_TAG]), u32(chunkCount), u64(plaintextSize), digest, signature);
}

/** The envelope's total size, known before sealing: the upload declares it first. */
export function envelopeSize(headerSize, plaintextSize, chunkSize) {
  const chunks = Math.floor(plaintextSize / chunkSize) + 1;
  return headerSize + chunks * (FRAME_SIZE + TAG_SIZE) + plaintextSize + TRAILER_SIZE;
}
