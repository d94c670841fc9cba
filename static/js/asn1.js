// A small DER reader and writer: enough to read the platform's X.509 certificates (subject, public key,
// validity, issuer signature) and to write a PKCS#10 request signed by a non-extractable WebCrypto key.
// Only definite-length DER is accepted, which is all a certificate may contain.

import {concat, equal, fromPem, sha256, toHex, utf8} from "./bytes.js";

export const OID = {
  commonName: "2.5.4.3",
  serialNumber: "2.5.4.5",
  title: "2.5.4.12",
  organisationName: "2.5.4.10",
  ecPublicKey: "1.2.840.10045.2.1",
  p256: "1.2.840.10045.3.1.7",
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  keyUsage: "2.5.29.15",
};

// -- reading ---------------------------------------------------------------------------------------

/** One TLV at ``offset``: {tag, start (of the value), end, whole (bytes of the full TLV)}. */
export function readTlv(bytes, offset = 0) {
  if (offset + 2 > bytes.length) throw new Error("DER: truncated");
  const tag = bytes[offset];
  let length = bytes[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new Error("DER: unsupported length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i];
    start += count;
  }
  const end = start + length;
  if (end > bytes.length) throw new Error("DER: value runs past the end");
  return {tag, start, end, value: bytes.subarray(start, end), whole: bytes.subarray(offset, end)};
}

/** The TLVs inside a constructed value. */
export function children(bytes, node) {
  const out = [];
  let offset = node.start;
  while (offset < node.end) {
    const child = readTlv(bytes, offset);
    out.push(child);
    offset = child.end;
  }
  return out;
}

export function decodeOid(value) {
  const parts = [];
  let acc = 0;
  for (let i = 0; i < value.length; i++) {
    acc = acc * 128 + (value[i] & 0x7f);
    if (!(value[i] & 0x80)) {
      if (parts.length === 0) {
        const first = acc < 80 ? Math.floor(acc / 40) : 2;
        parts.push(first, acc - first * 40);
      } else {
        parts.push(acc);
      }
      acc = 0;
    }
  }
  return parts.join(".");
}

function decodeString(node) {
  if (node.tag === 0x0c || node.tag === 0x13 || node.tag === 0x16) return new TextDecoder().decode(node.value);
  if (node.tag === 0x1e) {  // BMPString
    let text = "";
    for (let i = 0; i + 1 < node.value.length; i += 2) text += String.fromCharCode((node.value[i] << 8) | node.value[i + 1]);
    return text;
  }
  return toHex(node.value);
}

function decodeTime(node) {
  const text = new TextDecoder().decode(node.value);
  const m = node.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
    : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) throw new Error("certificate: unsupported time " + text);
  let year = Number(m[1]);
  if (node.tag === 0x17) year += year < 50 ? 2000 : 1900;
  return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

function readName(bytes, node) {
  const out = {};
  for (const rdn of children(bytes, node)) {
    for (const pair of children(bytes, rdn)) {
      const [type, value] = children(bytes, pair);
      out[decodeOid(type.value)] = decodeString(value);
    }
  }
  return out;
}

/**
 * Parse a certificate (DER bytes or PEM text): what the pages need to use and check it.
 * Returns {der, tbs, spki, subject (OID → text), subjectDer, issuerDer, serial (hex), notBefore,
 * notAfter (ms), keyAlgorithm ("EC-P256" | "RSA"), signatureAlgorithm (OID), signature (bytes)}.
 */
export function parseCertificate(input) {
  const der = typeof input === "string" ? fromPem(input) : input;
  const root = readTlv(der);
  if (root.tag !== 0x30 || root.end !== der.length) throw new Error("not a DER certificate");
  const [tbs, sigAlg, sigValue] = children(der, root);
  const fields = children(der, tbs);
  let i = fields[0].tag === 0xa0 ? 1 : 0;
  const serial = fields[i++];
  i++;  // signature algorithm inside tbs
  const issuer = fields[i++];
  const validity = children(der, fields[i++]);
  const subject = fields[i++];
  const spki = fields[i++];
  const [algorithm] = children(der, spki);
  const algorithmParts = children(der, algorithm);
  const keyOid = decodeOid(algorithmParts[0].value);
  let keyAlgorithm = "unknown";
  if (keyOid === OID.ecPublicKey && algorithmParts[1] && decodeOid(algorithmParts[1].value) === OID.p256) {
    keyAlgorithm = "EC-P256";
  } else if (keyOid === OID.rsaEncryption) {
    keyAlgorithm = "RSA";
  }
  return {
    der, tbs: tbs.whole, spki: spki.whole, subject: readName(der, subject), subjectDer: subject.whole,
    issuerDer: issuer.whole, serial: toHex(serial.value).replace(/^00/, ""),
    notBefore: decodeTime(validity[0]), notAfter: decodeTime(validity[1]), keyAlgorithm,
    signatureAlgorithm: decodeOid(children(der, sigAlg)[0].value), signature: sigValue.value.subarray(1),
  };
}

/** SHA-256 of the certificate DER, hex: how envelopes and signed documents name a certificate. */
export async function fingerprint(certificate) {
  return toHex(await sha256(certificate.der));
}

/** ECDSA-Sig-Value DER → 64-byte r || s (WebCrypto's form). */
export function derToRawSignature(der) {
  const root = readTlv(der);
  const [r, s] = children(der, root);
  const out = new Uint8Array(64);
  const put = (value, at) => {
    const trimmed = value.subarray(Math.max(0, value.length - 32));
    if (value.length > 33 || (value.length === 33 && value[0] !== 0)) throw new Error("ECDSA integer too long");
    out.set(trimmed, at + 32 - trimmed.length);
  };
  put(r.value, 0);
  put(s.value, 32);
  return out;
}

/** 64-byte r || s → ECDSA-Sig-Value DER (what PKCS#10 and X.509 carry). */
export function rawToDerSignature(raw) {
  if (raw.length !== 64) throw new Error("a raw P-256 signature has 64 bytes");
  return sequence(integer(raw.subarray(0, 32)), integer(raw.subarray(32)));
}

/** Check that ``issuer`` (the platform CA) signed ``certificate``, with WebCrypto. */
export async function verifyIssuedBy(certificate, issuer) {
  if (!equal(certificate.issuerDer, issuer.subjectDer)) return false;
  if (certificate.signatureAlgorithm !== OID.ecdsaWithSha256 || issuer.keyAlgorithm !== "EC-P256") return false;
  const key = await crypto.subtle.importKey("spki", issuer.spki, {name: "ECDSA", namedCurve: "P-256"}, false, ["verify"]);
  let raw;
  try {
    raw = derToRawSignature(certificate.signature);
  } catch (error) {
    return false;
  }
  return crypto.subtle.verify({name: "ECDSA", hash: "SHA-256"}, key, raw, certificate.tbs);
}

// -- writing -----------------------------------------------------------------------------------------

function length(size) {
  if (size < 0x80) return new Uint8Array([size]);
  const bytes = [];
  for (let rest = size; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return new Uint8Array([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag, ...contents) {
  const value = concat(...contents);
  return concat(new Uint8Array([tag]), length(value.length), value);
}

export const sequence = (...items) => tlv(0x30, ...items);
export const set = (...items) => tlv(0x31, ...items);

export function integer(magnitude) {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let body = magnitude.subarray(start);
  if (body[0] & 0x80) body = concat(new Uint8Array([0]), body);
  return tlv(0x02, body);
}

export function oid(dotted) {
  const parts = dotted.split(".").map(Number);
  const bytes = [parts[0] * 40 + parts[1]];
  for (const part of parts.slice(2)) {
    const group = [part & 0x7f];
    for (let rest = Math.floor(part / 128); rest > 0; rest = Math.floor(rest / 128)) group.unshift(0x80 | (rest & 0x7f));
    bytes.push(...group);
  }
  return tlv(0x06, new Uint8Array(bytes));
}

export const utf8String = (text) => tlv(0x0c, utf8(text));
export const bitString = (bytes) => tlv(0x03, new Uint8Array([0]), bytes);

/** A Name with one RDN per attribute: [[oid, text], ...]. */
export function name(attributes) {
  return sequence(...attributes.map(([type, text]) => set(sequence(oid(type), utf8String(text)))));
}
