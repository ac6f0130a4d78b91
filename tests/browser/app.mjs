#!/usr/bin/env node
// app.mjs — its one job: drive the static page (www/) through the scenarios that make it
// an app people keep, in headless Chromium, and print what it saw as ONE line of JSON on
// stdout for tests/suite/page_app.rs: layout shift while it loads (desktop and phone),
// the installability check, one model download for two tabs, and the model card shown
// in the page, online and offline. Each scenario gets a fresh browser profile and serves a
// copy of the site at a sub-path (/deploy/app/), as page.mjs does.
//
//   node tests/browser/app.mjs --site www --work DIR [--phone-screenshot FILE.png]
//
// stdout: {"ok":true, <scenario>: {...} or {"error":"..."}, ...}, or {"ok":false,"error":"..."}.

import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

import { startServer } from '../../scripts/serve.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.mjs';

const TIMEOUT_MS = 240_000;
const WAIT_MS = 60_000;
const APP = '/deploy/app/';
const BUNDLE = `${APP}models/model.plotgenre`;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** Markup the card must show as text, never run or fetch. */
const HOSTILE_CARD = '\n\n<img src="x" onerror="window.__cardXss = 1">\n\n![remote](http://example.com/x.png)\n';

console.log = console.error; // stdout carries the one result line only

const { values: args } = parseArgs({
  options: {
    site: { type: 'string' },
    work: { type: 'string' },
    'phone-screenshot': { type: 'string' },
  },
});

function finish(answer) {
  process.stdout.write(`${JSON.stringify(answer)}\n`, () => process.exit(answer.ok ? 0 : 1));
}

/** A copy of the site under `work`/`name`, served at /deploy/app/; every request recorded. */
async function deployed(name, edit) {
  const root = path.join(args.work, name);
  const dir = path.join(root, APP);
  await rm(root, { recursive: true, force: true });
  await mkdir(path.dirname(dir), { recursive: true });
  await cp(args.site, dir, { recursive: true });
  await edit?.(dir);
  const hits = [];
  const server = await startServer(root, 0, { onRequest: (req) => hits.push(req.url) });
  return { ...server, hits, page: `${server.url}${APP}` };
}

/** A persistent profile (Chromium's installability check refuses incognito contexts). */
function profile(name, viewport) {
  return chromium.launchPersistentContext(path.join(args.work, `${name}-profile`), {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport,
  });
}

/** Records every layout shift not caused by input, from the first paint on. */
function recordShifts() {
  window.__shifts = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.hadRecentInput) continue;
      const sources = entry.sources.map((s) => s.node?.id || s.node?.className || s.node?.nodeName || '?');
      window.__shifts.push({ value: entry.value, time: Math.round(entry.startTime), sources });
    }
  }).observe({ type: 'layout-shift', buffered: true });
}

/** Runs `visit(context, server)` on a fresh profile and copy of the site, then closes both. */
async function onFreshSite(name, viewport, visit, edit) {
  const server = await deployed(name, edit);
  const context = await profile(name, viewport);
  try {
    return await visit(context, server);
  } finally {
    await context.close();
    await server.close();
  }
}

/**
 * A tab on the page, once the model is ready: the profile's first while it is blank,
 * unless `newTab` (tabs opened at once each need their own).
 */
async function readyPage(context, server, newTab = false) {
  const blank = newTab ? null : context.pages().find((page) => page.url() === 'about:blank');
  const page = blank ?? await context.newPage();
  await page.goto(server.page);
  await page.waitForSelector('#model-status[data-state="ready"]', { timeout: WAIT_MS });
  return page;
}

/** The notice panels' widths against the main panels', all shown at once. */
const noticeWidths = (page) => page.evaluate(() => {
  const width = (el) => Math.round(el.getBoundingClientRect().width);
  const ids = ['loading', 'problem', 'update'];
  for (const id of ids) document.getElementById(id).hidden = false;
  const layout = document.querySelector('main');
  const style = getComputedStyle(layout);
  const content = Math.round(layout.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight));
  const result = { content, ...Object.fromEntries(ids.map((id) => [id, width(document.getElementById(id))])) };
  for (const id of ids) document.getElementById(id).hidden = true;
  return result;
});

/** A first visit at `viewport` from a cold cache: the shifts up to the model's ready state. */
function layoutShift(name, viewport) {
  return onFreshSite(name, viewport, async (context, server) => {
    await context.addInitScript(recordShifts);
    const page = await readyPage(context, server);
    await page.waitForTimeout(500); // a shift caused by the ready state itself
    const shifts = await page.evaluate(() => window.__shifts);
    const cls = shifts.reduce((sum, shift) => sum + shift.value, 0);
    return { cls, shifts, widths: await noticeWidths(page) };
  });
}

/** Chromium's installability check, the manifest it parsed and the icons it names. */
function installable() {
  return onFreshSite('install', DESKTOP, async (context, server) => {
    const page = await readyPage(context, server);
    await page.evaluate(() => navigator.serviceWorker.ready);
    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    const { url, errors } = await cdp.send('Page.getAppManifest');
    const manifest = url ? await page.evaluate(async (u) => (await fetch(u)).json(), url) : null;
    const icons = await page.evaluate(async (list) => Promise.all((list ?? []).map(async (icon) => {
      const cached = Boolean(await caches.match(icon.src));
      if (icon.type !== 'image/png') return { ...icon, cached };
      const bitmap = await createImageBitmap(await (await fetch(icon.src)).blob());
      return { ...icon, width: bitmap.width, height: bitmap.height, cached };
    })), manifest?.icons);
    const head = await page.evaluate(() => ({
      themeColors: [...document.querySelectorAll('meta[name="theme-color"]')].map((m) => [m.content, m.media]),
      appleTouchIcon: document.querySelector('link[rel="apple-touch-icon"]')?.href ?? null,
    }));
    return {
      errors: installabilityErrors.map((e) => e.errorId),
      manifestErrors: errors.map((e) => e.message),
      manifest,
      manifestUrl: url,
      page: server.page,
      icons,
      head,
    };
  });
}

/** Records the download progress bar's [value, max] as it moves. */
function recordProgress() {
  window.__progress = [];
  document.addEventListener('DOMContentLoaded', () => {
    const bar = document.getElementById('download-progress');
    new MutationObserver(() => window.__progress.push([bar.value, bar.max])).observe(bar, { attributes: true });
  });
}

/**
 * Two tabs opened at once on a cold cache: how many times the bundle was downloaded, and
 * the progress each tab showed (the one that waits shows the other's).
 */
function twoTabs() {
  return onFreshSite('two-tabs', DESKTOP, async (context, server) => {
    await context.addInitScript(recordProgress);
    // A slow first byte, so that the second tab surely finds the download under way.
    await context.route(`**${BUNDLE}`, async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await route.continue();
    });
    const open = async () => {
      const page = await readyPage(context, server, true);
      return { status: await page.textContent('#model-status'), progress: await page.evaluate(() => window.__progress.at(-1)) };
    };
    const tabs = await Promise.all([open(), open()]);
    return { tabs, downloads: server.hits.filter((hit) => hit.split('?')[0] === BUNDLE).length };
  });
}

/** The model card: the short panel's words, then the full card in the page, on and offline. */
function modelCard() {
  const hostile = async (dir) => {
    const file = path.join(dir, 'models/MODEL_CARD.md');
    await writeFile(file, `${await readFile(file, 'utf8')}${HOSTILE_CARD}`);
  };
  return onFreshSite('card', DESKTOP, async (context, server) => {
    const page = await readyPage(context, server);
    await page.waitForSelector('#model-status:has-text("works offline")', { timeout: WAIT_MS });
    const panel = await page.evaluate(() => ({
      card: document.getElementById('card').innerText,
      metrics: document.getElementById('metrics').innerText,
    }));
    const online = await openCard(page);
    if (args['phone-screenshot']) await phoneScreenshot(page);
    await page.close();
    await server.close();
    await context.setOffline(true);
    const again = await readyPage(context, server);
    const offline = await openCard(again);
    return { panel, online, offline, remote: server.hits.filter((hit) => hit.includes('example.com')).length };
  }, hostile);
}

/** Opens the full card and reports what the dialog shows. */
async function openCard(page) {
  await page.click('#card-open');
  await page.waitForSelector('#card-dialog[open] #card-text h1', { timeout: WAIT_MS });
  const shown = await page.evaluate(() => {
    const body = document.getElementById('card-text');
    return {
      heading: body.querySelector('h1')?.textContent ?? null,
      tables: body.querySelectorAll('table').length,
      text: body.textContent,
      images: body.querySelectorAll('img').length,
      xss: window.__cardXss ?? null,
      focused: document.activeElement?.closest('dialog')?.id ?? null,
    };
  });
  await page.keyboard.press('Escape');
  shown.closed = await page.evaluate(() => !document.getElementById('card-dialog').open);
  return shown;
}

/** The README's phone screenshot: a plot classified at 390x844. */
async function phoneScreenshot(page) {
  await page.setViewportSize(PHONE);
  await page.click('#examples button');
  await page.waitForFunction(() => document.querySelectorAll('#genres li').length > 0);
  await page.waitForTimeout(500);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: args['phone-screenshot'] });
}

/** A scenario's report, or `{ error }`: one failing scenario does not hide the others. */
async function scenario(run) {
  try {
    return await run();
  } catch (error) {
    return { error: error.stack ?? String(error) };
  }
}

async function main() {
  await mkdir(args.work, { recursive: true });
  return {
    ok: true,
    desktop: await scenario(() => layoutShift('desktop', DESKTOP)),
    phone: await scenario(() => layoutShift('phone', PHONE)),
    install: await scenario(installable),
    tabs: await scenario(twoTabs),
    card: await scenario(modelCard),
  };
}

setTimeout(() => finish({ ok: false, error: `timed out after ${TIMEOUT_MS / 1000} s` }), TIMEOUT_MS).unref();
main().then(finish, (error) => finish({ ok: false, error: error.stack ?? String(error) }));
