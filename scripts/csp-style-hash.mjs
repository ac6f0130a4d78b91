// csp-style-hash.mjs — keeps index.html's Content-Security-Policy allowing exactly its one
// inline <style> block, by hash: the page's CSS is inline so that no stylesheet request
// blocks the first paint, and the CSP still forbids any other inline style.
//
//   node scripts/csp-style-hash.mjs www/index.html          rewrite the hash in place
//   node scripts/csp-style-hash.mjs www/index.html --check  exit 1 if it is stale

import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';

const [file, flag] = process.argv.slice(2);
const html = await readFile(file, 'utf8');
const styles = [...html.matchAll(/^ *<style>([\s\S]*?)<\/style>/gm)];
if (styles.length !== 1) {
  console.error(`${file}: expected exactly one <style> block, found ${styles.length}`);
  process.exit(1);
}
const hash = `'sha256-${createHash('sha256').update(styles[0][1], 'utf8').digest('base64')}'`;
const policy = /style-src [^;"]*/;
if (!policy.test(html)) {
  console.error(`${file}: the Content-Security-Policy has no style-src to put the hash in`);
  process.exit(1);
}
const updated = html.replace(policy, `style-src ${hash}`);
if (flag === '--check') {
  if (updated !== html) {
    console.error(`${file}: the CSP's style-src hash does not match the <style> block; run \`make site\``);
    process.exit(1);
  }
} else if (updated !== html) {
  await writeFile(file, updated);
  console.log(`${file}: style-src ${hash}`);
}
