// Calls to /api/v1 from the pages: the session cookie plus the CSRF token of <meta name="csrf-token">.
// A refusal becomes an ApiError carrying the server's code, its bilingual message and the field at fault.

export class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/** ``method`` ``/api/v1`` + ``path``; ``json`` or a raw ``body`` (Blob/bytes). Returns the parsed JSON. */
export async function api(method, path, {json = undefined, body = undefined, signal = undefined} = {}) {
  const headers = {"Accept": "application/json"};
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  let payload = body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/octet-stream";
  }
  const response = await fetch("/api/v1" + path, {method, headers, body: payload, credentials: "same-origin", signal});
  let data = null;
  try {
    data = await response.json();
  } catch (error) {
    data = null;
  }
  if (!response.ok) {
    const problem = (data && data.error) || {};
    throw new ApiError(response.status, problem.code || `http_${response.status}`,
      problem.message || `HTTP ${response.status}`, problem.field || null);
  }
  return data;
}

/** The message to show for any error: the server's words, or the browser's. */
export function describe(error) {
  if (error instanceof ApiError) return error.message;
  if (error && error.name === "TypeError") return "网络连接中断 (network connection lost): " + error.message;
  return (error && error.message) || String(error);
}
