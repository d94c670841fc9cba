// Run in Chromium by tests/browser/test_sealing.py: the test vectors of docs/envelope.md §11 and the
// whole-envelope vectors of tests/crypto/vectors/envelope-v1.json, through static/js/envelope.js.
// Returns what the page computed; the Python test compares it with the vectors.
async ({doc, file, streams}) => {
  const env = await import("/static/js/envelope.js");
  const bytes = await import("/static/js/bytes.js");
  const hashing = await import("/static/js/hashing.js");
  const {fromHex, toHex, concat, utf8} = bytes;
  const subtle = crypto.subtle;
  const stream = (hex) => {
    const data = fromHex(hex);
    let position = 0;
    return (count) => {
      const out = data.slice(position, position + count);
      position += count;
      if (out.length !== count) throw new Error("random stream exhausted");
      return out;
    };
  };
  const out = {};

  const ks = doc["key-schedule"];
  const schedule = await env.keySchedule(fromHex(ks.content_key));
  out.payload_key = toHex(schedule.payloadKey);
  out.key_commitment = toHex(schedule.keyCommitment);

  const ch = doc.chunk;
  const aes = await subtle.importKey("raw", fromHex(ks.payload_key), "AES-GCM", false, ["encrypt"]);
  const nonce = env.chunkNonce(fromHex(ch.nonce_prefix), 0, true);
  const cipher = new Uint8Array(await subtle.encrypt({name: "AES-GCM", iv: nonce,
    additionalData: fromHex(ch.header_hash)}, aes, fromHex(ch.plaintext)));
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, cipher.length);
  const record = concat(new Uint8Array([0x43]), nonce, length, cipher);
  out.chunk = {
    header_hash: toHex(new Uint8Array(await subtle.digest("SHA-256", utf8("example header")))),
    nonce: toHex(nonce), record: toHex(record), record_digest: toHex(await hashing.blake3(record)),
    ciphertext_digest: toHex(await hashing.blake3(concat(utf8("bidhall-envelope/1 body\0"),
      fromHex(ch.record_digest)))),
  };

  const w = doc["ecdh-wrap"];
  const recipientKey = await env.importP256Scalar(fromHex(w.recipient_private), "ECDH", ["deriveBits"]);
  const recipientPublic = await subtle.importKey("raw", recipientKey.point, {name: "ECDH", namedCurve: "P-256"}, true, []);
  const ephemeral = await env.importP256Scalar(fromHex(w.ephemeral_private), "ECDH", ["deriveBits"]);
  const shared = new Uint8Array(await subtle.deriveBits({name: "ECDH", public: recipientPublic}, ephemeral.privateKey, 256));
  const context = env.wrapContext({project: "P-1", section: "P-1-01", bidder: "91350100M000100Y43"},
    fromHex(ch.nonce_prefix), fromHex(ks.key_commitment), {purpose: "content_key", recipient: "ab".repeat(32)});
  const wrap = await env.wrapSecret(fromHex(w.secret), {algorithm: "ECDH-ES-P256-HKDF-SHA256-A256GCM",
    fingerprint: "ab".repeat(32), keyId: "cd".repeat(32), publicKey: recipientPublic, point: recipientKey.point},
  context, stream(w.ephemeral_private));
  out.wrap = {
    recipient_point: toHex(recipientKey.point), ephemeral_point: wrap.ephemeral_key, shared_secret: toHex(shared),
    kek: toHex(await env.hkdf(shared, concat(utf8("bidhall-envelope/1 ecdh-es\0"), ephemeral.point, recipientKey.point))),
    context: new TextDecoder().decode(context), wrapped_key: wrap.wrapped_key,
  };

  const sh = doc.shamir;
  const shares = env.splitSecret(fromHex(sh.secret), 3, Number(sh.threshold), stream(sh.coefficients));
  out.shares = shares.map((share) => toHex(share.y));

  const bidderSigning = await env.importP256Scalar(fromHex(file.bidder.signing_private_key), "ECDSA", ["sign"]);
  const bidderEncryption = await env.importP256Scalar(fromHex(file.bidder.encryption_private_key), "ECDH", ["deriveBits"]);
  const encryptionCert = env.parseCertificate(fromHex(file.bidder.encryption_certificate));
  const bidderKeys = {privateKey: bidderEncryption.privateKey, publicSpki: encryptionCert.spki};
  out.envelopes = [];
  for (const vector of file.vectors) {
    const parts = [];
    const summary = await env.sealEnvelope({
      source: new Blob([fromHex(vector.plaintext)]), ids: file.ids, signingKey: bidderSigning.privateKey,
      signingCertificate: fromHex(file.bidder.signing_certificate), encryptionCertificate: encryptionCert,
      officers: file.officers.map((o) => ({officer: o.id, certificate: fromHex(o.encryption_certificate)})),
      threshold: file.threshold, chunkSize: file.chunk_size, write: async (part) => { parts.push(part.slice()); },
      randomBytes: stream(streams[vector.name]), now: Date.parse(file.created_at),
    });
    const sealed = concat(...parts);
    const opened = [];
    const stored = new Blob([fromHex(vector.envelope)]);
    const header = await env.readHeader(stored);
    const contentKey = await env.unwrapContentKey(header, bidderKeys);
    const result = await env.openEnvelope(stored, contentKey, {expectedIds: file.ids,
      signerCertificate: env.parseCertificate(fromHex(file.bidder.signing_certificate)),
      write: async (part) => { opened.push(part.slice()); }});
    const officerShares = [];
    for (const officer of file.officers) {
      const officerKey = await env.importP256Scalar(fromHex(officer.encryption_private_key), "ECDH", ["deriveBits"]);
      const share = await env.unwrapShare(header, officer.id, {privateKey: officerKey.privateKey,
        publicSpki: env.parseCertificate(fromHex(officer.encryption_certificate)).spki});
      officerShares.push({x: share.x, y: toHex(share.y)});
    }
    let refused = null;
    try {
      await env.openEnvelope(stored, fromHex("00".repeat(32)), {});
    } catch (error) {
      refused = error.code;
    }
    out.envelopes.push({
      name: vector.name, sealed: toHex(sealed), summary, content_key: toHex(contentKey),
      header_hash: toHex(header.headerHash), opened: toHex(concat(...opened)),
      opened_digest: result.ciphertextDigest, opened_chunks: result.chunkCount, shares: officerShares,
      wrong_key: refused,
    });
  }
  return out;
}
