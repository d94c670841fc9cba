// 我的投标 on the section page (templates/trading/bid_panel.html): fill the price form, choose the module
// files, package, seal and sign in this browser, upload with resume, then verify the platform's receipt.
// Deadlines are the server's: the live clock (clock.js) corrects this computer's offset.

import {ApiError, api, describe} from "./api.js";
import {sealEnvelope} from "./envelope.js";
import {MODULES, buildPackage} from "./bid_package.js";
import {currentKeys, platformSigner, verifyDocument} from "./keys.js";
import {validatePriceForm} from "./price_form.js";
import {discardUnfinished, forgetPending, pendingUpload, savePending, sealedBlob, sealedWriter, upload} from "./upload.js";
import {element, showStatus} from "./dom.js";

const panel = document.getElementById("bid-panel");
const T = JSON.parse(panel.querySelector('[data-role="texts"]').textContent);
const sectionId = panel.dataset.sectionId;
const deadline = Date.parse(panel.querySelector("[data-deadline]").dataset.deadline);
const part = (role) => panel.querySelector(`[data-role="${role}"]`);
const form = part("form");
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, key) => values[key]);
const serverNow = () => (window.bidhallServerNow ? window.bidhallServerNow() : Date.now());
const state = {sealing: null, platform: null, keys: null, busy: false, bids: [], lastSeal: null};

function setStatus(text, kind = "info") {
  showStatus(part("status"), text, kind);
}

function progress(label, done, total) {
  part("progress").hidden = false;
  part("progress-label").textContent = label;
  const bar = panel.querySelector("progress");
  bar.value = total ? Math.round(1000 * done / total) / 10 : 100;
  part("progress-text").textContent = `${(done / 1048576).toFixed(1)} / ${(total / 1048576).toFixed(1)} MB`;
}

function beijing(iso) {
  const moment = new Date(Date.parse(iso) + 8 * 3600 * 1000).toISOString();
  return moment.slice(0, 10) + " " + moment.slice(11, 23);
}

function tickClock() {
  const moment = new Date(serverNow() + 8 * 3600 * 1000).toISOString();
  part("clock").textContent = moment.slice(0, 10) + " " + moment.slice(11, 19);
}

function closed() {
  return serverNow() >= deadline;
}

function updateControls() {
  const submit = part("submit");
  submit.disabled = state.busy || closed() || !state.keys || !state.sealing;
  submit.textContent = state.bids.some((bid) => bid.state === "submitted") ? T.replace : T.submit;
  panel.querySelectorAll("[data-withdraw]").forEach((button) => { button.disabled = state.busy || closed(); });
  if (closed() && !state.busy && part("status").dataset.kind !== "error") setStatus(T.closed, "info");
}

// -- keys, section and receipts ------------------------------------------------------------------------

async function loadKeys() {
  const {certificates} = await api("GET", "/certificates/mine");
  state.keys = await currentKeys(certificates, {organisation: true});
  const line = part("keys");
  line.replaceChildren();
  if (state.keys) {
    line.textContent = "✓ " + fill(T.keys_ok, {s: state.keys.signing.serial, e: state.keys.encryption.serial});
    line.dataset.keys = "ready";
  } else {
    line.append(T.keys_missing + " ", element("a", {href: panel.dataset.certificatesUrl, text: T.certificates_link}));
    line.dataset.keys = "missing";
  }
}

async function verifyReceipt(bid, receipt) {
  const payload = await verifyDocument(receipt.document, state.platform.certificate);
  if (payload.bid !== bid.id || payload.sequence !== receipt.sequence ||
      (payload.kind !== "withdrawn" && (payload.ciphertext_digest !== bid.ciphertext_digest || payload.size !== bid.size))) {
    throw new Error("回执内容与投标记录不符 (the receipt does not match the bid)");
  }
  return payload;
}

async function renderReceipt(bid, receipt) {
  const item = element("li", {"data-receipt": receipt.sequence});
  const label = `${fill(T.receipt_number, {n: receipt.sequence})} · ${T["kind_" + receipt.kind] || receipt.kind}`;
  try {
    const payload = await verifyReceipt(bid, receipt);
    const file = URL.createObjectURL(new Blob([JSON.stringify(receipt.document, null, 2)], {type: "application/json"}));
    item.append(`${label} · ${beijing(payload.server_time)} · `,
      element("span", {class: "verified", "data-verified": "true", text: "✓ " + T.receipt_valid}), " · ",
      element("a", {href: file, download: `receipt-${receipt.sequence}.json`, text: T.download_receipt}));
  } catch (error) {
    item.append(`${label} · `, element("span", {class: "error", "data-verified": "false", text: T.receipt_invalid + error.message}));
  }
  return item;
}

async function loadBids() {
  const {bids} = await api("GET", `/sections/${sectionId}/my-bids`);
  state.bids = bids;
  const holder = part("bids");
  if (!bids.length) {
    holder.replaceChildren(element("p", {text: T.no_bids}));
    return;
  }
  const head = element("tr", {}, ...[T.bid, T.state, T.submitted_at, T.size, T.digest, T.receipts, T.actions]
    .map((text) => element("th", {scope: "col", text})));
  const rows = [];
  for (const bid of bids) {
    const receipts = element("ul", {class: "receipts"});
    for (const receipt of bid.receipts) receipts.append(await renderReceipt(bid, receipt));
    const actions = element("td");
    if (bid.state === "submitted") {
      const button = element("button", {type: "button", "data-withdraw": bid.id, text: T.withdraw});
      button.addEventListener("click", () => withdraw(bid.id));
      actions.append(button);
    }
    rows.push(element("tr", {"data-bid": bid.id, "data-state": bid.state},
      element("td", {text: `#${bid.id}`}), element("td", {text: T["state_" + bid.state] || bid.state}),
      element("td", {text: beijing(bid.submitted_at)}), element("td", {text: `${(bid.size / 1048576).toFixed(2)} MB`}),
      element("td", {}, element("code", {class: "data", title: bid.ciphertext_digest, text: bid.ciphertext_digest.slice(0, 16) + "…"})),
      element("td", {}, receipts), actions));
  }
  holder.replaceChildren(element("table", {class: "list"}, element("thead", {}, head), element("tbody", {}, ...rows)),
    element("p", {}, element("small", {text: `${T.platform}: ${state.platform.fingerprint.slice(0, 16)}…`})));
}

async function withdraw(bidId) {
  if (state.busy || !window.confirm(T.confirm_withdraw)) return;
  state.busy = true;
  updateControls();
  try {
    await api("POST", `/bids/${bidId}/withdraw`);
    await loadBids();
    setStatus(T.withdrawn, "success");
  } catch (error) {
    setStatus(T.failed + describe(error), "error");
  } finally {
    state.busy = false;
    updateControls();
  }
}

// -- sealing and uploading --------------------------------------------------------------------------

function readForm() {
  const values = {};
  for (const field of state.sealing.price_form) {
    const input = form.querySelector(`[name="${CSS.escape(field.key)}"]`);
    values[field.key] = input ? input.value : "";
  }
  return values;
}

function showProblems(problems) {
  form.querySelectorAll("[data-field]").forEach((box) => {
    box.classList.remove("invalid");
    box.querySelector("input, select").removeAttribute("aria-invalid");
    box.querySelector(".error").hidden = true;
  });
  for (const [key, message] of problems) {
    const box = form.querySelector(`[data-field="${CSS.escape(key)}"]`);
    if (!box) continue;
    box.classList.add("invalid");
    box.querySelector("input, select").setAttribute("aria-invalid", "true");
    const error = box.querySelector(".error");
    error.textContent = message;
    error.hidden = false;
  }
  const first = problems.length && form.querySelector(`[data-field="${CSS.escape(problems[0][0])}"] input, ` +
    `[data-field="${CSS.escape(problems[0][0])}"] select`);
  if (first) first.focus();
}

function failure(error) {
  const network = (error instanceof ApiError && error.status >= 500) || (error && error.name === "TypeError");
  return T.failed + describe(error) + (network ? " " + T.offline : "");
}

function formError(text) {
  const error = part("form-error");
  error.textContent = text || "";
  error.hidden = !text;
}

async function runUpload(pending) {
  const blob = await sealedBlob(pending.seal);
  if (!blob || blob.size !== pending.size) {
    await forgetPending(sectionId);
    throw new Error(T.sealed_missing);
  }
  let bid;
  try {
    bid = await upload(sectionId, blob, pending, {onProgress: ({sent, total, resumedAt}) => {
      progress(T.uploading, sent, total);
      if (resumedAt) part("progress").dataset.resumedAt = resumedAt;
    }});
  } catch (error) {
    if (error instanceof ApiError && error.code === "upload_finalised") {
      await forgetPending(sectionId);
      await loadBids();
      return;
    }
    if (error instanceof ApiError && error.status < 500) await forgetPending(sectionId);
    throw error;
  }
  await forgetPending(sectionId);
  const receipt = bid.receipts[bid.receipts.length - 1];
  await verifyReceipt(bid, receipt);
  const matches = receipt.document.payload.ciphertext_digest === pending.digest;
  await loadBids();
  setStatus(`${T.done} ${matches ? T.digest_matches : T.digest_differs}`, matches ? "success" : "error");
}

async function submit(event) {
  event.preventDefault();
  if (state.busy) return;
  formError("");
  if (closed()) return formError(T.closed);
  const {clean, problems} = validatePriceForm(state.sealing.price_form, readForm());
  showProblems(problems);
  if (problems.length) return formError(T.form_invalid);
  const modules = {};
  for (const module of MODULES) {
    const input = form.querySelector(`[data-module="${module}"]`);
    if (input && input.files.length) modules[module] = Array.from(input.files);
  }
  if (!Object.keys(modules).length) return formError(T.no_files);
  state.busy = true;
  updateControls();
  try {
    await forgetPending(sectionId);
    const sealing = state.sealing;
    const pkg = await buildPackage({ids: sealing.ids, priceForm: clean, modules,
      onProgress: ({done, total}) => progress(T.packing, done, total)});
    const seal = `${sectionId}-${Date.now()}-${Math.random().toString(16).slice(2)}`;
    const writer = sealedWriter(seal);
    const started = performance.now();
    const summary = await sealEnvelope({source: pkg.blob, ids: sealing.ids, signingKey: state.keys.record.signingKey,
      signingCertificate: state.keys.signing.pem, encryptionCertificate: state.keys.encryption.pem,
      officers: sealing.officers.map((o) => ({officer: o.officer, certificate: o.certificate})),
      threshold: sealing.threshold, write: (bytes) => writer.write(bytes),
      onProgress: ({done, total}) => progress(T.sealing, done, total)});
    await writer.close();
    const seconds = (performance.now() - started) / 1000;
    panel.dataset.sealSeconds = seconds.toFixed(3);
    setStatus(fill(T.sealed_speed, {mb: (pkg.size / 1e6).toFixed(1), s: seconds.toFixed(1),
      rate: (pkg.size / 1e6 / Math.max(seconds, 0.001)).toFixed(1)}));
    const pending = {seal, size: summary.envelopeSize, digest: summary.ciphertextDigest};
    savePending(sectionId, pending);
    await runUpload(pending);
  } catch (error) {
    setStatus(failure(error), "error");
  } finally {
    state.busy = false;
    updateControls();
  }
}

async function resume() {
  const pending = pendingUpload(sectionId);
  await discardUnfinished(sectionId, pending && pending.seal);
  if (!pending || !pending.seal) return;
  state.busy = true;
  updateControls();
  setStatus(T.resuming);
  try {
    await runUpload(pending);
  } catch (error) {
    setStatus(failure(error), "error");
  } finally {
    state.busy = false;
    updateControls();
  }
}

async function start() {
  form.addEventListener("submit", submit);
  tickClock();
  setInterval(tickClock, 250);
  if (!window.crypto || !crypto.subtle || !window.indexedDB) {
    part("keys").textContent = T.unsupported;
    part("keys").dataset.keys = "unavailable";
    return;
  }
  try {
    state.sealing = await api("GET", `/sections/${sectionId}/sealing`);
    if (state.sealing.officers.length < 2) throw new Error(T.no_officers);
    state.platform = await platformSigner(state.sealing.platform_signing_certificate, state.sealing.platform_ca);
  } catch (error) {
    part("keys").textContent = T.sealing_unavailable + describe(error);
    part("keys").dataset.keys = "unavailable";
    return;
  }
  form.hidden = false;
  try {
    await loadKeys();
    await loadBids();
  } catch (error) {
    setStatus(T.failed + describe(error), "error");
  }
  updateControls();
  setInterval(updateControls, 1000);
  panel.dataset.ready = "true";
  await resume();
}

start();
