// The room list (followed rooms first, then every findable room by category) with arrow
// key navigation, and the pending invitations with their Accept and Decline buttons.

import { el, byId } from "./dom.js";

// The hash that opens a room: `#room=<id>`.
export function roomHash(roomId) {
  return `#room=${encodeURIComponent(roomId)}`;
}

const byName = (a, b) => a.name.localeCompare(b.name);

export class RoomList {
  constructor() {
    this.nav = byId("room-list");
    this.groups = byId("room-groups");
    this.currentId = null;
    this.nav.addEventListener("keydown", (event) => this.onKey(event));
  }

  // Shows `follows` (followed RoomViews) and `rooms` (every findable RoomView).
  render(rooms, follows) {
    const byCategory = new Map();
    for (const room of rooms) {
      if (!byCategory.has(room.category)) byCategory.set(room.category, []);
      byCategory.get(room.category).push(room);
    }
    const categories = Array.from(byCategory.keys()).sort((a, b) => a.localeCompare(b));
    const focusedId = this.nav.contains(document.activeElement)
      ? document.activeElement.dataset.roomId
      : undefined;
    this.groups.replaceChildren(
      this.group("Following", [...follows].sort(byName), "You follow no rooms yet."),
      ...categories.map((name) => this.group(name, byCategory.get(name).sort(byName), "")),
    );
    this.setCurrent(this.currentId);
    // Re-rendering must not throw keyboard users out of the list.
    if (focusedId !== undefined) {
      const again = this.groups.querySelector(`a.room-link[data-room-id="${CSS.escape(focusedId)}"]`);
      if (again) again.focus();
    }
  }

  group(name, rooms, emptyText) {
    const items = rooms.map((room) =>
      el(
        "li",
        null,
        el(
          "a",
          { class: room.disabled ? "room-link disabled" : "room-link", href: roomHash(room.id), "data-room-id": room.id },
          room.name,
        ),
      ),
    );
    return el(
      "section",
      { class: "room-group" },
      el("h2", null, name),
      items.length > 0 ? el("ul", null, items) : el("p", { class: "empty" }, emptyText),
    );
  }

  // Marks the open room's links.
  setCurrent(roomId) {
    this.currentId = roomId;
    for (const link of this.groups.querySelectorAll("a.room-link")) {
      if (link.dataset.roomId === roomId) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  // ArrowUp/ArrowDown move between room links, Home/End to the first and last.
  onKey(event) {
    if (!event.target.matches("a.room-link")) return;
    const links = Array.from(this.groups.querySelectorAll("a.room-link"));
    const index = links.indexOf(event.target);
    let next;
    if (event.key === "ArrowDown") next = links[index + 1];
    else if (event.key === "ArrowUp") next = links[index - 1];
    else if (event.key === "Home") next = links[0];
    else if (event.key === "End") next = links[links.length - 1];
    else return;
    event.preventDefault();
    if (next) next.focus();
  }
}

// Shows the pending `invitations` (InvitationViews); `onAnswer(roomId, accept)` answers one.
export function renderInvitations(invitations, onAnswer) {
  const section = byId("invitations-section");
  const list = byId("invitations");
  list.replaceChildren(
    ...invitations.map((invitation) => {
      const accept = el(
        "button",
        { type: "button", class: "invitation-accept", "aria-label": `Accept the invitation to ${invitation.room}` },
        "Accept",
      );
      const decline = el(
        "button",
        { type: "button", class: "invitation-decline", "aria-label": `Decline the invitation to ${invitation.room}` },
        "Decline",
      );
      accept.addEventListener("click", () => {
        accept.disabled = decline.disabled = true;
        onAnswer(invitation.room_id, true);
      });
      decline.addEventListener("click", () => {
        accept.disabled = decline.disabled = true;
        onAnswer(invitation.room_id, false);
      });
      return el(
        "li",
        { class: "invitation", "data-room-id": invitation.room_id },
        el("span", { class: "invitation-room" }, invitation.room),
        invitation.invited_by ? el("span", { class: "invitation-by" }, ` from ${invitation.invited_by}`) : null,
        " ",
        accept,
        " ",
        decline,
      );
    }),
  );
  section.hidden = invitations.length === 0;
}
