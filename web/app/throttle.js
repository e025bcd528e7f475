// The wrong-PIN throttle of each card: while the agent answers RATE_LIMITED
// for a kind of PIN, the card counts the wait down and the forms taking
// that kind cannot be submitted (lockButtons).
//
// A card's throttle holds, per kind of PIN ("user", "so"), the time
// (Date.now()) until which the agent answers RATE_LIMITED. One timer ticks
// for the cards being throttled while any is; a card no longer shown (its
// token gone) is dropped.

import { errorMessage } from "../tokenagent.js";
import { t, language } from "./i18n.js";
import { say } from "./dom.js";

let ticker = 0;
const counting = new Set(); // the cards whose throttles tick

export function throttled(card, kind) {
  return card.throttle[kind] > Date.now();
}

function secondsLeft(card, kind) {
  return Math.max(0, Math.ceil((card.throttle[kind] - Date.now()) / 1000));
}

export function startThrottle(card, kind, seconds) {
  card.throttle[kind] = Date.now() + seconds * 1000;
  counting.add(card);
  if (!ticker) ticker = setInterval(tick, 250);
  card.render();
}

// countdownText says, in the words of errorMessage, that kind's PIN may be
// tried again in n seconds.
function countdownText(kind, n) {
  return errorMessage({ reason: "RATE_LIMITED", method: kind === "so" ? "pin.unlock" : undefined, data: { retryAfterSeconds: n } }, language());
}

// tick updates the countdowns, and ends the throttles whose time is up.
function tick() {
  let any = false;
  for (const card of counting) {
    if (!card.el.isConnected) {
      counting.delete(card);
      continue;
    }
    for (const kind of ["user", "so"]) {
      if (!card.throttle[kind]) continue;
      const n = secondsLeft(card, kind);
      for (const el of card.el.querySelectorAll(`[data-countdown="${kind}"]`)) {
        if (n === 0) say(el, "ok", t("throttleOver"));
        else if (el.dataset.seconds !== String(n)) countdown(card, el, kind);
      }
      if (n > 0) any = true;
      else {
        card.throttle[kind] = 0;
        card.render();
      }
    }
    if (!card.throttle.user && !card.throttle.so) counting.delete(card);
  }
  if (!any) {
    clearInterval(ticker);
    ticker = 0;
  }
}

// countdown makes el show the live countdown of kind's throttle.
export function countdown(card, el, kind) {
  const n = secondsLeft(card, kind);
  el.textContent = countdownText(kind, n);
  el.dataset.countdown = kind;
  el.dataset.seconds = String(n);
}

// lockButtons disables the submit buttons of the card's forms that are
// busy or take a kind of PIN being throttled.
export function lockButtons(card) {
  for (const form of card.forms) {
    const off = form.dataset.busy === "1" || (!!form.dataset.pin && throttled(card, form.dataset.pin));
    for (const b of form.querySelectorAll("button[type=submit]")) b.disabled = off;
  }
}
