#!/usr/bin/env node
// make-icons.mjs — its one job: draw the page's PNG icons (web app manifest, Apple touch
// icon) from www/favicon.svg in headless Chromium, so they always match the favicon. Run by
// `make icons`; the PNGs are committed (a few KB), so neither `make site` nor a deployment
// needs a browser.
//
//   node tests/browser/make-icons.mjs www
//
// "any" icons are the favicon as drawn (rounded, transparent corners). "maskable" icons and
// the Apple touch icon fill the whole square with the favicon's background and shrink the
// glyph into the central 70%, inside the safe zone a launcher's mask never cuts.

import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS } from './chromium.mjs';

const site = process.argv[2] ?? 'www';
const favicon = await readFile(path.join(site, 'favicon.svg'), 'utf8');

/** The favicon on a full square: its background rect loses its corners, the rest shrinks. */
function fullBleed(svg) {
  const [, open, background, glyph, close] = svg.match(/^(<svg[^>]*>)(<rect[^>]*\/>)(.*)(<\/svg>)\s*$/s);
  const square = background.replace(/\srx="[^"]*"/, '');
  return `${open}${square}<g transform="translate(16 16) scale(0.7) translate(-16 -16)">${glyph}</g>${close}`;
}

const ICONS = [
  { file: 'icons/icon-192.png', size: 192, svg: favicon },
  { file: 'icons/icon-512.png', size: 512, svg: favicon },
  { file: 'icons/maskable-192.png', size: 192, svg: fullBleed(favicon) },
  { file: 'icons/maskable-512.png', size: 512, svg: fullBleed(favicon) },
  { file: 'icons/apple-touch-icon.png', size: 180, svg: fullBleed(favicon) },
];

const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
try {
  const page = await browser.newPage();
  for (const { file, size, svg } of ICONS) {
    await page.setViewportSize({ width: size, height: size });
    const sized = svg.replace('<svg ', `<svg width="${size}" height="${size}" `);
    await page.setContent(`<body style="margin:0">${sized}</body>`);
    await page.screenshot({ path: path.join(site, file), omitBackground: true });
    console.log(`wrote ${path.join(site, file)} (${size}x${size})`);
  }
} finally {
  await browser.close();
}
