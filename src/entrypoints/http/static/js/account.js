// Sign up, sign in (email + password, or Google Identity Services when the API enables it),
// sign out, and the header's account area.

import { api } from "./api.js";
import { refreshCredits, state, subscribe, update } from "./state.js";
import { byId, notice, say, show } from "./ui.js";

const GOOGLE_SCRIPT = "https://accounts.google.com/gsi/client";

const TEXT = {
  signin: {
    title: "Sign in", submit: "Sign in", switchText: "New here?", switchButton: "Create an account",
    autocomplete: "current-password",
  },
  signup: {
    title: "Create your account", submit: "Sign up", switchText: "Already have an account?",
    switchButton: "Sign in instead", autocomplete: "new-password",
  },
  forgot: {
    title: "Reset your password", submit: "Send me a link", switchText: "Remembered it?",
    switchButton: "Sign in", autocomplete: "current-password",
  },
};

let mode = "signin";
let afterSignIn = null;

/**
 * Open the sign-in or sign-up dialog; `then` runs once the person is signed in, and
 * `reason` (if any) says why they are asked to.
 */
export function openAuth(which = "signin", then = null, reason = "") {
  afterSignIn = then;
  setMode(which);
  clearErrors();
  say(byId("auth-reason"), reason);
  byId("auth").showModal();
  byId("auth-email").focus();
}

function clearErrors() {
  say(byId("auth-error"), "");
  for (const id of ["auth-email", "auth-password"]) byId(id).removeAttribute("aria-invalid");
}

/** Mark the first field that is wrong, move to it, and say what is wrong. */
function refuse(field, message) {
  byId(field).setAttribute("aria-invalid", "true");
  say(byId("auth-error"), message);
  byId(field).focus();
}

function setMode(which) {
  mode = which;
  const text = TEXT[which];
  byId("auth-title").textContent = text.title;
  byId("auth-submit").textContent = text.submit;
  byId("auth-switch-text").textContent = text.switchText;
  byId("auth-switch").textContent = text.switchButton;
  byId("auth-password").autocomplete = text.autocomplete;
  show(byId("password-help"), which === "signup");
  show(byId("auth-password-field"), which !== "forgot");
  show(byId("forgot-row"), which === "signin");
}

async function forgot(email) {
  const button = byId("auth-submit");
  button.disabled = true;
  try {
    await api.forgotPassword(email);
    byId("auth").close();
    notice(`If an account has the email ${email}, we mailed it a link to choose a new password.`, { sticky: true });
  } catch (problem) {
    say(byId("auth-error"), problem.message);
  } finally {
    button.disabled = false;
  }
}

async function signedIn(user, message) {
  byId("auth").close();
  byId("auth-form").reset();
  update({ user });
  notice(message);
  await refreshCredits();
  const then = afterSignIn;
  afterSignIn = null;
  if (then) then();
}

async function submit(event) {
  event.preventDefault();
  const email = byId("auth-email").value.trim();
  const password = byId("auth-password").value;
  const error = byId("auth-error");
  clearErrors();
  if (mode === "forgot") {
    if (email) await forgot(email);
    else refuse("auth-email", "Enter the email of your account.");
    return;
  }
  if (!email) {
    refuse("auth-email", password ? "Enter your email." : "Enter your email and a password.");
    return;
  }
  if (!password) {
    refuse("auth-password", "Enter a password.");
    return;
  }
  if (mode === "signup" && password.length < 8) {
    refuse("auth-password", "Choose a password of at least 8 characters.");
    return;
  }
  const button = byId("auth-submit");
  button.disabled = true;
  try {
    const answer = mode === "signup" ? await api.register(email, password) : await api.login(email, password);
    await signedIn(answer.user, mode === "signup" ? "Welcome! Your account is ready." : "Signed in.");
  } catch (problem) {
    say(error, problem.message);
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await api.logout();
  } catch (problem) {
    notice(problem.message);
    return;
  }
  update({ user: null });
  notice("Signed out.");
  await refreshCredits();
}

function loadGoogle(clientId) {
  const script = document.createElement("script");
  script.src = GOOGLE_SCRIPT;
  script.async = true;
  script.onload = () => {
    window.google.accounts.id.initialize({
      client_id: clientId,
      callback: async ({ credential }) => {
        try {
          await signedIn((await api.google(credential)).user, "Signed in with Google.");
        } catch (problem) {
          say(byId("auth-error"), problem.message);
        }
      },
    });
    window.google.accounts.id.renderButton(byId("google-button"), {
      theme: "outline", size: "large", text: "continue_with", width: 280,
    });
    show(byId("google"));
  };
  script.onerror = () => show(byId("google"), false); // offline: email sign-in still works
  document.head.append(script);
}

/** Wire the account controls; resolves once the Google configuration is known. */
export async function initAccount() {
  for (const id of ["sign-in-open", "sign-up-open"]) {
    byId(id).addEventListener("click", (event) => openAuth(event.currentTarget.dataset.authMode));
  }
  byId("sign-out").addEventListener("click", signOut);
  byId("auth-form").addEventListener("submit", submit);
  byId("auth-cancel").addEventListener("click", () => byId("auth").close());
  byId("auth-close").addEventListener("click", () => byId("auth").close());
  byId("auth-switch").addEventListener("click", () => {
    setMode(mode === "signin" ? "signup" : "signin");
    clearErrors();
  });
  byId("forgot-open").addEventListener("click", () => {
    setMode("forgot");
    say(byId("auth-error"), "");
    byId("auth-email").focus();
  });

  subscribe(({ user }) => {
    show(byId("who"), Boolean(user));
    byId("who").textContent = user ? user.email : "";
    show(byId("sign-in-open"), !user);
    show(byId("sign-up-open"), !user);
    show(byId("sign-out"), Boolean(user));
    show(byId("account-open"), Boolean(user));
  });

  try {
    const config = await api.googleConfig();
    if (config.enabled && config.clientId) loadGoogle(config.clientId);
  } catch {
    // Google sign-in simply stays hidden.
  }
}

export const currentUser = () => state.user;
