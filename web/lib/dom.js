// The DOM helpers every page uses. They keep pages within the server's
// Content-Security-Policy (no inline script or style): an element's style is
// set through the CSSOM, never as a `style` attribute; handlers are added
// with addEventListener, never as `on*` attributes; a link may only lead to
// http(s) or a path on this site (never `javascript:`).

/** The element with this id. */
export const byId = (id) => document.getElementById(id);

const URL_ATTRIBUTES = new Set(['href', 'src', 'action', 'formaction', 'xlink:href']);

/** `url` if it is http(s) or relative to this site; throws on `javascript:`, `data:`… */
export function safeUrl(url) {
  const parsed = new URL(String(url), document.baseURI);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`refusing a ${parsed.protocol} link`);
  }
  return String(url);
}

/**
 * Creates an element: el('a', {href: '/'}, 'text', child).
 * `style` is an object of CSS properties: el('span', {style: {'flex-grow': 2}}).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (/^on/i.test(k)) throw new Error(`el(): add ${k} with addEventListener`);
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'style') {
      if (typeof v !== 'object') throw new Error('el(): style is an object of CSS properties');
      for (const [property, value] of Object.entries(v)) node.style.setProperty(property, String(value));
    } else if (URL_ATTRIBUTES.has(k.toLowerCase())) node.setAttribute(k, safeUrl(v));
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}
