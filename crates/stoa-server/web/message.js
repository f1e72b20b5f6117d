// One message as a list item: author, time, body (or its tombstone), file link, and the
// Show more / Show less toggle for long stories.

import { el, linkify, shortTime, fullTime, formatSize } from "./dom.js";
import { fileUrl } from "./api.js";

// A message longer than this is a "story", shown collapsed at first.
const STORY_LINES = 12;
const STORY_CHARS = 1200;

const PLACEHOLDERS = {
  removed: "This message was removed.",
  cleared: "Cleared by the administrator.",
};

function isStory(body) {
  return body.length > STORY_CHARS || body.split("\n").length > STORY_LINES;
}

// The element for `message` (a MessageView). `expanded` keeps a story open when the
// element is rebuilt after a change.
export function renderMessage(message, expanded = false) {
  const state = message.state || "posted";
  const bodyId = `message-body-${message.seq}`;
  const body = el("div", { class: "message-body", id: bodyId });
  const parts = [];
  let toggle = null;

  if (PLACEHOLDERS[state]) {
    body.classList.add("placeholder");
    body.textContent = PLACEHOLDERS[state];
  } else if (message.file) {
    body.append(
      el(
        "a",
        {
          class: "message-file",
          href: fileUrl(message.room_id, message.file.id),
          download: message.file.name,
        },
        message.file.name,
      ),
    );
    parts.push(el("span", { class: "message-file-size" }, `(${formatSize(message.file.size)})`));
  } else {
    body.append(linkify(message.body));
    if (isStory(message.body)) {
      body.classList.toggle("collapsed", !expanded);
      toggle = el(
        "button",
        {
          type: "button",
          class: "message-toggle",
          "aria-controls": bodyId,
          "aria-expanded": expanded ? "true" : "false",
        },
        expanded ? "Show less" : "Show more",
      );
      toggle.addEventListener("click", () => {
        const open = body.classList.toggle("collapsed") === false;
        toggle.setAttribute("aria-expanded", open ? "true" : "false");
        toggle.textContent = open ? "Show less" : "Show more";
      });
    }
  }

  const meta = el(
    "div",
    { class: "message-meta" },
    el("span", { class: "message-author" }, message.author),
    " ",
    el(
      "time",
      { class: "message-time", datetime: message.created_at, title: fullTime(message.created_at) },
      shortTime(message.created_at),
    ),
    state === "replaced" ? el("span", { class: "message-replaced" }, "(replaced)") : null,
  );

  return el(
    "li",
    {
      class: "message",
      tabindex: "-1",
      "data-seq": String(message.seq),
      "data-state": state,
    },
    meta,
    body,
    parts,
    toggle,
  );
}

// Whether a rendered story is open, to keep it open across a rebuild.
export function isExpanded(item) {
  const toggle = item.querySelector(".message-toggle");
  return toggle !== null && toggle.getAttribute("aria-expanded") === "true";
}

// `message` after the change `change` (a `changed` frame) applies to it, or the message
// itself when the change does not concern it. Changes leave a message without its file.
export function applyChange(message, change) {
  switch (change.kind) {
    case "removed":
      if (message.seq !== change.seq) return message;
      return { ...message, state: "removed", body: "", file: undefined };
    case "replaced":
      if (message.seq !== change.seq) return message;
      return { ...message, state: "replaced", body: change.body || "", file: undefined };
    case "cleared":
      if (message.seq > change.seq || message.state === "removed" || message.state === "cleared") {
        return message;
      }
      return { ...message, state: "cleared", body: "", file: undefined };
    default:
      return message;
  }
}
