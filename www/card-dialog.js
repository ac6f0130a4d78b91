// card-dialog.js — shows the full model card (MODEL_CARD.md, kept with the model for
// offline visits) in a dialog, rendered from markdown by the vendored `marked`
// (vendor/marked.js, MIT), loaded the first time the card opens. The card is ours, but it
// is rendered as if it were not: raw HTML in it shows as text, images as their alt text,
// and only web and in-page links stay links (the CSP forbids any script regardless).

const $ = (id) => document.getElementById(id);

const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A markdown renderer that never lets the card's HTML, images or script links through. */
async function renderer() {
  const { Marked } = await import('./vendor/marked.js');
  const marked = new Marked({ gfm: true });
  marked.use({
    renderer: {
      html: ({ text }) => escapeHtml(text),
      image: ({ text }) => escapeHtml(text),
      link({ href, tokens }) {
        const label = this.parser.parseInline(tokens);
        if (!/^(https?:|#)/i.test(href)) return label;
        return `<a href="${escapeHtml(href)}" rel="noopener noreferrer">${label}</a>`;
      },
    },
  });
  return marked;
}

/** The nearest heading before `node` in the card, to name its table after. */
function headingBefore(node) {
  for (let at = node.previousElementSibling; at; at = at.previousElementSibling) {
    if (/^H[1-6]$/.test(at.tagName)) return at.textContent;
  }
  return 'Model card';
}

/**
 * Wraps each wide table in a region that scrolls sideways on its own (focusable, so a
 * keyboard scrolls it too), named after its section and number: names stay unique.
 */
function scrollTables(body) {
  body.querySelectorAll('table').forEach((table, i) => {
    const wrap = document.createElement('div');
    wrap.className = 'table-scroll';
    wrap.tabIndex = 0;
    wrap.setAttribute('role', 'region');
    wrap.setAttribute('aria-label', `${headingBefore(table)}, table ${i + 1}`);
    table.replaceWith(wrap);
    wrap.append(table);
  });
}

let markdown = null;
let shown = null;

/** Opens the dialog on `text` (the card's markdown), rendering it when it changed. */
export async function openCardDialog(text) {
  const dialog = $('card-dialog');
  if (shown !== text) {
    markdown ??= renderer();
    const html = (await markdown).parse(text);
    const body = $('card-text');
    body.innerHTML = html;
    scrollTables(body);
    shown = text;
  }
  $('card-close').onclick = () => dialog.close();
  dialog.showModal();
}
