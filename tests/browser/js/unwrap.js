// Run in Chromium by tests/browser/test_sealing.py: what the bidder's page does at the opening. Read the
// envelope header, find the encryption key it was sealed to in this browser's key store, unwrap the content
// key with that non-extractable ECDH key, and return only the content key (hex).
async (headerHex) => {
  const env = await import("/static/js/envelope.js");
  const keys = await import("/static/js/keys.js");
  const header = await env.readHeader(keys.fromHex(headerHex));
  const record = await keys.findByEncryptionKeyId(header.bidderKey.recipient_key);
  if (!record) throw new Error("no key in this browser for " + header.bidderKey.recipient_key);
  if (record.encryptionKey.extractable) throw new Error("the encryption key is extractable");
  const key = await env.unwrapContentKey(header, {privateKey: record.encryptionKey, publicSpki: record.encryptionSpki});
  return Array.from(key, (b) => b.toString(16).padStart(2, "0")).join("");
}
