// The PicPayGo page: wires the modules together once the document is parsed (modules are deferred).

import { initAccount } from "./account.js";
import { initCredits, loadPrices, resumeCheckout } from "./credits.js";
import { initGenerate, resumeJob } from "./generate.js";
import { initPictures, loadPictures } from "./pictures.js";
import { followMailedLink, initSettings } from "./settings.js";
import { refreshSession } from "./state.js";
import { initUpload } from "./upload.js";
import { notice } from "./ui.js";

async function start() {
  initUpload(() => {});
  initGenerate(() => loadPictures());
  initPictures();
  initCredits();
  initSettings();
  try {
    await Promise.all([refreshSession(), initAccount(), loadPrices()]);
    await followMailedLink();
    resumeCheckout(); // both follow something for a while and report their own errors
    resumeJob();
  } catch (problem) {
    notice(problem.message, { sticky: true });
  }
  document.body.dataset.ready = "true";
}

start();
