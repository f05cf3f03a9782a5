// What the whole page shares: who is signed in and the credits. Modules subscribe to changes.

import { api } from "./api.js";

const listeners = new Set();

export const state = {
  user: null, // the AuthResponse user, or null when anonymous
  credits: null, // the last CreditsResponse
};

/** Call `listener(state)` on every change (and once now). */
export function subscribe(listener) {
  listeners.add(listener);
  listener(state);
}

/** Merge `changes` into the state and tell every listener. */
export function update(changes) {
  Object.assign(state, changes);
  for (const listener of listeners) listener(state);
}

/** Ask the API for the current credits (after anything that may have changed them). */
export async function refreshCredits() {
  update({ credits: await api.credits() });
}

/** Ask the API who is signed in (a 401 means nobody). */
export async function refreshUser() {
  try {
    update({ user: (await api.me()).user });
  } catch (error) {
    if (error.status !== 401) throw error;
    update({ user: null });
  }
}

/**
 * Credits first, then, only when they say the request carried a valid session, who is
 * signed in: an anonymous visit asks nothing that is bound to fail (the session cookie
 * is HttpOnly, so the page cannot look at it itself).
 */
export async function refreshSession() {
  await refreshCredits();
  if (state.credits.authenticated) await refreshUser();
  else update({ user: null });
}
