// serve.mjs — its one job: serve the files under one root directory over HTTP on
// 127.0.0.1 with correct MIME types, for `make serve` and the headless-browser tests.
// node:http only.
//
//   import { startServer } from './serve.mjs';
//   const { url, close } = await startServer('/path/to/repo');  // url = 'http://127.0.0.1:PORT'
//   ...
//   await close();
//
//   node scripts/serve.mjs --root www --port 8080 [--open index.html] [--isolated]   (serves until Ctrl-C)
//   --isolated: every response carries CROSS_ORIGIN_ISOLATED (COOP/COEP), so pages get threads

import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.map': 'application/json',
  '.safetensors': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8', // wasm-bindgen's .d.ts: never executed, just readable
};

/** The headers that make a page cross-origin isolated (SharedArrayBuffer, so wasm threads). */
export const CROSS_ORIGIN_ISOLATED = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

function send(res, status, message, extraHeaders = {}) {
  const body = `${status} ${message}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...extraHeaders,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function isInside(root, candidate) {
  const rel = path.relative(root, candidate);
  return rel === '' || (rel !== '..' && !rel.startsWith('..' + path.sep) && !path.isAbsolute(rel));
}

/**
 * Start a static file server rooted at `rootDir`.
 * @param {string} rootDir
 * @param {number} listenPort 0 picks a free port
 * @param {{onRequest?: (req: import('node:http').IncomingMessage) => void, headers?: Record<string, string>}} options
 *   `onRequest` sees every request first (the browser tests count them); `headers` are added
 *   to every file served (e.g. COOP/COEP for a cross-origin isolated page)
 * @returns {Promise<{url: string, port: number, close: () => Promise<void>}>}
 */
export async function startServer(rootDir, listenPort = 0, { onRequest, headers = {} } = {}) {
  const root = await realpath(path.resolve(rootDir));

  const server = createServer(async (req, res) => {
    onRequest?.(req);
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
        return;
      }

      // Decode the raw request path ourselves (no WHATWG normalisation, which would
      // silently turn "/../x" into "/x") so that traversal attempts are seen and refused.
      const rawPath = req.url.split(/[?#]/, 1)[0];
      let pathname;
      try {
        pathname = decodeURIComponent(rawPath);
      } catch {
        send(res, 400, 'Bad Request');
        return;
      }
      if (!pathname.startsWith('/') || pathname.includes('\0')) {
        send(res, 400, 'Bad Request');
        return;
      }

      let filePath = path.resolve(root, '.' + pathname);
      if (!isInside(root, filePath)) {
        send(res, 403, 'Forbidden');
        return;
      }

      let info;
      try {
        info = await stat(filePath);
        if (info.isDirectory()) {
          filePath = path.join(filePath, 'index.html');
          info = await stat(filePath);
        }
        // Physical check too: symlinks must not lead outside the root either.
        const real = await realpath(filePath);
        if (!isInside(root, real)) {
          send(res, 403, 'Forbidden');
          return;
        }
      } catch {
        send(res, 404, 'Not Found');
        return;
      }
      if (!info.isFile()) {
        send(res, 404, 'Not Found');
        return;
      }

      // Cacheable but revalidated on every use: a rebuilt file is never served
      // stale, and the browser can keep compiled wasm code between visits
      // (V8 caches it only for responses the HTTP cache holds).
      const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { ETag: etag, 'Cache-Control': 'no-cache', ...headers });
        res.end();
        return;
      }
      const type = MIME[path.extname(filePath).toLowerCase()] ?? 'application/octet-stream';
      res.writeHead(200, {
        'Content-Type': type,
        'Content-Length': info.size,
        'Cache-Control': 'no-cache',
        ETag: etag,
        'X-Content-Type-Options': 'nosniff',
        ...headers,
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const stream = createReadStream(filePath);
      stream.on('error', () => res.destroy());
      stream.pipe(res);
    } catch (err) {
      if (!res.headersSent) send(res, 500, 'Internal Server Error');
      else res.destroy(err);
    }
  });

  // Keep-alive sockets would otherwise hold close() open.
  server.keepAliveTimeout = 1000;

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });

  const { port } = server.address();
  let closing = null;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close() {
      closing ??= new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
      return closing;
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({
    options: {
      root: { type: 'string', default: '.' },
      port: { type: 'string', default: '8080' },
      open: { type: 'string', default: '' },
      isolated: { type: 'boolean', default: false },
    },
  });
  const headers = values.isolated ? CROSS_ORIGIN_ISOLATED : {};
  const { url } = await startServer(values.root, Number(values.port), { headers });
  console.log(`serving ${path.resolve(values.root)} at ${url}/${values.open} (Ctrl-C stops)`);
}
