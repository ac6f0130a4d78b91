// phone.mjs — the page scenarios about where a visitor looks and what a screen reader
// hears, for page.mjs (tests/suite/page/phone.rs checks what they return): at 390x844 the
// answer after typing and after an example, explanations opened by tapping genres; the
// genre cap on "Heist"; a multi-megabyte paste explained; the short genre list, Clear and
// the time taken; the file drop zone; the page's own download uploaded again, with the
// live status and the keyboard focus watched. Each takes a page whose model is ready.

import path from 'node:path';
import { readFile } from 'node:fs/promises';

const WAIT_MS = 60_000;
/** Position and text of `selector`'s element, and whether it lies wholly inside the viewport. */
const placed = (page, selector) => page.$eval(selector, (el) => {
  const box = el.getBoundingClientRect();
  return {
    top: box.top,
    bottom: box.bottom,
    inside: box.height > 0 && box.top >= 0 && box.bottom <= innerHeight,
    text: el.textContent.replace(/\s+/g, ' ').trim(),
  };
});

/** Waits until the genres list shows a classification newer than `before`, and the live rerun. */
async function newResult(page, before) {
  await page.waitForFunction((b) => Number(document.getElementById('genres').dataset.runs) > b, before);
  await page.waitForTimeout(500);
}

/** The first genre listed. */
const topGenre = (page) => page.$eval('#genres > li', (li) => li.dataset.genre);

const runsOf = (page) => page.$eval('#genres', (list) => Number(list.dataset.runs));

/**
 * At 390x844: where the answer is after typing a plot and after tapping an example, and
 * what tapping two genres one after the other does to the explanation and the names.
 */
export async function phoneAnswer(page, plot) {
  await page.evaluate(() => window.scrollTo(0, 0));
  let before = await runsOf(page);
  await page.fill('#title', plot.title);
  await page.focus('#plot');
  await page.keyboard.type(plot.plot);
  await newResult(page, before);
  const typed = { quick: await placed(page, '#quick'), top: await topGenre(page) };
  before = await runsOf(page);
  await page.click('#examples button:has-text("Heist")');
  await newResult(page, before);
  const example = { quick: await placed(page, '#quick'), top: await topGenre(page) };
  const targets = await page.$$eval('#genres > li .name button',
    (buttons) => buttons.filter((b) => b.getClientRects().length > 0)
      .map((b) => Math.min(b.getBoundingClientRect().height, b.getBoundingClientRect().width)));
  const taps = [];
  for (const n of [2, 3]) {
    const button = page.locator(`#genres > li:nth-child(${n}) .name button`);
    await button.scrollIntoViewIfNeeded();
    const from = (await button.boundingBox()).y;
    await button.click();
    await page.waitForSelector('#explanation[data-state="done"]', { timeout: WAIT_MS });
    taps.push({
      moved: (await button.boundingBox()).y - from,
      heading: await placed(page, '#explanation-heading'),
      panelTop: (await placed(page, '#explanation')).top,
    });
  }
  return { typed, example, targets, taps };
}

/** A multi-megabyte paste, then a genre click: how long, how tall the page, what is said. */
export async function hugeText(page) {
  const before = await runsOf(page);
  await page.evaluate(() => {
    const plot = document.getElementById('plot');
    plot.value = 'A detective hunts a killer through the rain-soaked city while his partner hides a secret. '.repeat(25_000);
    plot.dispatchEvent(new Event('input'));
  });
  await newResult(page, before);
  const started = Date.now();
  await page.click('#genres > li:nth-child(1) .name button');
  await page.waitForSelector('#explanation[data-state="done"]', { timeout: WAIT_MS });
  const ms = Date.now() - started;
  const result = await page.evaluate((took) => ({
    chars: document.getElementById('plot').value.length,
    shown: document.getElementById('explanation-text').textContent.length,
    scored: document.querySelectorAll('#explanation-text .word').length,
    height: document.documentElement.scrollHeight,
    unread: document.getElementById('explanation-unread').hidden ? null : document.getElementById('explanation-unread').textContent,
    ms: took,
  }), ms);
  await page.click('#clear');
  return result;
}

/** The genre cap on "Heist", the short list and its toggle, the time shown, the Clear button. */
export async function capListAndClear(page) {
  const before = await runsOf(page);
  await page.click('#examples button:has-text("Heist")');
  await newResult(page, before);
  const decided = () => page.evaluate(() => {
    const items = [...document.querySelectorAll('#genres > li')];
    const of = (state) => items.filter((li) => li.classList.contains(state)).map((li) => ({
      genre: li.dataset.genre,
      value: parseFloat(li.querySelector('.value').textContent),
      mark: parseFloat(li.querySelector('.mark').style.left),
      said: li.textContent,
    }));
    return {
      predicted: of('predicted'),
      capped: of('capped'),
      summary: document.getElementById('summary').textContent,
      threshold: document.getElementById('threshold-text').textContent,
    };
  });
  const cap = await decided();
  await page.focus('#threshold');
  await page.keyboard.press('Home');
  const lowest = await decided();
  await page.click('#threshold-reset');
  const list = () => page.evaluate(() => {
    const toggle = document.getElementById('genres-toggle');
    return {
      shown: [...document.querySelectorAll('#genres > li')].filter((li) => li.getClientRects().length > 0).length,
      all: document.querySelectorAll('#genres > li').length,
      toggle: toggle.hidden ? null : toggle.textContent,
      expanded: toggle.getAttribute('aria-expanded'),
      controls: toggle.getAttribute('aria-controls'),
    };
  });
  const collapsed = await list();
  await page.click('#genres-toggle');
  const expanded = await list();
  await page.click('#genres-toggle');
  const timing = await page.textContent('#timing');
  await page.click('#clear');
  const cleared = await page.evaluate(() => ({
    plot: document.getElementById('plot').value,
    title: document.getElementById('title').value,
    genres: document.querySelectorAll('#genres > li').length,
    focus: document.activeElement.id,
  }));
  return { cap, lowest, collapsed, expanded, timing, cleared };
}

/** After an explanation opened: it follows its genre's button in the DOM and in tab order. */
export async function explanationOrder(page) {
  return page.evaluate(() => {
    const button = document.querySelector('#genres .name button[aria-pressed="true"]');
    const panel = document.getElementById('explanation');
    return {
      follows: Boolean(button.compareDocumentPosition(panel) & Node.DOCUMENT_POSITION_FOLLOWING),
      inItem: button.closest('li') === panel.closest('#genres > li'),
    };
  });
}

/** The file drop zone: how it looks at rest and with keyboard focus, and what it is called. */
export async function dropZone(page) {
  await page.focus('#csv-file');
  return page.evaluate(() => {
    const input = document.getElementById('csv-file');
    const drop = document.getElementById('drop');
    const box = input.getBoundingClientRect();
    return {
      inputSize: [box.width, box.height],
      border: getComputedStyle(drop).borderStyle,
      focusOutline: getComputedStyle(drop).outlineStyle,
      height: drop.getBoundingClientRect().height,
      name: input.labels[0].textContent.replace(/\s+/g, ' ').trim(),
    };
  });
}

/**
 * The page's own download uploaded again and classified: its columns replaced, not repeated;
 * how often the live status spoke; where the keyboard focus went.
 */
export async function labeledAgain(page, work) {
  await page.setInputFiles('#csv-file', path.join(work, 'labeled.csv'));
  await page.waitForFunction(() => !document.getElementById('batch-run').disabled);
  await page.evaluate(() => {
    const status = document.getElementById('batch-status');
    window.__said = [];
    new MutationObserver(() => window.__said.push(status.textContent))
      .observe(status, { childList: true, characterData: true, subtree: true });
  });
  await page.focus('#batch-run');
  await page.keyboard.press('Enter');
  const focusRunning = await page.evaluate(() => document.activeElement.id || document.activeElement.tagName);
  await page.waitForSelector('#batch-download:not([hidden])', { timeout: WAIT_MS });
  const focusDone = await page.evaluate(() => document.activeElement.id || document.activeElement.tagName);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#batch-download')]);
  const file = path.join(work, 'labeled-again.csv');
  await download.saveAs(file);
  return {
    said: await page.evaluate(() => window.__said),
    status: await page.textContent('#batch-status'),
    focusRunning,
    focusDone,
    header: (await readFile(file, 'utf8')).split(/\r?\n/)[0],
  };
}

/** The French plot of tests/fixtures/foreign_plots.tsv. */
async function frenchPlot() {
  const table = await readFile(new URL('../fixtures/foreign_plots.tsv', import.meta.url), 'utf8');
  return table.split('\n').find((line) => line.startsWith('fr\t')).slice(3);
}

/**
 * The notice about a plot in another language: its text in the results panel and in the
 * compact summary (empty where not shown), for a French plot and then an English one.
 */
export async function foreignPlot(page, english) {
  const shown = () => page.evaluate(() => ['#result-warning', '#quick .quick-warning'].map((selector) => {
    const el = document.querySelector(selector);
    return el && !el.hidden && el.getClientRects().length > 0 ? el.textContent.trim() : '';
  }));
  const notices = {};
  for (const [name, plot] of [['french', await frenchPlot()], ['english', english]]) {
    const before = await runsOf(page);
    await page.fill('#plot', plot);
    await newResult(page, before);
    notices[name] = await shown();
  }
  return notices;
}
