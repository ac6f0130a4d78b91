#!/usr/bin/env node
// decide.mjs — its one job: run the page's decision rules (www/decide.js) over the cases
// tests/decide.rs writes, so that test can check them against Rust's `Thresholds::decide`.
//
//   node tests/browser/decide.mjs CASES.json
//
// CASES.json holds [{ info, genres, shift }, ...] (info as `Classifier.info()` gives it,
// genres as a Classification's); stdout is one JSON array: decide()'s flags per case.

import { readFile } from 'node:fs/promises';

import { decide } from '../../www/decide.js';

const cases = JSON.parse(await readFile(process.argv[2], 'utf8'));
process.stdout.write(`${JSON.stringify(cases.map(({ info, genres, shift }) => decide(info, genres, shift)))}\n`);
