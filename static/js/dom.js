// Small DOM helpers shared by the pages' scripts.

/** ``element("td", {text: "…", class: "x"}, child…)``: attributes set, text as textContent (never as HTML). */
export function element(tag, attributes = {}, ...content) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  node.append(...content);
  return node;
}

/** Show ``text`` in a status line styled by ``kind`` (info, success, error), kept in data-kind for tests. */
export function showStatus(node, text, kind = "info") {
  node.textContent = text;
  node.className = `flash ${kind}`;
  node.dataset.kind = kind;
}
