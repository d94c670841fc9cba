// Keys of one envelope (docs/envelope.md §4, §6, §7): the key schedule, the wrap context, ECDH-ES and
// RSA-OAEP wraps to a certificate, unwrapping with a non-extractable WebCrypto key, and Shamir over GF(2^8).

import {OID, integer, oid, parseCertificate, sequence, tlv} from "../asn1.js";
import {concat, equal, fromHex, sha256, toHex, utf8} from "../bytes.js";
import {canonical} from "../canonical.js";
import {ECDH_ES, EnvelopeError, FORMAT, RSA_OAEP} from "./format.js";

const subtle = crypto.subtle;
const PAYLOAD_KEY_INFO = utf8("bidhall-envelope/1 payload key");
const COMMITMENT_INFO = utf8("bidhall-envelope/1 key commitment");
const ECDH_INFO = utf8("bidhall-envelope/1 ecdh-es\0");
const ZERO_NONCE = new Uint8Array(12);
const P256_ORDER = BigInt("0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
const ECDH_P256 = {name: "ECDH", namedCurve: "P-256"};

/** HKDF-SHA256 with an empty salt and a 32-byte output. */
export async function hkdf(ikm, info) {
  const key = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await subtle.deriveBits({name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info}, key, 256));
}

/** {payloadKey, keyCommitment} derived from a content key K (K itself never encrypts). */
export async function keySchedule(contentKey) {
  return {payloadKey: await hkdf(contentKey, PAYLOAD_KEY_INFO), keyCommitment: await hkdf(contentKey, COMMITMENT_INFO)};
}

export async function checkContentKey(contentKey, commitment) {
  if (!(contentKey instanceof Uint8Array) || contentKey.length !== 32) {
    throw new EnvelopeError("envelope_wrong_key", "a content key has 32 bytes");
  }
  if (!equal(await hkdf(contentKey, COMMITMENT_INFO), commitment)) {
    throw new EnvelopeError("envelope_wrong_key", "this key does not open this bid: it is not the key the bid was sealed with");
  }
}

/** The wrap context: canonical JSON naming exactly one slot in one envelope. */
export function wrapContext(ids, noncePrefix, commitment, {purpose, recipient, officer = "", x = 0}) {
  return canonical({
    format: FORMAT, purpose, project: ids.project, section: ids.section, bidder: ids.bidder,
    nonce_prefix: toHex(noncePrefix), key_commitment: toHex(commitment), recipient, officer, x,
  });
}

/** A recipient's encryption certificate, imported: {fingerprint, keyId, algorithm, publicKey, point}. */
export async function recipientOf(certificate) {
  const cert = certificate.der ? certificate : parseCertificate(certificate);
  const fingerprint = toHex(await sha256(cert.der));
  if (cert.keyAlgorithm === "EC-P256") {
    const publicKey = await subtle.importKey("spki", cert.spki, ECDH_P256, true, []);
    const spki = new Uint8Array(await subtle.exportKey("spki", publicKey));
    return {fingerprint, keyId: toHex(await sha256(spki)), algorithm: ECDH_ES, publicKey,
      point: new Uint8Array(await subtle.exportKey("raw", publicKey)), certificate: cert};
  }
  if (cert.keyAlgorithm === "RSA") {
    const publicKey = await subtle.importKey("spki", cert.spki, {name: "RSA-OAEP", hash: "SHA-256"}, true, ["encrypt"]);
    const spki = new Uint8Array(await subtle.exportKey("spki", publicKey));
    return {fingerprint, keyId: toHex(await sha256(spki)), algorithm: RSA_OAEP, publicKey, point: null, certificate: cert};
  }
  throw new EnvelopeError("envelope_malformed", `certificate ${cert.serial} cannot receive a key: it is neither P-256 nor RSA`);
}

function base64UrlToBytes(text) {
  const raw = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/**
 * Import a P-256 private scalar (32 bytes) as a WebCrypto key through PKCS#8, returning {privateKey, point}.
 * Only the known-answer vectors need this (fixed scalars); sealing draws keys with generateKey.
 */
export async function importP256Scalar(scalar, algorithm, usages) {
  const pkcs8 = sequence(integer(new Uint8Array([0])), sequence(oid(OID.ecPublicKey), oid(OID.p256)),
    tlv(0x04, sequence(integer(new Uint8Array([1])), tlv(0x04, scalar))));
  const params = {name: algorithm, namedCurve: "P-256"};
  const extractable = await subtle.importKey("pkcs8", pkcs8, params, true, usages);
  const jwk = await subtle.exportKey("jwk", extractable);
  const privateKey = await subtle.importKey("pkcs8", pkcs8, params, false, usages);
  return {privateKey, point: concat(new Uint8Array([4]), base64UrlToBytes(jwk.x), base64UrlToBytes(jwk.y))};
}

async function ephemeralKey(random) {
  if (!random) {
    const pair = await subtle.generateKey(ECDH_P256, false, ["deriveBits"]);
    return {privateKey: pair.privateKey, point: new Uint8Array(await subtle.exportKey("raw", pair.publicKey))};
  }
  for (;;) {
    const scalar = random(32);
    const value = BigInt("0x" + toHex(scalar));
    if (value > 0n && value < P256_ORDER) return importP256Scalar(scalar, "ECDH", ["deriveBits"]);
  }
}

async function kek(shared, ephemeralPoint, recipientPoint) {
  const bytes = await hkdf(shared, concat(ECDH_INFO, ephemeralPoint, recipientPoint));
  return subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** Wrap a 32-byte secret so only the holder of ``recipient``'s private key recovers it. */
export async function wrapSecret(secret, recipient, context, random = null) {
  if (recipient.algorithm === RSA_OAEP) {
    const wrapped = new Uint8Array(await subtle.encrypt({name: "RSA-OAEP", label: context}, recipient.publicKey, secret));
    return {algorithm: RSA_OAEP, recipient: recipient.fingerprint, recipient_key: recipient.keyId, wrapped_key: toHex(wrapped)};
  }
  const ephemeral = await ephemeralKey(random);
  const shared = new Uint8Array(await subtle.deriveBits({name: "ECDH", public: recipient.publicKey}, ephemeral.privateKey, 256));
  const key = await kek(shared, ephemeral.point, recipient.point);
  const wrapped = new Uint8Array(await subtle.encrypt({name: "AES-GCM", iv: ZERO_NONCE, additionalData: context}, key, secret));
  return {algorithm: ECDH_ES, recipient: recipient.fingerprint, recipient_key: recipient.keyId,
    ephemeral_key: toHex(ephemeral.point), wrapped_key: toHex(wrapped)};
}

/**
 * Unwrap with the recipient's private key, which may be non-extractable: an ECDH key (``deriveBits``) or an
 * RSA-OAEP key (``decrypt``). ``publicSpki`` is the recipient's public key (SubjectPublicKeyInfo DER).
 */
export async function unwrapSecret(wrap, {privateKey, publicSpki}, context, what) {
  if (toHex(await sha256(publicSpki)) !== wrap.recipient_key) {
    throw new EnvelopeError("envelope_wrong_key", `this private key does not belong to the encryption certificate the ` +
      `${what} was sealed to (certificate ${wrap.recipient.slice(0, 16)}…)`);
  }
  let secret;
  try {
    if (wrap.algorithm === RSA_OAEP) {
      secret = await subtle.decrypt({name: "RSA-OAEP", label: context}, privateKey, fromHex(wrap.wrapped_key));
    } else {
      const publicKey = await subtle.importKey("spki", publicSpki, ECDH_P256, true, []);
      const point = new Uint8Array(await subtle.exportKey("raw", publicKey));
      const ephemeralPoint = fromHex(wrap.ephemeral_key);
      const ephemeral = await subtle.importKey("raw", ephemeralPoint, ECDH_P256, false, []);
      const shared = new Uint8Array(await subtle.deriveBits({name: "ECDH", public: ephemeral}, privateKey, 256));
      secret = await subtle.decrypt({name: "AES-GCM", iv: ZERO_NONCE, additionalData: context},
        await kek(shared, ephemeralPoint, point), fromHex(wrap.wrapped_key));
    }
  } catch (error) {
    throw new EnvelopeError("envelope_wrong_key", `the ${what} cannot be unwrapped: it was altered or belongs to another bid`);
  }
  secret = new Uint8Array(secret);
  if (secret.length !== 32) throw new EnvelopeError("envelope_wrong_key", `the ${what} has the wrong length`);
  return secret;
}

// -- Shamir over GF(2^8), polynomial 0x11B (docs/envelope.md §7) ------------------------------------------

export function gfMul(a, b) {
  let product = 0;
  for (let i = 0; i < 8; i++) {
    product ^= -(b & 1) & a;
    const high = -((a >> 7) & 1) & 0x1b;
    a = ((a << 1) & 0xff) ^ high;
    b >>= 1;
  }
  return product & 0xff;
}

/** Split ``secret`` into ``count`` shares (x = 1..count), any ``threshold`` of which rebuild it. */
export function splitSecret(secret, count, threshold, random) {
  if (!(threshold >= 2 && threshold <= count && count <= 255)) throw new Error("need 2 ≤ threshold ≤ shares ≤ 255");
  const degree = threshold - 1;
  const randomness = random(secret.length * degree);
  const ys = Array.from({length: count}, () => new Uint8Array(secret.length));
  for (let j = 0; j < secret.length; j++) {
    const coefficients = [secret[j], ...randomness.subarray(j * degree, (j + 1) * degree)];
    for (let i = 0; i < count; i++) {
      let value = 0;
      for (let c = coefficients.length - 1; c >= 0; c--) value = gfMul(value, i + 1) ^ coefficients[c];
      ys[i][j] = value;
    }
  }
  return ys.map((y, i) => ({x: i + 1, y}));
}
