// Keeping a sealed envelope in this browser until it is uploaded, and uploading it in pieces that resume
// after a dropped connection or a reload. The sealed bytes go to IndexedDB (Blobs, on disk), so a reload
// loses nothing: the upload id stays in localStorage and the server says where to carry on
// (GET /api/v1/uploads/<id> → offset; trading/bid_operations.py refuses a piece at any other offset).

import {ApiError, api} from "./api.js";
import {objectStore} from "./idb.js";

const DB_NAME = "bidhall-sealed";
const STORE = "pieces";
const PIECE_BYTES = 4 << 20;    // stored in IndexedDB per Blob
export const UPLOAD_BYTES = 1 << 20;  // sent per request: little to resend after a dropped connection
const RETRY_DELAYS = [1000, 2000, 4000, 8000, 8000];

const transact = objectStore(DB_NAME, STORE, "key", "IndexedDB: the browser refused to store the sealed bid");

const range = (seal) => IDBKeyRange.bound(`${seal}:`, `${seal}:\uffff`);

/** A writer that stores a sealed envelope in IndexedDB as it is produced: {write(bytes), close()}. */
export function sealedWriter(seal) {
  let buffered = [];
  let size = 0;
  let index = 0;
  const flush = async () => {
    if (!buffered.length) return;
    const blob = new Blob(buffered);
    const key = `${seal}:${String(index).padStart(8, "0")}`;
    buffered = [];
    size = 0;
    index += 1;
    await transact("readwrite", (store) => store.put({key, blob}));
  };
  return {
    async write(bytes) {
      buffered.push(bytes);
      size += bytes.length;
      if (size >= PIECE_BYTES) await flush();
    },
    close: flush,
  };
}

/** The stored envelope as one Blob (the pieces are on disk; nothing is read here), or null. */
export async function sealedBlob(seal) {
  const rows = await transact("readonly", (store) => store.getAll(range(seal)));
  return rows.length ? new Blob(rows.map((row) => row.blob)) : null;
}

export function deleteSealed(seal) {
  return transact("readwrite", (store) => store.delete(range(seal)));
}

/** Drop envelopes of this section left by a sealing that never finished (a reload mid-way), except ``keep``. */
export async function discardUnfinished(sectionId, keep = null) {
  const keys = await transact("readonly", (store) => store.getAllKeys(IDBKeyRange.bound(`${sectionId}-`, `${sectionId}-\uffff`)));
  const seals = new Set(keys.map((key) => key.slice(0, key.lastIndexOf(":"))));
  for (const seal of seals) {
    if (seal !== keep) await deleteSealed(seal);
  }
}

// -- the pending upload of a section --------------------------------------------------------------------

const pendingKey = (sectionId) => `bidhall.pending-upload.${sectionId}`;

export function pendingUpload(sectionId) {
  try {
    return JSON.parse(localStorage.getItem(pendingKey(sectionId)) || "null");
  } catch (error) {
    return null;
  }
}

export function savePending(sectionId, state) {
  localStorage.setItem(pendingKey(sectionId), JSON.stringify(state));
}

export async function forgetPending(sectionId) {
  const state = pendingUpload(sectionId);
  localStorage.removeItem(pendingKey(sectionId));
  if (state && state.seal) await deleteSealed(state.seal);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Upload ``blob`` for ``sectionId`` and finalise it; resumes the upload named in ``state.upload`` if any.
 * ``state`` ({seal, size, ...}) is kept in localStorage under the section. Returns the finalised bid (with
 * its receipt). ``onProgress({sent, total, resumedAt})``.
 */
export async function upload(sectionId, blob, state, {onProgress = () => {}} = {}) {
  if (!state.upload) {
    const started = await api("POST", `/sections/${sectionId}/uploads`, {json: {size: blob.size}});
    state.upload = started.upload;
    savePending(sectionId, state);
  }
  let status = await api("GET", `/uploads/${state.upload}`);
  if (status.state !== "open") throw new ApiError(409, "upload_" + status.state, status.error || `upload ${status.state}`);
  let offset = status.offset;
  const resumedAt = offset;
  onProgress({sent: offset, total: blob.size, resumedAt});
  let failures = 0;
  while (offset < blob.size) {
    try {
      const piece = blob.slice(offset, Math.min(offset + UPLOAD_BYTES, blob.size));
      offset = (await api("PUT", `/uploads/${state.upload}/chunks?offset=${offset}`, {body: piece})).offset;
      failures = 0;
      onProgress({sent: offset, total: blob.size, resumedAt});
    } catch (error) {
      const network = !(error instanceof ApiError) || error.status >= 500;
      if (error instanceof ApiError && error.code === "wrong_offset") {
        offset = (await api("GET", `/uploads/${state.upload}`)).offset;  // resynchronise, then go on
        continue;
      }
      if (!network || failures >= RETRY_DELAYS.length) throw error;
      await sleep(RETRY_DELAYS[failures++]);
      try {
        status = await api("GET", `/uploads/${state.upload}`);
        offset = status.offset;
      } catch (ignored) {
        // still offline: the next attempt retries
      }
    }
  }
  return api("POST", `/uploads/${state.upload}/finalise`);
}
