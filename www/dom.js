// dom.js — the one way the page makes elements: text goes in through textContent, so no
// plot, title, file content or genre name is ever parsed as HTML.

/** A new `tag` element holding `text` (if given), with `className` (if given). */
export function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}
