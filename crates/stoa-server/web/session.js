// The browser session: reading it, the sign-in screen, and signing out. The session token
// lives in an HttpOnly cookie; scripts only ever see the CSRF token.

import { api } from "./api.js";
import { byId, showText } from "./dom.js";

// A note for the sign-in screen that survives the reload after a session ends.
const NOTICE_KEY = "stoa.sign-in-notice";

// `{signed_in: false}` or `{signed_in: true, user, csrf_token, expires_at}`.
export function fetchSession() {
  return api.get("/browser-session");
}

// Shows the sign-in screen. Once the user has signed in the page loads again: the page's
// Content-Security-Policy is chosen when it loads, and only a signed-in page may frame the
// add-ins.
export function showSignIn() {
  const form = byId("sign-in-form");
  const user = byId("sign-in-user");
  const password = byId("sign-in-password");
  const submit = byId("sign-in-submit");
  const error = byId("sign-in-error");
  byId("main-screen").hidden = true;
  byId("sign-in-screen").hidden = false;
  showText(byId("sign-in-notice"), sessionStorage.getItem(NOTICE_KEY) || "");
  sessionStorage.removeItem(NOTICE_KEY);
  user.focus();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showText(error, "");
    submit.disabled = true;
    try {
      await api.post("/browser-session", {
        user: user.value.trim(),
        password: password.value,
      });
      password.value = "";
      location.reload();
    } catch (failure) {
      showText(error, failure.message);
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
}

// Ends the session and starts the page afresh (on the sign-in screen).
export async function signOut() {
  try {
    await api.delete("/sessions/current");
  } catch {
    // Signed out already, or the server is unreachable: the page starts afresh either way.
  }
  location.reload();
}

// Starts the page afresh after the server ended the session, saying why on sign-in.
export function sessionEnded(message) {
  sessionStorage.setItem(NOTICE_KEY, message || "Your session has ended. Please sign in again.");
  location.reload();
}
