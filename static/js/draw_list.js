// The drawn list opened in a supervisor's page (docs/draw.md §8), before the evaluation starts.
//
// The server sends the sealed list and this supervisor's wrap of the list key; nothing in it is readable on
// the server's side. Here the encryption key kept in this browser (non-extractable) unwraps the list key, HKDF
// derives the seal key, AES-GCM opens each seat's expert code; only then are those experts' profiles (no
// phone numbers) fetched to show names. evaluation/draw_sealing.py is the same procedure in Python (bidtool).

import {api, describe} from "./api.js";
import {fromBase64, utf8} from "./bytes.js";
import {canonical} from "./canonical.js";
import {element, showStatus} from "./dom.js";
import {hkdf, unwrapSecret} from "./envelope/keys.js";
import {findByEncryptionKeyId} from "./keys.js";

const FORMAT = "bidhall-draw-list/1";
const card = document.getElementById("sealed-list");
const drawId = Number(card.dataset.draw);
const T = JSON.parse(document.getElementById("sealed-list-texts").textContent);
const part = (role) => card.querySelector(`[data-role="${role}"]`);
const button = element("button", {type: "button", class: "primary", "data-action": "open-sealed-list",
  text: "用我的加密证书启封名单 (open the sealed list with my encryption key)"});

function status(text, kind = "info") {
  showStatus(part("status"), text, kind);
}

class SealError extends Error {}

/** The wrap sealed to a key that this browser holds, with that key's record; null when there is none. */
async function keyFor(wraps) {
  for (const {wrap} of wraps) {
    const record = await findByEncryptionKeyId(wrap.recipient_key);
    if (record) return {record, wrap};
  }
  return null;
}

async function sealKey(listKey, salt) {
  const raw = await hkdf(listKey, utf8(`${FORMAT} seal ${salt}`));
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["decrypt"]);
}

async function openSealed(key, salt, purpose, sealed) {
  try {
    const raw = fromBase64(sealed);
    const plain = await crypto.subtle.decrypt({name: "AES-GCM", iv: raw.subarray(0, 12),
      additionalData: utf8(`bidhall/draw/${salt}/${purpose}`)}, key, raw.subarray(12));
    return new TextDecoder().decode(plain);
  } catch (error) {
    throw new SealError(`密封数据无法打开：被改动，或不属于这一席位 (sealed ${purpose} cannot be opened: altered or moved)`);
  }
}

/** Fetch the sealed list, open it with this browser's key: the seats with their expert codes, in notice order. */
async function openList() {
  const sealed = await api("GET", `/draws/${drawId}/sealed-list`);
  if (sealed.format !== FORMAT || sealed.draw !== drawId) {
    throw new SealError(`这不是第${drawId}号抽取的密封名单 (this is not the sealed list of draw ${drawId})`);
  }
  const found = await keyFor(sealed.wraps);
  if (!found) {
    throw new SealError("本浏览器中没有名单所密封给的加密私钥：请在申请该加密证书的浏览器中打开，或使用 bidtool draw-list " +
      "(no key in this browser matches the encryption certificate the list was sealed to)");
  }
  const context = canonical({format: FORMAT, purpose: "draw_list_key", draw: drawId, salt: sealed.salt,
    recipient: found.wrap.recipient});
  let listKey;
  try {
    listKey = await unwrapSecret(found.wrap, {privateKey: found.record.encryptionKey,
      publicSpki: found.record.encryptionSpki}, context, "draw list key");
  } catch (error) {
    throw new SealError(`名单密钥无法解开：被改动，或属于另一次抽取 (${error.message})`);
  }
  const key = await sealKey(listKey, sealed.salt);
  const seats = [];
  for (const seat of sealed.assignments) {
    seats.push({...seat, expert: await openSealed(key, sealed.salt, `assignment/${seat.slot}/${seat.round}`,
      seat.expert_sealed)});
  }
  return seats;
}

const local = (iso) => new Date(iso).toLocaleString("zh-CN", {timeZone: "Asia/Shanghai", hour12: false});

function table(attributes, headers, rows) {
  return element("table", {class: "list", ...attributes},
    element("thead", {}, element("tr", {}, ...headers.map((text) => element("th", {scope: "col", text})))),
    element("tbody", {}, ...rows));
}

function render(seats, experts) {
  const profiles = new Map(experts.map((expert) => [expert.code, expert]));
  const held = new Map();
  for (const seat of seats) if (seat.status === "notified" || seat.status === "confirmed") held.set(seat.slot, seat);
  const members = [...held.values()].sort((a, b) => a.slot - b.slot).map((seat) => {
    const profile = profiles.get(seat.expert);
    return element("tr", {"data-expert": seat.expert},
      element("td", {text: String(seat.slot + 1)}),
      element("td", {}, profile ? profile.name + " " : "", element("code", {text: seat.expert})),
      element("td", {text: seat.specialty}),
      element("td", {text: (seat.venue || "") + (seat.seat ? ` · ${seat.seat}` : "")}),
      element("td", {text: T.statuses[seat.status] || seat.status}),
      element("td", {text: local(seat.respond_by)}));
  });
  const history = seats.map((seat) => element("tr", {},
    element("td", {text: String(seat.round)}), element("td", {text: String(seat.slot + 1)}),
    element("td", {}, element("code", {text: seat.expert})), element("td", {text: local(seat.notified_at)}),
    element("td", {text: (T.statuses[seat.status] || seat.status) + (seat.reason ? `：${seat.reason}` : "")})));
  part("list").replaceChildren(
    table({"data-sealed-committee": ""}, T.members, members),
    element("h3", {text: T.history_title}),
    table({"data-sealed-history": ""}, T.history, history));
}

button.addEventListener("click", async () => {
  button.disabled = true;
  status("正在用本浏览器中的私钥启封… (opening with the key in this browser…)");
  try {
    const seats = await openList();
    const codes = [...new Set(seats.map((seat) => seat.expert))];
    const {experts} = await api("POST", `/draws/${drawId}/sealed-list/experts`, {json: {codes}});
    render(seats, experts);
    status("名单已在本浏览器中启封，服务器未参与解密 (opened in this browser; the server decrypted nothing)", "success");
  } catch (error) {
    status(describe(error), "error");
    button.disabled = false;
  }
});

if (!window.crypto || !crypto.subtle || !window.indexedDB) {
  status("本浏览器不支持所需的 WebCrypto 或 IndexedDB 功能 (this browser lacks WebCrypto or IndexedDB)", "error");
  button.disabled = true;
}
part("list").replaceChildren(button);
card.dataset.ready = "true";
