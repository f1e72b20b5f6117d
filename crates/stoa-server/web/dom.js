// DOM building and formatting helpers shared by every module. All text goes in through
// text nodes and attribute setters, never through HTML parsing.

// Builds an element. `attrs` maps attribute names to values: `class` sets the class list,
// `true` sets a boolean attribute, `false`, `null` and `undefined` leave it out. Children
// may be nodes, strings (added as text), arrays of either, or null (skipped).
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

// Appends children as `el` accepts them.
function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// `document.getElementById`, failing loudly when the page lacks the element.
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node;
}

// Sets (or, with an empty text, clears and hides) a message element.
export function showText(node, text) {
  node.textContent = text || "";
  node.hidden = !text;
}

// The URL if `text` is an absolute http or https URL, otherwise null.
export function safeHttpUrl(text, base) {
  try {
    const url = base === undefined ? new URL(text) : new URL(text, base);
    return url.protocol === "http:" || url.protocol === "https:" ? url : null;
  } catch {
    return null;
  }
}

// Candidate links in message text; trailing punctuation is left out of the link.
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;
const TRAILING = /[.,;:!?)\]}]+$/;

// Message text as nodes: plain text, with http(s) URLs made into links that open in a new
// tab without telling the target where they came from.
export function linkify(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const candidate = match[0].replace(TRAILING, "");
    const url = safeHttpUrl(candidate);
    if (!url) continue;
    fragment.append(text.slice(last, match.index));
    fragment.append(
      el("a", { href: url.href, target: "_blank", rel: "noopener noreferrer" }, candidate),
    );
    last = match.index + candidate.length;
  }
  fragment.append(text.slice(last));
  return fragment;
}

const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const DATE_TIME = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

// A short local time: the time of day for today, with the date otherwise.
export function shortTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return (sameDay ? TIME : DATE_TIME).format(date);
}

// The full local date and time, for tooltips.
export function fullTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : FULL.format(date);
}

// A byte count for people: "812 bytes", "52 KB", "3.4 MB".
export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
