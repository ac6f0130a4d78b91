// cached-bytes.mjs — its one job: a file's bytes the way the product page gets its bundle,
// from the Cache API when a previous visit stored them, else fetched and stored. Shared by
// the page sides of `make bench-wasm` and `make bench-peer`.

/**
 * The bytes at `url`, and whether they came from the cache named `cacheName`.
 * @returns {Promise<{bytes: Uint8Array, fromCache: boolean}>}
 */
export async function cachedBytes(url, cacheName) {
  const cache = await caches.open(cacheName);
  let response = await cache.match(url);
  const fromCache = Boolean(response);
  if (!response) {
    response = await fetch(url);
    if (!response.ok) throw new Error(`fetch ${url}: HTTP ${response.status}`);
    await cache.put(url, response.clone());
  }
  return { bytes: new Uint8Array(await response.arrayBuffer()), fromCache };
}
