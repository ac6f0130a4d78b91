// memory.mjs — its one job: the peak memory of one browser context's pages with all their
// workers and threads, as the peak resident set (VmHWM, Linux /proc) of the renderer
// processes that context alone used, up to a moment the caller picks. Chromium's own share
// of a renderer is included (run.mjs measures it on the empty bench page: about 127 MB on
// the machine of docs/BENCHMARKS.md): the figure is what a visitor's tab costs.

import { readFile } from 'node:fs/promises';

/** How long a closed context's renderer processes may take to exit. */
const EXIT_WAIT_MS = 3000;

/** Peak resident bytes so far of every renderer process of `cdp`'s browser, by process id:
 * taken while a page runs, the snapshot `closeMeasuringPeak` reads. */
export async function rendererPeaks(cdp) {
  const { processInfo } = await cdp.send('SystemInfo.getProcessInfo');
  const peaks = new Map();
  for (const { type, id } of processInfo) {
    if (type !== 'renderer') continue;
    const status = await readFile(`/proc/${id}/status`, 'utf8').catch(() => '');
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    if (kb) peaks.set(id, Number(kb) * 1024);
  }
  return peaks;
}

/**
 * Closes `context` and returns what `snapshot` (from `rendererPeaks`) said of the renderer
 * processes that exited with it (the largest, where it had several), or null where none
 * could be told apart.
 */
export async function closeMeasuringPeak(cdp, context, snapshot) {
  await context.close();
  for (const deadline = Date.now() + EXIT_WAIT_MS; Date.now() < deadline;) {
    const alive = await rendererPeaks(cdp);
    const exited = [...snapshot].filter(([pid]) => !alive.has(pid)).map(([, peak]) => peak);
    if (exited.length) return Math.max(...exited);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return null;
}
