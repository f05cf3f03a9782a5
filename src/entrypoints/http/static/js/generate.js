// Generate: send the photo and the look, follow the job (queued -> running -> succeeded) with
// a progress indication, then show the result beside the original with a download link.
// The job is followed through its event stream (Server-Sent Events), or by asking for its
// state again and again when the stream cannot be had. Without a credit, Generate is off
// and the way to get one is named.

import { api, once } from "./api.js";
import { goBuy } from "./credits.js";
import { refreshCredits, subscribe } from "./state.js";
import { photo, refusePhoto } from "./upload.js";
import { byId, pause, say, show } from "./ui.js";

const STAGES = ["queued", "running", "succeeded"];
const WORDS = {
  sending: "Sending your photo…",
  queued: "Queued: waiting for a free studio…",
  running: "Running: restyling your photo…",
  succeeded: "Done! Your picture is ready.",
};
const LOOK_NAMES = { portraits: "Portraits", editorial: "Editorial", documentary: "Documentary" };
const CURRENT_KEY = "picpaygo.currentJob"; // survives a reload of the tab, not its closing
const POLL_START_MS = 400;
const POLL_MAX_MS = 2000;

let busy = false;
let noCredit = false;
let onFinished = () => {};

const finished = (job) => job.status === "succeeded" || job.status === "failed";

function setBusy(value) {
  busy = value;
  renderButton();
}

function renderButton() {
  const button = byId("generate");
  button.disabled = busy || noCredit;
  if (noCredit) button.setAttribute("aria-describedby", "no-credit-text");
  else button.removeAttribute("aria-describedby");
}

/** With no credit left: Generate off, and the next step said (sign up first when anonymous). */
function renderCredit({ credits, user }) {
  noCredit = Boolean(credits) && credits.credits < 1;
  show(byId("no-credit"), noCredit);
  if (noCredit) {
    byId("no-credit-text").textContent = user
      ? "You have no credits left. Buy a pack to make more pictures."
      : "Your free pictures are used up. To make more, sign up and buy a pack of credits.";
    byId("no-credit-buy").textContent = user ? "Buy credits" : "Sign up to buy credits";
  }
  renderButton();
}

function showStage(status) {
  const index = STAGES.indexOf(status);
  for (const item of document.querySelectorAll(".stages li")) {
    const at = STAGES.indexOf(item.dataset.stage);
    item.classList.toggle("done", index > at || status === "succeeded");
    item.classList.toggle("current", index === at && status !== "succeeded");
  }
  const bar = byId("progress-bar");
  if (status === "running") bar.removeAttribute("value"); // indeterminate while the model works
  else bar.value = status === "sending" ? 0 : index + 1;
  byId("progress").dataset.status = status;
  byId("job-status").textContent = WORDS[status] || status;
}

function showProblem(message, { offerBuy = false } = {}) {
  say(byId("problem-text"), message);
  show(byId("problem"), Boolean(message));
  show(byId("problem-buy"), offerBuy);
}

function showResult(job, original) {
  const image = byId("result-image");
  image.src = job.outputUrl;
  image.alt = `Your photo restyled as ${job.category}`;
  const before = byId("result-original");
  if (original) before.src = original;
  show(before.closest("figure"), Boolean(original)); // after a reload the photo is gone
  byId("result-caption").textContent = LOOK_NAMES[job.category] || "Restyled";
  const link = byId("download");
  link.href = job.outputUrl;
  link.download = `picpaygo-${job.category}-${job.jobId.slice(0, 8)}.png`;
  show(byId("result"));
  // The restyled picture and Download lead the section (on a phone too, see app.css).
  byId("result").scrollIntoView({ behavior: "smooth", block: "start" });
  byId("download").focus({ preventScroll: true });
}

/** The job's states from its event stream, until it finishes; rejects if the stream fails. */
function stream(jobId) {
  return new Promise((resolve, reject) => {
    if (typeof EventSource !== "function") {
      reject(new Error("no event streams here"));
      return;
    }
    const source = new EventSource(api.jobEventsUrl(jobId));
    source.addEventListener("status", (event) => {
      const job = JSON.parse(event.data);
      showStage(job.status);
      if (finished(job)) {
        source.close();
        resolve(job);
      }
    });
    source.onerror = () => {
      source.close(); // no reconnecting: polling takes over from here
      reject(new Error("the event stream failed"));
    };
  });
}

async function poll(jobId) {
  let wait = POLL_START_MS;
  for (;;) {
    const job = await api.job(jobId);
    showStage(job.status);
    if (finished(job)) return job;
    await pause(wait);
    wait = Math.min(wait * 1.5, POLL_MAX_MS);
  }
}

async function follow(jobId) {
  const progress = byId("progress");
  try {
    progress.dataset.via = "stream";
    return await stream(jobId);
  } catch {
    progress.dataset.via = "polling";
    return poll(jobId);
  }
}

async function generate(event) {
  event.preventDefault();
  if (busy) return;
  const { file, url } = photo();
  if (!file) {
    say(byId("photo-error"), "Choose a photo first.");
    byId("photo").focus();
    return;
  }
  const category = new FormData(byId("studio")).get("category");
  setBusy(true);
  showProblem("");
  show(byId("result"), false);
  show(byId("progress"));
  showStage("sending");
  try {
    const created = await once((key) => api.generate(file, category, key));
    sessionStorage.setItem(CURRENT_KEY, created.jobId);
    showStage(created.status);
    refreshCredits().catch(() => {});
    await finish(created.jobId, url);
  } catch (problem) {
    show(byId("progress"), false);
    if (problem.status === 413 || problem.status === 415) refusePhoto(problem.message);
    else showProblem(problem.message, { offerBuy: problem.status === 402 });
  } finally {
    setBusy(false);
  }
}

async function finish(jobId, original) {
  const job = await follow(jobId);
  sessionStorage.removeItem(CURRENT_KEY);
  if (job.status === "succeeded") {
    showResult(job, original);
  } else {
    show(byId("progress"), false);
    showProblem(`${job.error || "The picture could not be made."} Your credit was given back.`);
  }
  onFinished(job);
  await refreshCredits();
}

/** After a reload: pick up the job this tab was following (an anonymous job has no other handle). */
export async function resumeJob() {
  const jobId = sessionStorage.getItem(CURRENT_KEY);
  if (!jobId || busy) return;
  setBusy(true);
  show(byId("progress"));
  try {
    await finish(jobId, null);
  } catch (problem) {
    sessionStorage.removeItem(CURRENT_KEY);
    show(byId("progress"), false);
    if (problem.status !== 404) showProblem(problem.message);
  } finally {
    setBusy(false);
  }
}

/** Wire the form; `finished(job)` runs after every job that ends (to refresh "my pictures"). */
export function initGenerate(finished) {
  onFinished = finished;
  byId("studio").addEventListener("submit", generate);
  byId("problem-buy").addEventListener("click", goBuy);
  byId("no-credit-buy").addEventListener("click", goBuy);
  subscribe(renderCredit);
  byId("again").addEventListener("click", () => {
    show(byId("result"), false);
    show(byId("progress"), false);
    byId("photo").focus();
  });
}
