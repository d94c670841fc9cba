// The evaluation room's audio and video (templates/evaluation/media_room.html), in plain browser WebRTC; the
// signalling goes through the vendored Socket.IO client (realtime.js), namespace /media, see docs/media.md.
//
// One RTCPeerConnection per stream and the sender offers: we offer our camera (and screen) to the server,
// the server offers each remote stream to us, send-only. The media server (aiortc) does not trickle ICE
// candidates, so every description is sent only once ICE gathering is complete. Presence follows the
// Socket.IO connection: when it drops, every peer connection is closed, and on reconnection they are built
// anew (the camera and a shared screen published again, every remote stream subscribed again); the same
// happens when the server says the process holding the room's media died (media_reset).
import {element} from "./dom.js";
import {connect, onRefused} from "./realtime.js";

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
    setTimeout(resolve, 5000);
  });
}

// Refusals nobody needs to read: a request lost with the connection (the status line says the page is
// reconnecting), and a stream that ended while we were subscribing to it (its stream_removed follows).
const QUIET = new Set(["disconnected", "stream_gone", "subscription_gone"]);

function startRoom(root) {
  const cfg = JSON.parse(root.dataset.config);
  const L = cfg.labels;
  const me = cfg.me;
  const grid = root.querySelector("[data-media-grid]");
  const status = root.querySelector("[data-media-status]");
  const errorBox = root.querySelector("[data-media-error]");
  const controls = root.querySelector("[data-media-controls]");
  // ``generation`` counts connections: work begun on an older one stops quietly (its peer connections are gone)
  const state = {published: {}, subscriptions: {}, pending: new Set(), gone: new Set(), local: null, screen: null, members: {},
    tiles: {}, screens: {}, ended: false, generation: 0};
  window.bidhallMedia = state; // for diagnostics: state.subscriptions[id].pc.getStats()
  const {socket, request: send} = connect(cfg.namespace, {auth: {room: cfg.room}});
  state.socket = socket;

  function showError(error) {
    errorBox.textContent = (error && error.message) || String(error);
    errorBox.hidden = false;
  }

  async function request(event, data) {
    const reply = await send(event, data);
    if (reply && reply.error && !QUIET.has(reply.error.code)) showError(reply.error);
    return reply;
  }

  /** Run ``work`` for the connection of ``generation``; its failure is shown unless that connection is gone. */
  function attempt(generation, work) {
    return work().catch((error) => {
      if (generation === state.generation && !state.ended) showError(error);
    });
  }

  // -- the grid: a tile per member (camera and microphone), and one per shared screen ----------------------------
  function tile(userId) {
    if (state.tiles[userId]) return state.tiles[userId];
    const member = state.members[userId] || {name: `#${userId}`, role_label: "", venue: ""};
    const video = element("video", {autoplay: "", playsinline: "", "aria-label": member.name});
    video.muted = true;
    const audio = element("audio", {autoplay: ""});
    const flags = element("span", {"data-flags": ""});
    const tools = element("span", {class: "tools"});
    const who = element("span", {text: member.name + (userId === me.user_id ? ` (${L.you})` : "") +
      ` · ${member.role_label}` + (member.venue ? ` · ${member.venue}` : "")});
    const fig = element("figure", {class: "media-tile absent", "data-user": userId}, video, audio,
      element("figcaption", {}, who, flags, tools));
    if (me.can_moderate && userId !== me.user_id && member.role !== "supervisor") {
      const mute = element("button", {type: "button", text: L.mute});
      mute.onclick = () => request("mute", {user_id: userId, kind: "audio"});
      const remove = element("button", {type: "button", text: L.remove});
      remove.onclick = () => { if (confirm(L.confirm_remove)) request("remove", {user_id: userId}); };
      tools.append(mute, remove);
    }
    grid.append(fig);
    state.tiles[userId] = {fig, video, audio, flags};
    return state.tiles[userId];
  }

  /** The tile of a shared screen (``key`` is its stream id, or "local" for our own preview), shown first. */
  function screenTile(key, userId) {
    if (state.screens[key]) return state.screens[key];
    const member = state.members[userId] || {name: `#${userId}`};
    const label = `${L.screen} · ${member.name}` + (userId === me.user_id ? ` (${L.you})` : "");
    const video = element("video", {autoplay: "", playsinline: "", "aria-label": label});
    video.muted = true;
    const audio = element("audio", {autoplay: ""});
    const fig = element("figure", {class: "media-tile screen", "data-kind": "screen", "data-user": userId,
      "data-stream": key}, video, audio, element("figcaption", {}, element("span", {text: label})));
    grid.prepend(fig);
    state.screens[key] = {fig, video, audio};
    return state.screens[key];
  }

  function dropScreenTile(key) {
    const screen = state.screens[key];
    if (!screen) return;
    screen.video.srcObject = null;
    screen.fig.remove();
    delete state.screens[key];
  }

  function renderRoster(members) {
    for (const m of members) {
      state.members[m.user_id] = m;
      const t = tile(m.user_id);
      t.fig.classList.toggle("absent", !m.present);
      t.flags.textContent = (m.present ? "" : L.absent) + (m.muted && m.muted.length ? ` ${L.muted}` : "");
    }
  }

  function offerSound() {
    if (root.querySelector("[data-enable-sound]")) return;
    const button = element("button", {type: "button", "data-enable-sound": "", text: L.enable_sound});
    button.onclick = () => {
      root.querySelectorAll("audio").forEach((a) => a.play().catch(() => {}));
      button.remove();
    };
    controls.append(button);
  }

  // -- streams --------------------------------------------------------------------------------------------------
  /** Offer ``stream`` to the server; the stream id, or null when refused (the reason is shown). */
  async function publish(kind, stream, generation) {
    const pc = new RTCPeerConnection({iceServers: cfg.iceServers});
    for (const track of stream.getTracks()) pc.addTransceiver(track, {direction: "sendonly", streams: [stream]});
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const reply = generation === state.generation
      ? await request("publish", {kind, sdp: pc.localDescription.sdp, type: "offer"}) : {error: {}};
    if (reply.error || generation !== state.generation) {
      pc.close();
      return null;
    }
    if (kind === "screen" && state.screen !== stream) { // sharing stopped while the offer was on its way
      pc.close();
      send("unpublish", {stream_id: reply.stream_id});
      return null;
    }
    state.published[reply.stream_id] = {pc, kind, stream};
    await pc.setRemoteDescription({type: "answer", sdp: reply.sdp});
    return reply.stream_id;
  }

  async function subscribe(info, generation) {
    if (info.user_id === me.user_id || state.pending.has(info.stream_id) || state.gone.has(info.stream_id) ||
        Object.values(state.subscriptions).some((sub) => sub.info.stream_id === info.stream_id)) return;
    state.pending.add(info.stream_id);
    let offer;
    try {
      offer = await request("subscribe", {stream_id: info.stream_id});
    } finally {
      state.pending.delete(info.stream_id);
    }
    if (offer.error || generation !== state.generation) return;
    if (state.gone.has(info.stream_id)) { // it ended while the offer was on its way: its removal came first
      send("unsubscribe", {pc_id: offer.pc_id});
      return;
    }
    const pc = new RTCPeerConnection({iceServers: cfg.iceServers});
    const view = info.kind === "screen" ? screenTile(info.stream_id, info.user_id) : tile(info.user_id);
    const sub = state.subscriptions[offer.pc_id] = {pc, info, view, shown: []};
    pc.ontrack = ({track}) => {
      const media = new MediaStream([track]);
      sub.shown.push(media);
      if (track.kind === "video") {
        view.video.srcObject = media;
      } else {
        view.audio.srcObject = media;
        view.audio.play().catch(offerSound);
      }
    };
    await pc.setRemoteDescription({type: "offer", sdp: offer.sdp});
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    if (generation === state.generation) {
      await request("answer", {pc_id: offer.pc_id, sdp: pc.localDescription.sdp, type: "answer"});
    }
  }

  function dropSubscription(pcId) {
    const sub = state.subscriptions[pcId];
    if (!sub) return;
    sub.pc.close();
    delete state.subscriptions[pcId];
    if (sub.info.kind === "screen") dropScreenTile(sub.info.stream_id);
    for (const player of [sub.view.video, sub.view.audio]) { // unless a newer stream shows there already
      if (sub.shown.includes(player.srcObject)) player.srcObject = null;
    }
  }

  function dropStream(streamId) {
    state.gone.add(streamId);
    for (const [pcId, sub] of Object.entries(state.subscriptions)) {
      if (sub.info.stream_id === streamId) dropSubscription(pcId);
    }
  }

  function closeAll() {
    for (const published of Object.values(state.published)) published.pc.close();
    for (const sub of Object.values(state.subscriptions)) sub.pc.close();
    state.published = {};
    state.subscriptions = {};
    for (const key of Object.keys(state.screens)) if (key !== "local") dropScreenTile(key);
    for (const [userId, t] of Object.entries(state.tiles)) {
      if (Number(userId) !== me.user_id) t.video.srcObject = t.audio.srcObject = null;
    }
  }

  async function localMedia() {
    if (state.local) return state.local;
    state.local = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 640, height: 360}});
    tile(me.user_id).video.srcObject = state.local;
    return state.local;
  }

  // -- screen sharing (not for supervisors: they join receive-only) ---------------------------------------------
  function showSharing(on) {
    const share = controls.querySelector("[data-action=share-screen]");
    const stop = controls.querySelector("[data-action=stop-screen]");
    if (share) share.hidden = on;
    if (stop) stop.hidden = !on;
  }

  async function shareScreen() {
    if (!me.can_publish || state.screen || state.ended) return;
    const stream = await navigator.mediaDevices.getDisplayMedia({video: {frameRate: {max: 15}}, audio: false});
    state.screen = stream;
    for (const track of stream.getTracks()) track.onended = stopScreen; // stopped from the browser's own bar
    screenTile("local", me.user_id).video.srcObject = stream;
    showSharing(true);
    if (!socket.connected) return; // published when the connection is back
    const streamId = await publish("screen", stream, state.generation);
    if (!streamId && socket.connected && state.screen === stream) stopScreen();
  }

  function stopScreen() {
    const stream = state.screen;
    if (!stream) return;
    state.screen = null;
    for (const track of stream.getTracks()) {
      track.onended = null;
      track.stop();
    }
    for (const [id, published] of Object.entries(state.published)) {
      if (published.stream !== stream) continue;
      send("unpublish", {stream_id: id}); // the server closes the stream and seals its recording
      published.pc.close();
      delete state.published[id];
    }
    dropScreenTile("local");
    showSharing(false);
  }

  function screenLive() {
    return state.screen && state.screen.getVideoTracks().some((track) => track.readyState === "live");
  }

  // -- the connection -------------------------------------------------------------------------------------------
  async function joined() {
    const generation = state.generation;
    status.dataset.state = "online";
    status.textContent = L.online;
    const hello = await request("hello", {});
    if (hello.error || generation !== state.generation) return;
    renderRoster(hello.members);
    if (me.can_publish) {
      try {
        await publish("camera", await localMedia(), generation);
      } catch (error) {
        showError(`${L.camera_error}: ${error.message}`);
      }
      if (screenLive()) await attempt(generation, () => publish("screen", state.screen, generation));
      else stopScreen();
    }
    for (const info of hello.streams) attempt(generation, () => subscribe(info, generation));
  }

  /** The room is over for this page (refused, removed, closed, or entered again elsewhere): release the devices. */
  function finish(message) {
    state.ended = true;
    stopScreen();
    showError(message);
    if (state.local) state.local.getTracks().forEach((track) => track.stop());
    socket.disconnect();
  }

  /** The process that held the room's media died (media_reset): every peer connection went with it. */
  async function rebuild() {
    const stale = [...Object.keys(state.published).map((id) => send("unpublish", {stream_id: id})),
      ...Object.keys(state.subscriptions).map((pcId) => send("unsubscribe", {pc_id: pcId}))];
    state.generation += 1;
    closeAll();
    await Promise.all(stale); // "gone" answers are expected: the new process never had them
    await joined();
  }

  socket.on("connect", () => attempt(state.generation, joined));
  socket.on("media_reset", () => {
    if (!state.ended) rebuild().catch((error) => { if (socket.connected) showError(error); });
  });
  socket.on("disconnect", (reason) => {
    state.generation += 1;
    closeAll();
    status.dataset.state = "offline";
    status.textContent = state.ended ? "" : L.offline;
    // the server let go of us (a newer connection of this seat won): the client does not come back by itself
    if (reason === "io server disconnect" && !state.ended) finish(L.replaced);
  });
  onRefused(socket, (error) => {
    status.textContent = "";
    finish(error);
  });
  socket.on("roster", (data) => renderRoster(data.members));
  socket.on("stream_added", (info) => attempt(state.generation, () => subscribe(info, state.generation)));
  socket.on("stream_removed", (info) => dropStream(info.stream_id));
  socket.on("subscription_closed", (data) => dropSubscription(data.pc_id));
  socket.on("muted", (data) => {
    if (data.user_id !== me.user_id || !state.local) return;
    state.local.getTracks().forEach((track) => { if (track.kind === data.kind) track.enabled = !data.muted; });
    const button = root.querySelector(`[data-action=toggle-${data.kind}]`);
    if (button) button.setAttribute("aria-pressed", data.muted ? "true" : "false");
  });
  socket.on("removed", () => finish(L.removed));
  socket.on("closed", () => finish(L.closed));

  root.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (!button || !root.contains(button)) return;
    const action = button.dataset.action;
    const pressed = button.getAttribute("aria-pressed") === "true";
    if (action === "toggle-audio" || action === "toggle-video") {
      request(pressed ? "unmute" : "mute", {user_id: me.user_id, kind: action.slice(7)});
    } else if (action === "lock") {
      request("lock", {locked: !pressed}).then((reply) => {
        if (reply.error) return;
        button.setAttribute("aria-pressed", reply.locked ? "true" : "false");
        button.textContent = reply.locked ? L.unlock : L.lock;
      });
    } else if (action === "share-screen" && navigator.mediaDevices.getDisplayMedia) {
      shareScreen().catch((error) => showError(error));
    } else if (action === "stop-screen") {
      stopScreen();
    }
  });
  window.addEventListener("beforeunload", () => {
    state.ended = true;
    socket.disconnect();
  });
}

const room = document.querySelector("[data-media-room]");
if (room) startRoom(room);
