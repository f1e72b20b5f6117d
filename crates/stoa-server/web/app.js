// The client's entry point: signs in (or finds the session), loads the room list, and
// wires the live connection, the room view, the timeline and the composer together. The
// URL hash `#room=<id>` names the open room.

import { api, setCsrfToken, roomPath, ApiError } from "./api.js";
import { byId, showText, safeHttpUrl } from "./dom.js";
import { Live } from "./live.js";
import { fetchSession, showSignIn, signOut, sessionEnded } from "./session.js";
import { RoomList, renderInvitations, roomHash } from "./rooms.js";
import { RoomPane } from "./room.js";
import { Timeline } from "./timeline.js";
import { Composer } from "./composer.js";

const state = {
  me: null, // UserView
  config: null, // ClientConfigurationView
  categories: new Map(), // category name -> CategoryView
  rooms: [], // every findable RoomView
  follows: [], // followed RoomViews
  // The open room: its RoomView and what the user may do there.
  open: null,
  // Bumped whenever another room opens, so late answers for the previous one are dropped.
  openGeneration: 0,
  checkingSession: false,
  // Whether the live connection has been ready before: invitations are read again only
  // after a reconnect (the first load reads them already).
  connectedBefore: false,
};

let live = null;
let roomList = null;
let pane = null;
let timeline = null;
let composer = null;

// --- Helpers -------------------------------------------------------------------------

function roomIdFromHash() {
  const match = /^#room=(.+)$/.exec(location.hash);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

function findRoom(roomId) {
  return state.follows.find((room) => room.id === roomId) || state.rooms.find((room) => room.id === roomId);
}

function isFollowed(roomId) {
  return state.follows.some((room) => room.id === roomId);
}

function sameLogin(a, b) {
  return a.toLowerCase() === b.toLowerCase();
}

// Whether `references` (principal texts) may name the user. A group, container or domain
// cannot be resolved here: it counts, and the server decides.
function mayNameMe(references) {
  const login = state.me.login;
  return (references || []).some(
    (reference) =>
      sameLogin(reference, login) ||
      sameLogin(reference, `user:${login}`) ||
      !reference.startsWith("user:"),
  );
}

// Whether the user is among an auditorium's presenters.
function mayPresent(room) {
  return mayNameMe(room.presenters);
}

// Whether the user is one of `room`'s members (managers and presenters count). Its member
// list is shown only to its members, and to administrators, who are members only if named.
function isMember(room) {
  if (!Array.isArray(room.members)) return false;
  if (!state.me.administrator) return true;
  return mayNameMe([...room.members, ...room.managers, ...(room.presenters || [])]);
}

// An error from a request: an ended session goes back to sign-in, anything else is shown
// with `show(message)`.
function failed(error, show) {
  if (error instanceof ApiError && error.status === 401) {
    if (live) live.stop();
    sessionEnded(error.message);
    return;
  }
  show(error.message);
}

const showAppError = (message) => showText(byId("app-error"), message);

// --- Lists ---------------------------------------------------------------------------

async function refreshLists() {
  const [rooms, follows] = await Promise.all([api.get("/rooms"), api.get("/me/follows")]);
  state.rooms = rooms;
  state.follows = follows;
  roomList.render(rooms, follows);
}

async function loadInvitations() {
  try {
    renderInvitations(await api.get("/invitations"), answerInvitation);
  } catch (error) {
    failed(error, showAppError);
  }
}

async function answerInvitation(roomId, accept) {
  try {
    await api.post(`/invitations/${encodeURIComponent(roomId)}/${accept ? "accept" : "decline"}`);
    await loadInvitations();
    if (!accept) return;
    await refreshLists();
    if (state.open && state.open.room.id === roomId) await refreshOpenRoom();
    else location.hash = roomHash(roomId);
  } catch (error) {
    failed(error, showAppError);
    await loadInvitations();
  }
}

// --- The open room -------------------------------------------------------------------

function showPlaceholder(text) {
  byId("room-content").hidden = true;
  const placeholder = byId("room-placeholder");
  placeholder.textContent = text;
  placeholder.hidden = false;
}

function closeRoom(text) {
  state.openGeneration += 1;
  state.open = null;
  if (live) live.close();
  timeline.reset(null, { history: false, defaultHistory: 0 });
  roomList.setCurrent(null);
  document.title = "Stoa";
  showPlaceholder(text);
  document.body.classList.add("rooms-open");
  syncRoomListToggle();
}

function route() {
  const roomId = roomIdFromHash();
  if (roomId === null) {
    closeRoom("Choose a room from the list.");
  } else if (!state.open || state.open.room.id !== roomId) {
    openRoom(roomId);
  }
}

async function openRoom(roomId) {
  state.openGeneration += 1;
  const generation = state.openGeneration;
  document.body.classList.remove("rooms-open");
  syncRoomListToggle();
  // Only rooms the user can find are asked for: anything else would only be refused.
  if (!findRoom(roomId)) {
    closeRoom("This room does not exist, or you cannot see it.");
    return;
  }
  try {
    const room = await api.get(roomPath(roomId));
    if (generation === state.openGeneration) showRoom(room);
  } catch (error) {
    if (generation === state.openGeneration) failed(error, (message) => closeRoom(message));
  }
}

// What the user may do in `room` (a RoomView).
function access(room) {
  const category = state.categories.get(room.category);
  // A disabled room cannot be read at all: subscribing, history and the roster are refused.
  const canRead = !room.disabled && (room.privacy === "open" || isMember(room));
  // (A user without persistent chat never gets this far: see enter.)
  let reason = "";
  if (room.disabled) reason = "This room is disabled.";
  else if (!canRead) reason = "Only members of this room can read and post here.";
  else if (room.type === "auditorium" && !mayPresent(room)) reason = "Only presenters can post in this auditorium.";
  return {
    canRead,
    canPost: reason === "",
    reason,
    // Without chat history the history API refuses, so it is never asked.
    history: canRead && category !== undefined && category.chat_history,
    upload: category !== undefined && category.file_upload,
    // The roster is answered to members who may read the room, never to card-only readers.
    rosterShown: canRead && Array.isArray(room.members),
  };
}

function setComposer(room, rights) {
  composer.setRoom({
    roomId: room.id,
    canPost: rights.canPost,
    reason: rights.reason,
    canUpload: rights.upload,
    maxBytes: state.config.max_file_size_kb * 1024,
  });
}

// Shows `room` from scratch: card, an empty timeline, and a fresh subscription.
function showRoom(room) {
  const rights = access(room);
  state.open = { room, ...rights };
  roomList.setCurrent(room.id);
  document.title = `${room.name} · Stoa`;
  byId("room-placeholder").hidden = true;
  byId("room-content").hidden = false;
  pane.show(room, isFollowed(room.id), rights.rosterShown);
  setComposer(room, rights);
  timeline.reset(room.id, { history: rights.history, defaultHistory: state.config.default_chat_history });
  const notice = byId("room-notice");
  if (rights.canRead && live) {
    showText(notice, "");
    live.open(room.id);
  } else {
    if (live) live.close();
    // A disabled room says so in the room's error line already.
    showText(notice, rights.canRead || room.disabled ? "" : "You can see this room's card, but not its messages.");
    // Nothing will come: the (empty) list is as loaded as it gets.
    byId("messages").dataset.loaded = "1";
  }
}

// Reads the open room again after following, unfollowing or accepting an invitation; the
// timeline starts over only where what the user may see has changed.
async function refreshOpenRoom() {
  if (!state.open) return;
  const generation = state.openGeneration;
  const roomId = state.open.room.id;
  if (!findRoom(roomId)) {
    closeRoom("You can no longer see this room.");
    return;
  }
  const room = await api.get(roomPath(roomId));
  if (generation !== state.openGeneration) return;
  const rights = access(room);
  if (rights.canRead !== state.open.canRead || rights.rosterShown !== state.open.rosterShown) {
    showRoom(room);
    return;
  }
  state.open = { room, ...rights };
  pane.show(room, isFollowed(roomId), rights.rosterShown);
  setComposer(room, rights);
}

async function follow(join) {
  if (!state.open) return;
  const path = `/me/follows/${encodeURIComponent(state.open.room.id)}`;
  pane.setBusy();
  try {
    if (join) await api.put(path);
    else await api.delete(path);
    await refreshLists();
    await refreshOpenRoom();
  } catch (error) {
    failed(error, (message) => pane.showError(message));
    if (state.open) pane.setFollowed(isFollowed(state.open.room.id));
  }
}

async function loadRoster() {
  const open = state.open;
  const generation = state.openGeneration;
  try {
    const roster = await api.get(`${roomPath(open.room.id)}/roster`);
    if (generation === state.openGeneration) pane.setRoster(roster.participants);
  } catch (error) {
    if (generation === state.openGeneration) failed(error, (message) => pane.showError(message));
  }
}

// Whether an error frame's `room` (an id, or a name) is the open room.
function isOpenRoom(reference) {
  const open = state.open;
  return open !== null && (reference === open.room.id || sameLogin(reference, open.room.name));
}

// --- The live connection -------------------------------------------------------------

const STATUS_TEXT = { connecting: "Connecting…", connected: "Connected", disconnected: "Disconnected" };

function setStatus(connection, text) {
  const status = byId("connection-status");
  status.dataset.state = connection;
  status.textContent = text || STATUS_TEXT[connection];
}

const liveHandlers = {
  onStatus(connection, retryMs) {
    setStatus(
      connection,
      connection === "disconnected" && retryMs > 0
        ? `Disconnected, retrying in ${Math.max(1, Math.round(retryMs / 1000))} s`
        : "",
    );
  },
  onReady() {
    showAppError("");
    if (state.connectedBefore) loadInvitations();
    state.connectedBefore = true;
  },
  onSubscribed(frame) {
    timeline.subscribed(frame);
    // Roster frames are not replayed after a reconnect: read the whole roster each time.
    if (state.open && state.open.rosterShown) loadRoster();
  },
  onMessage(frame) {
    timeline.receive(frame);
  },
  onChanged(frame) {
    timeline.change(frame);
  },
  onRoster(frame) {
    if (state.open && state.open.rosterShown) pane.updateRoster(frame, state.me.login);
  },
  onPostError(frame, post) {
    if (state.open && post.room === state.open.room.id) composer.postRefused(post.body, frame.message);
    else composer.showError(`A message to another room was not sent: ${frame.message}`);
  },
  onRoomError(frame) {
    if (!isOpenRoom(frame.room)) return;
    live.forget(state.open.room.id);
    timeline.ended();
    pane.showError(frame.message);
    composer.setRoom({ roomId: state.open.room.id, canPost: false, reason: frame.message, canUpload: false, maxBytes: 0 });
  },
  onFatal(code, message) {
    if (code === "unauthenticated") {
      live.stop();
      sessionEnded(message);
      return;
    }
    // `forbidden` (account disabled) or `chat_disabled`: reconnecting cannot help.
    setStatus("disconnected", "Disconnected");
    showAppError(message);
  },
  // The connection closed before `ready`: if the session has ended, go back to sign-in
  // rather than retrying for ever.
  async onUpgradeFailed() {
    if (state.checkingSession) return;
    state.checkingSession = true;
    try {
      const session = await fetchSession();
      if (!session.signed_in) {
        live.stop();
        sessionEnded("Your session has ended. Please sign in again.");
      }
    } catch {
      // The server is unreachable: the connection keeps retrying.
    } finally {
      state.checkingSession = false;
    }
  },
};

// --- Start ---------------------------------------------------------------------------

function syncRoomListToggle() {
  byId("toggle-room-list").setAttribute(
    "aria-expanded",
    document.body.classList.contains("rooms-open") ? "true" : "false",
  );
}

async function enter(session) {
  setCsrfToken(session.csrf_token);
  state.me = session.user;
  byId("sign-in-screen").hidden = true;
  byId("main-screen").hidden = false;
  byId("user-name").textContent = state.me.display_name || state.me.login;
  byId("sign-out").addEventListener("click", () => {
    if (live) live.stop();
    signOut();
  });
  byId("toggle-room-list").addEventListener("click", () => {
    document.body.classList.toggle("rooms-open");
    syncRoomListToggle();
  });

  roomList = new RoomList();
  // Choosing a room (even the open one) puts the list away on narrow screens.
  byId("room-list").addEventListener("click", (event) => {
    if (event.target.closest("a.room-link")) {
      document.body.classList.remove("rooms-open");
      syncRoomListToggle();
    }
  });
  pane = new RoomPane(() => follow(true), () => follow(false));
  timeline = new Timeline(byId("messages"), byId("jump-to-latest"), (message) => pane.showError(message), {
    beforeFetch: (roomId) => {
      if (live) live.holdHistory(roomId);
    },
  });
  composer = new Composer(byId("room-content"), (roomId, body) => {
    // Posting means wanting to see the post: come back to the newest messages.
    if (!timeline.atEnd) timeline.jumpToLatest();
    live.post(roomId, body);
  });
  composer.setRoom({ roomId: null, canPost: false, reason: "", canUpload: false, maxBytes: 0 });

  // Without persistent chat the room list, follows and invitations would all be refused
  // (403): ask for none of them.
  if (!state.me.chat_enabled) {
    setStatus("disconnected", "Chat disabled");
    showAppError("Persistent chat is disabled for your account.");
    showPlaceholder("Persistent chat is disabled for your account.");
    document.body.dataset.ready = "1";
    performance.mark("stoa:room-list");
    return;
  }

  try {
    const [config, categories] = await Promise.all([api.get("/client-configuration"), api.get("/categories")]);
    state.config = config;
    state.categories = new Map(categories.map((category) => [category.name, category]));
    await refreshLists();
  } catch (error) {
    failed(error, showAppError);
    return;
  }

  const management = safeHttpUrl(state.config.room_management_url, location.href);
  const link = byId("room-management-link");
  if (state.config.room_management_url && management) {
    link.href = management.href;
    link.hidden = false;
  }

  live = new Live(liveHandlers, state.config.default_chat_history);
  live.start();
  loadInvitations();
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "1";
  // For the figures in docs/PERFORMANCE.md: navigation to the room list.
  performance.mark("stoa:room-list");
}

async function main() {
  document.body.dataset.ready = "0";
  let session;
  try {
    session = await fetchSession();
  } catch (error) {
    showSignIn();
    showText(byId("sign-in-error"), error.message);
    return;
  }
  if (session.signed_in) enter(session);
  else showSignIn();
}

main();
