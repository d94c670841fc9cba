// Reading an envelope in the page (docs/envelope.md §8): the header (for unwrapping the content key at the
// opening) and, with the content key, every chunk, the digest and both signatures. The plaintext handed to
// ``write`` is complete and authentic only when openEnvelope returns without an error.

import {equal, readU32, readU64, toHex} from "../bytes.js";
import {createBlake3} from "../hashing.js";
import {BODY_DIGEST_CONTEXT, EnvelopeError, FRAME_SIZE, PREAMBLE_SIZE, SIGNATURE_SIZE, TAG_SIZE, TRAILER_SIZE,
  TRAILER_TAG, checkFrame, chunkNonce, parseHeader, parsePreamble, trailerMessage} from "./format.js";
import {checkContentKey, keySchedule} from "./keys.js";

const subtle = crypto.subtle;

async function read(blob, start, end) {
  return new Uint8Array(await blob.slice(start, Math.min(end, blob.size)).arrayBuffer());
}

/** Read and check the header of an envelope held in a Blob, or given as bytes (at least the header). */
export async function readHeader(source) {
  const blob = source instanceof Blob ? source : new Blob([source]);
  const preamble = await read(blob, 0, PREAMBLE_SIZE);
  if (preamble.length < PREAMBLE_SIZE) {
    throw new EnvelopeError("envelope_truncated", `the envelope ends after ${preamble.length} bytes, inside its preamble`);
  }
  const length = parsePreamble(preamble);
  const rest = await read(blob, PREAMBLE_SIZE, PREAMBLE_SIZE + length + SIGNATURE_SIZE);
  if (rest.length < length + SIGNATURE_SIZE) {
    throw new EnvelopeError("envelope_truncated", "the envelope ends inside its header");
  }
  const encoded = new Uint8Array(PREAMBLE_SIZE + length);
  encoded.set(preamble);
  encoded.set(rest.subarray(0, length), PREAMBLE_SIZE);
  return parseHeader(encoded, rest.slice(length));
}

function checkBid(header, expectedIds, signerCertificate) {
  if (signerCertificate && !equal(header.signerCertificate.der, signerCertificate.der)) {
    throw new EnvelopeError("envelope_signer_mismatch", "the envelope was signed with another certificate than the " +
      "bidder's signing certificate");
  }
  if (expectedIds && ["project", "section", "bidder"].some((key) => header.ids[key] !== expectedIds[key])) {
    const describe = (ids) => `project ${ids.project}, section ${ids.section}, bidder ${ids.bidder}`;
    throw new EnvelopeError("envelope_bid_mismatch", `this envelope was sealed for ${describe(header.ids)}, not for ` +
      describe(expectedIds));
  }
}

/**
 * Decrypt ``blob`` with the 32-byte content key, checking everything; ``write(bytes)`` receives the
 * plaintext in order. ``signerCertificate`` (parsed) and ``expectedIds`` are checked when given.
 */
export async function openEnvelope(blob, contentKey, {expectedIds = null, signerCertificate = null, write = null} = {}) {
  const header = await readHeader(blob);
  checkBid(header, expectedIds, signerCertificate);
  await checkContentKey(contentKey, header.keyCommitment);
  const {payloadKey} = await keySchedule(contentKey);
  const aes = await subtle.importKey("raw", payloadKey, "AES-GCM", false, ["decrypt"]);
  const recordHasher = await createBlake3();
  const body = (await createBlake3()).update(BODY_DIGEST_CONTEXT);
  let offset = header.size;
  let index = 0;
  let plaintextSize = 0;
  for (let final = false; !final; index++) {
    const window = await read(blob, offset, offset + FRAME_SIZE + header.chunkSize + TAG_SIZE);
    if (window.length && window[0] === TRAILER_TAG) {
      const where = index ? `after chunk ${index - 1}` : "before its first chunk";
      throw new EnvelopeError("envelope_truncated", `the envelope reaches its trailer ${where} without a final chunk: ` +
        "the end of the bid was cut off");
    }
    if (window.length < FRAME_SIZE) {
      throw new EnvelopeError("envelope_truncated", `the envelope ends before chunk ${index}: the end of the bid was cut off`);
    }
    const frame = window.subarray(0, FRAME_SIZE);
    const checked = checkFrame(frame, index, header);
    final = checked.final;
    if (window.length < FRAME_SIZE + checked.length) {
      throw new EnvelopeError("envelope_truncated", `the envelope ends inside chunk ${index}: the end of the bid was cut off`);
    }
    const record = window.subarray(0, FRAME_SIZE + checked.length);
    let plain;
    try {
      plain = new Uint8Array(await subtle.decrypt({name: "AES-GCM", iv: chunkNonce(header.noncePrefix, index, final),
        additionalData: header.headerHash}, aes, record.subarray(FRAME_SIZE)));
    } catch (error) {
      throw new EnvelopeError("envelope_chunk_corrupted", `chunk ${index} fails authentication: its bytes were changed ` +
        "or it comes from another bid");
    }
    body.update(recordHasher.init().update(record).digest());
    if (write) await write(plain);
    plaintextSize += plain.length;
    offset += record.length;
  }
  const trailer = await read(blob, offset, offset + TRAILER_SIZE);
  if (trailer.length < TRAILER_SIZE) {
    throw new EnvelopeError("envelope_truncated", "the envelope ends inside its trailer: the bidder's closing signature is missing");
  }
  if (trailer[0] !== TRAILER_TAG) {
    throw new EnvelopeError("envelope_malformed", "the trailer was expected after the final chunk");
  }
  const count = readU32(trailer, 1);
  const size = readU64(trailer, 5);
  const digest = body.digest();
  if (count !== index || size !== plaintextSize) {
    throw new EnvelopeError("envelope_digest_mismatch", `the trailer announces ${count} chunks and ${size} bytes but the ` +
      `envelope holds ${index} chunks and ${plaintextSize} bytes: it was altered`);
  }
  if (!equal(trailer.subarray(13, 45), digest)) {
    throw new EnvelopeError("envelope_digest_mismatch", "the ciphertext does not match the digest the bidder signed");
  }
  const signerKey = await subtle.importKey("spki", header.signerCertificate.spki, {name: "ECDSA", namedCurve: "P-256"},
    false, ["verify"]);
  const signature = trailer.slice(45, 109);
  if (!await subtle.verify({name: "ECDSA", hash: "SHA-256"}, signerKey, signature,
    trailerMessage(header.headerHash, count, size, digest))) {
    throw new EnvelopeError("envelope_bad_signature", "the bidder's closing signature over the header and the ciphertext " +
      "digest does not verify: the trailer was altered");
  }
  if (offset + TRAILER_SIZE !== blob.size) {
    throw new EnvelopeError("envelope_malformed", "there are bytes after the end of the envelope");
  }
  return {header, ciphertextDigest: toHex(digest), chunkCount: count, plaintextSize,
    envelopeSize: offset + TRAILER_SIZE, signature};
}
