#!/usr/bin/env node
// package-json.mjs — its one job: write pkg/package.json for `make wasm`, so that `npm pack`
// in pkg/ gives the package a web developer installs, laid out as wasm-pack lays out a
// `--target web` build. Name, version, description and licence come from Cargo.toml's
// [package] table, so the two never disagree.
//
//   node scripts/package-json.mjs Cargo.toml pkg/package.json

import { readFile, writeFile } from 'node:fs/promises';

const [cargoToml, out] = process.argv.slice(2);
if (!cargoToml || !out) throw new Error('usage: package-json.mjs Cargo.toml pkg/package.json');

/** The string keys of Cargo.toml's [package] table (the only ones it needs). */
function packageTable(toml) {
  const table = /^\[package\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(toml)?.[1];
  if (!table) throw new Error(`${cargoToml} has no [package] table`);
  return Object.fromEntries([...table.matchAll(/^(\w[\w-]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$/gm)]
    .map(([, key, value]) => [key, JSON.parse(`"${value}"`)]));
}

const cargo = packageTable(await readFile(cargoToml, 'utf8'));
for (const key of ['name', 'version', 'description', 'license']) {
  if (!cargo[key]) throw new Error(`${cargoToml} [package] lacks ${key}`);
}
const js = `${cargo.name}.js`;
const types = `${cargo.name}.d.ts`;
const wasm = `${cargo.name}_bg.wasm`;
const manifest = {
  name: cargo.name,
  version: cargo.version,
  description: cargo.description,
  license: cargo.license,
  type: 'module',
  // threads/: the same API built with wasm threads (initThreadPool), for cross-origin
  // isolated pages.
  files: [wasm, js, types, `${cargo.name}_bg.wasm.d.ts`, 'threads/'],
  module: js,
  types,
  exports: {
    '.': { types: `./${types}`, default: `./${js}` },
    [`./${wasm}`]: `./${wasm}`,
    './threads': { types: `./threads/${types}`, default: `./threads/${js}` },
    [`./threads/${wasm}`]: `./threads/${wasm}`,
    './package.json': './package.json',
  },
  sideEffects: ['./snippets/*', './threads/snippets/*'],
};
await writeFile(out, `${JSON.stringify(manifest, null, 2)}\n`);
