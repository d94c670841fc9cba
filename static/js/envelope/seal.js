// Sealing a bid in the page (docs/envelope.md §4–§6, §12): stream a Blob through AES-256-GCM chunks into
// an envelope, a few chunks in memory at a time. The content key is wrapped to the bidder's encryption
// certificate and split among the opening officers; it never leaves this function.

import {concat, equal, randomBytes as secureRandom, toHex, u32} from "../bytes.js";
import {formatUtc} from "../canonical.js";
import {parseCertificate} from "../asn1.js";
import {createBlake3} from "../hashing.js";
import {BODY_DIGEST_CONTEXT, CHUNK_TAG, DEFAULT_CHUNK_SIZE, EnvelopeError, FORMAT, FRAME_SIZE,
  HEADER_SIGNATURE_CONTEXT, MAX_CHUNKS, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, NONCE_PREFIX_SIZE, SIGNATURE_SIZE, TAG_SIZE,
  checkId, chunkNonce, encodeHeader, encodeTrailer, envelopeSize, trailerMessage} from "./format.js";
import {keySchedule, recipientOf, splitSecret, wrapContext, wrapSecret} from "./keys.js";

const subtle = crypto.subtle;
const AHEAD = 4;  // chunks read and encrypted ahead of the one being hashed and written

function certificateOf(value) {
  return value && value.der ? value : parseCertificate(value);
}

async function sign(key, message) {
  return new Uint8Array(await subtle.sign({name: "ECDSA", hash: "SHA-256"}, key, message));
}

function checkInputs(ids, officers, threshold, chunkSize, signingCert, encryptionCert) {
  for (const key of ["project", "section", "bidder"]) checkId(ids[key], key);
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new EnvelopeError("envelope_invalid", `chunk size must be ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE} bytes`);
  }
  const names = officers.map((officer) => checkId(officer.officer, "officer"));
  if (new Set(names).size !== names.length) throw new EnvelopeError("envelope_invalid", "an opening officer is listed twice");
  if (!(Number.isInteger(threshold) && threshold >= 2 && threshold <= officers.length && officers.length <= 255)) {
    throw new EnvelopeError("envelope_invalid", `escrow needs 2 ≤ threshold ≤ officers ≤ 255, so that no single officer ` +
      `can open a bid; got threshold ${threshold} with ${officers.length} officers`);
  }
  if (signingCert.keyAlgorithm !== "EC-P256") {
    throw new EnvelopeError("envelope_invalid", "the bidder's signing certificate is not an ECDSA P-256 certificate");
  }
  if (!equal(signingCert.subjectDer, encryptionCert.subjectDer)) {
    throw new EnvelopeError("envelope_invalid", "the bidder's encryption certificate belongs to another holder than its " +
      "signing certificate");
  }
}

/**
 * Seal ``source`` (a Blob or File) and hand the envelope's bytes, in order, to ``write`` (awaited, so a
 * slow sink slows the reading). Returns {envelopeSize, headerHash, ciphertextDigest, chunkCount,
 * plaintextSize, keyCommitment, header (the JSON)}; the content key is not returned.
 *
 * ``signingKey`` is the bidder's (non-extractable) ECDSA P-256 private key; certificates are DER bytes, PEM
 * text or parsed (asn1.parseCertificate); ``officers`` are [{officer, certificate}] in escrow order.
 * ``randomBytes`` and ``now`` exist for the known-answer vectors only.
 */
export async function sealEnvelope({source, ids, signingKey, signingCertificate, encryptionCertificate, officers,
  threshold, write, chunkSize = DEFAULT_CHUNK_SIZE, onProgress = null, randomBytes = null, now = null}) {
  const signingCert = certificateOf(signingCertificate);
  const encryptionCert = certificateOf(encryptionCertificate);
  checkInputs(ids, officers, threshold, chunkSize, signingCert, encryptionCert);
  const plaintextSize = source.size;
  const count = Math.floor(plaintextSize / chunkSize) + 1;
  if (count > MAX_CHUNKS) throw new EnvelopeError("envelope_invalid", "the bid is too large for one envelope");
  const random = randomBytes || secureRandom;
  const contentKey = random(32);
  const noncePrefix = random(NONCE_PREFIX_SIZE);
  const {payloadKey, keyCommitment} = await keySchedule(contentKey);
  const context = (purpose, recipient, officer = "", x = 0) =>
    wrapContext(ids, noncePrefix, keyCommitment, {purpose, recipient: recipient.fingerprint, officer, x});

  const bidder = await recipientOf(encryptionCert);
  const bidderKey = await wrapSecret(contentKey, bidder, context("content_key", bidder), randomBytes);
  const split = splitSecret(contentKey, officers.length, threshold, random);
  const shares = [];
  for (let i = 0; i < officers.length; i++) {
    const recipient = await recipientOf(certificateOf(officers[i].certificate));
    const wrap = await wrapSecret(split[i].y, recipient, context("escrow_share", recipient, officers[i].officer, split[i].x),
      randomBytes);
    shares.push({officer: officers[i].officer, x: split[i].x, wrap});
    split[i].y.fill(0);
  }
  const header = {
    format: FORMAT, ids: {project: ids.project, section: ids.section, bidder: ids.bidder}, chunk_size: chunkSize,
    nonce_prefix: toHex(noncePrefix), key_commitment: toHex(keyCommitment),
    created_at: formatUtc(now !== null ? now : (globalThis.bidhallServerNow ? globalThis.bidhallServerNow() : Date.now())),
    signer_certificate: toHex(signingCert.der), bidder_key: bidderKey, escrow: {threshold, shares},
  };
  const encoded = encodeHeader(header);
  const signed = concat(HEADER_SIGNATURE_CONTEXT, encoded);
  const headerSignature = await sign(signingKey, signed);
  const signerKey = await subtle.importKey("spki", signingCert.spki, {name: "ECDSA", namedCurve: "P-256"}, false, ["verify"]);
  if (!await subtle.verify({name: "ECDSA", hash: "SHA-256"}, signerKey, headerSignature, signed)) {
    throw new EnvelopeError("envelope_invalid", "the signing key in this browser does not belong to the signing certificate");
  }
  const headerHash = new Uint8Array(await subtle.digest("SHA-256", encoded));
  const aes = await subtle.importKey("raw", payloadKey, "AES-GCM", false, ["encrypt"]);
  payloadKey.fill(0);
  contentKey.fill(0);
  const total = envelopeSize(encoded.length + SIGNATURE_SIZE, plaintextSize, chunkSize);
  await write(encoded);
  await write(headerSignature);

  const encryptChunk = async (index) => {
    const start = index * chunkSize;
    const end = Math.min(start + chunkSize, plaintextSize);
    const plain = new Uint8Array(await source.slice(start, end).arrayBuffer());
    const nonce = chunkNonce(noncePrefix, index, index === count - 1);
    const cipher = new Uint8Array(await subtle.encrypt({name: "AES-GCM", iv: nonce, additionalData: headerHash}, aes, plain));
    const record = new Uint8Array(FRAME_SIZE + cipher.length);
    record[0] = CHUNK_TAG;
    record.set(nonce, 1);
    record.set(u32(cipher.length), 13);
    record.set(cipher, FRAME_SIZE);
    return {record, plainLength: end - start};
  };
  const recordHasher = await createBlake3();
  const body = (await createBlake3()).update(BODY_DIGEST_CONTEXT);
  const pending = [];
  const queue = (index) => {
    const job = encryptChunk(index);
    job.catch(() => {});  // awaited in order below; this only silences the unhandled-rejection warning
    pending.push(job);
  };
  for (let index = 0; index < Math.min(AHEAD, count); index++) queue(index);
  let written = encoded.length + SIGNATURE_SIZE;
  for (let index = 0; index < count; index++) {
    const {record, plainLength} = await pending.shift();
    if (index + AHEAD < count) queue(index + AHEAD);
    body.update(recordHasher.init().update(record).digest());
    await write(record);
    written += record.length;
    if (onProgress) onProgress({done: index * chunkSize + plainLength, total: plaintextSize, written});
  }
  const digest = body.digest();
  const signature = await sign(signingKey, trailerMessage(headerHash, count, plaintextSize, digest));
  const trailer = encodeTrailer(count, plaintextSize, digest, signature);
  await write(trailer);
  written += trailer.length;
  if (written !== total) throw new EnvelopeError("envelope_invalid", `sealed ${written} bytes, expected ${total}`);
  return {envelopeSize: total, headerHash: toHex(headerHash), ciphertextDigest: toHex(digest), chunkCount: count,
    plaintextSize, keyCommitment: toHex(keyCommitment), header};
}
