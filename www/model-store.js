// model-store.js — gets the model bundle's bytes for the worker: from the Cache API when
// this version (the manifest's sha256) is stored, else downloaded once with progress (once
// per browser: other tabs wait for it), checked against the manifest and stored, with its
// model card. Each version lives in its own cache, written in full before the older ones
// are deleted, so a reader never sees half a model or a mix of two.

const MANIFEST = 'models/manifest.json';
const SHA256 = /^[0-9a-f]{64}$/;
/** A bundle's header (src/bundle/mod.rs): magic `PLOTGNRE`, version, payload length, then
 * the payload's sha256 at bytes 20 to 52; the payload follows. */
const MAGIC = 'PLOTGNRE';
const PAYLOAD_SHA256_AT = 20;
const HEADER_LEN = 52;

/** A failure the page explains; `kind` says which message and whether a retry helps. */
export class ModelError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/** Cache names are scoped by the page's folder, so two deployments on one origin stay apart. */
function cachePrefix(base) {
  return `plotgenre:${new URL('./', base).pathname}:model:`;
}

async function storedVersions(base) {
  if (!self.caches) return [];
  const prefix = cachePrefix(base);
  return (await caches.keys()).filter((name) => name.startsWith(prefix));
}

/** Fetches and checks the manifest; `null` when the network is unreachable. */
async function fetchManifest(base) {
  const url = new URL(MANIFEST, base);
  let response;
  try {
    response = await fetch(url, { cache: 'no-store', credentials: 'omit' });
  } catch {
    return null;
  }
  if (!response.ok) {
    throw new ModelError('missing', `The model is missing on the server (${MANIFEST}: HTTP ${response.status}).`);
  }
  let manifest;
  try {
    manifest = await response.json();
  } catch {
    throw new ModelError('corrupt', `${MANIFEST} is not valid JSON.`);
  }
  if (typeof manifest.bundle !== 'string' || !Number.isSafeInteger(manifest.bytes) || !SHA256.test(manifest.sha256)) {
    throw new ModelError('corrupt', `${MANIFEST} lacks a bundle name, size or sha256.`);
  }
  const bundleUrl = new URL(manifest.bundle, url);
  if (bundleUrl.origin !== new URL(base).origin) {
    throw new ModelError('refused', `Refused to load a model from another origin (${bundleUrl.origin}).`);
  }
  return { ...manifest, url: bundleUrl.href };
}

/**
 * A complete stored version: its manifest is written last, so its presence marks
 * completeness. Its payload is checked (checkPayload); a damaged version is deleted, so that
 * a retry downloads it again.
 */
async function readStored(base, cacheName) {
  const cache = await caches.open(cacheName);
  const manifest = await cache.match(new URL(MANIFEST, base));
  if (!manifest) return null;
  const stored = await manifest.json();
  const bundle = await cache.match(stored.url);
  if (!bundle) return null;
  const bytes = new Uint8Array(await bundle.arrayBuffer());
  try {
    return { manifest: stored, bytes, payloadVerified: await checkPayload(bytes) };
  } catch (error) {
    await caches.delete(cacheName);
    throw error;
  }
}

const hex = (digest) => Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Checks a bundle's payload against the sha256 in its header with WebCrypto (native and off
 * this thread; the wasm module's own check takes about 60 ms), so the module can skip it.
 * Returns whether it checked: not for a file that is no bundle, or without WebCrypto (plain
 * http), where the module checks and says why. Throws 'corrupt' on a mismatch.
 */
export async function checkPayload(bytes) {
  const magic = new TextDecoder().decode(bytes.subarray(0, MAGIC.length));
  if (!self.crypto?.subtle || bytes.length < HEADER_LEN || magic !== MAGIC) return false;
  const expected = hex(bytes.subarray(PAYLOAD_SHA256_AT, HEADER_LEN));
  if (hex(await crypto.subtle.digest('SHA-256', bytes.subarray(HEADER_LEN))) !== expected) {
    throw new ModelError('corrupt', 'The model file is damaged: its contents do not match the sha256 in its header.');
  }
  return true;
}

/**
 * Reads `body` into one buffer of exactly `total` bytes, reporting `onProgress(received)`.
 * A BYOB reader writes each piece straight into that buffer, so a 14 MB download leaves no
 * 14 MB of pieces behind for the garbage collector (the page's peak memory); where the
 * stream has no BYOB reader, pieces are copied in.
 */
async function readExactly(body, total, onProgress) {
  let buffer = new ArrayBuffer(total);
  let received = 0;
  let reader;
  try {
    reader = body.getReader({ mode: 'byob' });
  } catch {
    reader = null;
  }
  const read = reader
    ? async () => {
      const view = received < total ? new Uint8Array(buffer, received) : new Uint8Array(1);
      const { done, value } = await reader.read(view);
      if (!done && received < total) buffer = value.buffer;
      return done ? null : value;
    }
    : (() => {
      const plain = body.getReader();
      return async () => {
        const { done, value } = await plain.read();
        if (!done && received + value.length <= total) new Uint8Array(buffer).set(value, received);
        return done ? null : value;
      };
    })();
  for (let piece = await read(); piece; piece = await read()) {
    if (received + piece.length > total) {
      throw new ModelError('corrupt', 'The model file on the server is larger than its manifest says.');
    }
    received += piece.length;
    onProgress(received);
  }
  if (received !== total) {
    throw new ModelError('download', `The model download stopped at ${received} of ${total} bytes.`);
  }
  return new Uint8Array(buffer);
}

/** Downloads the bundle, reporting `onProgress(received, total)`, and checks size and sha256. */
async function download(manifest, onProgress) {
  let response;
  try {
    response = await fetch(manifest.url, { cache: 'no-store', credentials: 'omit' });
  } catch (error) {
    throw new ModelError('download', `The model download failed (${error.message}).`);
  }
  if (!response.ok) {
    throw new ModelError('missing', `The model is missing on the server (HTTP ${response.status}).`);
  }
  onProgress(0, manifest.bytes);
  let bytes;
  try {
    bytes = await readExactly(response.body, manifest.bytes, (received) => onProgress(received, manifest.bytes));
  } catch (error) {
    if (error instanceof ModelError) throw error;
    throw new ModelError('download', `The model download was interrupted (${error.message}).`);
  }
  if (hex(await crypto.subtle.digest('SHA-256', bytes)) !== manifest.sha256) {
    throw new ModelError('corrupt', 'The downloaded model does not match its manifest (sha256 differs): the file on the server is damaged or half-updated.');
  }
  return bytes;
}

/**
 * Stores one verified version, then deletes every other one. Returns a warning, or null.
 * On any failure the new cache is deleted whole: nothing is left half-cached.
 */
async function store(base, manifest, bytes) {
  if (!self.caches) return 'This browser cannot store the model here; it will download again next visit.';
  const name = cachePrefix(base) + manifest.sha256;
  try {
    const cache = await caches.open(name);
    const binary = { 'Content-Type': 'application/octet-stream' };
    await cache.put(manifest.url, new Response(bytes, { headers: binary }));
    await cache.put(new URL(MANIFEST, base), Response.json(manifest));
  } catch (error) {
    await caches.delete(name).catch(() => {});
    return error.name === 'QuotaExceededError'
      ? 'Not enough storage to keep the model for offline use: it works now, and will download again next visit.'
      : `The model could not be stored for offline use (${error.message}).`;
  }
  for (const other of await storedVersions(base)) {
    if (other !== name) await caches.delete(other);
  }
  return null;
}

/**
 * Runs `task` holding this browser's lock `name`, so that of several tabs opening the page
 * at once one downloads and stores the model while the others wait, then read it stored.
 * Where the Web Locks API is missing, runs it at once (each tab then downloads).
 */
function exclusive(name, task) {
  return self.navigator?.locks ? navigator.locks.request(name, task) : task();
}

/**
 * The stored version `name`, else the server's, downloaded and stored under the lock. The
 * tab that downloads posts its progress on a channel of the same name, and a tab waiting
 * for the lock shows it as its own.
 */
function storedOrDownloaded(base, manifest, name, onProgress) {
  const channel = self.BroadcastChannel ? new BroadcastChannel(name) : null;
  if (channel) channel.onmessage = ({ data }) => onProgress(data.received, data.total);
  const shared = (received, total) => {
    onProgress(received, total);
    channel?.postMessage({ received, total });
  };
  return exclusive(name, async () => {
    if (channel) channel.onmessage = null;
    const stored = (await storedVersions(base)).includes(name) && (await readStored(base, name));
    if (stored) return { ...stored, manifest, stored: true, warning: null };
    const bytes = await download(manifest, shared);
    const payloadVerified = await checkPayload(bytes);
    const warning = await store(base, manifest, bytes);
    return { bytes, payloadVerified, manifest, stored: !warning, warning };
  }).finally(() => channel?.close());
}

/**
 * The bundle to load: `{ bytes, payloadVerified, manifest, stored, warning, card }`. Online,
 * the server's manifest decides the version; offline, the stored version is used.
 * `payloadVerified`: checkPayload checked it (Classifier.load's option of that name). `card`
 * is the model card's markdown (MODEL_CARD.md beside the bundle), or null where there is none.
 */
export async function loadBundle(base, onProgress) {
  const manifest = await fetchManifest(base);
  if (manifest) {
    const name = cachePrefix(base) + manifest.sha256;
    const bundle = await storedOrDownloaded(base, manifest, name, onProgress);
    return { ...bundle, card: await modelCard(name, manifest.url) };
  }
  for (const name of await storedVersions(base)) {
    const stored = await readStored(base, name);
    if (stored) return { ...stored, stored: true, warning: null, card: await modelCard(name, stored.manifest.url) };
  }
  throw new ModelError('offline', 'You are offline and the model has not been downloaded yet. Connect to the internet and retry.');
}

/** Deletes a stored version that turned out unreadable, so a retry downloads it again. */
export async function evict(base, sha256) {
  if (self.caches) await caches.delete(cachePrefix(base) + sha256);
}

/**
 * The model card beside the bundle: the server's copy, kept in the version's cache (when
 * that version is stored) for offline visits, else the kept copy; null when neither exists.
 */
async function modelCard(cacheName, bundleUrl) {
  const url = new URL('MODEL_CARD.md', bundleUrl);
  const cache = self.caches && (await caches.has(cacheName)) ? await caches.open(cacheName) : null;
  try {
    const response = await fetch(url, { cache: 'no-store', credentials: 'omit' });
    if (response.ok) {
      const text = await response.text();
      await cache?.put(url, new Response(text, { headers: { 'Content-Type': 'text/markdown; charset=utf-8' } }));
      return text;
    }
    if (response.status === 404) return null;
  } catch {
    // Offline: the kept copy below.
  }
  return (await (await cache?.match(url))?.text()) ?? null;
}
