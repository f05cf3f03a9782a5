// The PicPayGo HTTP API, as the page uses it: same origin, cookie session, JSON in and out.

/** An error answer from the API, carrying its own sentence (`detail`). */
export class ApiError extends Error {
  constructor(status, detail, retryAfter) {
    super(detail);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

const UNREACHABLE = "PicPayGo cannot be reached right now. Check your connection and try again.";

/** A fresh Idempotency-Key (128 random bits; works on plain-HTTP pages too). */
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Call the API. `json` is sent as an `application/json` body, `form` as multipart.
 * Resolves to the parsed JSON body (or null for 204); rejects with an ApiError.
 */
export async function call(path, { method = "GET", json, form, key } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (key) init.headers["Idempotency-Key"] = key;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form; // the browser sets the multipart boundary
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, UNREACHABLE);
  }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && typeof body.detail === "string" && body.detail
      ? body.detail
      : `The server answered ${response.status} ${response.statusText}.`.replace(" .", ".");
    throw new ApiError(response.status, detail, response.headers.get("Retry-After"));
  }
  return body;
}

export const api = {
  credits: () => call("/api/credits"),
  packs: () => call("/api/credits/packs"),
  me: () => call("/api/auth/me"),
  googleConfig: () => call("/api/auth/google/config"),
  register: (email, password) => call("/api/auth/register", { method: "POST", json: { email, password } }),
  login: (email, password) => call("/api/auth/login", { method: "POST", json: { email, password } }),
  google: (credential) => call("/api/auth/google", { method: "POST", json: { credential } }),
  logout: () => call("/api/auth/logout", { method: "POST" }),
  requestVerification: () => call("/api/auth/email/verification", { method: "POST" }),
  verifyEmail: (token) => call("/api/auth/email/verify", { method: "POST", json: { token } }),
  forgotPassword: (email) => call("/api/auth/password/forgot", { method: "POST", json: { email } }),
  resetPassword: (token, password) =>
    call("/api/auth/password/reset", { method: "POST", json: { token, password } }),
  changePassword: (currentPassword, newPassword) =>
    call("/api/auth/password", { method: "POST", json: { currentPassword, newPassword } }),
  deleteAccount: (password) => call("/api/account", { method: "DELETE", json: { password } }),
  checkout: (pack, key) => call("/api/credits/checkout", { method: "POST", json: { pack }, key }),
  purchase: (id) => call(`/api/credits/purchases/${encodeURIComponent(id)}`),
  purchases: (limit = 1) => call(`/api/credits/purchases?limit=${limit}`),
  generate: (image, category, key) => {
    const form = new FormData();
    form.append("category", category);
    form.append("image", image, image.name || "photo");
    return call("/api/generate", { method: "POST", form, key });
  },
  job: (id) => call(`/api/generate/${encodeURIComponent(id)}`),
  jobEventsUrl: (id) => `/api/generate/${encodeURIComponent(id)}/events`,
  jobs: (before, limit = 12) => {
    const query = new URLSearchParams({ limit: String(limit) });
    if (before) query.set("before", before);
    return call(`/api/generate?${query}`);
  },
};

const RETRY_PAUSES_MS = [1000, 3000];

/**
 * Run `send(key)` for a paid action (generate, checkout) with one Idempotency-Key, and
 * send it again with the same key when the answer was lost (network error) or the
 * server asked for a retry (503): the API then charges once and replays its answer.
 */
export async function once(send) {
  const key = newKey();
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await send(key);
    } catch (problem) {
      const retriable = problem.status === 0 || problem.status === 503 || problem.status === 409;
      if (!retriable || attempt >= RETRY_PAUSES_MS.length) throw problem;
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSES_MS[attempt]));
    }
  }
}
