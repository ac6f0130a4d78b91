// explain-view.js — "why this genre?": asks the worker which words of the plot made the
// model say a genre (occlusion: each word removed in turn) and shows the plot with every
// word shaded by its score, warm for words arguing for the genre and cool for words
// against, with the number on hover and keyboard focus. A newer request or an edit of the
// plot cancels the one under way; the plot is built from text nodes, never parsed as HTML.

import { element } from './dom.js';

const points = (score) => `${score >= 0 ? '+' : '−'}${Math.abs(score * 100).toFixed(1)}`;

export class ExplanationView {
  #client;
  #request = null;

  constructor(client, { panel, heading, status, progress, text, top }) {
    this.#client = client;
    this.el = { panel, heading, status, progress, text, top };
  }

  /** Explains `genre` for the plot (and title) it was classified with. */
  async show(genre, { text, title }) {
    this.cancel();
    const { panel, heading, status, progress } = this.el;
    panel.hidden = false;
    panel.dataset.state = 'working';
    panel.dataset.genre = genre;
    heading.textContent = `Why ${genre}?`;
    status.textContent = 'Finding the words that matter…';
    progress.value = 0;
    progress.hidden = false;
    this.el.text.replaceChildren();
    this.el.top.replaceChildren();
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

  #render(text, explained, truncated) {
    const { panel, status, top } = this.el;
    const largest = Math.max(1e-6, ...explained.words.map((w) => Math.abs(w.score)));
    const nodes = [];
    let at = 0;
    for (const word of explained.words) {
      nodes.push(document.createTextNode(text.slice(at, word.start)));
      const strength = Math.abs(word.score) / largest;
      const span = element('span', text.slice(word.start, word.end), `word ${word.score >= 0 ? 'for' : 'against'}`);
      span.style.setProperty('--strength', strength.toFixed(3));
      span.tabIndex = 0;
      span.title = `${points(word.score)} points`;
      span.setAttribute('aria-label', `${span.textContent}: ${points(word.score)} points`);
      span.dataset.score = String(word.score);
      nodes.push(span);
      at = word.end;
    }
    nodes.push(document.createTextNode(text.slice(at)));
    this.el.text.replaceChildren(...nodes);

    const strongest = [...explained.words].sort((a, b) => b.score - a.score).slice(0, 5);
    top.replaceChildren(...strongest.filter((w) => w.score > 0)
      .map((w) => element('li', `${text.slice(w.start, w.end)} (${points(w.score)})`)));
    status.textContent = `${explained.genre}: ${(explained.probability * 100).toFixed(0)}%. `
      + 'A word\'s score is how many points the probability drops without it.'
      + (truncated ? ' Only the beginning of this long plot was read; later words have no score.' : '');
    panel.dataset.state = 'done';
  }
}
