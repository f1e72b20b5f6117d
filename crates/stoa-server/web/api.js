// The HTTP API: JSON requests under /api/v1 with the CSRF header on every write, errors as
// ApiError, and file uploads with progress.

const BASE = "/api/v1";

// The browser session's CSRF token, sent on every request that is not a GET.
let csrfToken = "";

export function setCsrfToken(token) {
  csrfToken = token || "";
}

// A refused or failed request: `status` is the HTTP status (0 when the server could not be
// reached), `code` and `message` come from the server's `{error: {code, message}}`.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

// `/rooms/{id}` with the id encoded, the start of every room path.
export function roomPath(roomId) {
  return `/rooms/${encodeURIComponent(roomId)}`;
}

// The download URL of a file posted to a room.
export function fileUrl(roomId, fileId) {
  return `${BASE}${roomPath(roomId)}/files/${encodeURIComponent(fileId)}`;
}

// The error an answer carries, whatever its body looks like.
function errorFrom(status, text, fallback) {
  try {
    const body = JSON.parse(text);
    if (body && body.error && typeof body.error.message === "string") {
      return new ApiError(status, body.error.code || "", body.error.message);
    }
  } catch {
    // Not JSON: a proxy's page, say. Fall through to the generic message.
  }
  return new ApiError(status, "", fallback);
}

async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "The server could not be reached.");
  }
  const text = await response.text();
  if (!response.ok) {
    throw errorFrom(response.status, text, `The server answered ${response.status}.`);
  }
  return text ? JSON.parse(text) : null;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body) => request("POST", path, body),
  put: (path, body) => request("PUT", path, body),
  delete: (path) => request("DELETE", path),
};

// Uploads `file` to a room; resolves with the MessageView that posted it. `onProgress` is
// called with the fraction sent so far. XMLHttpRequest because fetch reports no upload
// progress.
export function uploadFile(roomId, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${BASE}${roomPath(roomId)}/files?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("X-CSRF-Token", csrfToken);
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          resolve(null);
        }
      } else {
        reject(errorFrom(xhr.status, xhr.responseText, `The upload failed (${xhr.status}).`));
      }
    });
    xhr.addEventListener("error", () =>
      reject(new ApiError(0, "network", "The upload failed: the server could not be reached.")),
    );
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted", "The upload was cancelled.")));
    xhr.send(file);
  });
}
