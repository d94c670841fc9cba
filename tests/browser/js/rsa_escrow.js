// Run in Chromium by tests/browser/test_sealing.py: escrow shares wrapped with RSA-OAEP (an officer whose
// encryption certificate is RSA). Seal in the page to a P-256 and an RSA officer; and unwrap, with a
// non-extractable RSA key imported into the page, the RSA officer's share of a bid Python sealed.
async ({signingScalar, signingCert, encryptionCert, officers, ids, rsaPkcs8, pythonHeader, rsaOfficer}) => {
  const env = await import("/static/js/envelope.js");
  const {fromHex, toHex} = await import("/static/js/bytes.js");
  const signing = await env.importP256Scalar(fromHex(signingScalar), "ECDSA", ["sign"]);
  const parts = [];
  await env.sealEnvelope({source: new Blob([new TextEncoder().encode("RSA 托管测试".repeat(3000))]), ids,
    signingKey: signing.privateKey, signingCertificate: fromHex(signingCert), encryptionCertificate: fromHex(encryptionCert),
    officers: officers.map((o) => ({officer: o.id, certificate: fromHex(o.certificate)})), threshold: 2,
    chunkSize: 4096, write: async (part) => { parts.push(toHex(part)); }});
  const rsaKey = await crypto.subtle.importKey("pkcs8", fromHex(rsaPkcs8), {name: "RSA-OAEP", hash: "SHA-256"}, false,
    ["decrypt"]);
  const header = await env.readHeader(fromHex(pythonHeader));
  const rsaCert = env.parseCertificate(fromHex(officers.find((o) => o.id === rsaOfficer).certificate));
  const share = await env.unwrapShare(header, rsaOfficer, {privateKey: rsaKey, publicSpki: rsaCert.spki});
  return {sealed: parts.join(""), share: {x: share.x, y: toHex(share.y)}};
}
