// The offline counter (docs/offline-counter.md), on the online counter page (mode "online")
// and in its offline shell (mode "shell"), which the service worker serves when the network
// is down. Everything lives in IndexedDB ("civicpoints-counter"):
//   meta      device:<store> {device, token, name}; seq:<store> the next sequence number;
//             sync:<store> the last time the queue was empty after a sync
//   snapshot  <store> {data, fetched_at}: products, stock, households (never a PIN, a phone,
//             an ID number); deleted on logout, refused once expired
//   queue     one record per offline sale, key = its idempotency key, with the PIN sealed for
//             the server (never the PIN itself); kept on logout
//   locks     <store>:<household> wrong PIN tries on this device (3 lock it until a sync)
// The sync goes through the API's redemption call, one sale at a time in sequence order, with
// the sale's own key: a retry after a cut is the same request, never a second sale.
import { cameraScan } from "./camera-scan.js";

const app = document.getElementById("offline-app");
const T = app.dataset;
const STORE = app.dataset.store;
const SHELL = app.dataset.mode === "shell";
const PIN_TRIES = 3;

// --- IndexedDB: promises over requests; a transaction stays open across their callbacks ----
let opened = null;
function db() {
  opened ||= new Promise((resolve, reject) => {
    const request = indexedDB.open("civicpoints-counter", 1);
    request.onupgradeneeded = () => {
      const d = request.result;
      d.createObjectStore("meta");
      d.createObjectStore("snapshot");
      d.createObjectStore("locks");
      d.createObjectStore("queue", { keyPath: "key" }).createIndex("store_seq", ["store", "seq"]);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opened;
}
const done = (r) => new Promise((resolve, reject) => {
  r.onsuccess = () => resolve(r.result);
  r.onerror = () => reject(r.error);
});
const finished = (t) => new Promise((resolve, reject) => {
  t.oncomplete = () => resolve();
  t.onerror = t.onabort = () => reject(t.error);
});
async function get(store, key) {
  return done((await db()).transaction(store).objectStore(store).get(key));
}
async function put(store, value, key) {
  const t = (await db()).transaction(store, "readwrite");
  t.objectStore(store).put(value, key);
  return finished(t);
}
async function del(store, key) {
  const t = (await db()).transaction(store, "readwrite");
  t.objectStore(store).delete(key);
  return finished(t);
}
async function queue() {  // this store's sales, in sequence order
  const range = IDBKeyRange.bound([STORE, 0], [STORE, Number.MAX_SAFE_INTEGER]);
  return done((await db()).transaction("queue").objectStore("queue").index("store_seq").getAll(range));
}

// --- time, money, words ----------------------------------------------------------------
const fmt = (h) => (h / 100).toFixed(2).replace(/0+$/, "").replace(/\.$/, "");
const clock = (iso) => new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
const $ = (id) => document.getElementById(id);
function say(el, text, kind = "error") {
  el.className = text ? `alert ${kind}` : "";
  el.textContent = text || "";
}

// --- device and snapshot -------------------------------------------------------------------
const device = () => get("meta", `device:${STORE}`);
let snap = null;  // {data, fetched_at, byId, byCard}

function index(record) {
  const byId = new Map(), byCard = new Map();
  for (const row of record.data.households) {
    const h = { id: row[0], card: row[1], name: row[2], village: record.data.villages[row[3]] || "",
      keys: row[4], available: row[5], used: row[6], banned: row[7], pinKey: row[8], tag: row[9] };
    byId.set(h.id, h);
    byCard.set(h.card.toUpperCase(), h);
  }
  const products = new Map(record.data.products.map((p) => [p[0],
    { id: p[0], name: p[1], unit: p[2], price: p[3], stock: p[4], offline: p[5] }]));
  return { ...record, byId, byCard, products };
}

async function loadSnapshot() {
  const record = await get("snapshot", STORE);
  if (!record) { snap = null; return null; }
  if (Date.now() >= Date.parse(record.data.expires_at)) {
    await del("snapshot", STORE);
    snap = null;
    return "expired";
  }
  const started = performance.now();
  snap = index(record);
  app.dataset.indexMs = String(Math.round(performance.now() - started));
  return snap;
}

async function refreshSnapshot() {
  const dev = await device();
  if (!dev || !navigator.onLine) return;
  const started = new Date().toISOString();
  const t0 = performance.now();
  let response;
  try {
    response = await fetch(app.dataset.snapshot, { headers: { "X-Counter-Device": dev.token }, credentials: "same-origin" });
  } catch (e) { return net(false); }
  if (response.status === 403) {
    const body = await response.json().catch(() => null);
    if (body?.error?.code === "device_revoked") blocked(T.tRevoked);
    return;
  }
  if (!response.ok || !(response.headers.get("Content-Type") || "").includes("json")) return;
  await put("snapshot", { data: await response.json(), fetched_at: started }, STORE);
  await loadSnapshot();
  app.dataset.snapshotMs = String(Math.round(performance.now() - t0));  // fetched, kept, indexed
  app.dataset.snapshotAt = started;
  show();
}

// --- what a household may still spend offline --------------------------------------------
// Sales the snapshot does not yet reflect: still queued, or synced after it was fetched.
const unreflected = (sale) => !sale.synced_at || sale.synced_at >= snap.fetched_at;

async function spendable(h) {
  const sales = (await queue()).filter((s) => s.household === h.id && unreflected(s));
  const start = Date.parse(snap.data.period.start), end = Date.parse(snap.data.period.end);
  const inPeriod = sales.filter((s) => Date.parse(s.offline_at) >= start && Date.parse(s.offline_at) < end);
  const spentPeriod = inPeriod.reduce((n, s) => n + s.points, 0);
  const spent = sales.filter((s) => s.status === "queued" || s.status === "synced").reduce((n, s) => n + s.points, 0);
  const allowanceLeft = snap.data.allowance - h.used - spentPeriod;
  return { left: Math.max(0, Math.min(allowanceLeft, h.available - spent)), allowanceLeft, used: h.used + spentPeriod };
}

async function stockLeft() {
  const left = new Map([...snap.products.values()].map((p) => [p.id, p.stock]));
  for (const s of await queue()) {
    if (!unreflected(s) || s.status === "conflict" || s.status === "refused") continue;
    for (const [id, n] of s.items) left.set(id, (left.get(id) || 0) - n);
  }
  return left;
}

// --- finding a household -------------------------------------------------------------------
function find(text) {
  const q = text.trim();
  if (!q) return [];
  const card = snap.byCard.get(q.toUpperCase());
  if (card) return [card];
  const lower = q.toLowerCase();
  const found = [];
  for (const h of snap.byId.values()) {
    if (h.name.includes(q) || (/^[a-z]+$/.test(lower) && h.keys.split(" ").some((k) => k.startsWith(lower)))) {
      found.push(h);
      if (found.length >= 20) break;
    }
  }
  return found;
}

let current = null;  // the household at the counter

async function open(h) {
  current = h;
  $("off-cands").replaceChildren();
  say($("off-message"), "");
  $("off-name").textContent = h.name;
  $("off-village").textContent = h.village;
  $("off-card").textContent = h.card;
  const room = await spendable(h);
  $("off-spendable").textContent = fmt(room.left);
  $("off-spend-note").textContent = `${T.tAllowance} ${fmt(snap.data.allowance)} ${T.tPoints} · ${T.tUsed} ${fmt(room.used)} ${T.tPoints}`;
  const left = await stockLeft();
  const tiles = [];
  for (const p of snap.products.values()) {
    const stock = left.get(p.id) || 0;
    const tile = document.createElement("div");
    tile.className = "ptile" + (stock <= 0 || !p.offline ? " empty" : "");
    tile.dataset.product = p.id;
    tile.dataset.price = p.price;
    tile.dataset.stock = stock;
    const name = document.createElement("div");
    name.className = "pname";
    name.textContent = p.name;
    const price = document.createElement("div");
    price.className = "pprice";
    price.innerHTML = "<b></b> ";
    price.firstChild.textContent = fmt(p.price);
    price.append(`${T.tPoints}/${p.unit}`);
    const info = document.createElement("div");
    info.className = "pstock";
    info.textContent = p.offline ? `${T.tStock} ${stock}` : T.tNotOffline;
    const stepper = document.createElement("div");
    stepper.className = "stepper";
    const minus = document.createElement("button");
    minus.type = "button"; minus.className = "minus secondary"; minus.textContent = "−";
    minus.setAttribute("aria-label", `- ${p.name}`);
    const input = document.createElement("input");
    input.value = "0"; input.inputMode = "numeric"; input.maxLength = 3; input.readOnly = true;
    input.setAttribute("aria-label", p.name);
    const plus = document.createElement("button");
    plus.type = "button"; plus.className = "plus"; plus.textContent = "+";
    plus.setAttribute("aria-label", `+ ${p.name}`);
    plus.disabled = minus.disabled = stock <= 0 || !p.offline;
    stepper.append(minus, input, plus);
    tile.append(name, price, info, stepper);
    tiles.push(tile);
  }
  $("off-products").replaceChildren(...tiles);
  $("off-pin").value = "";
  $("off-sale").hidden = false;
  $("off-receipt").hidden = true;
  total();
  if (h.banned) say($("off-message"), T.tBanned);
}

function basket() {
  const items = [];
  let points = 0;
  for (const tile of $("off-products").querySelectorAll(".ptile")) {
    const n = parseInt(tile.querySelector("input").value, 10) || 0;
    if (n > 0) {
      items.push([parseInt(tile.dataset.product, 10), n]);
      points += n * parseInt(tile.dataset.price, 10);
    }
  }
  return { items, points };
}

function total() {
  const { points } = basket();
  $("off-total").textContent = fmt(points);
  const left = Math.round(parseFloat($("off-spendable").textContent) * 100) || 0;
  $("off-short").textContent = points > left ? `${T.tOver} ${fmt(left)} ${T.tPoints}` : "";
}

// --- the PIN: 8 bits of HMAC-SHA256(key, "cp-offline-pin:" + PIN), as households/crypto.py --
async function pinTag(keyB64, pin) {
  const raw = Uint8Array.from(atob(keyB64), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`cp-offline-pin:${pin}`));
  return new Uint8Array(mac)[0];
}

// --- the sealed PIN: only the server opens it, at the sync (households/crypto.py pin_seal) ----
// ECDH P-256 with a fresh key of ours and the server's public key from the snapshot, HKDF-SHA256,
// AES-256-GCM over the PIN with the sale's key as associated data: "v1.<point>.<nonce>.<sealed>".
const b64u = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const unb64u = (text) => Uint8Array.from(
  atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4)), (c) => c.charCodeAt(0));
async function sealPin(pin, key) {
  const subtle = crypto.subtle;
  const curve = { name: "ECDH", namedCurve: "P-256" };
  const server = await subtle.importKey("raw", unb64u(snap.data.pin_seal_key), curve, false, []);
  const mine = await subtle.generateKey(curve, true, ["deriveBits"]);
  const shared = await subtle.deriveBits({ name: "ECDH", public: server }, mine.privateKey, 256);
  const base = await subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  const text = new TextEncoder();
  const aes = await subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(), info: text.encode("civicpoints offline pin seal v1") },
    base, { name: "AES-GCM", length: 256 }, false, ["encrypt"]);
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: text.encode(key) }, aes, text.encode(pin));
  const point = new Uint8Array(await subtle.exportKey("raw", mine.publicKey));
  return ["v1", b64u(point), b64u(nonce), b64u(new Uint8Array(sealed))].join(".");
}

async function sell(event) {
  event.preventDefault();
  const h = current;
  const message = $("off-message");
  if (!h) return;
  if (!snap || Date.now() >= Date.parse(snap.data.expires_at) || !snap.data.pin_seal_key) return blocked(T.tExpired);
  const { items, points } = basket();
  if (!items.length) return say(message, T.tEmptyBasket);
  if (h.banned) return say(message, T.tBanned);
  if (!h.pinKey || h.tag === null) return say(message, T.tNoPin);
  const room = await spendable(h);
  if (points > room.left) return say(message, `${T.tOver} ${fmt(room.left)} ${T.tPoints}`);
  const left = await stockLeft();
  for (const [id, n] of items) {
    if (n > (left.get(id) || 0) || !snap.products.get(id)?.offline) return say(message, T.tNotOffline);
  }
  const lockKey = `${STORE}:${h.id}`;
  const lock = (await get("locks", lockKey)) || { tries: 0 };
  if (lock.tries >= PIN_TRIES) return say(message, T.tPinLocked);
  const pin = $("off-pin").value;
  if (!/^\d{6}$/.test(pin)) return say(message, T.tPinShort);
  if (await pinTag(h.pinKey, pin) !== h.tag) {
    lock.tries += 1;
    await put("locks", lock, lockKey);
    $("off-pin").value = "";
    return say(message, lock.tries >= PIN_TRIES ? T.tPinLocked : `${T.tPinWrong} ${PIN_TRIES - lock.tries} ${T.tTimes}`);
  }
  if (lock.tries) await del("locks", lockKey);
  const sale = await record(h, items, points, pin);
  // The queue's count is current by the time the receipt is on screen; the sale is queued
  // already, so a failing status read never keeps the receipt from the clerk.
  await show().catch(() => null);
  receipt(sale, room.left - points);
}

// One transaction: the next sequence number and the sale with its sealed PIN, or neither. The
// seal names the sale's key, which holds the sequence number, and a transaction cannot wait for
// the sealing: the number is read first, the PIN sealed, and the transaction takes the number
// only if it is still the next one (another tab of this counter may have sold meanwhile).
async function record(h, items, points, pin) {
  const dev = await device();
  for (;;) {
    const seq = ((await get("meta", `seq:${STORE}`)) || 0) + 1;
    const key = `off-${dev.device}-${seq}-${crypto.randomUUID()}`;
    const seal = await sealPin(pin, key);
    const t = (await db()).transaction(["meta", "queue"], "readwrite");
    const meta = t.objectStore("meta");
    if (((await done(meta.get(`seq:${STORE}`))) || 0) + 1 !== seq) { t.abort(); continue; }
    const sale = {
      key, store: STORE, seq, device: dev.device, pin_seal: seal,
      household: h.id, name: h.name, items, points, offline_at: new Date().toISOString(),
      recorded_by: parseInt(app.dataset.user, 10) || null, status: "queued",
    };
    meta.put(seq, `seq:${STORE}`);
    t.objectStore("queue").put(sale);
    await finished(t);
    return sale;
  }
}

function receipt(sale, left) {
  $("off-sale").hidden = true;
  $("rc-name").textContent = sale.name;
  $("rc-time").textContent = clock(sale.offline_at);
  $("rc-seq").textContent = `${T.tDevice} ${sale.device} / ${sale.seq}`;
  $("rc-lines").replaceChildren(...sale.items.map(([id, n]) => {
    const li = document.createElement("li");
    const p = snap.products.get(id);
    li.textContent = `${p ? p.name : id} × ${n}`;
    return li;
  }));
  $("rc-points").textContent = fmt(sale.points);
  $("rc-left").textContent = fmt(Math.max(left, 0));
  $("rc-key").textContent = sale.key;
  $("off-receipt").hidden = false;
  current = null;
}

// --- the sync --------------------------------------------------------------------------------
let syncing = false;

function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

async function sync() {
  if (syncing || !navigator.onLine) return;
  syncing = true;
  try {
    if (navigator.locks) await navigator.locks.request(`cp-sync-${STORE}`, syncQueue);
    else await syncQueue();
  } finally {
    syncing = false;
  }
  show();
}

async function syncQueue() {
  const dev = await device();
  if (!dev) return;
  const waiting = (await queue()).filter((s) => s.status === "queued");
  if (waiting.length) $("net-sync").textContent = T.tSyncing;
  for (const sale of waiting) {
    let response;
    try {
      response = await fetch(app.dataset.api, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json", "X-CSRFToken": csrf(),
          "Idempotency-Key": sale.key, "X-Counter-Device": dev.token,
        },
        body: JSON.stringify({
          household: sale.household,
          items: sale.items.map(([product, quantity]) => ({ product, quantity })),
          offline: { seq: sale.seq, offline_at: sale.offline_at, recorded_by: sale.recorded_by, pin_seal: sale.pin_seal || "" },
        }),
      });
    } catch (e) {
      return net(false);  // the network went again: the same key next time
    }
    const body = await response.json().catch(() => null);
    const code = body?.error?.code;
    if (response.status === 201) {
      await settle(sale, "synced", body.receipt_no);
    } else if (response.status === 409 && code === "offline_conflict") {
      await settle(sale, "conflict", body.error.message);
    } else if (response.status === 401 || (response.status === 403 && !code) || code === "not_authenticated") {
      return blocked(T.tRelogin, false);
    } else if (code === "device_revoked" || code === "device_unknown") {
      return blocked(code === "device_revoked" ? T.tRevoked : T.tNoDevice, false);
    } else if (response.status === 422) {
      await settle(sale, "refused", body?.error?.message || String(response.status));
    } else {
      return;  // in flight (409), unavailable (503): the same key on the next round
    }
  }
  const left = (await queue()).filter((s) => s.status === "queued");
  if (!left.length) await put("meta", new Date().toISOString(), `sync:${STORE}`);
  await report();
  await refreshSnapshot();
}

async function settle(sale, status, note) {
  await put("queue", { ...sale, status, note, synced_at: new Date().toISOString() });
  if (status === "synced") await del("locks", `${STORE}:${sale.household}`);
}

async function report() {
  const dev = await device();
  if (!dev || !navigator.onLine) return;
  const sales = await queue();
  const waiting = sales.filter((s) => s.status === "queued");
  await fetch(app.dataset.status, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), "X-Counter-Device": dev.token },
    body: JSON.stringify({
      queued: waiting.length,
      max_seq: sales.reduce((n, s) => Math.max(n, s.seq), 0),
      oldest_at: waiting.length ? waiting[0].offline_at : null,
    }),
  }).catch(() => null);
}

// --- the status bar ----------------------------------------------------------------------
function net(online) {
  $("net-state").textContent = `● ${online ? T.tOnline : T.tOffline}`;
  $("netbar").classList.toggle("down", !online);
}

function blocked(text, stop = true) {
  const box = $("off-blocked");
  if (box) { box.textContent = text; box.hidden = false; }
  else $("net-sync").textContent = text;
  if (stop && $("off-work")) $("off-work").hidden = true;
}

async function show() {
  net(navigator.onLine);
  const sales = await queue();
  const waiting = sales.filter((s) => s.status === "queued").length;
  app.dataset.queued = String(waiting);
  $("net-queue").textContent = `· ${T.tQueued} ${waiting} ${T.tUnit}`;
  const last = await get("meta", `sync:${STORE}`);
  if (!syncing) $("net-sync").textContent = `· ${T.tLastSync} ${last ? clock(last) : T.tNever}`;
  const conflicts = sales.filter((s) => s.status === "conflict").length;
  const link = $("net-conflicts");
  link.hidden = !conflicts;
  link.textContent = conflicts ? `· ${T.tConflicts}（${conflicts}）` : "";
  if (!SHELL) return;
  if (snap) {
    $("off-snapshot").textContent = `${T.tSnapshot} ${clock(snap.fetched_at)} · ${snap.byId.size} ${T.tHouseholds}`;
  }
  const rows = sales.slice(-50).reverse().map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.status = s.status;
    const label = { queued: T.tStatusQueued, synced: T.tStatusSynced, conflict: T.tStatusConflict, refused: T.tStatusRefused }[s.status];
    for (const text of [s.seq, clock(s.offline_at), s.name, fmt(s.points), s.note && s.status !== "synced" ? `${label}：${s.note}` : label]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  $("off-queue").tBodies[0].replaceChildren(...rows);
}

// --- the online page: service worker, cache, enrolment -------------------------------------
async function install() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  await navigator.serviceWorker.register(app.dataset.sw, { scope: "/counter/" });
  const cache = await caches.open(app.dataset.cache);
  const shell = await fetch(app.dataset.shell, { credentials: "same-origin" });
  if (shell.ok && !shell.redirected) await cache.put(app.dataset.shell, shell);
  await cache.addAll(JSON.parse(app.dataset.assets));
  app.dataset.cached = "1";
}

async function enrol(event) {
  event.preventDefault();
  const out = $("enrol-message");
  const response = await fetch(app.dataset.enrol, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
    body: JSON.stringify({ code: $("enrol-code").value }),
  }).catch(() => null);
  const body = response ? await response.json().catch(() => null) : null;
  if (!response || response.status !== 201 || !body) return say(out, body?.error?.message || T.tOffline);
  await put("meta", { device: body.device, token: body.token, name: body.name }, `device:${STORE}`);
  if (navigator.storage?.persist) await navigator.storage.persist().catch(() => false);
  say(out, `${T.tEnrolled}：${body.name}`, "info");
  $("enrol-form").querySelector("button").disabled = true;
  await refreshSnapshot();
  show();
}

// On logout: the snapshot, the PIN locks and the cached pages go; the queue and the device
// stay (a sale never leaves the device unsynced).
async function forget(event) {
  const form = event.target;
  if (!form.matches("[data-offline-logout]") || form.dataset.cleared) return;
  event.preventDefault();
  const waiting = (await queue()).filter((s) => s.status === "queued").length;
  const d = await db();
  const t = d.transaction(["snapshot", "locks"], "readwrite");
  t.objectStore("snapshot").clear();
  t.objectStore("locks").clear();
  await finished(t);
  for (const name of await caches.keys()) if (name.startsWith("cp-counter-")) await caches.delete(name);
  if (waiting) window.alert(T.tLogoutKept);
  form.dataset.cleared = "1";
  form.submit();
}

// --- wiring --------------------------------------------------------------------------------
async function start() {
  document.addEventListener("submit", forget, true);
  addEventListener("online", () => { net(true); sync(); });
  addEventListener("offline", () => net(false));
  const dev = await device();
  const state = await loadSnapshot();
  if (SHELL) {
    // The camera reads the card's QR code (the card code itself), from the cache offline.
    cameraScan({
      once: true,  // one card, one lookup
      onText(text) { $("off-q").value = text; $("off-find").requestSubmit(); },
      onClose() { $("off-q").focus(); },
    });
    $("off-find").addEventListener("submit", (event) => {
      event.preventDefault();
      const found = find($("off-q").value);
      $("off-sale").hidden = true;
      $("off-receipt").hidden = true;
      if (found.length === 1) return open(found[0]);
      if (!found.length) { $("off-cands").replaceChildren(); return say($("off-message"), T.tNotFound); }
      say($("off-message"), `${T.tPick}（${found.length}）`, "info");
      $("off-cands").replaceChildren(...found.map((h) => {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = "#";
        a.dataset.household = h.id;
        a.textContent = `${h.name} · ${h.village} · ${h.card}`;
        li.append(a);
        return li;
      }));
    });
    $("off-cands").addEventListener("click", (event) => {
      const a = event.target.closest("a[data-household]");
      if (!a) return;
      event.preventDefault();
      open(snap.byId.get(parseInt(a.dataset.household, 10)));
    });
    $("off-products").addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button || button.disabled) return;
      const tile = button.closest(".ptile");
      const input = tile.querySelector("input");
      const n = parseInt(input.value, 10) || 0;
      const stock = parseInt(tile.dataset.stock, 10);
      input.value = button.classList.contains("plus") ? Math.min(n + 1, stock) : Math.max(n - 1, 0);
      tile.classList.toggle("picked", parseInt(input.value, 10) > 0);
      total();
    });
    document.querySelector("#off-sale .keypad").addEventListener("click", (event) => {
      const key = event.target.closest("button")?.dataset.key;
      const pin = $("off-pin");
      if (key === "clear") pin.value = "";
      else if (key === "back") pin.value = pin.value.slice(0, -1);
      else if (key && pin.value.length < 6) pin.value += key;
    });
    $("off-sale").addEventListener("submit", sell);
    $("rc-print").addEventListener("click", () => window.print());
    $("rc-next").addEventListener("click", () => { $("off-receipt").hidden = true; $("off-q").value = ""; $("off-q").focus(); });
    if (!dev) blocked(T.tNoDevice);
    else if (state === "expired") blocked(T.tExpired);
    else if (!state) blocked(T.tNoSnapshot);
    else { $("off-work").hidden = false; $("off-q").focus(); }
  } else {
    const box = $("enrol-box");
    if (box && !dev) box.hidden = false;
    $("enrol-form")?.addEventListener("submit", enrol);
    document.body.addEventListener("htmx:sendError", () => location.assign(app.dataset.shell));
    install().catch(() => null);
  }
  await show();
  if (navigator.onLine && dev) {
    await sync();
    if (!SHELL) await refreshSnapshot();
  }
  setInterval(() => { if (navigator.onLine) sync().then(refreshSnapshot); }, 60_000);
  app.dataset.readyMs = String(Math.round(performance.now()));  // since the page's navigation
  app.dataset.ready = "1";
}

start();
