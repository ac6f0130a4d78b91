// chromium.mjs — the one place the browser tests name their Chromium: the executable
// (/usr/bin/chromium unless $PLOTGENRE_CHROMIUM names another) and the flags that keep a
// headless run quiet, offline from Google and reproducible.

export const CHROMIUM = process.env.PLOTGENRE_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
