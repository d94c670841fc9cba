// The opening hall (不见面开标): live over Socket.IO; keys stay in this browser, only unwrapped keys travel.
import {api} from "./api.js";
import {readHeader, unwrapContentKey, unwrapShare} from "./envelope.js";
import {currentKeys} from "./keys.js";
import {fromBase64, toBase64, toHex} from "./bytes.js";
import {connect} from "./realtime.js";

const hall = document.getElementById("hall");
const sectionId = Number(hall.dataset.section);
const isBidder = hall.dataset.role === "bidder";
const isHost = hall.dataset.host === "yes";
const officer = hall.dataset.officer;
const $ = (selector) => hall.querySelector(selector);
const OUTCOME = {opened: "已解密", revoked: "撤销（投标人原因）", withdrawn: "撤回（非投标人原因）", failed: "解密失败", pending: "待解密"};
let state = null;

function show(error) {
  const box = $("[data-hall-error]");
  box.textContent = error ? (error.message || String(error)) : "";
  box.hidden = !error;
}

function text(node, value) { node.textContent = value == null ? "" : String(value); return node; }

function cell(row, value) { row.appendChild(text(document.createElement("td"), value)); }

const {socket, request} = connect("/", {timeout: 0}); // decrypting a large bid takes its time
socket.on("connect", async () => {
  const reply = await request("join_hall", {section_id: sectionId});
  if (!reply.ok) return show(reply.error);
  render(reply.state);
});
socket.on("hall_state", render);

async function emit(event, data) {
  const reply = await request(event, data);
  if (!reply.ok) throw reply.error;
  return reply;
}

async function myKeys(organisation) {
  const {certificates} = await api("GET", "/certificates/mine");
  const found = await currentKeys(certificates, {organisation});
  if (!found) throw new Error("本浏览器中没有与证书匹配的私钥，请在“数字证书”页生成，或使用 bidtool (no matching key in this browser)");
  return found;
}

function render(next) {
  state = next;
  text($("[data-hall-state]"), state.state_label);
  text($("[data-hall-k]"), state.k_coefficient || (state.k_commitment ? `已承诺 ${state.k_commitment.slice(0, 12)}…` : "—"));
  $("[data-panel=bidder]").hidden = !isBidder;
  $("[data-panel=host]").hidden = !isHost;
  if (isBidder && state.my_bid) {
    text($("[data-my-state]"), OUTCOME[state.my_bid.outcome] || state.my_bid.state);
    text($("[data-my-error]"), state.my_bid.error || "");
    $("[data-action=sign-in]").disabled = state.my_sign_in;
    $("[data-action=decrypt]").disabled = state.state !== "decrypting" || state.my_bid.state !== "pending";
  }
  const body = $("[data-bids]");
  if (state.bids) {
    body.replaceChildren(...state.bids.map(renderBid));
    text($("[data-signed-in]"), "已签到：" + (state.signed_in || []).map((s) => s.bidder).join("、"));
  }
  const readOut = $("[data-panel=read-out]");
  readOut.hidden = !state.read_out;
  if (state.read_out) renderReadOut(state.read_out);
}

function renderBid(bid) {
  const row = document.createElement("tr");
  cell(row, bid.bidder);
  cell(row, OUTCOME[bid.outcome] || bid.state);
  cell(row, bid.fault ? {unknown: "待认定", bidder: "投标人原因", platform: "非投标人原因"}[bid.fault] : "");
  cell(row, bid.shares_released.map((s) => s.officer).join("、") + (bid.escrow ? "（已开启）" : ""));
  const actions = document.createElement("td");
  if (isHost && bid.state === "failed") {
    for (const [ruling, label] of [["bidder", "投标人原因"], ["platform", "非投标人原因"], ["reset", "准予重试"]]) {
      const button = text(document.createElement("button"), label);
      button.type = "button";
      button.dataset.ruling = ruling;
      button.onclick = () => rule(bid.bid, ruling);
      actions.appendChild(button);
    }
  }
  if (officer && bid.fault === "platform" && bid.state === "failed") {
    const button = text(document.createElement("button"), "释放我的托管份额");
    button.type = "button";
    button.dataset.action = "release-share";
    button.onclick = () => releaseShare(bid.bid);
    actions.appendChild(button);
  }
  row.appendChild(actions);
  return row;
}

function renderReadOut(readOut) {
  const table = $("[data-read-out]");
  const head = document.createElement("tr");
  for (const label of ["投标人", "结果", ...readOut.fields.map((f) => f.label)]) {
    head.appendChild(text(document.createElement("th"), label));
  }
  const rows = readOut.rows.map((r) => {
    const row = document.createElement("tr");
    cell(row, r.bidder);
    cell(row, OUTCOME[r.outcome] || r.outcome);
    for (const f of readOut.fields) cell(row, (r.price_form || {})[f.key] ?? "");
    return row;
  });
  table.replaceChildren(head, ...rows);
  $("[data-objections]").replaceChildren(...(state.objections || []).map((o) => {
    const item = text(document.createElement("li"), `${o.bidder}：${o.text}` + (o.answer ? ` —— 答复：${o.answer}` : ""));
    if (isHost && !o.answer) {
      const button = text(document.createElement("button"), "答复");
      button.type = "button";
      button.onclick = () => answer(o.id);
      item.appendChild(button);
    }
    return item;
  }));
  $("[data-form=objection]").hidden = !(isBidder && state.state === "read_out");
  const record = $("[data-record]");
  record.replaceChildren();
  if (state.record) {
    const link = text(document.createElement("a"), "开标记录（PDF，已签名）");
    link.href = state.record.url;
    record.appendChild(link);
    record.appendChild(text(document.createElement("small"), ` 摘要 ${state.record.digest}`));
  }
}

async function act(work) {
  show(null);
  try { await work(); } catch (error) { show(error); }
}

async function header(bidId) {
  const data = await api("GET", `/bids/${bidId}/envelope-header`);
  return {data, header: await readHeader(fromBase64(data.header))};
}

$("[data-action=sign-in]").onclick = () => act(async () => {
  const {record} = await myKeys(true);
  const {challenge} = await emit("challenge", {section_id: sectionId});
  const signature = new Uint8Array(await crypto.subtle.sign({name: "ECDSA", hash: "SHA-256"}, record.signingKey,
    fromBase64(challenge)));
  await emit("sign_in", {section_id: sectionId, challenge, signature: toBase64(signature), certificate: record.signingCertificate});
});

$("[data-action=decrypt]").onclick = () => act(async () => {
  const {record} = await myKeys(true);
  const {header: parsed} = await header(state.my_bid.bid);
  const key = await unwrapContentKey(parsed, {privateKey: record.encryptionKey, publicSpki: record.encryptionSpki});
  const reply = await emit("decrypt", {bid: state.my_bid.bid, content_key: toBase64(key)});
  if (reply.state !== "decrypted") throw new Error(reply.error || "解密失败");
});

$("[data-action=report-failure]").onclick = () => act(async () => {
  const reason = prompt("请说明无法解密的原因 (reason)");
  if (reason) await api("POST", `/bids/${state.my_bid.bid}/decryption-failure`, {json: {reason}});
});

$("[data-action=start]").onclick = () => act(() => api("POST", `/sections/${sectionId}/opening/start`));
$("[data-action=read-out]").onclick = () => act(() => api("POST", `/sections/${sectionId}/opening/read-out`));
$("[data-action=close]").onclick = () => act(() => api("POST", `/sections/${sectionId}/opening/close`));
$("[data-action=confirm]").onclick = () => act(() => api("POST", `/sections/${sectionId}/opening/confirm`));
$("[data-form=objection]").onsubmit = (event) => {
  event.preventDefault();
  act(() => api("POST", `/sections/${sectionId}/opening/objections`, {json: {text: $("#objection-text").value}}));
};

function rule(bidId, ruling) {
  act(async () => {
    const reason = prompt("认定理由 (reason, required)");
    if (reason) await api("POST", `/bids/${bidId}/ruling`, {json: {ruling, reason}});
  });
}

function answer(objectionId) {
  act(async () => {
    const text = prompt("答复 (answer)");
    if (text) await api("POST", `/objections/${objectionId}/answer`, {json: {answer: text}});
  });
}

function releaseShare(bidId) {
  act(async () => {
    const {record} = await myKeys(false);
    const {data, header: parsed} = await header(bidId);
    const share = await unwrapShare(parsed, data.officer, {privateKey: record.encryptionKey, publicSpki: record.encryptionSpki});
    await api("POST", `/bids/${bidId}/shares`, {json: {x: share.x, y: toHex(share.y)}});
  });
}

setInterval(() => {
  if (!state || !state.decryption_ends_at || state.state !== "decrypting") return text($("[data-hall-countdown]"), "—");
  const left = Date.parse(state.decryption_ends_at) - (globalThis.bidhallServerNow ? globalThis.bidhallServerNow() : Date.now());
  const s = Math.max(0, Math.floor(left / 1000));
  text($("[data-hall-countdown]"), `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`);
}, 500);
