// The composer: typing and posting messages (Enter posts, Shift+Enter breaks the line),
// and sharing files by picker, paste or drag-and-drop, with size checks and progress.

import { uploadFile } from "./api.js";
import { byId, showText, formatSize } from "./dom.js";

export class Composer {
  // `dropZone` is the element files may be dropped on; `post(roomId, body)` sends a message.
  constructor(dropZone, post) {
    this.form = byId("composer");
    this.input = byId("composer-input");
    this.send = byId("composer-send");
    this.fileInput = byId("file-input");
    this.filePicker = byId("file-picker");
    this.progress = byId("upload-progress");
    this.error = byId("composer-error");
    this.reason = byId("composer-reason");
    this.dropZone = dropZone;
    this.post = post;
    this.room = { roomId: null, canPost: false, canUpload: false, maxBytes: 0 };
    // Uploads run one after another, in the order they were asked for.
    this.uploads = Promise.resolve();

    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("paste", (event) => {
      const files = event.clipboardData ? Array.from(event.clipboardData.files) : [];
      if (files.length === 0) return;
      event.preventDefault();
      this.share(files);
    });
    this.fileInput.addEventListener("change", () => {
      const files = Array.from(this.fileInput.files || []);
      this.fileInput.value = "";
      this.share(files);
    });
    dropZone.addEventListener("dragover", (event) => {
      if (!hasFiles(event)) return;
      // Always take file drags over the room: a drop left to the browser would navigate
      // away to the file.
      event.preventDefault();
      event.dataTransfer.dropEffect = this.room.canUpload ? "copy" : "none";
      dropZone.classList.toggle("drop-target", this.room.canUpload);
    });
    dropZone.addEventListener("dragleave", (event) => {
      if (!dropZone.contains(event.relatedTarget)) dropZone.classList.remove("drop-target");
    });
    dropZone.addEventListener("drop", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      dropZone.classList.remove("drop-target");
      this.share(Array.from(event.dataTransfer.files));
    });
  }

  // Sets up the composer for the open room. `reason` says why posting is not allowed.
  setRoom({ roomId, canPost, reason, canUpload, maxBytes }) {
    this.room = { roomId, canPost, canUpload: canPost && canUpload, maxBytes };
    this.input.disabled = !canPost;
    this.send.disabled = !canPost;
    this.fileInput.disabled = !this.room.canUpload;
    this.filePicker.hidden = !this.room.canUpload;
    showText(this.reason, canPost ? "" : reason);
    showText(this.error, "");
  }

  showError(message) {
    showText(this.error, message);
  }

  submit() {
    const body = this.input.value;
    if (!this.room.canPost || body.trim() === "") return;
    this.post(this.room.roomId, body);
    this.input.value = "";
    showText(this.error, "");
  }

  // A post the server refused: say why, and give the text back if nothing new was typed.
  postRefused(body, message) {
    this.showError(`Not sent: ${message}`);
    if (this.input.value === "" && !this.input.disabled) this.input.value = body;
  }

  share(files) {
    if (files.length === 0) return;
    if (!this.room.canUpload) {
      this.showError("Files cannot be shared in this room.");
      return;
    }
    const { roomId, maxBytes } = this.room;
    this.uploads = this.uploads.then(() => this.uploadAll(roomId, maxBytes, files));
  }

  async uploadAll(roomId, maxBytes, files) {
    for (const file of files) {
      if (maxBytes > 0 && file.size > maxBytes) {
        this.showError(
          `“${file.name}” is ${formatSize(file.size)}: files may be at most ${formatSize(maxBytes)}.`,
        );
        return;
      }
      showText(this.error, "");
      this.progress.value = 0;
      this.progress.max = 1;
      this.progress.hidden = false;
      this.progress.setAttribute("aria-label", `Uploading ${file.name}`);
      try {
        await uploadFile(roomId, file, (fraction) => {
          this.progress.value = fraction;
        });
      } catch (error) {
        this.showError(`“${file.name}” was not shared: ${error.message}`);
        return;
      } finally {
        this.progress.hidden = true;
      }
    }
  }
}

function hasFiles(event) {
  return event.dataTransfer !== null && Array.from(event.dataTransfer.types).includes("Files");
}
