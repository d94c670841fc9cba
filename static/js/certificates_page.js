// 数字证书 (templates/auth/certificates.html): generate keys in this browser, obtain the certificates,
// see which certificates have their private key here, revoke a certificate, delete an unused key.

import {api, describe} from "./api.js";
import {parseCertificate} from "./asn1.js";
import {sha256, toHex} from "./bytes.js";
import {deleteKeys, enrol, listKeys, platformSigner, requestEncryptionCertificate} from "./keys.js";
import {element, showStatus} from "./dom.js";

const T = JSON.parse(document.getElementById("certificate-texts").textContent);
const form = document.getElementById("enrol");
const username = form.dataset.username;
const part = (role) => document.querySelector(`[data-role="${role}"]`);

function setStatus(text, kind = "info") {
  showStatus(part("status"), text, kind);
}

function table(headers, rows) {
  return element("table", {class: "list"},
    element("thead", {}, element("tr", {}, ...headers.map((text) => element("th", {scope: "col", text})))),
    element("tbody", {}, ...rows));
}

const day = (iso) => iso.slice(0, 10);

async function render() {
  const records = (await listKeys()).filter((record) => record.username === username);
  const {certificates} = await api("GET", "/certificates/mine");
  const keyIds = new Set(records.flatMap((record) => [record.signingKeyId, record.encryptionKeyId]));
  const keyRows = records.map((record) => {
    const actions = element("td");
    if (!record.encryptionCertificate) {
      const retry = element("button", {type: "button", text: T.retry_encryption});
      retry.addEventListener("click", () => act(() => requestEncryptionCertificate(record), T.enrolled));
      actions.append(retry, " ");
    }
    const remove = element("button", {type: "button", text: T.delete});
    remove.addEventListener("click", () => {
      if (window.confirm(T.confirm_delete)) act(() => deleteKeys(record.id), "");
    });
    actions.append(remove);
    return element("tr", {"data-key": record.id}, element("td", {text: record.holderName}),
      element("td", {text: record.signingSerial || "—"}), element("td", {text: record.encryptionSerial || "—"}),
      element("td", {text: new Date(record.createdAt).toISOString().slice(0, 10)}), actions);
  });
  part("keys").replaceChildren(records.length ? table([T.holder, T.signing_serial, T.encryption_serial, T.created,
    T.actions], keyRows) : element("p", {text: T.no_keys}));

  const certificateRows = [];
  for (const cert of certificates.slice().reverse()) {
    const here = keyIds.has(toHex(await sha256(parseCertificate(cert.pem).spki)));
    const expired = Date.parse(cert.not_after) < Date.now();
    const status = cert.revoked_at ? T.revoked : expired ? T.expired : T.valid;
    const actions = element("td");
    if (!cert.revoked_at) {
      const revoke = element("button", {type: "button", "data-revoke": cert.id, text: T.revoke});
      revoke.addEventListener("click", () => {
        const reason = window.prompt(T.revoke_reason);
        if (reason && reason.trim()) {
          act(() => api("POST", `/certificates/${cert.id}/revoke`, {json: {reason: reason.trim()}}), T.revoked_done);
        }
      });
      actions.append(revoke);
    }
    certificateRows.push(element("tr", {"data-certificate": cert.id, "data-purpose": cert.purpose,
      "data-status": cert.revoked_at ? "revoked" : "valid"},
      element("td", {text: T["purpose_" + cert.purpose]}), element("td", {text: cert.algorithm}),
      element("td", {}, element("code", {text: cert.serial})), element("td", {text: cert.holder.name}),
      element("td", {text: day(cert.not_after)}), element("td", {text: status}),
      element("td", {text: here ? T.yes : T.no}), actions));
  }
  part("certificates").replaceChildren(certificates.length ? table([T.purpose, T.algorithm, T.serial, T.holder,
    T.validity, T.status, T.key_here, T.actions], certificateRows) : element("p", {text: T.no_certificates}));
}

async function act(action, message) {
  let outcome = [message, "success"];
  try {
    await action();
  } catch (error) {
    outcome = [T.failed + describe(error), "error"];
  }
  await render();  // the tables show the new state before the message says it is done
  if (outcome[0]) setStatus(...outcome);
}

async function showCa() {
  const platform = await api("GET", "/platform/certificates");
  const checked = await platformSigner(platform.signing, platform.ca);
  part("ca").textContent = checked.caFingerprint;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  const forOrganisation = form.elements.holder.value === "organisation";
  const steps = {generate: T.generating, signing: T.signing, encryption: T.encryption};
  await act(() => enrol({username, forOrganisation, onStep: (step) => { if (steps[step]) setStatus(steps[step]); }}),
    T.enrolled);
  button.disabled = false;
});

if (!window.crypto || !crypto.subtle || !window.indexedDB) {
  setStatus(T.unsupported, "error");
  form.querySelector("button").disabled = true;
} else {
  render().catch((error) => setStatus(T.failed + describe(error), "error"))
    .finally(() => { document.body.dataset.certificatesReady = "true"; });
  showCa().catch(() => {});
}
