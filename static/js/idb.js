// One IndexedDB object store, opened per transaction: keys.js keeps the holder's keys in one, upload.js the
// sealed bid's pieces in another.

/** A ``transact(mode, action)`` over ``store`` of database ``name``; ``action(store)`` returns a request. */
export function objectStore(name, store, keyPath, abortMessage = "IndexedDB transaction aborted") {
  function open() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(store, {keyPath});
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return async function transact(mode, action) {
    const db = await open();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(store, mode);
        const request = action(tx.objectStore(store));
        tx.oncomplete = () => resolve(request ? request.result : undefined);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error || new Error(abortMessage));
      });
    } finally {
      db.close();
    }
  };
}
