// The holder's keys in the browser (双证书, docs/envelope.md §3, §9, §12): non-extractable WebCrypto keys
// kept in IndexedDB, a PKCS#10 request signed by the signing key, the encryption-certificate request
// signed as crypto.signing.sign_document does, signed-document checks (receipts) and certificate sign-in.
//
// The private keys cannot be exported, not even by this code: they sign and unwrap only in this browser
// profile. Old keys are never deleted automatically, because a bid sealed to an encryption key can only
// be opened by the bidder with that same key.

import {OID, bitString, fingerprint, integer, name, oid, parseCertificate, rawToDerSignature, sequence, tlv,
  verifyIssuedBy} from "./asn1.js";
import {fromBase64, fromHex, randomBytes, sha256, toBase64, toHex, toPem} from "./bytes.js";
import {canonical, formatUtc, parseCanonical} from "./canonical.js";
import {api} from "./api.js";
import {objectStore} from "./idb.js";

const DB_NAME = "bidhall-keys";
const STORE = "holders";
const SIGNATURE_ALGORITHM = "ECDSA-P256-SHA256";
const ECDSA = {name: "ECDSA", namedCurve: "P-256"};
const ECDH = {name: "ECDH", namedCurve: "P-256"};

function serverNow() {
  return globalThis.bidhallServerNow ? globalThis.bidhallServerNow() : Date.now();
}

// -- the key store ------------------------------------------------------------------------------------

const transact = objectStore(DB_NAME, STORE, "id");

/** Every key record in this browser, newest first. */
export async function listKeys() {
  const records = await transact("readonly", (store) => store.getAll());
  return records.sort((a, b) => b.createdAt - a.createdAt);
}

export function saveKeys(record) {
  return transact("readwrite", (store) => store.put(record));
}

export function deleteKeys(id) {
  return transact("readwrite", (store) => store.delete(id));
}

/** The record whose encryption key has this key id (SHA-256 of its SPKI, as envelopes name it). */
export async function findByEncryptionKeyId(keyId) {
  return (await listKeys()).find((record) => record.encryptionKeyId === keyId) || null;
}

// -- requests -----------------------------------------------------------------------------------------

async function sign(privateKey, message) {
  return new Uint8Array(await crypto.subtle.sign({name: "ECDSA", hash: "SHA-256"}, privateKey, message));
}

/** A PKCS#10 request for the signing key, signed by that (non-extractable) key; PEM text. */
export async function certificateRequest(signingPair, commonName) {
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", signingPair.publicKey));
  const info = sequence(integer(new Uint8Array([0])), name([[OID.commonName, commonName]]), spki, tlv(0xa0));
  const signature = rawToDerSignature(await sign(signingPair.privateKey, info));
  return toPem(sequence(info, sequence(oid(OID.ecdsaWithSha256)), bitString(signature)), "CERTIFICATE REQUEST");
}

/** ``{payload, signature}`` exactly as crypto.signing.sign_document makes it. */
export async function signDocument(payload, privateKey, certificate) {
  const signer = await fingerprint(certificate);
  const value = await sign(privateKey, canonical({algorithm: SIGNATURE_ALGORITHM, payload, signer}));
  return {payload, signature: {algorithm: SIGNATURE_ALGORITHM, signer, value: toHex(value)}};
}

/** Check a signed document (a receipt) against ``certificate``; returns the payload or throws saying why. */
export async function verifyDocument(document, certificate) {
  const signature = document && document.signature;
  if (!signature || signature.algorithm !== SIGNATURE_ALGORITHM || typeof document.payload !== "object") {
    throw new Error("不是有效的签名文档 (not a signed document)");
  }
  if (signature.signer !== await fingerprint(certificate)) {
    throw new Error("文档不是由该证书签名的 (signed by another certificate)");
  }
  const key = await crypto.subtle.importKey("spki", certificate.spki, ECDSA, false, ["verify"]);
  const ok = await crypto.subtle.verify({name: "ECDSA", hash: "SHA-256"}, key, fromHex(signature.value),
    canonical({algorithm: SIGNATURE_ALGORITHM, payload: document.payload, signer: signature.signer}));
  if (!ok) throw new Error("签名验证失败：文档已被改动 (the signature does not verify)");
  return document.payload;
}

/** The platform's signing certificate, checked against the platform CA (PEM texts from the API). */
export async function platformSigner(signingPem, caPem) {
  const signer = parseCertificate(signingPem);
  const ca = parseCertificate(caPem);
  const now = serverNow();
  if (!await verifyIssuedBy(signer, ca)) throw new Error("平台签名证书不是平台根证书签发的 (not issued by the platform CA)");
  if (now < signer.notBefore || now > signer.notAfter) throw new Error("平台签名证书不在有效期内 (platform certificate expired)");
  return {certificate: signer, ca, fingerprint: await fingerprint(signer), caFingerprint: await fingerprint(ca)};
}

// -- enrolment ----------------------------------------------------------------------------------------

/**
 * Generate both key pairs here, have the signing certificate issued from a PKCS#10 request, then the
 * encryption certificate from a request signed by the new signing key; keep everything in IndexedDB.
 * ``forOrganisation``: the organisation's certificates (bidders) or the user's own (opening officers).
 */
export async function enrol({username, forOrganisation, onStep = () => {}}) {
  onStep("generate");
  const signing = await crypto.subtle.generateKey(ECDSA, false, ["sign", "verify"]);
  const encryption = await crypto.subtle.generateKey(ECDH, false, ["deriveBits"]);
  const signingSpki = new Uint8Array(await crypto.subtle.exportKey("spki", signing.publicKey));
  const encryptionSpki = new Uint8Array(await crypto.subtle.exportKey("spki", encryption.publicKey));
  onStep("signing");
  const issued = await api("POST", "/certificates/signing",
    {json: {csr: await certificateRequest(signing, "bidhall browser"), for_organisation: forOrganisation}});
  const record = {
    id: toHex(await sha256(encryptionSpki)), username, forOrganisation, createdAt: Date.now(),
    holderName: issued.holder.name, holderIdentifier: issued.holder.identifier,
    signingKey: signing.privateKey, signingSpki, signingKeyId: toHex(await sha256(signingSpki)),
    signingCertificate: issued.pem, signingSerial: issued.serial,
    encryptionKey: encryption.privateKey, encryptionSpki, encryptionKeyId: toHex(await sha256(encryptionSpki)),
    encryptionCertificate: null, encryptionSerial: null,
  };
  await saveKeys(record);
  return requestEncryptionCertificate(record, onStep);
}

/** The encryption certificate for a record whose signing certificate is issued (retry after a failure). */
export async function requestEncryptionCertificate(record, onStep = () => {}) {
  onStep("encryption");
  const payload = {type: "encryption_certificate_request", algorithm: "ECDH-P256", public_key: toHex(record.encryptionSpki),
    created_at: formatUtc(serverNow()), nonce: toHex(randomBytes(16))};
  const request = await signDocument(payload, record.signingKey, parseCertificate(record.signingCertificate));
  const issued = await api("POST", "/certificates/encryption", {json: {request, for_organisation: record.forOrganisation}});
  record.encryptionCertificate = issued.pem;
  record.encryptionSerial = issued.serial;
  await saveKeys(record);
  onStep("done");
  return record;
}

/**
 * The keys in this browser that match the holder's current certificates (from /certificates/mine):
 * {record, signing, encryption} with the certificate JSON of each, or null.
 */
export async function currentKeys(certificates, {organisation = true} = {}) {
  const usable = certificates.filter((c) => !c.revoked_at && Date.parse(c.not_after) > serverNow() &&
    c.holder.identifier.startsWith("user:") !== organisation);
  const records = await listKeys();
  for (const signing of usable.filter((c) => c.purpose === "signing").reverse()) {
    const keyId = toHex(await sha256(parseCertificate(signing.pem).spki));
    const record = records.find((r) => r.signingKeyId === keyId && r.encryptionCertificate);
    if (!record) continue;
    for (const encryption of usable.filter((c) => c.purpose === "encryption")) {
      if (toHex(await sha256(parseCertificate(encryption.pem).spki)) === record.encryptionKeyId) {
        return {record, signing, encryption};
      }
    }
  }
  return null;
}

// -- certificate sign-in ------------------------------------------------------------------------------

/**
 * Sign in with the signing key (the CA-lock path): fetch a challenge, check that it really is a login
 * challenge (the key must never sign other bytes the server hands it), sign it, answer.
 */
export async function certificateSignIn(username, record) {
  const {challenge} = await api("POST", "/auth/challenge");
  const bytes = fromBase64(challenge);
  const fields = parseCanonical(bytes);
  if (!fields || fields.type !== "login_challenge" || fields.context !== "login" || !/^[0-9a-f]{64}$/.test(fields.nonce)) {
    throw new Error("服务器返回的不是登录挑战，已拒绝签名 (not a login challenge: refused to sign)");
  }
  const signature = await sign(record.signingKey, bytes);
  return api("POST", "/auth/certificate", {json: {username, challenge, signature: toBase64(signature),
    certificate: record.signingCertificate, session: true}});
}

export {fromHex};
