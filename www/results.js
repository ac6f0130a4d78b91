// results.js — shows one plot's genres as probability bars in the library's order (most
// probable first, never sorted again here), with the predicted ones highlighted and those
// the genre cap left out marked apart, and owns the threshold slider that re-derives them.
// The first few genres are listed, the rest behind a "Show all" toggle. A compact summary
// (quick.js) repeats the answer under the plot box for narrow screens. Each genre's name
// is a button that opens its explanation (explain-view.js) right under it. Text goes in
// through textContent only: genre names and titles are never parsed as HTML.

import { capped, decide, hasThresholds, threshold } from './decide.js';
import { element } from './dom.js';
import { count, duration, list, percent } from './format.js';
import { QuickSummary } from './quick.js';

/** Genres listed before "Show all": at least this many, and two past the last one decided. */
const LISTED = 5;
const LISTED_PAST_DECIDED = 2;

export class ResultsView {
  #info = null;
  #result = null;
  #ms = 0;
  #defaultValue = 50;
  #onPick;
  #picked = null;
  #expanded = false;
  #hint;
  #quick;
  /** Where the explanation panel lives while no genre is picked. */
  #detailHome;

  /**
   * `onChange` is called when the slider moves, so other views can re-derive too;
   * `onPick(genre)` when a genre's name is clicked, after `detail` (the explanation
   * panel) was moved right under it.
   */
  constructor(elements, onChange, onPick) {
    const { list, summary, timing, warning, toggle, slider, sliderText, reset, detail, quick } = elements;
    Object.assign(this, { list, summary, timing, warning, toggle, slider, sliderText, reset, detail });
    this.#onPick = onPick;
    this.#hint = summary.textContent;
    this.#quick = new QuickSummary(quick);
    this.#detailHome = detail.parentElement;
    slider.addEventListener('input', () => {
      this.#update();
      onChange();
    });
    reset.addEventListener('click', () => {
      slider.value = String(this.#defaultValue);
      this.#update();
      onChange();
      slider.focus();
    });
    toggle.addEventListener('click', () => {
      this.#expanded = !this.#expanded;
      this.#render();
    });
  }

  /** The slider's offset from the model's thresholds (0 = the model's own decisions). */
  get shift() {
    return (Number(this.slider.value) - this.#defaultValue) / 100;
  }

  /** Sets the slider for a newly loaded model; its default reproduces the model's rule. */
  setModel(info) {
    this.#info = info;
    this.#result = null;
    this.#defaultValue = Math.min(99, Math.max(1, Math.round(info.globalThreshold * 100)));
    this.slider.value = String(this.#defaultValue);
    this.slider.disabled = !hasThresholds(info);
    this.#update();
  }

  /** Shows the genres of one classification (the library's, most probable first), computed in `ms`. */
  show(result, ms) {
    this.#result = result;
    this.#ms = ms;
    this.list.dataset.runs = String(Number(this.list.dataset.runs) + 1);
    this.#render();
  }

  /** Removes the genres shown: the plot they were for is gone. */
  clear() {
    this.#result = null;
    this.unpick();
    this.list.replaceChildren();
    this.summary.textContent = this.#hint;
    this.timing.textContent = '';
    this.warning.hidden = true;
    this.toggle.hidden = true;
    this.#quick.clear();
  }

  /** Forgets the picked genre (its explanation is gone) and puts the explanation panel back. */
  unpick() {
    this.#picked = null;
    this.#detailHome.append(this.detail);
    for (const button of this.list.querySelectorAll('.name button')) button.setAttribute('aria-pressed', 'false');
  }

  #describeThreshold() {
    const info = this.#info;
    if (!hasThresholds(info)) return 'single-label model: the most probable genre';
    const cap = info.maxGenres == null ? '' : `; at most ${count(info.maxGenres, 'genre')} predicted`;
    const shift = this.shift;
    if (info.rule.startsWith('per_label')) {
      if (shift === 0) return `each genre's tuned threshold${cap}`;
      const points = Math.round(shift * 100);
      return `each genre's tuned threshold ${points > 0 ? '+' : '−'}${count(Math.abs(points), 'point')}${cap}`;
    }
    const value = percent(threshold(info, null, shift));
    const own = info.ownThresholdGenres.length ? `; ${list(info.ownThresholdGenres)} from their own` : '';
    return `${shift === 0 ? `${value} (the model's tuned value)` : value}${own}${cap}`;
  }

  #update() {
    const text = this.#describeThreshold();
    this.sliderText.textContent = text;
    this.slider.setAttribute('aria-valuetext', text);
    this.reset.hidden = this.shift === 0;
    if (this.#result) this.#render();
  }

  /** Marks `item` as picked, moves the explanation panel under it and asks for the explanation. */
  #pick(genre, item) {
    const button = item.querySelector('.name button');
    const before = button.getBoundingClientRect().top;
    this.#picked = genre;
    for (const other of this.list.querySelectorAll('.name button')) {
      other.setAttribute('aria-pressed', String(other === button));
    }
    item.append(this.detail);
    this.#onPick(genre);
    // A panel open higher up has moved here: keep the tapped name where the finger is,
    // and bring the panel's heading (not all of it) into view, so the name moves little.
    window.scrollBy(0, button.getBoundingClientRect().top - before);
    this.detail.querySelector('h3')?.scrollIntoView({ block: 'nearest' });
  }

  #item({ genre, probability }, state) {
    const info = this.#info;
    const item = element('li', undefined, `genre ${state}`);
    item.dataset.genre = genre;
    const bar = element('span', undefined, 'bar');
    const fill = element('span', undefined, 'fill');
    fill.style.width = percent(probability);
    bar.append(fill);
    if (hasThresholds(info)) {
      const mark = element('span', undefined, 'mark');
      mark.style.left = percent(threshold(info, genre, this.shift));
      bar.append(mark);
    }
    const name = element('span', undefined, 'name');
    const pick = element('button', genre);
    pick.type = 'button';
    pick.setAttribute('aria-pressed', String(this.#picked === genre));
    pick.title = `Which words made the model say ${genre}?`;
    pick.addEventListener('click', () => this.#pick(genre, item));
    name.append(pick);
    const tick = element('span', { predicted: '✓', capped: '⊘', below: '' }[state], 'tick');
    tick.setAttribute('aria-hidden', 'true');
    item.append(tick, name, bar, element('span', percent(probability), 'value'));
    if (state === 'predicted') item.append(element('span', ', predicted', 'visually-hidden'));
    if (state === 'capped') {
      item.title = `Reaches its threshold, but the model predicts at most ${count(info.maxGenres, 'genre')}`;
      item.append(element('span', `, reaches its threshold but not predicted: over the cap of ${count(info.maxGenres, 'genre')}`, 'visually-hidden'));
    }
    return item;
  }

  #render() {
    const info = this.#info;
    const { genres, truncated, textWarning } = this.#result;
    const predicted = decide(info, genres, this.shift);
    const over = capped(info, genres, this.shift);
    const states = genres.map((_, i) => (predicted[i] ? 'predicted' : over[i] ? 'capped' : 'below'));
    const decided = states.findLastIndex((state) => state !== 'below') + 1;
    const listed = Math.max(LISTED, decided + LISTED_PAST_DECIDED);
    const items = genres.map((genre, i) => {
      const item = this.#item(genre, states[i]);
      item.hidden = !this.#expanded && i >= listed && genre.genre !== this.#picked;
      return item;
    });
    this.list.replaceChildren(...items);
    const picked = items.find((item) => item.dataset.genre === this.#picked);
    if (picked) picked.append(this.detail);
    this.toggle.hidden = genres.length <= listed;
    this.toggle.textContent = this.#expanded ? 'Show fewer genres' : `Show all ${genres.length} genres`;
    this.toggle.setAttribute('aria-expanded', String(this.#expanded));

    const names = genres.filter((_, i) => predicted[i]).map((g) => g.genre);
    const left = genres.filter((_, i) => over[i]).map((g) => g.genre);
    const text = (names.length ? `Predicted: ${names.join(', ')}.` : 'No genre passes the threshold.')
      + (left.length ? ` ${left.join(', ')} ${left.length === 1 ? 'reaches its threshold' : 'reach their thresholds'} too, but the model predicts at most ${count(info.maxGenres, 'genre')}.` : '')
      + (truncated ? ' Only the beginning of this long plot was read.' : '');
    if (this.summary.textContent !== text) this.summary.textContent = text;
    this.timing.textContent = `Classified in ${duration(this.#ms)}.`;
    this.warning.hidden = !textWarning;
    this.warning.textContent = textWarning ?? '';
    this.#quick.show(genres, states, { ms: this.#ms, textWarning, cap: left.length ? info.maxGenres : null });
  }
}
