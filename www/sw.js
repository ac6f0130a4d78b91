// sw.js — the service worker: keeps the app shell (HTML, CSS, JS, wasm) of one version in
// one cache and answers from it, so a later visit works with the network off. The shell's
// file list and version come from pkg/shell.js, which `make site` writes from the files'
// contents: any change to the page makes a new version, installed whole beside the old
// one and switched to only when no page runs the old one. The model bundle is not here:
// model-store.js keeps it, per version, in caches of its own.

importScripts('pkg/shell.js', 'relaxed-simd.js');

const SCOPE = new URL('./', self.location.href);
const PREFIX = `plotgenre:${SCOPE.pathname}:shell:`;
const CACHE = PREFIX + self.SHELL.version;
// Of the wasm builds, only those the page loads here (wasm-build.js): the relaxed-SIMD twins
// or the plain builds, not both.
const UNUSED_WASM = self.PLOTGENRE_RELAXED_SIMD ? /^pkg\/(threads\/)?plotgenre_bg\.wasm$/ : /^pkg\/relaxed\//;
const FILES = new Set(
  self.SHELL.files.filter((file) => !UNUSED_WASM.test(file)).map((file) => new URL(file, SCOPE).href),
);
const INDEX = new URL('index.html', SCOPE).href;
// On the page and its workers, these make the page cross-origin isolated: the threaded
// wasm build runs on hosts that cannot set headers, from the second visit on (the first
// is served before this worker runs). Everything the page loads is same-origin.
const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    try {
      // 'reload' skips the HTTP cache, so the files are this version's, not older copies.
      await cache.addAll([...FILES].map((url) => new Request(url, { cache: 'reload' })));
    } catch (error) {
      await caches.delete(CACHE);
      throw error;
    }
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
  })());
});

// The page's "Reload" button: take over now, the page then reloads as a whole.
self.addEventListener('message', (event) => {
  if (event.data === 'activate') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  url.search = '';
  const key = url.href === SCOPE.href ? INDEX : url.href;
  if (!FILES.has(key)) return;
  event.respondWith((async () => {
    const response = (await caches.match(key, { cacheName: CACHE })) ?? (await fetch(request));
    return ['document', 'worker'].includes(request.destination) ? isolated(response) : response;
  })());
});

/** `response` with the ISOLATION headers (only documents and workers need them; other files
 * keep their cached response, which lets V8 reuse compiled wasm). */
function isolated(response) {
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
