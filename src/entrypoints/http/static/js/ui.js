// Small DOM helpers shared by the page's modules.

/** The element with this id. */
export const byId = (id) => document.getElementById(id);

/** Show or hide an element (the `hidden` attribute, so it also leaves the accessibility tree). */
export function show(element, visible = true) {
  element.hidden = !visible;
}

/** Put `text` in an error element and show it; an empty text hides it. */
export function say(element, text) {
  element.textContent = text || "";
  show(element, Boolean(text));
}

let noticeTimer;

/** A short page-wide message in the polite live region under the header. */
export function notice(text, { sticky = false } = {}) {
  const box = byId("notice");
  clearTimeout(noticeTimer);
  say(box, text);
  if (text && !sticky) noticeTimer = setTimeout(() => say(box, ""), 8000);
}

/** "3 Jan, 14:05" in the reader's own locale. */
export function shortDate(iso) {
  return new Date(iso).toLocaleString(undefined, {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
  });
}

/** A promise that resolves after `ms` milliseconds. */
export const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Words for a count: "1 credit", "5 credits". */
export const credits = (n) => `${n} credit${n === 1 ? "" : "s"}`;
