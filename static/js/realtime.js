// The pages' live connections: the vendored Socket.IO client (static/vendor/socket.io-client-4.8.4), and
// requests answered through the server's acknowledgement.
//
// The client reconnects by itself after a lost connection (and sends ``auth`` again each time); a page
// redoes its joining on every "connect". A connection the server refuses (connect_error while the socket is
// no longer active) is final and carries the server's own reason, Chinese first then English.
import {io} from "../vendor/socket.io-client-4.8.4/socket.io.esm.min.js";

/** How long a request waits for its acknowledgement (the media server gives up on its own work at 15 s). */
export const ANSWER_TIMEOUT_MS = 20000;

const LOST = "连接已中断，请求未送达 (the connection was lost; the request was not delivered)";
const LATE = "服务器未在规定时间内答复 (the server did not answer in time)";

function failure(code, message) {
  return {ok: false, error: {code, message}};
}

/**
 * Connect to ``namespace`` ("/" or "/media"). Returns the socket and ``request(event, data)``: a promise of the
 * server's answer that never rejects. Without a connection, or without an answer in ``timeout`` ms (0: as long
 * as the connection lasts, for work whose length depends on the data), it resolves to
 * ``{ok: false, error: {code, message}}``, the same shape as a refusal from the server. A request is never
 * queued for a later connection: what it carried (a session description, a vote) may be stale by then.
 */
export function connect(namespace = "/", {auth = undefined, timeout = ANSWER_TIMEOUT_MS} = {}) {
  const socket = io(namespace, {transports: ["websocket", "polling"], auth});

  async function request(event, data = {}) {
    if (!socket.connected) return failure("disconnected", LOST);
    try {
      return await (timeout ? socket.timeout(timeout) : socket).emitWithAck(event, data);
    } catch (error) {
      return socket.connected ? failure("timeout", LATE) : failure("disconnected", LOST);
    }
  }

  return {socket, request};
}

/** Call ``refused({code, message})`` when the server refuses the connection; a failed attempt is retried. */
export function onRefused(socket, refused) {
  socket.on("connect_error", (error) => {
    if (socket.active) return; // a transport failure: the client tries again by itself
    refused({code: (error.data && error.data.code) || "refused", message: error.message});
  });
}
