// batch.js — batch mode: a CSV file dropped or picked, its plot and title columns chosen
// by header name or by the user, every row classified in the worker with a progress bar,
// a table of the results and a labeled CSV to download. The file never leaves the page;
// reading (separator, encoding, ragged rows) is the crate's `table` module and writing the
// `csv` crate's (through the worker), as in `plotgenre predict`, whose output columns this
// matches: rows not classified (too few or many fields, an empty plot) keep their place
// with the reason in an `error` column, and a file's own predicted_genres, p_GENRE and
// error columns (a labeled file uploaded again) are replaced, not repeated. Progress is
// announced a few times per run, not on every chunk.

import { decide } from './decide.js';
import { element } from './dom.js';
import { count } from './format.js';

/** Header names recognised as the plot and the title column, case-insensitively. */
const PLOT_NAMES = ['plot', 'text', 'description', 'overview', 'summary', 'one-line', 'synopsis', 'storyline'];
const TITLE_NAMES = ['title', 'name', 'movie', 'film', 'original_title'];
/** Rows shown in the table; the download has them all. */
const SHOWN_ROWS = 200;
/** Progress is announced at each quarter of a run, or after this long without news. */
const ANNOUNCE_QUARTERS = 4;
const ANNOUNCE_MS = 5000;
/** The columns the download writes itself (`plotgenre predict` writes the same). */
const GENRES_COLUMN = 'predicted_genres';
const ERROR_COLUMN = 'error';

const rows = (n) => count(n, 'row');

/** "a, b and c", or the first two "and N more" for a long list. */
function listed(names) {
  if (names.length > 3) return `${names.slice(0, 2).join(', ')} and ${names.length - 2} more`;
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names.join('');
}

function option(value, text) {
  const node = element('option', text);
  node.value = value;
  return node;
}

/** Index of the first header among `names`, or -1. */
function findColumn(header, names) {
  const lower = header.map((h) => h.trim().toLowerCase());
  for (const name of names) {
    const index = lower.indexOf(name);
    if (index >= 0) return index;
  }
  return -1;
}

export class BatchView {
  #client;
  #info = null;
  #shift;
  #file = null;
  #table = null;
  #results = null;
  #running = null;
  #announced = { quarter: -1, at: 0 };

  /** `shift()` gives the threshold slider's current offset (see results.js). */
  constructor(client, elements, shift) {
    this.#client = client;
    this.#shift = shift;
    this.el = elements;
    const { drop, input, plotColumn, titleColumn, run, cancel, download } = elements;
    input.addEventListener('change', () => input.files[0] && this.#open(input.files[0]));
    drop.addEventListener('dragover', (event) => {
      event.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (event) => {
      event.preventDefault();
      drop.classList.remove('over');
      const file = event.dataTransfer.files[0];
      if (file) this.#open(file);
    });
    for (const select of [plotColumn, titleColumn]) {
      select.addEventListener('change', () => {
        this.#clearResults();
        this.#status('');
      });
    }
    run.addEventListener('click', () => this.#run());
    cancel.addEventListener('click', () => this.#running !== null && this.#client.cancel(this.#running));
    download.addEventListener('click', () => this.#download());
  }

  /** Enables the run button once a model is loaded. */
  setModel(info) {
    this.#info = info;
    this.#clearResults();
  }

  /** Re-derives the table's predictions after the threshold slider moved. */
  refresh() {
    if (this.#results) this.#renderTable();
  }

  #status(text) {
    this.el.status.textContent = text;
  }

  async #open(file) {
    this.#file = file;
    this.#table = null;
    this.#clearResults();
    this.el.setup.hidden = false;
    this.el.progress.hidden = this.el.progressLabel.hidden = true;
    this.el.fileText.textContent = file.name;
    this.#status('Reading the file…');
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      this.#table = await this.#client.call('parseCsv', { bytes }, null, [bytes.buffer]);
    } catch (error) {
      this.#fillColumns([]);
      this.#clearResults();
      this.#status(`Could not read ${file.name}: ${error.message}`);
      return;
    }
    const { header, note, badRows } = this.#table;
    const parts = [`${file.name}: ${rows(this.#table.rows.length)}, columns ${header.join(', ')}.`];
    if (note) parts.push(`Note: ${note}.`);
    if (badRows.length) {
      const lines = badRows.map((bad) => `line ${bad.line} (${bad.reason})`);
      parts.push(`Not classified, kept in the download with an error: ${lines.join('; ')}.`);
    }
    this.el.fileText.textContent = parts.join(' ');
    this.#fillColumns(header);
    this.#status(this.el.plotColumn.value === '' ? 'Choose the plot column.' : '');
    this.#clearResults();
  }

  #fillColumns(header) {
    const { plotColumn, titleColumn } = this.el;
    const columns = header.map((name, i) => option(String(i), name || `column ${i + 1}`));
    plotColumn.replaceChildren(option('', 'choose…'), ...columns);
    titleColumn.replaceChildren(option('', '(none)'), ...columns.map((c) => c.cloneNode(true)));
    if (!header.length) {
      plotColumn.replaceChildren();
      titleColumn.replaceChildren();
      return;
    }
    const plot = findColumn(header, PLOT_NAMES);
    plotColumn.value = plot >= 0 ? String(plot) : '';
    const title = findColumn(header, TITLE_NAMES);
    titleColumn.value = title >= 0 && title !== plot ? String(title) : '';
  }

  #clearResults() {
    this.#results = null;
    this.el.download.hidden = true;
    this.el.tableWrap.hidden = true;
    this.el.run.disabled = !(this.#info && this.#table && this.#table.rows.length && this.el.plotColumn.value !== '');
  }

  /** Moves the bar; says so in the live status only at a new quarter or after a quiet while. */
  #progress(done, total) {
    const { progress, progressLabel } = this.el;
    progress.hidden = progressLabel.hidden = false;
    progress.max = total;
    progress.value = done;
    const quarter = Math.floor((done / Math.max(1, total)) * ANNOUNCE_QUARTERS);
    const now = performance.now();
    if (done === total && done > 0) return; // the run's result follows at once
    if (quarter === this.#announced.quarter && now - this.#announced.at < ANNOUNCE_MS) return;
    this.#announced = { quarter, at: now };
    this.#status(`${done.toLocaleString('en')} of ${rows(total)} classified`);
  }

  /** The file's columns that the download writes itself, which it replaces. */
  #ours() {
    const ours = new Set([GENRES_COLUMN, ERROR_COLUMN, ...this.#info.labels.map((l) => `p_${l}`)]);
    return this.#table.header.map((name) => ours.has(name));
  }

  /** The chosen plot and title column indexes (title null when none). */
  #columns() {
    const title = this.el.titleColumn.value;
    return { plot: Number(this.el.plotColumn.value), title: title === '' ? null : Number(title) };
  }

  /** Indexes of the rows whose plot is not blank: the ones classified. */
  #withPlot() {
    const { plot } = this.#columns();
    return this.#table.rows.flatMap((row, i) => (row[plot].trim() === '' ? [] : [i]));
  }

  async #run() {
    const all = this.#table.rows;
    const { plot, title } = this.#columns();
    const indexes = this.#withPlot();
    const texts = indexes.map((i) => all[i][plot]);
    const titles = title === null ? null : indexes.map((i) => all[i][title]);
    const { run, cancel, download, plotColumn, titleColumn } = this.el;
    const focused = document.activeElement === run;
    cancel.hidden = false;
    if (focused) cancel.focus(); // before the button it was on disables itself
    run.disabled = plotColumn.disabled = titleColumn.disabled = true;
    this.#announced = { quarter: -1, at: 0 };
    this.#progress(0, texts.length);
    const request = this.#client.request('classifyRows', { texts, titles }, ({ done, total }) => {
      if (done !== undefined) this.#progress(done, total);
    });
    this.#running = request.id;
    try {
      const classified = await request.promise;
      this.#results = all.map(() => null);
      indexes.forEach((row, i) => { this.#results[row] = classified[i]; });
      const empty = all.length - texts.length;
      const ours = this.#ours();
      const replaced = this.#table.header.filter((_, i) => ours[i]);
      this.#status(`${rows(texts.length)} classified.${empty ? ` ${rows(empty)} with an empty plot: no genres.` : ''}`
        + (replaced.length ? ` The file's own ${listed(replaced)} ${replaced.length === 1 ? 'column is' : 'columns are'} replaced in the download.` : ''));
      this.#renderTable();
      download.hidden = false;
    } catch (error) {
      this.#status(error.kind === 'cancelled' ? 'Cancelled.' : `Classification failed: ${error.message}`);
    } finally {
      this.#running = null;
      const lost = document.activeElement === cancel || document.activeElement === document.body;
      plotColumn.disabled = titleColumn.disabled = false;
      run.disabled = false;
      if (lost) (download.hidden ? run : download).focus();
      cancel.hidden = true;
    }
  }

  /**
   * Predicted genre names of one row under the slider's current thresholds, in label order
   * (as `plotgenre predict` writes them).
   */
  #genres(result) {
    const flags = decide(this.#info, result.genres, this.#shift());
    const names = new Set(result.genres.filter((_, i) => flags[i]).map((g) => g.genre));
    return this.#info.labels.filter((label) => names.has(label));
  }

  #renderTable() {
    const all = this.#table.rows;
    const { plot, title } = this.#columns();
    const shown = all.slice(0, SHOWN_ROWS);
    this.el.tbody.replaceChildren(...shown.map((row, i) => {
      const tr = document.createElement('tr');
      tr.append(
        element('td', String(i + 1)),
        element('td', title === null ? '' : row[title]),
        element('td', row[plot]),
        element('td', this.#results[i] ? this.#genres(this.#results[i]).join(', ') : '(empty plot: no genres)'),
      );
      return tr;
    }));
    this.el.caption.textContent = all.length > SHOWN_ROWS
      ? `The first ${SHOWN_ROWS} of ${all.length} rows; the download has them all.`
      : `${rows(all.length)}.`;
    this.el.tableWrap.hidden = false;
  }

  /**
   * The input's columns (less those the download writes itself), then predicted_genres
   * and one p_GENRE column per genre (written exactly, so re-applying the rule to them
   * gives the genres), and an `error` column when some rows were not classified; every
   * row in file order.
   */
  async #download() {
    const { header, rows: good, rowLines, badRows } = this.#table;
    const ours = this.#ours();
    const keep = (fields) => header.flatMap((_, i) => (ours[i] ? [] : [fields[i] ?? '']));
    const labels = this.#info.labels;
    const blank = labels.map(() => '');
    const lines = good.map((row, i) => {
      const result = this.#results[i];
      if (!result) return [rowLines[i], [...keep(row), '', ...blank], `line ${rowLines[i]}: empty plot: no genres`];
      const probability = new Map(result.genres.map((g) => [g.genre, g.probability]));
      const genres = this.#genres(result).join('|');
      return [rowLines[i], [...keep(row), genres, ...labels.map((label) => String(probability.get(label)))], ''];
    });
    for (const bad of badRows) {
      lines.push([bad.line, [...keep(bad.fields), '', ...blank], `line ${bad.line}: ${bad.reason}`]);
    }
    lines.sort((a, b) => a[0] - b[0]);
    const withError = lines.some(([, , error]) => error !== '');
    const out = [
      [...keep(header), GENRES_COLUMN, ...labels.map((l) => `p_${l}`), ...(withError ? [ERROR_COLUMN] : [])],
      ...lines.map(([, row, error]) => (withError ? [...row, error] : row)),
    ];
    const text = await this.#client.call('writeCsv', { rows: out });
    const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = `${this.#file.name.replace(/\.csv$/i, '')}-genres.csv`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 0);
  }
}
