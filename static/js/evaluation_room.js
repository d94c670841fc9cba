// The evaluation room (templates/evaluation/room.html), live over Socket.IO.
//
// The server pushes a bare "evaluation_changed" notice; the page then asks for the state it may see
// ("evaluation_state") and redraws. Every change goes through the JSON API (api.js). Signing (the seat, the
// declaration, the report) uses the member's personal key kept in this browser (keys.js), never sent anywhere.

import {api, describe} from "./api.js";
import {parseCertificate} from "./asn1.js";
import {currentKeys, signDocument} from "./keys.js";
import {connect, onRefused} from "./realtime.js";

const T = JSON.parse(document.getElementById("room-texts").textContent);
const root = document.getElementById("room");
const ID = Number(root.dataset.evaluation);
const $ = (role) => root.querySelector(`[data-role="${role}"]`);
let state = null;
let workKey = null;
let keys;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    // a refused action is shown beside the work, never left as an unhandled rejection
    if (name.startsWith("on")) node.addEventListener(name.slice(2), (event) => Promise.resolve(value(event)).catch(showError));
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name in node && name !== "list") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

function showError(error) {
  const box = $("error");
  box.textContent = error ? describe(error) : "";
  box.hidden = !error;
}

async function act(method, path, json) {
  showError(null);
  try {
    return await api(method, `/evaluations/${ID}${path}`, {json});
  } catch (error) {
    showError(error);
    throw error;
  }
}

// -- live: the vendored Socket.IO client on the default namespace (realtime.js); it reconnects by itself ----------
const {socket, request} = connect();
socket.on("connect", async () => {
  $("connection").textContent = T.connected;
  const joined = await request("join_evaluation", {evaluation_id: ID});
  if (joined.ok) render(joined.state); else showError(joined.error);
});
socket.on("disconnect", () => { $("connection").textContent = T.disconnected; });
onRefused(socket, showError);
socket.on("evaluation_changed", () => refresh());
socket.on("evaluation_chat", (message) => appendMessage(message));

async function refresh() {
  const answer = await request("evaluation_state", {evaluation_id: ID});
  if (answer.ok) render(answer.state);
}

async function personalKeys() {
  if (keys === undefined) {
    const {certificates} = await api("GET", "/certificates/mine");
    keys = await currentKeys(certificates, {organisation: false});
  }
  return keys;
}

async function signed(payload) {
  const found = await personalKeys();
  if (!found) throw new Error(T.no_key);
  const document_ = await signDocument(payload, found.record.signingKey, parseCertificate(found.record.signingCertificate));
  return {document: document_, certificate: found.record.signingCertificate};
}

// -- drawing ---------------------------------------------------------------------------------------------------
function render(next) {
  state = next;
  $("state").textContent = state.state_label;
  $("stages").replaceChildren(...[
    ...state.stages.map((s) => el("li", {className: s.decided ? "done" : (state.stage && state.stage.id === s.id ? "current" : "")}, s.name)),
    el("li", {className: ["signing", "signed", "published"].includes(state.state) ? "done" : (state.state === "scoring" ? "current" : "")}, "详细评审/汇总"),
  ]);
  $("members").replaceChildren(...state.members.map((m) => el("tr", {dataset: {member: m.id}},
    el("td", {}, `${m.position} ${m.venue || ""}${m.seat ? " #" + m.seat : ""}`),
    el("td", {}, m.name, m.chair ? el("strong", {}, ` · ${T.chair}`) : null),
    el("td", {}, m.status_label),
    el("td", {}, progress(m)))));
  drawFlags();
  drawClarifications();
  if (state.chat) {
    $("chat-card").hidden = false;
    if (!$("messages").childElementCount) state.chat.forEach(appendMessage);
  }
  const me = state.me || {};
  const key = [state.state, state.stage && state.stage.index, me.status, me.voted, me.stage_submitted,
    me.scores_submitted, me.report_answered].join("|");
  if (key !== workKey) { workKey = key; drawWork(); } else if (state.state === "scoring") markFlagged();
}

function progress(m) {
  const parts = [...m.finished];
  if (m.scores_submitted) parts.push("评分表");
  if (m.report) parts.push(`报告:${m.report}`);
  return parts.length ? `${T.finished}: ${parts.join("、")}` : "";
}

function appendMessage(message) {
  $("messages").append(el("li", {}, el("small", {}, `${message.at.slice(11, 19)} `), el("strong", {}, message.who), ` ${message.text}`));
}

function drawFlags() {
  const me = state.me || {};
  const flags = state.flags || me.flags || [];
  $("flags-card").hidden = !flags.length;
  $("flags").replaceChildren(...flags.map((f) => el("div", {className: `flag flag-${f.state}`, dataset: {flag: f.id}},
    el("p", {}, `${f.who} · ${f.bidder} · ${f.item}：${f.reason_label}（${f.score}，参照 ${Number(f.reference).toFixed(2)}）· ${f.state_label}`
      + (f.note ? `：${f.note}` : "")),
    f.state === "open" && f.member === me.member && !["sum_error", "objective_inconsistent"].includes(f.reason)
      ? el("form", {className: "inline", dataset: {confirm: f.id}, onsubmit: async (event) => {
        event.preventDefault();
        await act("POST", `/flags/${f.id}/confirm`, {note: event.target.elements.note.value});
      }}, el("label", {htmlFor: `note-${f.id}`}, T.note), el("input", {id: `note-${f.id}`, name: "note", required: true}),
      el("button", {type: "submit"}, T.confirm), el("small", {}, T.revise_hint)) : null)));
}

function drawClarifications() {
  const items = state.clarifications;
  $("clarifications-card").hidden = !items;
  if (!items) return;
  const chair = state.me && state.me.chair && ["review", "scoring"].includes(state.state);
  $("clarifications").replaceChildren(
    ...items.map((c) => el("p", {}, `${c.number}. ${c.bidder}：${c.question} → ${c.answer || T.no_answer}`)),
    chair ? el("form", {className: "inline", onsubmit: async (event) => {
      event.preventDefault();
      const f = event.target.elements;
      await act("POST", "/clarifications", {bidder_id: Number(f.bidder.value), question: f.question.value, minutes: Number(f.minutes.value)});
      event.target.reset();
    }}, el("select", {name: "bidder", "aria-label": T.bidder}, ...state.bidders.map((b) => el("option", {value: b.id}, b.name))),
    el("input", {name: "question", required: true, placeholder: T.question, "aria-label": T.question}),
    el("input", {name: "minutes", type: "number", value: 30, min: 5, "aria-label": T.minutes}),
    el("button", {type: "submit"}, T.ask)) : null,
    // 算术修正: sent to the bidder as a clarification stating it; the bidder accepts or refuses it, signed
    chair ? el("form", {className: "inline", dataset: {role: "price-correction"}, onsubmit: async (event) => {
      event.preventDefault();
      const f = event.target.elements;
      await act("POST", "/price-corrections", {bidder_id: Number(f.bidder.value), corrected_price: f.corrected_price.value,
        reason: f.reason.value, minutes: Number(f.minutes.value)});
      event.target.reset();
    }}, el("select", {name: "bidder", "aria-label": T.bidder},
      ...state.bidders.filter((b) => !b.failed_stage).map((b) => el("option", {value: b.id}, b.name))),
    el("input", {name: "corrected_price", required: true, inputmode: "decimal", placeholder: T.corrected_price, "aria-label": T.corrected_price}),
    el("input", {name: "reason", required: true, placeholder: T.correction_reason, "aria-label": T.correction_reason}),
    el("input", {name: "minutes", type: "number", value: 30, min: 5, "aria-label": T.minutes}),
    el("button", {type: "submit"}, T.correct)) : null);
}

function drawWork() {
  const work = $("work");
  const me = state.me;
  if (!me) { work.replaceChildren(el("p", {}, T.observer), resultTable()); return; }
  if (me.recused) { work.replaceChildren(el("p", {}, T.recused)); return; }
  const draw = {seating: seatingWork, electing: electingWork, review: reviewWork, scoring: scoringWork,
    signing: signingWork}[state.state];
  work.replaceChildren(...(draw ? draw(me) : [resultTable()]));
}

function seatingWork(me) {
  if (me.status === "invited") {
    return [el("p", {}, `${T.sign_in}：${me.seat}`),
      el("button", {type: "button", className: "primary", dataset: {action: "certificate-sign-in"}, onclick: async () => {
        const {payload} = await act("POST", "/seat/challenge");
        await act("POST", "/seat", {method: "certificate", ...(await signed(payload))});
      }}, T.by_certificate),
      el("form", {className: "inline", onsubmit: async (event) => {
        event.preventDefault();
        const f = event.target.elements;
        await act("POST", "/seat", {method: "totp", password: f.password.value, totp: f.totp.value});
      }}, el("label", {htmlFor: "seat-password"}, T.password), el("input", {id: "seat-password", name: "password", type: "password", required: true}),
      el("label", {htmlFor: "seat-totp"}, T.totp), el("input", {id: "seat-totp", name: "totp", inputmode: "numeric", required: true}),
      el("button", {type: "submit"}, T.by_totp))];
  }
  if (me.status === "seated") {
    const pledge = me.declaration;
    return [el("h3", {}, T.pledge), el("p", {}, pledge.pledge),
      el("form", {dataset: {role: "declaration"}, onsubmit: async (event) => {
        event.preventDefault();
        const f = event.target;
        const conflictWith = [...f.querySelectorAll("input[name=conflict]:checked")].map((i) => i.value).sort();
        const reason = f.elements.reason.value.trim();
        const payload = {...pledge, conflict: conflictWith.length > 0, conflict_with: conflictWith, reason};
        const body = me.sign_in_method === "certificate" ? await signed(payload).then(({document: d, certificate}) => ({document: {...d, certificate}}))
          : {conflict_with: conflictWith, reason};
        await act("POST", "/declaration", body);
      }}, el("ul", {}, ...pledge.bidders.map((b, i) => el("li", {}, b.name, " ",
        el("input", {type: "checkbox", name: "conflict", value: b.credit_code, id: `conflict-${i}`}),
        el("label", {htmlFor: `conflict-${i}`}, T.conflict)))),
      el("label", {htmlFor: "conflict-reason"}, T.reason), el("input", {id: "conflict-reason", name: "reason"}),
      el("button", {type: "submit", className: "primary"}, T.sign_pledge))];
  }
  return [el("p", {}, T.waiting_seats)];
}

function electingWork(me) {
  if (me.voted) return [el("p", {}, T.voted)];
  return [el("form", {className: "inline", onsubmit: async (event) => {
    event.preventDefault();
    await act("POST", "/chair-votes", {candidate_id: Number(event.target.elements.candidate.value)});
  }}, el("label", {htmlFor: "candidate"}, T.vote_chair),
  el("select", {id: "candidate", name: "candidate"}, ...state.members.filter((m) => m.status === "declared")
    .map((m) => el("option", {value: m.id}, m.name))), el("button", {type: "submit", className: "primary"}, T.vote))];
}

function reviewWork(me) {
  const items = state.stage.items.filter((i) => !i.computed);
  const bidders = state.bidders.filter((b) => !b.failed_stage);
  const vote = (b, i) => (me.votes || []).find((v) => v.bidder_id === b.id && v.item_id === i.id);
  const parts = [el("h3", {}, state.stage.name)];
  if (me.stage_submitted) parts.push(el("p", {}, T.stage_submitted));
  else if (items.length) {
    parts.push(el("form", {dataset: {role: "votes"}, onsubmit: async (event) => {
      event.preventDefault();
      const votes = [...event.target.querySelectorAll("[data-vote]")].map((row) => ({
        bidder_id: Number(row.dataset.bidder), item_id: row.dataset.item,
        passed: row.querySelector("select").value === "pass", reason: row.querySelector("input").value}));
      await act("PUT", "/votes", {votes});
      if (event.submitter && event.submitter.dataset.submit) await act("POST", "/stage/submit");
    }}, el("table", {className: "list compact"}, el("tbody", {}, ...bidders.flatMap((b) => items.map((i) => {
      const current = vote(b, i);
      return el("tr", {dataset: {vote: "", bidder: b.id, item: i.id}}, el("td", {}, b.name), el("td", {}, i.label),
        el("td", {}, el("select", {"aria-label": `${b.name} ${i.label}`}, el("option", {value: "pass", selected: !current || current.passed}, T.pass),
          el("option", {value: "fail", selected: current && !current.passed}, T.fail))),
        el("td", {}, el("input", {"aria-label": T.fail_reason, placeholder: T.fail_reason, value: current ? current.reason : ""})));
    })))), el("button", {type: "submit"}, T.save_votes), " ",
    el("button", {type: "submit", className: "primary", dataset: {submit: "1"}}, T.submit_stage)));
  }
  if (me.chair) parts.push(el("p", {}, el("button", {type: "button", onclick: () => act("POST", "/stage/decide")}, T.decide_stage)));
  return parts;
}

function scoringWork(me) {
  const bidders = state.bidders.filter((b) => !b.failed_stage);
  const mine = (b, i) => (me.scores || []).find((s) => s.bidder_id === b.id && s.item_id === i.id);
  const cards = bidders.map((b) => el("fieldset", {dataset: {sheet: b.id}}, el("legend", {}, b.name),
    ...state.items.map((i) => {
      if (i.kind !== "subjective") {
        return el("div", {className: "score computed"}, el("span", {}, i.label), el("output", {dataset: {item: i.id}}, String((state.computed[b.id] || {})[i.id] ?? "")), el("small", {}, T.computed));
      }
      const current = mine(b, i);
      const input = el("input", {type: "number", min: i.min, max: i.max, step: i.step || 1, id: `s-${b.id}-${i.id}`,
        value: current ? current.value : "", dataset: {bidder: b.id, item: i.id}, onchange: () => save(b, i)});
      const comment = el("input", {id: `c-${b.id}-${i.id}`, placeholder: T.comment, "aria-label": T.comment,
        value: current ? current.comment : "", onchange: () => save(b, i)});
      return el("div", {className: "score"}, el("label", {htmlFor: input.id}, `${i.label}（${i.min}–${i.max}）`), input, comment,
        el("small", {dataset: {status: `${b.id}-${i.id}`}}));
    }),
    el("div", {className: "score"}, el("label", {htmlFor: `t-${b.id}`}, T.total), el("input", {id: `t-${b.id}`, dataset: {total: b.id}, type: "number", step: "0.01"}))));
  async function save(b, i) {
    const value = root.querySelector(`#s-${b.id}-${i.id}`).value;
    const status = root.querySelector(`[data-status="${b.id}-${i.id}"]`);
    if (value === "") return;
    try {
      await act("PUT", "/scores", {bidder_id: b.id, item_id: i.id, value, comment: root.querySelector(`#c-${b.id}-${i.id}`).value});
      status.textContent = T.saved;
      fillTotal(b);
    } catch (error) {
      status.textContent = describe(error);
    }
  }
  const parts = [...cards];
  if (me.scores_submitted) parts.push(el("p", {}, T.sheet_submitted));
  parts.push(el("button", {type: "button", className: "primary", dataset: {action: "submit-sheet"}, onclick: async () => {
    const totals = {};
    root.querySelectorAll("[data-total]").forEach((t) => { if (t.value !== "") totals[t.dataset.total] = Number(t.value); });
    await act("POST", "/sheet", {totals});
  }}, T.submit_sheet));
  if (me.chair) parts.push(" ", el("button", {type: "button", dataset: {action: "close-scoring"}, onclick: () => act("POST", "/close")}, T.close_scoring));
  setTimeout(() => { bidders.forEach(fillTotal); markFlagged(); });
  return parts;
}

function fillTotal(b) {
  const field = root.querySelector(`[data-total="${b.id}"]`);
  if (!field) return;
  let sum = 0;
  root.querySelectorAll(`[data-sheet="${b.id}"] input[data-item]`).forEach((i) => { sum += Number(i.value || 0); });
  root.querySelectorAll(`[data-sheet="${b.id}"] output[data-item]`).forEach((o) => { sum += Number(o.value || 0); });
  field.value = sum.toFixed(2);
}

function markFlagged() {
  root.querySelectorAll("input[data-item].flagged").forEach((i) => i.classList.remove("flagged"));
  ((state.me && state.me.flags) || []).filter((f) => f.state === "open").forEach((f) => {
    const input = root.querySelector(`#s-${f.bidder_id}-${f.item}`);
    if (input) input.classList.add("flagged");
  });
}

function resultTable() {
  const result = state.result;
  if (!result || !result.order) return el("span");
  const names = Object.fromEntries(result.order.map((r) => [r.bidder, r.name]));
  return el("div", {}, el("table", {className: "list compact"}, el("thead", {}, el("tr", {}, el("th", {}, T.rank), el("th", {}, T.bidder), el("th", {}, T.total_score))),
    el("tbody", {}, ...result.order.map((r) => el("tr", {}, el("td", {}, String(r.rank)), el("td", {}, r.name), el("td", {}, r.total || r.evaluated_price))))),
  el("p", {}, `${T.candidates}：${result.candidates.map((c) => names[c]).join("、")}`));
}

function signingWork(me) {
  const parts = [resultTable(), el("p", {}, `${T.digest}：`, el("code", {className: "data"}, state.report.digest))];
  if (me.report_answered) return [...parts, el("p", {}, T.answered)];
  parts.push(el("button", {type: "button", className: "primary", dataset: {action: "sign-report"}, onclick: async () => {
    await act("POST", "/report-signatures", await signed(me.signature_payload));
  }}, T.sign_report), el("form", {className: "inline", onsubmit: async (event) => {
    event.preventDefault();
    await act("POST", "/report-signatures", {refuse: true, reason: event.target.elements.reason.value});
  }}, el("label", {htmlFor: "refuse-reason"}, T.refuse_reason), el("input", {id: "refuse-reason", name: "reason"}),
  el("button", {type: "submit"}, T.refuse)));
  return parts;
}

$("chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = event.target.elements.text;
  const answer = await request("evaluation_chat", {evaluation_id: ID, text: input.value});
  if (answer.ok) input.value = ""; else showError(answer.error);
});
