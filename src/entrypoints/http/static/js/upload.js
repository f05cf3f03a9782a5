// The photo: file picker and drag-and-drop, a preview, and the same checks the API makes
// (type by content, size), so a wrong file is refused before it is sent.

import { byId, say, show } from "./ui.js";

// The API's default MAX_UPLOAD_BYTES; a server configured lower still answers 413 itself.
export const MAX_BYTES = 10 * 1024 * 1024;

const SIGNATURES = [
  { type: "JPEG", test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { type: "PNG", test: (b) => [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((v, i) => b[i] === v) },
  {
    type: "WebP",
    test: (b) => String.fromCharCode(...b.slice(0, 4)) === "RIFF" && String.fromCharCode(...b.slice(8, 12)) === "WEBP",
  },
];

let chosen = null;
let previewUrl = null;

/** Why `file` cannot be used, or null when it can. */
export async function problemWith(file) {
  if (file.size === 0) return "That file is empty.";
  if (file.size > MAX_BYTES) {
    const mb = (file.size / 1024 / 1024).toFixed(1);
    return `That photo is ${mb} MB; the largest accepted is ${MAX_BYTES / 1024 / 1024} MB.`;
  }
  const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  if (!SIGNATURES.some(({ test }) => test(head))) {
    return "That file is not a JPEG, PNG or WebP image.";
  }
  return null;
}

/** Whether the browser can draw the picture at `url` (a JPEG header on text cannot be). */
async function drawable(url) {
  const probe = new Image();
  probe.src = url;
  try {
    await probe.decode();
    return true;
  } catch {
    return false;
  }
}

/** Say why a file was refused, under the photo, and which photo (if any) still counts. */
function refuse(problem) {
  const still = chosen ? ` Your previous photo${chosen.name ? ` (${chosen.name})` : ""} is still the one that will be used.` : "";
  say(byId("photo-error"), problem + still);
}

function showPhoto(file, url) {
  const preview = byId("preview");
  show(preview, Boolean(file));
  byId("drop").classList.toggle("has-photo", Boolean(file));
  if (file) {
    preview.src = url;
    preview.alt = `Preview of ${file.name || "your photo"}`;
    byId("drop-text").innerHTML = "<strong>Change photo</strong> or drop another";
  } else {
    preview.removeAttribute("src");
    byId("drop-text").innerHTML = "<strong>Choose a photo</strong> or drag it here";
  }
  for (const img of document.querySelectorAll(".look-photo")) {
    if (file) img.src = url;
    else img.removeAttribute("src");
    show(img, Boolean(file));
  }
}

async function take(file, onChange) {
  if (!file) return;
  const problem = await problemWith(file);
  if (problem) {
    refuse(problem);
    return;
  }
  const url = URL.createObjectURL(file);
  if (!(await drawable(url))) {
    URL.revokeObjectURL(url);
    refuse("That file is damaged or not really a JPEG, PNG or WebP image.");
    return;
  }
  say(byId("photo-error"), "");
  chosen = file;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = url;
  showPhoto(file, url);
  onChange(file);
}

/** The server refused the photo (413, 415): say so under it, and drop it. */
export function refusePhoto(message) {
  chosen = null;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
  showPhoto(null, null);
  say(byId("photo-error"), `${message} Choose another photo.`);
  byId("photo").value = "";
  byId("photo").focus();
}

/** Wire the picker and the drop zone; `onChange(file)` runs for each accepted photo. */
export function initUpload(onChange) {
  const input = byId("photo");
  const drop = byId("drop");
  byId("max-size").textContent = `${MAX_BYTES / 1024 / 1024} MB`;
  input.addEventListener("change", () => take(input.files[0], onChange));
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    drop.classList.add("dragging");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("dragging");
    take(event.dataTransfer.files[0], onChange);
  });
}

/** The accepted photo (a File) and its preview URL, or nulls. */
export const photo = () => ({ file: chosen, url: previewUrl });
