// The counter's service worker (docs/offline-counter.md), scope /counter/. A counter page
// comes from the network, and from the cache (its offline shell) when the network fails;
// static files come from the cache first. API calls, writes and the snapshot are never
// touched: the page makes them itself, and knows when they fail. The page fills the cache.
const CACHE = "{{ cache }}";
const STATIC = "{{ static_prefix }}";

self.addEventListener("install", () => self.skipWaiting());

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("cp-counter-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    const store = url.pathname.match(/^\/counter\/store\/(\d+)\//);
    if (!store) return;
    event.respondWith(fetch(request).catch(async () => {
      const cache = await caches.open(CACHE);
      const shell = await cache.match(`/counter/store/${store[1]}/offline/`);
      return shell || Response.error();
    }));
    return;
  }
  if (url.pathname.startsWith(STATIC)) {
    event.respondWith(caches.open(CACHE).then(async (cache) => (await cache.match(request)) || fetch(request)));
  }
});
