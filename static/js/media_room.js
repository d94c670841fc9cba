// The evaluation room's audio and video, in plain browser WebRTC (no library, no CDN).
//
// One RTCPeerConnection per stream and the sender offers: we offer our camera (and screen) to the server,
// the server offers each remote stream to us, send-only. The media server (aiortc) does not trickle ICE
// candidates, so every description is sent only once ICE gathering is complete. Presence follows the
// Socket.IO connection: when it drops, every peer connection is closed and rebuilt on reconnection.
(function () {
  "use strict";

  // -- a minimal Socket.IO (protocol 5, Engine.IO 4) client over one websocket ---------------------------
  function Signal(namespace, auth, handlers) {
    var ws, acks = {}, nextAck = 1, open = false;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + "/socket.io/?EIO=4&transport=websocket");
    ws.onmessage = function (message) {
      var data = message.data, type = data.charAt(0);
      if (type === "0") { ws.send("40" + namespace + "," + JSON.stringify(auth)); return; }
      if (type === "2") { ws.send("3"); return; }
      if (type !== "4") { return; }
      var kind = data.charAt(1), rest = data.slice(2);
      if (rest.indexOf(namespace + ",") !== 0) { return; }
      rest = rest.slice(namespace.length + 1);
      var id = /^\d+/.exec(rest);
      if (id) { rest = rest.slice(id[0].length); }
      var payload = rest ? JSON.parse(rest) : null;
      if (kind === "0") { open = true; handlers.$open(); }
      else if (kind === "4") { handlers.$refused(payload || {}); ws.close(); }
      else if (kind === "1") { ws.close(); }
      else if (kind === "2" && handlers[payload[0]]) { handlers[payload[0]](payload[1]); }
      else if (kind === "3" && id && acks[id[0]]) { acks[id[0]](payload[0]); delete acks[id[0]]; }
    };
    ws.onclose = function () {
      Object.keys(acks).forEach(function (k) { acks[k]({error: {code: "disconnected", message: "disconnected"}}); });
      acks = {};
      open = false;
      handlers.$closed();
    };
    this.call = function (event, data) {
      return new Promise(function (resolve) {
        if (!open) { resolve({error: {code: "disconnected", message: "disconnected"}}); return; }
        var id = nextAck++;
        acks[id] = resolve;
        ws.send("42" + namespace + "," + id + JSON.stringify([event, data || {}]));
      });
    };
    this.close = function () { open = false; ws.close(); };
  }

  function gathered(pc) {
    if (pc.iceGatheringState === "complete") { return Promise.resolve(); }
    return new Promise(function (resolve) {
      pc.addEventListener("icegatheringstatechange", function () {
        if (pc.iceGatheringState === "complete") { resolve(); }
      });
      setTimeout(resolve, 5000);
    });
  }

  function element(tag, attrs, text) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (text) { el.textContent = text; }
    return el;
  }

  function startRoom(root) {
    var cfg = JSON.parse(root.dataset.config), L = cfg.labels, me = cfg.me;
    var grid = root.querySelector("[data-media-grid]"), status = root.querySelector("[data-media-status]");
    var errorBox = root.querySelector("[data-media-error]");
    var state = {signal: null, published: {}, subscriptions: {}, local: null, screen: null, members: {},
                 tiles: {}, ended: false, retry: 0};
    window.bidhallMedia = state; // for diagnostics: state.subscriptions[id].pc.getStats()

    function showError(error) {
      errorBox.textContent = (error && error.message) || String(error);
      errorBox.hidden = false;
    }

    function tile(userId) {
      if (state.tiles[userId]) { return state.tiles[userId]; }
      var member = state.members[userId] || {name: "#" + userId, role_label: "", venue: ""};
      var fig = element("figure", {"class": "media-tile absent", "data-user": userId});
      var video = element("video", {autoplay: "", playsinline: "", "aria-label": member.name});
      video.muted = true;
      var audio = element("audio", {autoplay: ""});
      var caption = element("figcaption");
      var who = element("span", {}, member.name + (userId === me.user_id ? " (" + L.you + ")" : "") +
                        " · " + member.role_label + (member.venue ? " · " + member.venue : ""));
      var flags = element("span", {"data-flags": ""});
      var tools = element("span", {"class": "tools"});
      caption.append(who, flags, tools);
      fig.append(video, audio, caption);
      if (me.can_moderate && userId !== me.user_id && member.role !== "supervisor") {
        var mute = element("button", {type: "button"}, L.mute);
        mute.onclick = function () { request("mute", {user_id: userId, kind: "audio"}); };
        var remove = element("button", {type: "button"}, L.remove);
        remove.onclick = function () { if (confirm(L.confirm_remove)) { request("remove", {user_id: userId}); } };
        tools.append(mute, remove);
      }
      grid.append(fig);
      state.tiles[userId] = {fig: fig, video: video, audio: audio, flags: flags, streams: {}};
      return state.tiles[userId];
    }

    function renderRoster(members) {
      members.forEach(function (m) {
        state.members[m.user_id] = m;
        var t = tile(m.user_id);
        t.fig.classList.toggle("absent", !m.present);
        t.flags.textContent = (m.present ? "" : L.absent) + (m.muted && m.muted.length ? " " + L.muted : "");
      });
    }

    function request(event, data) {
      return state.signal.call(event, data).then(function (reply) {
        if (reply && reply.error) { showError(reply.error); }
        return reply;
      });
    }

    function publish(kind, stream) {
      var pc = new RTCPeerConnection({iceServers: cfg.iceServers});
      stream.getTracks().forEach(function (track) {
        pc.addTransceiver(track, {direction: "sendonly", streams: [stream]});
      });
      return pc.createOffer().then(function (offer) { return pc.setLocalDescription(offer); })
        .then(function () { return gathered(pc); })
        .then(function () { return request("publish", {kind: kind, sdp: pc.localDescription.sdp, type: "offer"}); })
        .then(function (reply) {
          if (reply.error) { pc.close(); return null; }
          state.published[reply.stream_id] = {pc: pc, kind: kind, stream: stream};
          return pc.setRemoteDescription({type: "answer", sdp: reply.sdp}).then(function () { return reply.stream_id; });
        });
    }

    function subscribe(info) {
      if (info.user_id === me.user_id) { return Promise.resolve(); }
      return request("subscribe", {stream_id: info.stream_id}).then(function (offer) {
        if (offer.error) { return; }
        var pc = new RTCPeerConnection({iceServers: cfg.iceServers});
        var media = new MediaStream(), t = tile(info.user_id);
        state.subscriptions[offer.pc_id] = {pc: pc, info: info};
        pc.ontrack = function (event) {
          media.addTrack(event.track);
          if (event.track.kind === "video" && (info.kind === "screen" || !t.streams.screen)) {
            t.video.srcObject = new MediaStream([event.track]);
          } else if (event.track.kind === "audio") {
            t.audio.srcObject = new MediaStream([event.track]);
            t.audio.play().catch(function () { offerSound(t.audio); });
          }
          t.streams[info.kind] = media;
        };
        return pc.setRemoteDescription({type: "offer", sdp: offer.sdp})
          .then(function () { return pc.createAnswer(); })
          .then(function (answer) { return pc.setLocalDescription(answer); })
          .then(function () { return gathered(pc); })
          .then(function () { return request("answer", {pc_id: offer.pc_id, sdp: pc.localDescription.sdp, type: "answer"}); });
      });
    }

    function offerSound(audio) {
      if (root.querySelector("[data-enable-sound]")) { return; }
      var button = element("button", {type: "button", "data-enable-sound": ""}, L.enable_sound);
      button.onclick = function () {
        root.querySelectorAll("audio").forEach(function (a) { a.play().catch(function () {}); });
        button.remove();
      };
      root.querySelector("[data-media-controls]").append(button);
    }

    function dropStream(streamId) {
      Object.keys(state.subscriptions).forEach(function (pcId) {
        var sub = state.subscriptions[pcId];
        if (sub.info.stream_id === streamId) {
          sub.pc.close();
          delete state.subscriptions[pcId];
          var t = state.tiles[sub.info.user_id];
          if (t) { delete t.streams[sub.info.kind]; if (!Object.keys(t.streams).length) { t.video.srcObject = null; } }
        }
      });
    }

    function closeAll() {
      Object.keys(state.published).forEach(function (id) { state.published[id].pc.close(); });
      Object.keys(state.subscriptions).forEach(function (id) { state.subscriptions[id].pc.close(); });
      state.published = {};
      state.subscriptions = {};
    }

    function localMedia() {
      if (state.local) { return Promise.resolve(state.local); }
      return navigator.mediaDevices.getUserMedia({audio: true, video: {width: 640, height: 360}}).then(function (stream) {
        state.local = stream;
        var t = tile(me.user_id);
        t.video.srcObject = stream;
        return stream;
      });
    }

    function joined() {
      state.retry = 0;
      status.dataset.state = "online";
      status.textContent = L.online;
      request("hello", {}).then(function (hello) {
        if (hello.error) { return; }
        renderRoster(hello.members);
        var work = Promise.resolve();
        if (me.can_publish) {
          work = localMedia().then(function (stream) { return publish("camera", stream); })
            .catch(function (error) { showError(L.camera_error + ": " + error.message); });
        }
        work.then(function () {
          if (state.screen) { publish("screen", state.screen); }
          hello.streams.forEach(subscribe);
        });
      });
    }

    function connect() {
      state.signal = new Signal(cfg.namespace, {room: cfg.room}, {
        $open: joined,
        $refused: function (error) { state.ended = true; showError(error); },
        $closed: function () {
          closeAll();
          status.dataset.state = "offline";
          status.textContent = L.offline;
          if (!state.ended) { setTimeout(connect, Math.min(10000, 500 * Math.pow(2, state.retry++))); }
        },
        roster: function (data) { renderRoster(data.members); },
        stream_added: subscribe,
        stream_removed: function (info) { dropStream(info.stream_id); },
        subscription_closed: function (data) { dropStream(data.stream_id); },
        muted: function (data) {
          if (data.user_id === me.user_id && state.local) {
            state.local.getTracks().forEach(function (track) {
              if (track.kind === data.kind) { track.enabled = !data.muted; }
            });
            var button = root.querySelector("[data-action=toggle-" + data.kind + "]");
            if (button) { button.setAttribute("aria-pressed", data.muted ? "true" : "false"); }
          }
        },
        removed: function () { state.ended = true; showError(L.removed); },
        closed: function () { state.ended = true; showError(L.closed); }
      });
    }

    root.addEventListener("click", function (event) {
      var action = event.target.dataset && event.target.dataset.action;
      if (!action) { return; }
      var pressed = event.target.getAttribute("aria-pressed") === "true";
      if (action === "toggle-audio" || action === "toggle-video") {
        request(pressed ? "unmute" : "mute", {user_id: me.user_id, kind: action.slice(7)});
      } else if (action === "lock") {
        request("lock", {locked: !pressed}).then(function (reply) {
          if (reply.error) { return; }
          event.target.setAttribute("aria-pressed", reply.locked ? "true" : "false");
          event.target.textContent = reply.locked ? L.unlock : L.lock;
        });
      } else if (action === "share-screen" && navigator.mediaDevices.getDisplayMedia) {
        navigator.mediaDevices.getDisplayMedia({video: true}).then(function (stream) {
          state.screen = stream;
          stream.getVideoTracks()[0].onended = function () {
            state.screen = null;
            Object.keys(state.published).forEach(function (id) {
              if (state.published[id].kind === "screen") { request("unpublish", {stream_id: id}); state.published[id].pc.close(); delete state.published[id]; }
            });
          };
          return publish("screen", stream);
        }).catch(function (error) { showError(error.message); });
      }
    });
    window.addEventListener("beforeunload", function () { state.ended = true; if (state.signal) { state.signal.close(); } });
    connect();
  }

  // -- supervisors' playback: every recording on one clock, the timeline seeks them all ---------------
  function startPlayback(root) {
    var videos = Array.prototype.slice.call(root.querySelectorAll("video[data-start]"));
    function seek(at) {
      videos.forEach(function (video) {
        var offset = (at - Date.parse(video.dataset.start)) / 1000;
        if (offset >= 0) { video.currentTime = offset; video.play().catch(function () {}); }
      });
    }
    root.querySelectorAll("[data-at]").forEach(function (button) {
      button.addEventListener("click", function () { seek(Date.parse(button.dataset.at)); });
    });
  }

  var room = document.querySelector("[data-media-room]");
  if (room) { startRoom(room); }
  var playback = document.querySelector("[data-media-playback]");
  if (playback) { startPlayback(playback); }
})();
