// Canonical JSON (docs/envelope.md §2, crypto/canonical.py): the one byte encoding of everything signed.
// Keys sorted by UTF-16 code units (JavaScript's default sort), no whitespace, strings as JSON.stringify
// writes them, integers within ±(2^53 − 1) only (money travels as a decimal string), true/false/null.

import {fromUtf8, utf8} from "./bytes.js";

export class CanonicalError extends Error {}

function hasLoneSurrogate(text) {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return true;
    }
  }
  return false;
}

function encode(value, path) {
  if (value === null || value === true || value === false) return JSON.stringify(value);
  if (typeof value === "string") {
    if (hasLoneSurrogate(value)) throw new CanonicalError(`${path}: a string holds a lone surrogate`);
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new CanonicalError(`${path}: only integers within ±(2^53−1) can be signed; write ${value} as a string`);
    }
    return String(value);
  }
  if (Array.isArray(value)) {
    return "[" + value.map((item, i) => encode(item, `${path}[${i}]`)).join(",") + "]";
  }
  if (typeof value === "object") {
    return "{" + Object.keys(value).sort().map((key) => {
      if (hasLoneSurrogate(key)) throw new CanonicalError(`${path}: a key holds a lone surrogate`);
      return JSON.stringify(key) + ":" + encode(value[key], `${path}.${key}`);
    }).join(",") + "}";
  }
  throw new CanonicalError(`${path}: a ${typeof value} cannot be signed`);
}

/** The canonical JSON text of ``value``. */
export function canonicalText(value) {
  return encode(value, "$");
}

/** The canonical UTF-8 bytes of ``value``. */
export function canonical(value) {
  return utf8(canonicalText(value));
}

/** Parse bytes that must be exactly the canonical encoding of what they hold (else throw). */
export function parseCanonical(bytes) {
  let text;
  let value;
  try {
    text = fromUtf8(bytes);
    value = JSON.parse(text);
  } catch (error) {
    throw new CanonicalError("not valid UTF-8 JSON: " + error.message);
  }
  if (canonicalText(value) !== text) {
    throw new CanonicalError("valid JSON but not in canonical form (key order, spacing, escaping or duplicates)");
  }
  return value;
}

/** A time as the platform signs it: ``2026-03-01T02:00:00.000Z`` (JavaScript's toISOString). */
export function formatUtc(milliseconds) {
  return new Date(milliseconds).toISOString();
}
