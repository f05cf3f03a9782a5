// The credits in the header, and buying packs: instant (added at once) or through the
// payment provider's page (redirect to `checkoutUrl`, then poll the purchase on return).

import { openAuth } from "./account.js";
import { api, once } from "./api.js";
import { refreshCredits, state, subscribe, update } from "./state.js";
import { byId, credits, pause, say, show } from "./ui.js";

const PENDING_KEY = "picpaygo.pendingPurchase";
// Why buying needs an account, said wherever an anonymous person reaches for a pack.
export const WHY_SIGN_UP = "Bought credits are kept in an account, so they are yours on any "
  + "device and never lost with this browser: create one (it takes a few seconds) or sign in, "
  + "then choose a pack.";
const POLL_MS = 1000;
const POLL_LIMIT_MS = 3 * 60 * 1000;

function render({ credits: view, user }) {
  if (view) {
    byId("credits-total").textContent = credits(view.credits);
    byId("credits-detail").textContent = view.authenticated
      ? `${view.freeCredits} free · ${view.balance} bought`
      : `${view.freeCredits} free`;
  }
  show(byId("free-note"), !user); // the free pictures are an anonymous visitor's
  byId("buy-help").textContent = user
    ? "One credit makes one picture. Choose a pack."
    : "One credit makes one picture. Sign up or sign in to buy a pack.";
}

/** "$5.00": an amount in minor units of `currency`, in the reader's own way of writing it. */
export function price(amount, currency) {
  const format = new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() });
  return format.format(amount / 10 ** format.resolvedOptions().maximumFractionDigits);
}

/** Put each pack's price on its button (from GET /api/credits/packs). */
export async function loadPrices() {
  try {
    const { packs } = await api.packs();
    for (const { pack, amount, currency } of packs) {
      const slot = document.querySelector(`[data-pack="${pack}"] .price`);
      if (slot) slot.textContent = price(amount, currency);
    }
  } catch {
    // Without prices the packs still work: the payment page shows the price.
  }
}

/** Bring the "Buy credits" section into view and focus (the 402 path leads here). */
export function goBuy() {
  const section = byId("buy");
  section.scrollIntoView({ behavior: "smooth", block: "center" });
  section.focus({ preventScroll: true });
  if (!state.user) openAuth("signup", () => byId("buy").focus(), WHY_SIGN_UP);
}

async function buy(pack, button) {
  const status = byId("buy-status");
  if (!state.user) {
    openAuth("signup", () => buy(pack, button), WHY_SIGN_UP);
    return;
  }
  button.disabled = true;
  say(status, `Buying ${credits(pack)}…`);
  try {
    const answer = await once((key) => api.checkout(pack, key));
    if (answer.status === "pending" && answer.checkoutUrl) {
      sessionStorage.setItem(PENDING_KEY, answer.purchaseId);
      say(status, "Taking you to the payment page…");
      window.location.assign(answer.checkoutUrl);
      return;
    }
    update({ credits: answer });
    say(status, `${credits(pack)} added. You now have ${credits(answer.credits)}.`);
  } catch (problem) {
    say(status, problem.message);
    if (problem.status === 401) openAuth("signin", () => buy(pack, button));
  } finally {
    button.disabled = false;
  }
}

const FINAL_WORDS = {
  failed: "The payment failed; no credits were added.",
  expired: "The payment page expired before the payment; no credits were added.",
  reversed: "That payment was reversed.",
};

/** After the provider sends the browser back: follow the purchase until it is settled. */
export async function resumeCheckout() {
  const params = new URLSearchParams(window.location.search);
  const outcome = params.get("checkout");
  let purchaseId = params.get("purchase") || sessionStorage.getItem(PENDING_KEY);
  if (!outcome && !purchaseId) return;
  window.history.replaceState(null, "", window.location.pathname);
  const status = byId("buy-status");
  if (outcome === "cancel") {
    sessionStorage.removeItem(PENDING_KEY);
    say(status, "Payment cancelled: nothing was charged.");
    return;
  }
  if (!state.user) {
    say(status, "Sign in to see your purchase.");
    return;
  }
  byId("buy").scrollIntoView({ block: "center" });
  try {
    if (!purchaseId) purchaseId = (await api.purchases(1)).purchases[0]?.purchaseId;
    if (!purchaseId) return;
    say(status, "Waiting for the payment to be confirmed…");
    const started = Date.now();
    let purchase = await api.purchase(purchaseId);
    while (purchase.status === "pending" && Date.now() - started < POLL_LIMIT_MS) {
      await pause(POLL_MS);
      purchase = await api.purchase(purchaseId);
    }
    if (purchase.status === "pending") {
      say(status, "The payment is still being confirmed; your credits will appear once it is.");
      return;
    }
    sessionStorage.removeItem(PENDING_KEY);
    await refreshCredits();
    say(status, purchase.status === "paid"
      ? `Payment received: ${credits(purchase.pack)} added. You now have ${credits(state.credits.credits)}.`
      : FINAL_WORDS[purchase.status] || `The purchase is ${purchase.status}.`);
  } catch (problem) {
    say(status, problem.message);
  }
}

/** Wire the pack buttons and the credits in the header. */
export function initCredits() {
  subscribe(render);
  for (const button of document.querySelectorAll("[data-pack]")) {
    button.addEventListener("click", () => buy(Number(button.dataset.pack), button));
  }
}
