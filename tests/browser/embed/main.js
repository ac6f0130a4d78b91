// main.js — the plain-module entry: the package straight from node_modules/, no bundler.

import * as plotgenre from './node_modules/plotgenre/plotgenre.js';
import { start } from './app.js';

start(plotgenre);
