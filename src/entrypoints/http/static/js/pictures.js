// "My pictures": the signed-in person's jobs, newest first, from GET /api/generate.

import { api } from "./api.js";
import { subscribe } from "./state.js";
import { byId, say, shortDate, show } from "./ui.js";

const PAGE = 12;
const STATUS_WORDS = { queued: "Queued", running: "Running", failed: "Failed" };

let oldest = null;
let signedIn = false;

function item(job) {
  const li = document.createElement("li");
  li.className = `picture ${job.status}`;
  const figure = document.createElement("figure");
  if (job.outputUrl) {
    const link = document.createElement("a");
    link.href = job.outputUrl;
    link.download = `picpaygo-${job.category}-${job.jobId.slice(0, 8)}.png`;
    link.title = "Download";
    const img = document.createElement("img");
    img.src = job.outputUrl;
    img.alt = `${job.category} picture from ${shortDate(job.createdAt)}`;
    img.loading = "lazy";
    link.append(img);
    figure.append(link);
  } else {
    const placeholder = document.createElement("span");
    placeholder.className = "placeholder";
    placeholder.textContent = STATUS_WORDS[job.status] || job.status;
    placeholder.title = job.error || "";
    figure.append(placeholder);
  }
  const caption = document.createElement("figcaption");
  caption.textContent = `${job.category} · ${shortDate(job.createdAt)}`;
  figure.append(caption);
  li.append(figure);
  return li;
}

/** Load the first page again (`fresh`) or the next older page. */
export async function loadPictures(fresh = true) {
  if (!signedIn) return;
  const gallery = byId("gallery");
  try {
    const { jobs } = await api.jobs(fresh ? null : oldest, PAGE);
    if (fresh) gallery.replaceChildren();
    gallery.append(...jobs.map(item));
    if (jobs.length) oldest = jobs[jobs.length - 1].jobId;
    show(byId("pictures-more"), jobs.length === PAGE);
    say(byId("pictures-empty"), gallery.children.length ? "" : "Nothing yet: your pictures will appear here.");
  } catch (problem) {
    say(byId("pictures-empty"), problem.message);
  }
}

/** Show the section to signed-in people only, loading it whenever someone signs in. */
export function initPictures() {
  byId("pictures-more").addEventListener("click", () => loadPictures(false));
  subscribe(({ user }) => {
    const now = Boolean(user);
    if (now === signedIn) return;
    signedIn = now;
    show(byId("pictures"), now);
    byId("gallery").replaceChildren();
    oldest = null;
    if (now) loadPictures();
  });
}
