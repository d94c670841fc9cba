// 用证书登录 (templates/auth/certificate_login.html): pick a signing key kept in this browser, answer the
// platform's one-time challenge with it, and the session is signed in (no password, no one-time code).

import {describe} from "./api.js";
import {certificateSignIn, listKeys} from "./keys.js";

const T = JSON.parse(document.getElementById("login-texts").textContent);
const form = document.getElementById("certificate-login");
const status = form.querySelector('[data-role="status"]');
let records = [];

function setStatus(text, kind = "info") {
  status.textContent = text;
  status.className = `flash ${kind}`;
  status.dataset.kind = kind;
}

function showChoices() {
  const holder = form.querySelector('[data-role="choices"]');
  holder.replaceChildren();
  if (!records.length) {
    holder.textContent = T.no_keys;
    form.querySelector("button").disabled = true;
    return;
  }
  records.forEach((record, index) => {
    const id = `cert-choice-${index}`;
    const input = Object.assign(document.createElement("input"), {type: "radio", name: "key", id, value: record.id,
      checked: index === 0});
    input.addEventListener("change", () => { form.elements.username.value = record.username; });
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = `${record.holderName} · ${record.username} · ${record.signingSerial}`;
    const row = document.createElement("div");
    row.className = "choice";
    row.append(input, " ", label);
    holder.append(row);
  });
  if (!form.elements.username.value) form.elements.username.value = records[0].username;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = form.elements.username.value.trim();
  if (!username) return setStatus(T.no_username, "error");
  const chosen = form.querySelector('input[name="key"]:checked');
  const record = records.find((item) => chosen && item.id === chosen.value);
  if (!record) return setStatus(T.no_keys, "error");
  const button = form.querySelector("button");
  button.disabled = true;
  setStatus(T.signing_in);
  try {
    await certificateSignIn(username, record);
    window.location.assign(form.dataset.next);
  } catch (error) {
    setStatus(T.failed + describe(error), "error");
    button.disabled = false;
  }
});

if (!window.crypto || !crypto.subtle || !window.indexedDB) {
  setStatus(T.unsupported, "error");
} else {
  listKeys().then((all) => {
    records = all.filter((record) => record.signingCertificate);
    showChoices();
    form.dataset.ready = "true";
  }).catch((error) => setStatus(T.failed + describe(error), "error"));
}
