// Accounts people keep: the links mailed to them (?verify= and ?reset=), the banner of an
// unverified email, and the "My account" panel (change password, download my data,
// delete my account).

import { api, ApiError } from "./api.js";
import { refreshCredits, state, subscribe, update } from "./state.js";
import { byId, notice, say, show } from "./ui.js";

const CONFIRMATION = "DELETE";
let resetToken = null;

/** Take a mailed link's token out of the address bar (it must not linger in history). */
function forgetLink() {
  const url = new URL(window.location.href);
  url.searchParams.delete("verify");
  url.searchParams.delete("reset");
  window.history.replaceState(null, "", url.pathname + url.search + url.hash);
}

async function verify(token) {
  try {
    const { user } = await api.verifyEmail(token);
    if (state.user && state.user.id === user.id) update({ user });
    notice("Thank you: your email address is verified.");
  } catch (problem) {
    notice(problem.message, { sticky: true });
  }
}

async function submitReset(event) {
  event.preventDefault();
  const password = byId("reset-password").value;
  const error = byId("reset-error");
  if (password.length < 8) {
    say(error, "Choose a password of at least 8 characters.");
    return;
  }
  const button = byId("reset-submit");
  button.disabled = true;
  try {
    const { user } = await api.resetPassword(resetToken, password);
    resetToken = null;
    byId("reset").close();
    byId("reset-form").reset();
    update({ user });
    notice("Your new password is set, and you are signed in.");
    await refreshCredits();
  } catch (problem) {
    say(error, problem.message);
  } finally {
    button.disabled = false;
  }
}

async function changePassword(event) {
  event.preventDefault();
  const current = byId("current-password").value;
  const next = byId("new-password").value;
  const error = byId("password-error");
  if (!current || next.length < 8) {
    say(error, "Enter your current password and a new one of at least 8 characters.");
    return;
  }
  try {
    const { user } = await api.changePassword(current, next);
    byId("password-form").reset();
    say(error, "");
    update({ user });
    notice("Your password is changed; your other devices are signed out.");
  } catch (problem) {
    say(error, problem.message);
  }
}

async function downloadData() {
  const error = byId("export-error");
  say(error, "");
  let response;
  try {
    response = await fetch("/api/account/export", { credentials: "same-origin" });
  } catch {
    say(error, "PicPayGo cannot be reached right now. Check your connection and try again.");
    return;
  }
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    say(error, (body && body.detail) || `The server answered ${response.status}.`);
    return;
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = "picpaygo-account.zip";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

async function deleteAccount(event) {
  event.preventDefault();
  const error = byId("delete-error");
  if (byId("delete-confirm").value.trim() !== CONFIRMATION) {
    say(error, `Type ${CONFIRMATION} to confirm.`);
    return;
  }
  try {
    await api.deleteAccount(byId("delete-password").value);
  } catch (problem) {
    say(error, problem instanceof ApiError ? problem.message : String(problem));
    return;
  }
  byId("delete-form").reset();
  say(error, "");
  update({ user: null });
  notice("Your account is deleted. We mailed you a confirmation.", { sticky: true });
  await refreshCredits();
}

async function resendVerification() {
  try {
    await api.requestVerification();
    notice(`We mailed a new link to ${state.user.email}.`);
  } catch (problem) {
    notice(problem.message);
  }
}

/** Wire the panel and the banner, then act on a mailed link in the address. */
export async function initSettings() {
  byId("account-open").addEventListener("click", () => {
    show(byId("settings"));
    byId("settings").focus();
    byId("settings").scrollIntoView({ block: "start" });
  });
  byId("password-form").addEventListener("submit", changePassword);
  byId("export").addEventListener("click", downloadData);
  byId("delete-form").addEventListener("submit", deleteAccount);
  byId("delete-confirm").addEventListener("input", (event) => {
    byId("delete-submit").disabled = event.currentTarget.value.trim() !== CONFIRMATION;
  });
  byId("verify-resend").addEventListener("click", resendVerification);
  byId("reset-form").addEventListener("submit", submitReset);
  byId("reset-cancel").addEventListener("click", () => byId("reset").close());

  subscribe(({ user }) => {
    show(byId("verify-banner"), Boolean(user && !user.emailVerified));
    if (!user) show(byId("settings"), false);
  });
}

/** Act on `?verify=` or `?reset=` in the address the page was opened with. */
export async function followMailedLink() {
  const query = new URLSearchParams(window.location.search);
  const verifyToken = query.get("verify");
  const reset = query.get("reset");
  if (!verifyToken && !reset) return;
  forgetLink();
  if (verifyToken) {
    await verify(verifyToken);
  } else {
    resetToken = reset;
    say(byId("reset-error"), "");
    byId("reset").showModal();
    byId("reset-password").focus();
  }
}
