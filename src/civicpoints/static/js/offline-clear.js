// The staff login page (docs/offline-counter.md): whoever worked an offline counter before,
// signed out or timed out, leaves no snapshot, no PIN locks and no cached counter pages
// behind. The device and its queue of unsynced sales stay (they sync after the next login).
(async () => {
  if (!window.indexedDB || !indexedDB.databases) return;
  const known = (await indexedDB.databases()).some((d) => d.name === "civicpoints-counter");
  if (known) {
    const request = indexedDB.open("civicpoints-counter");
    request.onsuccess = () => {
      const db = request.result;
      const stores = ["snapshot", "locks"].filter((name) => db.objectStoreNames.contains(name));
      if (!stores.length) return db.close();
      const t = db.transaction(stores, "readwrite");
      for (const name of stores) t.objectStore(name).clear();
      t.oncomplete = () => db.close();
    };
  }
  if (window.caches) {
    for (const name of await caches.keys()) if (name.startsWith("cp-counter-")) await caches.delete(name);
  }
  document.body.dataset.offlineCleared = "1";
})();
