// explain-view.js — "why this genre?": asks the worker which words of the plot made the
// model say a genre (occlusion: each word removed in turn) and shows the part of the plot
// the model read with every word shaded by its score, warm for words arguing for the
// genre and cool for words against, the number on hover. The shaded text is for the eye
// only: screen readers get the ranked word lists with the numbers. A long plot shows only
// its scored beginning and says how many words were not read. A newer request or an edit
// of the plot cancels the one under way; the plot is built from text nodes, never parsed
// as HTML.

import { element } from './dom.js';
import { count } from './format.js';

/** Words as explain.rs counts them: letters and digits, joined by an inner apostrophe or hyphen. */
const WORD = /[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu;
/** Words listed as the strongest for the genre. */
const STRONGEST = 5;

const points = (score) => `${score >= 0 ? '+' : '−'}${Math.abs(score * 100).toFixed(1)}`;

/** The number of words in `text`, counted without building a list of them. */
function countWords(text) {
  let n = 0;
  WORD.lastIndex = 0;
  while (WORD.exec(text)) n++;
  return n;
}

export class ExplanationView {
  #client;
  #request = null;

  constructor(client, { panel, heading, status, progress, text, unread, top, ranked }) {
    this.#client = client;
    this.el = { panel, heading, status, progress, text, unread, top, ranked };
  }

  /** Explains `genre` for the plot (and title) it was classified with. */
  async show(genre, { text, title }) {
    this.cancel();
    const { panel, heading, status, progress, unread } = this.el;
    panel.hidden = false;
    panel.dataset.state = 'working';
    panel.dataset.genre = genre;
    heading.textContent = `Why ${genre}?`;
    status.textContent = 'Finding the words that matter…';
    progress.value = 0;
    progress.hidden = false;
    unread.hidden = true;
    for (const list of [this.el.text, this.el.top, this.el.ranked]) list.replaceChildren();
    const request = this.#client.request('explain', { text, title, genre }, ({ done }) => {
      progress.value = done;
    });
    this.#request = request;
    try {
      const explanation = await request.promise;
      if (this.#request !== request) return;
      this.#render(text, explanation.genres[0], explanation.truncated);
    } catch (error) {
      if (error.kind === 'cancelled') {
        // The worker stopped part-way: count it, so that a test can tell.
        this.el.panel.dataset.stopped = String(Number(this.el.panel.dataset.stopped ?? 0) + 1);
        return;
      }
      if (this.#request !== request) return;
      panel.dataset.state = 'error';
      status.textContent = `The explanation failed: ${error.message}`;
    } finally {
      if (this.#request === request) {
        this.#request = null;
        progress.hidden = true;
      }
    }
  }

  /** Stops the explanation under way, if any, and hides the panel (its plot is gone). */
  clear() {
    this.cancel();
    this.el.panel.hidden = true;
    this.el.panel.dataset.state = 'idle';
  }

  /** Stops the explanation under way; its result will not be shown. */
  cancel() {
    if (!this.#request) return;
    this.#client.cancel(this.#request.id);
    this.#request = null;
  }

  /** The plot up to its last scored word, each word shaded; the rest only counted. */
  #shade(text, words, truncated) {
    const largest = Math.max(1e-6, ...words.map((w) => Math.abs(w.score)));
    const nodes = [];
    let at = 0;
    for (const word of words) {
      nodes.push(document.createTextNode(text.slice(at, word.start)));
      const span = element('span', text.slice(word.start, word.end), `word ${word.score >= 0 ? 'for' : 'against'}`);
      span.style.setProperty('--strength', (Math.abs(word.score) / largest).toFixed(3));
      span.title = `${points(word.score)} points`;
      span.dataset.score = String(word.score);
      nodes.push(span);
      at = word.end;
    }
    const unread = truncated ? countWords(text.slice(at)) : 0;
    nodes.push(document.createTextNode(truncated ? ' …' : text.slice(at)));
    this.el.text.replaceChildren(...nodes);
    this.el.unread.hidden = !truncated;
    this.el.unread.textContent = `The model read the first ${count(words.length, 'word')}; ${count(unread, 'word')} not read.`;
  }

  #render(text, explained, truncated) {
    const { panel, status, top, ranked } = this.el;
    const words = explained.words;
    this.#shade(text, words, truncated);
    const line = (w) => element('li', `${text.slice(w.start, w.end)}: ${points(w.score)} points`);
    const byScore = [...words].sort((a, b) => b.score - a.score);
    top.replaceChildren(...byScore.slice(0, STRONGEST).filter((w) => w.score > 0).map(line));
    ranked.replaceChildren(...byScore.map(line));
    status.textContent = `${explained.genre}: ${(explained.probability * 100).toFixed(0)}%. `
      + 'A word\'s score is how many points the probability drops without it.';
    panel.dataset.state = 'done';
  }
}
