// The bid envelope (数字信封) in the browser: a JavaScript implementation of docs/envelope.md with WebCrypto,
// interoperable byte for byte with crypto/envelope/ (Python). Public API:
//
//   sealEnvelope({source, ids, signingKey, signingCertificate, encryptionCertificate, officers, threshold,
//                 write, chunkSize?, onProgress?})                      → summary (never the content key)
//   readHeader(blobOrBytes)                                             → parsed, signature-checked header
//   unwrapContentKey(header, {privateKey, publicSpki})                  → the 32-byte content key (bidder)
//   unwrapShare(header, officerId, {privateKey, publicSpki})            → {x, y} escrow share (officer)
//   openEnvelope(blob, contentKey, {expectedIds, signerCertificate, write}) → summary, plaintext to write()
//
// At the opening (issue 4) the bidder's page calls readHeader on the envelope's header bytes, then
// unwrapContentKey with its non-extractable ECDH key, and sends only the content key to the platform.

import {parseCertificate} from "./asn1.js";
import {EnvelopeError} from "./envelope/format.js";
import {checkContentKey, unwrapSecret, wrapContext} from "./envelope/keys.js";

export {EnvelopeError, envelopeSize, DEFAULT_CHUNK_SIZE, FORMAT} from "./envelope/format.js";
export {sealEnvelope} from "./envelope/seal.js";
export {readHeader, openEnvelope} from "./envelope/open.js";
export {hkdf, keySchedule, splitSecret, gfMul, importP256Scalar, recipientOf, wrapSecret, wrapContext}
  from "./envelope/keys.js";
export {chunkNonce, encodeHeader, parseHeader} from "./envelope/format.js";

function recipientSpki(keys) {
  if (!keys || !keys.privateKey || !keys.publicSpki) {
    throw new EnvelopeError("envelope_wrong_key", "an encryption private key and its public key are needed");
  }
  return keys.publicSpki instanceof Uint8Array ? keys.publicSpki : new Uint8Array(keys.publicSpki);
}

/**
 * The bidder's way in: unwrap the content key with its encryption private key (non-extractable is fine:
 * only ``deriveBits``/``decrypt`` are used), and check it against the header's key commitment.
 */
export async function unwrapContentKey(header, keys) {
  const publicSpki = recipientSpki(keys);
  const wrap = header.bidderKey;
  const context = wrapContext(header.ids, header.noncePrefix, header.keyCommitment,
    {purpose: "content_key", recipient: wrap.recipient});
  const key = await unwrapSecret(wrap, {privateKey: keys.privateKey, publicSpki}, context, "bid key");
  await checkContentKey(key, header.keyCommitment);
  return key;
}

/** An opening officer's escrow share of this bid: {x, y}, for release in the opening hall. */
export async function unwrapShare(header, officer, keys) {
  const publicSpki = recipientSpki(keys);
  const entry = header.shares.find((share) => share.officer === officer);
  if (!entry) {
    throw new EnvelopeError("envelope_invalid_share", `officer ${officer} holds no escrow share of this bid`);
  }
  const context = wrapContext(header.ids, header.noncePrefix, header.keyCommitment,
    {purpose: "escrow_share", recipient: entry.wrap.recipient, officer, x: entry.x});
  try {
    return {x: entry.x, y: await unwrapSecret(entry.wrap, {privateKey: keys.privateKey, publicSpki}, context,
      `escrow share of officer ${officer}`)};
  } catch (error) {
    throw new EnvelopeError("envelope_invalid_share", error.message);
  }
}

export {parseCertificate};
