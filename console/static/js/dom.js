/**
 * A small element builder that only ever creates text.
 *
 * Every value from the API reaches the page through here as a Text node or an
 * attribute set with setAttribute, never as markup: a product named
 * `<img src=x onerror=...>` is shown as those characters and runs nothing. Nothing in
 * the console uses innerHTML, insertAdjacentHTML or document.write.
 */

/**
 * Creates `<tag>` with attributes and children.
 *
 * `attributes`: `class`, `text` (textContent), `on` ({event: handler}), `dataset`,
 * `hidden`/`disabled`/`checked`/`required`/`selected` (booleans, set as properties),
 * `value`, and anything else as a plain attribute (`null`/`undefined`/`false` skipped).
 * Children: nodes, or strings and numbers (as text); `null`/`false` are skipped.
 */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'on') {
      for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    } else if (name === 'text') {
      element.textContent = String(value);
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (['hidden', 'disabled', 'checked', 'required', 'selected', 'value'].includes(name)) {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

/** Appends children (nodes, or strings as text; nested arrays flattened). */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces all of `parent`'s children. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** A unique id for pairing a label with its control. */
let nextId = 0;
export function uniqueId(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

/**
 * A labelled form field: `<div class="field"><label>…</label><input></div>`.
 * `control` is an element (input, select, textarea) that gets an id if it has none.
 */
export function field(label, control, hint) {
  if (!control.id) control.id = uniqueId('field');
  const parts = [el('label', { for: control.id, text: label }), control];
  if (hint) {
    const hintElement = el('p', { class: 'hint', id: `${control.id}-hint`, text: hint });
    control.setAttribute('aria-describedby', hintElement.id);
    parts.push(hintElement);
  }
  return el('div', { class: 'field' }, parts);
}

/**
 * A table with a caption, header cells and rows of cells (nodes or text), in a wrapper
 * that scrolls sideways on narrow screens. The wrapper is focusable and named after the
 * caption, so keyboard users can scroll it too.
 */
export function table(caption, headers, rows) {
  return scrollRegion(caption,
    el('table', {},
      el('caption', { text: caption }),
      el('thead', {}, el('tr', {}, headers.map((header) => el('th', { scope: 'col', text: header })))),
      el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((cell) => el('td', {}, cell)))))));
}

/** The scrolling wrapper of a wide table. */
export function scrollRegion(label, content) {
  return el('div', { class: 'table-scroll', role: 'region', 'aria-label': label, tabindex: '0' }, content);
}

/** A message box: `role=alert` for errors (announced at once), `status` otherwise. */
export function message(kind, ...children) {
  return el('div', { class: `message message-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, children);
}

/** A button that runs `handler` on click (and so on Enter and Space). */
export function button(label, handler, attributes = {}) {
  return el('button', { type: 'button', ...attributes, on: { click: handler } }, label);
}

/**
 * A copy button for the read-only field `input` (a secret shown once), and a status that
 * says what happened. Without clipboard permission (e.g. not a secure context) the text
 * is selected instead, ready for Ctrl+C.
 */
export function copyControls(input, label) {
  const outcome = el('span', { class: 'hint', role: 'status' });
  const copy = button(label, async () => {
    try {
      await navigator.clipboard.writeText(input.value);
      outcome.textContent = 'Copied.';
    } catch {
      input.select();
      outcome.textContent = 'Selected: press Ctrl+C (or ⌘C) to copy.';
    }
  });
  return [copy, ' ', outcome];
}

/**
 * Asks for confirmation in the page instead of a native dialog: `trigger` is replaced
 * by the question and two buttons, and focus moves to the safe choice ("Keep"), so a
 * stray Enter does nothing destructive.
 */
export function confirmInline(trigger, question, confirmLabel, onConfirm) {
  const box = el('span', { class: 'confirm', role: 'group', 'aria-label': question });
  const restore = () => { box.replaceWith(trigger); trigger.focus(); };
  const keep = button('Keep', restore, { class: 'secondary' });
  append(box, [el('span', { text: question }), ' ',
    button(confirmLabel, () => { box.replaceWith(trigger); onConfirm(); }, { class: 'danger' }), ' ', keep]);
  trigger.replaceWith(box);
  keep.focus();
}
