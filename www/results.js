// results.js — shows one plot's genres as probability bars in the library's order (most
// probable first, never sorted again here), with the predicted ones highlighted, and owns
// the threshold slider that re-derives them. Each genre's name is a button that asks for
// its explanation (explain-view.js). Text goes in through textContent only: genre names
// and titles are never parsed as HTML.

import { decide, hasThresholds, threshold } from './decide.js';
import { element } from './dom.js';

const percent = (p) => `${(p * 100).toFixed(p < 0.1 ? 1 : 0)}%`;

export class ResultsView {
  #info = null;
  #result = null;
  #defaultValue = 50;
  #onPick;
  #picked = null;
  #hint;

  /**
   * `onChange` is called when the slider moves, so other views can re-derive too;
   * `onPick(genre)` when a genre's name is clicked.
   */
  constructor({ list, summary, slider, sliderText, reset }, onChange, onPick) {
    this.#onPick = onPick;
    this.list = list;
    this.summary = summary;
    this.#hint = summary.textContent;
    this.slider = slider;
    this.sliderText = sliderText;
    this.reset = reset;
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

  /** Shows the genres of one classification (the library's, most probable first). */
  show(result) {
    this.#result = result;
    this.list.dataset.runs = String(Number(this.list.dataset.runs) + 1);
    this.#render();
  }

  /** Removes the genres shown: the plot they were for is gone. */
  clear() {
    this.#result = null;
    this.unpick();
    this.list.replaceChildren();
    this.summary.textContent = this.#hint;
  }

  /** Forgets the picked genre (its explanation is gone). */
  unpick() {
    this.#picked = null;
    for (const button of this.list.querySelectorAll('.name button')) button.setAttribute('aria-pressed', 'false');
  }

  #describeThreshold() {
    const info = this.#info;
    if (!hasThresholds(info)) return 'single-label model: the most probable genre';
    const shift = this.shift;
    if (info.rule.startsWith('per_label')) {
      if (shift === 0) return "each genre's tuned threshold";
      const points = Math.round(shift * 100);
      return `each genre's tuned threshold ${points > 0 ? '+' : '−'}${Math.abs(points)} points`;
    }
    const value = percent(threshold(info, null, shift));
    return shift === 0 ? `${value} (the model's tuned value)` : value;
  }

  #update() {
    const text = this.#describeThreshold();
    this.sliderText.textContent = text;
    this.slider.setAttribute('aria-valuetext', text);
    this.reset.hidden = this.shift === 0;
    if (this.#result) this.#render();
  }

  #render() {
    const info = this.#info;
    const { genres, truncated } = this.#result;
    const predicted = decide(info, genres, this.shift);
    this.list.replaceChildren(...genres.map(({ genre, probability }, i) => {
      const item = element('li', undefined, predicted[i] ? 'genre predicted' : 'genre');
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
      pick.addEventListener('click', () => {
        this.#picked = genre;
        for (const other of this.list.querySelectorAll('.name button')) {
          other.setAttribute('aria-pressed', String(other === pick));
        }
        this.#onPick(genre);
      });
      name.append(pick);
      item.append(
        element('span', predicted[i] ? '✓' : '', 'tick'),
        name,
        bar,
        element('span', percent(probability), 'value'),
      );
      if (predicted[i]) item.append(element('span', ', predicted', 'visually-hidden'));
      return item;
    }));
    const names = genres.filter((_, i) => predicted[i]).map((g) => g.genre);
    const text = (names.length ? `Predicted: ${names.join(', ')}.` : 'No genre passes the threshold.')
      + (truncated ? ' Only the beginning of this long plot was read.' : '');
    if (this.summary.textContent !== text) this.summary.textContent = text;
  }
}
