// bundled.js — the bundler entry: the package by name, as a bundler resolves it
// (tests/npm_package.rs bundles this with esbuild into dist/main.js).

import * as plotgenre from 'plotgenre';
import { start } from './app.js';

start(plotgenre);
