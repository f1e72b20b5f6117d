// The page's one WebSocket (/api/v1/ws): connecting and reconnecting with backoff, the
// subscription to the open room and where to resume it, and posts with idempotency keys
// that are sent again after a reconnect until the server answers them.

const PING_INTERVAL_MS = 25000;
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10000;

// Closing codes after which reconnecting cannot help.
const FATAL_CODES = new Set(["unauthenticated", "forbidden", "chat_disabled"]);
// Post refusals the protocol says to retry shortly. A `storage_unavailable` post may even
// have been stored: only the same idempotency key can tell without storing it twice.
const RETRY_POST_CODES = new Set(["overloaded", "storage_unavailable"]);
const RETRY_POST_MS = 2000;

// A random UUID. crypto.randomUUID exists only in secure contexts, and an on-premises
// server may well be reached over plain http.
function uuid() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class Live {
  // `handlers` may define: onStatus(state, retryMs), onReady(login), onSubscribed(frame),
  // onMessage(frame), onChanged(frame), onRoster(frame), onPosted(frame, post),
  // onPostError(frame, post), onRoomError(frame), onFatal(code, message),
  // onUpgradeFailed() (the connection closed before `ready`: the session may have ended).
  // `defaultHistory` is the server's DefaultChatHistory.
  constructor(handlers, defaultHistory) {
    this.handlers = handlers;
    this.defaultHistory = defaultHistory;
    this.socket = null;
    this.ready = false;
    this.stopped = true;
    this.fatal = false;
    this.attempt = 0;
    this.retryTimer = 0;
    this.pingTimer = 0;
    // The one subscription: the open room, with the highest `seq` delivered and the last
    // `change` seen, which is where a resubscription resumes. Only the open room is
    // subscribed, and a room opened anew starts with an empty view, so nothing older is kept.
    // `subscribed` is whether the answer to the latest `subscribe` has come: frames before
    // it belong to an earlier subscription, and the latest one sends them again.
    // `fresh` is whether that subscription was made without `since`, `wantsHistory` whether
    // the client has asked to hold older messages than it sent (see holdHistory).
    this.room = null;
    // Posts not yet answered, by ref, in the order they were made: `{frame, retryTimer}`.
    this.pending = new Map();
    this.nextRef = 1;
  }

  start() {
    this.stopped = false;
    this.fatal = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const socket = this.socket;
    this.socket = null;
    this.ready = false;
    if (socket) socket.close(1000);
    for (const post of this.pending.values()) clearTimeout(post.retryTimer);
  }

  connect() {
    this.emit("onStatus", "connecting", 0);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/api/v1/ws`);
    this.socket = socket;
    socket.addEventListener("message", (event) => {
      if (socket === this.socket) this.receive(event.data);
    });
    // An `error` event is always followed by `close`, which does the work.
    socket.addEventListener("close", () => this.closed(socket));
  }

  closed(socket) {
    if (socket !== this.socket) return;
    const wasReady = this.ready;
    this.socket = null;
    this.ready = false;
    clearInterval(this.pingTimer);
    if (this.stopped || this.fatal) {
      this.emit("onStatus", "disconnected", 0);
      return;
    }
    if (!wasReady) this.emit("onUpgradeFailed");
    // Exponential backoff with jitter, so that a restarted server is not hit by every
    // client at the same instant.
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.attempt);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.attempt += 1;
    this.emit("onStatus", "disconnected", delay);
    this.retryTimer = setTimeout(() => {
      if (!this.stopped && !this.fatal) this.connect();
    }, delay);
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN && this.ready) {
      this.socket.send(JSON.stringify(frame));
    }
  }

  emit(name, ...args) {
    const handler = this.handlers[name];
    if (handler) handler(...args);
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    const room = this.room;
    const forOpenRoom = room !== null && frame.room_id === room.id;
    switch (frame.type) {
      case "ready":
        this.ready = true;
        this.attempt = 0;
        this.emit("onStatus", "connected", 0);
        clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => this.send({ type: "ping" }), PING_INTERVAL_MS);
        if (room) this.subscribe();
        // Posts the last connection left unanswered (or that were waiting to be retried)
        // go again with their idempotency keys: the server stores each at most once.
        for (const post of this.pending.values()) {
          clearTimeout(post.retryTimer);
          this.send(post.frame);
        }
        this.emit("onReady", frame.user);
        break;
      case "subscribed":
        if (!forOpenRoom) break;
        room.subscribed = true;
        // A fresh subscription is followed by the newest DefaultChatHistory messages and
        // no changes to older ones: resuming from just before that batch loses nothing
        // even if the connection drops halfway through it.
        if (room.lastSeq === null) room.lastSeq = Math.max(0, frame.last_seq - this.defaultHistory);
        if (room.lastChange === null) room.lastChange = frame.last_change || 0;
        this.emit("onSubscribed", frame);
        if (room.fresh && room.wantsHistory) this.subscribe();
        break;
      case "message":
        if (!forOpenRoom || !room.subscribed) break;
        room.lastSeq = Math.max(room.lastSeq ?? 0, frame.seq);
        this.emit("onMessage", frame);
        break;
      case "changed":
        if (!forOpenRoom || !room.subscribed) break;
        room.lastChange = Math.max(room.lastChange ?? 0, frame.change);
        this.emit("onChanged", frame);
        break;
      case "roster":
        if (forOpenRoom) this.emit("onRoster", frame);
        break;
      case "posted": {
        const post = this.pending.get(frame.ref);
        if (!post) break;
        clearTimeout(post.retryTimer);
        this.pending.delete(frame.ref);
        this.emit("onPosted", frame, post.frame);
        break;
      }
      case "error":
        if (frame.ref && this.pending.has(frame.ref)) {
          const post = this.pending.get(frame.ref);
          if (RETRY_POST_CODES.has(frame.code)) {
            this.retryLater(post);
            break;
          }
          this.pending.delete(frame.ref);
          this.emit("onPostError", frame, post.frame);
        } else if (frame.room) {
          this.emit("onRoomError", frame);
        }
        break;
      case "closing":
        if (FATAL_CODES.has(frame.code)) {
          this.fatal = true;
          this.emit("onFatal", frame.code, frame.message);
        }
        break;
      default:
        // `pong`, `unsubscribed`: nothing to do.
        break;
    }
  }

  // Sends `subscribe` for the open room, resuming where it left off if it has been
  // subscribed before. Frames for the room are ignored until the answer comes.
  subscribe() {
    const room = this.room;
    const frame = { type: "subscribe", room: room.id };
    if (room.lastSeq !== null) frame.since = room.lastSeq;
    if (room.lastChange !== null) frame.changes_since = room.lastChange;
    room.fresh = room.lastSeq === null;
    room.subscribed = false;
    this.send(frame);
  }

  // Subscribes to `roomId` (and only to it), from its newest messages.
  open(roomId) {
    this.close();
    this.room = { id: roomId, lastSeq: null, lastChange: null, subscribed: false, fresh: true, wantsHistory: false };
    this.subscribe();
  }

  // The client is about to read `roomId`'s history over HTTP. A subscription made without
  // `since` hears of no changes to messages older than its first batch, so a page read
  // now could keep showing text an administrator later removes: subscribe again with
  // `since` (nothing is sent again but what was in flight) so that every later change to
  // them arrives.
  holdHistory(roomId) {
    const room = this.room;
    if (!room || room.id !== roomId || !room.fresh || room.wantsHistory) return;
    room.wantsHistory = true;
    if (room.subscribed) this.subscribe();
  }

  // Ends the subscription to the open room, if any.
  close() {
    if (this.room) this.send({ type: "unsubscribe", room: this.room.id });
    this.room = null;
  }

  // Forgets a subscription the server ended or refused, so it is not renewed on reconnect.
  forget(roomId) {
    if (this.room && this.room.id === roomId) this.room = null;
  }

  // Posts `body` to a room; returns the post's ref. The post is sent now if connected and
  // again, with the same idempotency key, after every reconnect until it is answered.
  post(roomId, body) {
    const ref = `p${this.nextRef}`;
    this.nextRef += 1;
    const frame = { type: "post", room: roomId, body, ref, idempotency_key: uuid() };
    this.pending.set(ref, { frame, retryTimer: 0 });
    this.send(frame);
    return ref;
  }

  // Sends a post the server could not take now again shortly, with the same key. A
  // reconnect in the meantime sends it anyway (and cancels the timer), so it never goes
  // twice on one connection.
  retryLater(post) {
    clearTimeout(post.retryTimer);
    post.retryTimer = setTimeout(() => {
      post.retryTimer = 0;
      if (this.pending.get(post.frame.ref) === post) this.send(post.frame);
    }, RETRY_POST_MS);
  }
}
