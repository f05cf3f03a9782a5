// Generate: send the photo and the look, follow the job (queued -> running -> succeeded) with
// a progress indication, then show the result beside the original with a download link.

import { api, once } from "./api.js";
import { goBuy } from "./credits.js";
import { refreshCredits } from "./state.js";
import { photo } from "./upload.js";
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
let onFinished = () => {};

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
  byId("result").scrollIntoView({ behavior: "smooth", block: "start" });
  byId("download").focus({ preventScroll: true });
}

async function follow(jobId) {
  let wait = POLL_START_MS;
  for (;;) {
    const job = await api.job(jobId);
    showStage(job.status);
    if (job.status === "succeeded" || job.status === "failed") return job;
    await pause(wait);
    wait = Math.min(wait * 1.5, POLL_MAX_MS);
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
  busy = true;
  byId("generate").disabled = true;
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
    showProblem(problem.message, { offerBuy: problem.status === 402 });
  } finally {
    busy = false;
    byId("generate").disabled = false;
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
  busy = true;
  byId("generate").disabled = true;
  show(byId("progress"));
  try {
    await finish(jobId, null);
  } catch (problem) {
    sessionStorage.removeItem(CURRENT_KEY);
    show(byId("progress"), false);
    if (problem.status !== 404) showProblem(problem.message);
  } finally {
    busy = false;
    byId("generate").disabled = false;
  }
}

/** Wire the form; `finished(job)` runs after every job that ends (to refresh "my pictures"). */
export function initGenerate(finished) {
  onFinished = finished;
  byId("studio").addEventListener("submit", generate);
  byId("problem-buy").addEventListener("click", goBuy);
  byId("again").addEventListener("click", () => {
    show(byId("result"), false);
    show(byId("progress"), false);
    byId("photo").focus();
  });
}
