// The self-service page: the tokens plugged into this computer, their
// certificates and PINs, over the agent that serves this page. PINs are read
// from their inputs only to build one request; the inputs are cleared before
// the request is sent, and no PIN is logged or kept.
//
// This module lists the tokens into their cards and sets the page's
// language. The others: connection.js, the connection to the agent;
// card.js, a token's card; tasks.js, what needs doing, first on a card;
// forms.js, the forms of the actions, which take the PINs; throttle.js,
// the wrong-PIN throttle's countdown; dom.js, small helpers.

import { t, setLanguage, language, languages, pick } from "./i18n.js";
import { $, h } from "./dom.js";
import { call, start, renderNotice } from "./connection.js";
import { createCard, updateCard, rebuildCard } from "./card.js";

const LANG_KEY = "tokenagent.lang";
const cards = new Map(); // token id → card (see card.js)

function renderEmpty() {
  const list = $("tokens");
  const empty = list.querySelector(".empty");
  if (!cards.size && !empty) list.append(h("p", { class: "empty" }, t("noTokens")));
  if (cards.size && empty) empty.remove();
}

// readToken asks the agent for what a card of tok shows: its certificates,
// pending renewals, keys and, for legacy media, the carry-over; none needs
// a PIN. It returns null when the token has gone.
async function readToken(tok) {
  const token = { token: tok.id };
  const [certs, pending, keys, media] = await Promise.allSettled([
    call("certs.list", token),
    call("renewal.pending", token),
    call("keys.list", token),
    tok.media && tok.media.legacy ? call("media.check", token) : null,
  ]);
  const all = [certs, pending, keys, media];
  if (all.some((r) => r.status === "rejected" && r.reason.reason === "TOKEN_NOT_FOUND")) return null;
  const value = (r, pick, none) => (r.status === "fulfilled" && r.value ? pick(r.value) : none);
  return {
    certs: value(certs, (v) => v.certificates, []),
    certErr: certs.status === "rejected" ? certs.reason : null,
    pending: value(pending, (v) => v.pending, []),
    keys: value(keys, (v) => v.keys, []),
    media: value(media, (v) => v, null),
    listErr: [pending, keys, media].find((r) => r.status === "rejected")?.reason || null,
  };
}

// refreshOnce lists the tokens and what each holds, and updates the cards in
// place, so that forms being filled in survive an update.
async function refreshOnce() {
  const { tokens } = await call("tokens.list", {});
  const seen = new Set();
  for (const tok of tokens) {
    const read = await readToken(tok);
    if (!read) continue;
    seen.add(tok.id);
    let card = cards.get(tok.id);
    if (card) updateCard(card, tok, read);
    else {
      card = createCard(tok, read);
      cards.set(tok.id, card);
      $("tokens").append(card.el);
    }
  }
  for (const [id, card] of cards) {
    if (!seen.has(id)) {
      card.el.remove();
      cards.delete(id);
    }
  }
  renderEmpty();
}

function renderStatic() {
  document.title = t("title") + " — tokenagent";
  $("title").textContent = t("title");
  $("intro").textContent = t("intro");
  $("lang-label").textContent = t("language");
  const select = $("lang");
  select.replaceChildren(...Object.entries(languages).map(([code, name]) =>
    h("option", { value: code, lang: code }, name)));
  select.value = language();
}

function applyLanguage(code) {
  setLanguage(code);
  renderStatic();
  for (const card of cards.values()) rebuildCard(card);
  const empty = $("tokens").querySelector(".empty");
  if (empty) empty.textContent = t("noTokens");
  renderNotice();
}

function initialLanguage() {
  let saved = null;
  try {
    saved = localStorage.getItem(LANG_KEY);
  } catch { /* storage may be disabled */ }
  const param = new URLSearchParams(location.search).get("lang");
  return pick(param || saved || navigator.language);
}

$("lang").addEventListener("change", (ev) => {
  try {
    localStorage.setItem(LANG_KEY, ev.target.value);
  } catch { /* storage may be disabled */ }
  applyLanguage(ev.target.value);
});
applyLanguage(initialLanguage());
start(refreshOnce);
