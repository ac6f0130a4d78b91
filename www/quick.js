// quick.js — the compact answer under the plot box, for narrow screens where the Genres
// panel is below the fold: the predicted genres (or the most probable ones) with their
// probabilities, how long it took, any warning about the text, and a link to the panel.
// It repeats what the panel's live summary announces, so it is not a live region itself.

import { element } from './dom.js';
import { count, duration, percent } from './format.js';

/** Genres named when none is predicted. */
const MOST_PROBABLE = 3;

export class QuickSummary {
  #el;

  /** `el` holds `.quick-genres` (the genres), `.quick-time` (before the link to the panel) and `.quick-warning`. */
  constructor(el) {
    this.#el = {
      root: el,
      genres: el.querySelector('.quick-genres'),
      time: el.querySelector('.quick-time'),
      warning: el.querySelector('.quick-warning'),
    };
  }

  /** Shows `genres` (a classification's, in order) with their states from results.js. */
  show(genres, states, { ms, textWarning, cap }) {
    const { root, genres: line, time, warning } = this.#el;
    const predicted = genres.filter((_, i) => states[i] === 'predicted');
    const named = predicted.length ? predicted : genres.slice(0, MOST_PROBABLE);
    const chips = named.map(({ genre, probability }) => {
      const chip = element('span', undefined, predicted.length ? 'chip predicted' : 'chip');
      chip.append(element('span', genre, 'chip-name'), ' ', element('span', percent(probability), 'chip-value'));
      return chip;
    });
    const separated = chips.flatMap((chip, i) => (i ? [element('span', '·', 'chip-gap'), chip] : [chip]));
    line.replaceChildren(predicted.length ? '' : 'No genre passes the threshold; most probable: ', ...separated);
    const left = genres.filter((_, i) => states[i] === 'capped').length;
    time.textContent = `in ${duration(ms)}${left ? ` · ${count(left, 'more genre')} over the cap of ${cap}` : ''} · `;
    warning.hidden = !textWarning;
    warning.textContent = textWarning ?? '';
    root.dataset.state = 'shown';
  }

  /** Back to the hint shown before any result. */
  clear() {
    const { root, genres, time, warning } = this.#el;
    genres.replaceChildren('Genres appear here as you type.');
    time.textContent = '';
    warning.hidden = true;
    root.dataset.state = 'empty';
  }
}
