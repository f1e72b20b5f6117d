// The room view around the messages: title, room card, Join/Leave, the error line, the
// roster of who is in the room now, and the add-in frame.

import { el, byId, showText, safeHttpUrl } from "./dom.js";

// "user:alice@contoso.com" reads as "alice@contoso.com"; groups and the rest keep their kind.
function principalName(reference) {
  return reference.startsWith("user:") ? reference.slice(5) : reference;
}

const PRIVACY = { open: "Open", closed: "Closed", secret: "Secret" };
const TYPES = { normal: "Normal", auditorium: "Auditorium" };

export class RoomPane {
  // `onJoin()` and `onLeave()` follow and unfollow the open room.
  constructor(onJoin, onLeave) {
    this.title = byId("room-title");
    this.card = byId("room-card");
    this.join = byId("join-room");
    this.leave = byId("leave-room");
    this.error = byId("room-error");
    this.side = byId("room-side");
    this.sideToggle = byId("toggle-side");
    this.rosterSection = byId("roster-section");
    this.roster = byId("roster");
    this.rosterCount = byId("roster-count");
    this.addinPane = byId("addin-pane");
    this.join.addEventListener("click", () => onJoin());
    this.leave.addEventListener("click", () => onLeave());
    this.sideToggle.addEventListener("click", () => {
      const open = this.side.classList.toggle("open");
      this.sideToggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
    this.logins = new Set();
  }

  field(name) {
    return this.card.querySelector(`.card-${name}`);
  }

  // Shows `room` (a RoomView). `rosterShown` is whether the user may see who is in it.
  show(room, followed, rosterShown) {
    this.title.textContent = room.name;
    this.field("description").textContent = room.description || "No description.";
    this.field("category").textContent = room.category;
    this.field("privacy").textContent = PRIVACY[room.privacy] || room.privacy;
    this.field("type").textContent = TYPES[room.type] || room.type;
    this.field("managers").textContent = room.managers.length
      ? room.managers.map(principalName).join(", ")
      : "None";
    this.field("addin").textContent = room.addin || "None";
    this.setFollowed(followed);
    showText(this.error, room.disabled ? "This room is disabled." : "");
    this.rosterSection.hidden = !rosterShown;
    if (!rosterShown) this.setRoster([]);
    this.showAddin(room);
    const sideUsed = rosterShown || !this.addinPane.hidden;
    this.side.hidden = !sideUsed;
    this.sideToggle.hidden = !sideUsed;
  }

  setFollowed(followed) {
    this.join.hidden = followed;
    this.leave.hidden = !followed;
    this.join.disabled = false;
    this.leave.disabled = false;
  }

  // Disables both buttons while a follow or unfollow is under way.
  setBusy() {
    this.join.disabled = true;
    this.leave.disabled = true;
  }

  showError(message) {
    showText(this.error, message);
  }

  // The add-in beside the room, framed in a sandbox. A frame from another origin may keep
  // its own origin (its scripts cannot reach this page anyway); one from this origin may
  // not, or it could script the chat client.
  showAddin(room) {
    const url = room.addin_url ? safeHttpUrl(room.addin_url, location.href) : null;
    const current = this.addinPane.querySelector("iframe");
    if (!url) {
      this.addinPane.replaceChildren();
      this.addinPane.hidden = true;
      return;
    }
    if (current && current.getAttribute("src") === url.href) {
      this.addinPane.hidden = false;
      return;
    }
    const sandbox = ["allow-scripts", "allow-forms", "allow-popups"];
    if (url.origin !== location.origin) sandbox.push("allow-same-origin");
    const name = room.addin || url.host;
    this.addinPane.replaceChildren(
      el("h3", { class: "pane-heading" }, name),
      el("iframe", {
        id: "addin-frame",
        src: url.href,
        title: `Add-in: ${name}`,
        sandbox: sandbox.join(" "),
        referrerpolicy: "no-referrer",
      }),
    );
    this.addinPane.hidden = false;
  }

  // The whole roster, as `GET …/roster` answers it.
  setRoster(logins) {
    this.logins = new Set(logins);
    this.renderRoster();
  }

  // A `roster` frame: others who joined or left. The user's own login is ignored: their
  // other connections come and go without changing whether this one is in the room.
  updateRoster(frame, me) {
    for (const login of frame.joined) if (login !== me) this.logins.add(login);
    for (const login of frame.left) if (login !== me) this.logins.delete(login);
    this.renderRoster();
  }

  renderRoster() {
    const sorted = Array.from(this.logins).sort((a, b) => a.localeCompare(b));
    this.roster.replaceChildren(
      ...sorted.map((login) => el("li", { class: "roster-entry", "data-login": login }, login)),
    );
    this.rosterCount.textContent = `(${sorted.length})`;
  }
}
