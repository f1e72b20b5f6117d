// The open room's message list: a window of at most 300 messages keyed by `seq`, fed by
// live frames while it reaches the room's end, and paged through the history API when the
// reader scrolls back (older pages at the top, newer ones at the bottom).

import { api, roomPath } from "./api.js";
import { renderMessage, isExpanded, applyChange } from "./message.js";

const MAX_ITEMS = 300;
const PAGE_SIZE = 100;
// How close to an edge (in pixels) counts as "near" it, for loading the next page.
const EDGE_PX = 200;
// How close to the bottom counts as "at the bottom", for following live messages.
const BOTTOM_PX = 40;
// Changes remembered to correct history pages that were read before a change arrived.
const CHANGE_LOG_MAX = 500;
// How long to wait for the first batch a subscription promises before showing what came.
const FIRST_BATCH_WAIT_MS = 2000;

export class Timeline {
  // `list` is ol#messages, itself the scroll container and the live region (role=log) that
  // reads new messages out; `jump` is button#jump-to-latest; `onError(message)` reports a
  // page that could not be read; `beforeFetch(roomId)` hears of each history page about to
  // be read (the live subscription must then hear of changes to older messages).
  constructor(list, jump, onError, { beforeFetch = () => {} } = {}) {
    this.list = list;
    this.jump = jump;
    this.onError = onError;
    this.beforeFetch = beforeFetch;
    this.busyTimer = 0;
    this.generation = 0;
    this.items = new Map();
    this.loadedTimer = 0;
    list.addEventListener("scroll", () => this.maybeLoadMore(), { passive: true });
    list.addEventListener("keydown", (event) => this.onKey(event));
    jump.addEventListener("click", () => this.jumpToLatest());
    this.reset(null, { history: false, defaultHistory: 0 });
  }

  // Empties the list for `roomId`. `history` says whether the room's category keeps chat
  // history (without it the history API refuses, so the window is live only).
  reset(roomId, { history, defaultHistory }) {
    // Every page request checks the generation when it answers: a stale answer (another
    // room, or a list reloaded since) is dropped.
    this.generation += 1;
    this.roomId = roomId;
    this.history = history;
    this.defaultHistory = defaultHistory;
    this.items.clear();
    this.list.replaceChildren();
    // The highest seq the room is known to hold (from `subscribed` and live messages).
    this.knownEnd = 0;
    // Whether the window reaches the room's newest message, so live messages append.
    this.atEnd = true;
    // Live messages that arrived while the window did not reach the end.
    this.unseen = 0;
    this.olderExhausted = false;
    this.loadingOlder = false;
    this.loadingNewer = false;
    this.changes = [];
    this.firstBatchEnd = null;
    clearTimeout(this.loadedTimer);
    delete this.list.dataset.loaded;
    // The first batch is history, not news: keep the log quiet until it is in.
    clearTimeout(this.busyTimer);
    this.list.setAttribute("aria-busy", "true");
    this.updateJump();
  }

  get loaded() {
    return this.list.dataset.loaded === "1";
  }

  oldest() {
    const first = this.list.firstElementChild;
    return first ? Number(first.dataset.seq) : null;
  }

  newest() {
    const last = this.list.lastElementChild;
    return last ? Number(last.dataset.seq) : null;
  }

  // --- Live frames -------------------------------------------------------------------

  // The subscription is in place (first time, or again after a reconnect).
  subscribed(frame) {
    this.knownEnd = Math.max(this.knownEnd, frame.last_seq);
    if (this.loaded || this.firstBatchEnd !== null) {
      this.updateJump();
      return;
    }
    // Without history (or with an empty room) no batch follows: the list is ready now.
    const newest = this.newest() ?? 0;
    const batchComing = this.history && this.defaultHistory > 0 && frame.last_seq > newest;
    if (!batchComing) {
      this.markLoaded();
      return;
    }
    this.firstBatchEnd = frame.last_seq;
    this.loadedTimer = setTimeout(() => this.markLoaded(), FIRST_BATCH_WAIT_MS);
  }

  // A `message` frame for this room.
  receive(message) {
    this.knownEnd = Math.max(this.knownEnd, message.seq);
    const newest = this.newest();
    const contiguous = newest === null || message.seq <= newest + 1;
    if (this.items.has(message.seq) || !this.history || (this.atEnd && contiguous)) {
      this.appendLive(message);
    } else {
      // Either the reader is looking at older pages, or (rarely) a gap opened between the
      // window and the live stream: count the message, and fill a gap at once.
      const gap = this.atEnd;
      this.atEnd = false;
      this.unseen += 1;
      this.updateJump();
      if (gap) this.loadNewer();
    }
    if (!this.loaded && this.firstBatchEnd !== null && message.seq >= this.firstBatchEnd) {
      this.markLoaded();
    }
  }

  // A `changed` frame for this room.
  change(frame) {
    this.changes.push(frame);
    if (this.changes.length > CHANGE_LOG_MAX) this.changes.shift();
    for (const [seq, item] of this.items) {
      if (seq === frame.seq || (frame.kind === "cleared" && seq <= frame.seq)) {
        const changed = applyChange(item.message, frame);
        if (changed !== item.message) this.insert(changed);
      }
    }
  }

  appendLive(message) {
    if (this.nearBottom()) {
      this.insert(message);
      this.trimOldest();
      this.scrollToBottom();
    } else {
      // The reader scrolled up: keep what they are reading where it is.
      this.keepingPosition(() => {
        this.insert(message);
        this.trimOldest();
      });
    }
  }

  // The server ended (or refused) the subscription: no more live messages come, and
  // history pages would be refused as well.
  ended() {
    this.generation += 1;
    this.history = false;
    this.atEnd = true;
    this.unseen = 0;
    this.firstBatchEnd = null;
    this.updateJump();
    this.markLoaded();
  }

  markLoaded() {
    clearTimeout(this.loadedTimer);
    if (this.loaded) return;
    this.list.dataset.loaded = "1";
    this.scrollToBottom();
    this.quietEnd();
    // For the figures in docs/PERFORMANCE.md: navigation to a room's newest page shown.
    performance.mark("stoa:room-shown");
    requestAnimationFrame(() => this.maybeLoadMore());
  }

  // --- The window --------------------------------------------------------------------

  // Runs `mutate`, which adds history rather than news, with the log marked busy so that
  // screen readers do not read the whole page out as if it had just been posted.
  quietly(mutate) {
    clearTimeout(this.busyTimer);
    this.list.setAttribute("aria-busy", "true");
    mutate();
    this.quietEnd();
  }

  // Ends `aria-busy` once the accessibility tree has taken in the change: cleared in the
  // same task, the additions would be announced after all.
  quietEnd() {
    clearTimeout(this.busyTimer);
    this.busyTimer = setTimeout(() => this.list.removeAttribute("aria-busy"), 250);
  }

  // Shows `message`, replacing the element of the same seq if there is one.
  insert(message) {
    const existing = this.items.get(message.seq);
    const node = renderMessage(message, existing ? isExpanded(existing.node) : false);
    if (existing) {
      const hadFocus = existing.node.contains(document.activeElement);
      existing.node.replaceWith(node);
      if (hadFocus) node.focus({ preventScroll: true });
    } else {
      const oldest = this.oldest();
      const newest = this.newest();
      if (newest === null || message.seq > newest) {
        this.list.append(node);
      } else if (message.seq < oldest) {
        this.list.prepend(node);
      } else {
        const after = Array.from(this.list.children).find((child) => Number(child.dataset.seq) > message.seq);
        this.list.insertBefore(node, after || null);
      }
    }
    this.items.set(message.seq, { message, node });
  }

  // A history message as it stands now: a page read before a change arrived may be stale,
  // and applying a change again leaves the same state.
  current(message) {
    let result = message;
    for (const change of this.changes) result = applyChange(result, change);
    return result;
  }

  removeNode(node) {
    this.items.delete(Number(node.dataset.seq));
    node.remove();
  }

  // Keeps the window at MAX_ITEMS by dropping the oldest messages (they can be paged in
  // again where history is kept).
  trimOldest() {
    while (this.items.size > MAX_ITEMS) {
      this.removeNode(this.list.firstElementChild);
      this.olderExhausted = false;
    }
  }

  // Keeps the window at MAX_ITEMS by dropping the newest messages: the window then no
  // longer reaches the end.
  trimNewest() {
    while (this.items.size > MAX_ITEMS) {
      this.removeNode(this.list.lastElementChild);
      this.atEnd = false;
    }
  }

  // --- Scrolling ---------------------------------------------------------------------

  nearBottom() {
    const list = this.list;
    return list.scrollHeight - list.scrollTop - list.clientHeight < BOTTOM_PX;
  }

  scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  // Runs `mutate` and then scrolls so that the first message in view stays where it was.
  keepingPosition(mutate) {
    const list = this.list;
    const top = list.scrollTop;
    const anchor = Array.from(list.children).find((child) => child.offsetTop + child.offsetHeight > top);
    const offset = anchor ? anchor.offsetTop - top : 0;
    mutate();
    if (anchor && anchor.isConnected) list.scrollTop = anchor.offsetTop - offset;
  }

  // Loads the next page in whichever direction the reader is near the edge of.
  maybeLoadMore() {
    if (!this.history || !this.loaded) return;
    const list = this.list;
    if (list.scrollTop < EDGE_PX) this.loadOlder();
    if (!this.atEnd && list.scrollHeight - list.scrollTop - list.clientHeight < EDGE_PX) this.loadNewer();
  }

  hasOlder() {
    if (this.olderExhausted) return false;
    const oldest = this.oldest();
    return oldest === null ? this.knownEnd > 0 : oldest > 1;
  }

  async fetchPage(query) {
    this.beforeFetch(this.roomId);
    const view = await api.get(`${roomPath(this.roomId)}/messages?${query}`);
    return view.messages;
  }

  async loadOlder() {
    if (this.loadingOlder || !this.hasOlder()) return;
    this.loadingOlder = true;
    const generation = this.generation;
    const before = this.oldest() ?? this.knownEnd + 1;
    try {
      const page = await this.fetchPage(`before=${before}&limit=${PAGE_SIZE}`);
      if (generation !== this.generation) return;
      this.loadingOlder = false;
      if (page.length === 0) {
        this.olderExhausted = true;
        return;
      }
      this.quietly(() =>
        this.keepingPosition(() => {
          for (const message of page) this.insert(this.current(message));
          this.trimNewest();
        }),
      );
      this.updateJump();
      requestAnimationFrame(() => this.maybeLoadMore());
    } catch (error) {
      if (generation !== this.generation) return;
      this.loadingOlder = false;
      this.olderExhausted = true;
      this.onError(error.message);
    }
  }

  async loadNewer() {
    if (this.loadingNewer || this.atEnd || !this.history) return;
    this.loadingNewer = true;
    const generation = this.generation;
    const newest = this.newest();
    const query = newest === null ? `limit=${PAGE_SIZE}` : `after=${newest}&limit=${PAGE_SIZE}`;
    try {
      const page = await this.fetchPage(query);
      if (generation !== this.generation) return;
      this.loadingNewer = false;
      this.quietly(() =>
        this.keepingPosition(() => {
          for (const message of page) this.insert(this.current(message));
          this.trimOldest();
        }),
      );
      const last = this.newest();
      if (page.length === 0 || (last !== null && last >= this.knownEnd)) {
        this.atEnd = true;
        this.unseen = 0;
      }
      this.updateJump();
      if (!this.atEnd) requestAnimationFrame(() => this.maybeLoadMore());
    } catch (error) {
      if (generation !== this.generation) return;
      this.loadingNewer = false;
      this.onError(error.message);
    }
  }

  // Replaces the window with the room's newest page and follows live messages again.
  async jumpToLatest() {
    if (!this.history) {
      this.scrollToBottom();
      return;
    }
    this.generation += 1;
    const generation = this.generation;
    this.loadingOlder = false;
    this.loadingNewer = false;
    this.jump.disabled = true;
    try {
      const page = await this.fetchPage(`limit=${PAGE_SIZE}`);
      if (generation !== this.generation) return;
      // Pages asked for by scrolling while this one was read belong to the window being
      // replaced: drop their answers, or the new window would get a gap.
      this.generation += 1;
      this.loadingOlder = false;
      this.loadingNewer = false;
      this.quietly(() => {
        this.items.clear();
        this.list.replaceChildren();
        for (const message of page) this.insert(this.current(message));
      });
      this.olderExhausted = false;
      const last = this.newest();
      // Messages that arrived while the page was being read follow with `after=`.
      this.atEnd = last === null || last >= this.knownEnd;
      this.unseen = 0;
      this.updateJump();
      this.scrollToBottom();
      this.list.focus({ preventScroll: true });
      if (!this.atEnd) this.loadNewer();
    } catch (error) {
      if (generation === this.generation) this.onError(error.message);
    } finally {
      this.jump.disabled = false;
    }
  }

  updateJump() {
    this.jump.hidden = this.atEnd;
    this.jump.textContent = this.unseen > 0 ? `Jump to latest (${this.unseen} new)` : "Jump to latest";
  }

  // --- Keyboard ----------------------------------------------------------------------

  // ArrowUp/ArrowDown move between messages, Home/End go to the first and last shown.
  onKey(event) {
    if (!["ArrowUp", "ArrowDown", "Home", "End"].includes(event.key)) return;
    const current = event.target.closest ? event.target.closest("li.message") : null;
    // Keys typed in a control inside a message (a link, Show more) are left alone.
    if (event.target !== this.list && event.target !== current) return;
    const children = Array.from(this.list.children);
    if (children.length === 0) return;
    let next = null;
    if (event.key === "Home") next = children[0];
    else if (event.key === "End") next = children[children.length - 1];
    else if (current) {
      next = event.key === "ArrowDown" ? current.nextElementSibling : current.previousElementSibling;
    } else {
      // From the list itself: the first (or last) message in view.
      const top = this.list.scrollTop;
      const bottom = top + this.list.clientHeight;
      const visible = children.filter(
        (child) => child.offsetTop + child.offsetHeight > top && child.offsetTop < bottom,
      );
      const candidates = visible.length > 0 ? visible : children;
      next = event.key === "ArrowDown" ? candidates[0] : candidates[candidates.length - 1];
    }
    event.preventDefault();
    if (next) {
      next.focus({ preventScroll: true });
      next.scrollIntoView({ block: "nearest" });
    }
  }
}
