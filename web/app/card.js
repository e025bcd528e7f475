// A token's card: the page's state of one token (newCard: what the agent's
// listings say of it and what this page did on it), and the elements that
// show it: its badges, its certificates, its tasks first (tasks.js), then
// the other actions (forms.js), each shown only where it applies. A card is
// built once and rendered again after each listing and each change, keeping
// its forms and what is typed in them; it is built anew in another language
// or when its token gains or loses a PIN pad.

import { t, span } from "./i18n.js";
import { h, badge, say, explain, dnText, day, place } from "./dom.js";
import { lockButtons } from "./throttle.js";
import { pinEntry, changeForm, unlockForm, signForm, renewForm } from "./forms.js";
import { renderTasks, unlockApplies, openRenewal } from "./tasks.js";

// newCard is the page's state of one token: the agent's listings, the
// requests this page made (csrs: key id → CSR), the throttles, and the
// elements showing them. card.render() shows its state again, for the
// modules that change it.
function newCard(token) {
  const card = { token, certs: [], certErr: null, pending: [], keys: [], media: null, listErr: null,
    csrs: new Map(), opened: null, wrongPIN: false, throttle: { user: 0, so: 0 } };
  card.render = () => renderCard(card);
  return card;
}

// createCard makes the card of the token tok from what the listing read
// of it (see app.js).
export function createCard(tok, read) {
  const card = Object.assign(newCard(tok), read);
  buildCard(card);
  return card;
}

// updateCard shows what a new listing read of the card's token. The forms
// ask for PINs or not by how the token's PINs are entered (pinEntry), so a
// token that gained or lost a PIN pad, or its need of a login, gets its
// card built anew.
export function updateCard(card, tok, read) {
  const entry = pinEntry(card.token);
  Object.assign(card, { token: tok }, read);
  if (pinEntry(tok) !== entry) rebuildCard(card);
  else renderCard(card);
}

function pinBadge(pin) {
  if (!pin) return null;
  if (pin.locked) return badge("bad", t("pinLocked"), { "data-pin": "locked" });
  if (pin.finalTry) return badge("bad", t("pinFinalTry"), { "data-pin": "finalTry" });
  if (pin.countLow) return badge("warn", t("pinCountLow"), { "data-pin": "countLow" });
  if (!pin.initialized) return badge("warn", t("pinNotSet"), { "data-pin": "notSet" });
  return badge("ok", t("pinOk"), { "data-pin": "ok" });
}

function lifetimeBadge(lt) {
  switch (lt && lt.status) {
    case "valid": return badge("ok", t("valid"), { "data-status": "valid" });
    case "expiring": return badge("warn", t("expiring", { n: lt.daysLeft }), { "data-status": "expiring" });
    case "expired": return badge("bad", t("expired"), { "data-status": "expired" });
    default: return badge("info", t("notYetValid"), { "data-status": "not_yet_valid" });
  }
}

function certTable(certs) {
  const cols = ["subject", "issuer", "validUntil", "status", "remaining"];
  return h("table", {},
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, t(c))))),
    h("tbody", {}, certs.map((c) => h("tr", { "data-cert": c.id },
      h("td", { "data-label": t("subject") }, dnText(c.subject)),
      h("td", { "data-label": t("issuer") }, dnText(c.issuer)),
      h("td", { "data-label": t("validUntil") }, day(c.notAfter)),
      h("td", { "data-label": t("status") }, lifetimeBadge(c.lifetime)),
      h("td", { "data-label": t("remaining"), class: "remaining" }, span(c.lifetime && c.lifetime.remaining)),
    ))));
}

function buildCard(card) {
  card.forms = new Set();
  card.taskEls = new Map();
  const parts = {
    title: h("h2", {}),
    meta: h("p", { class: "meta" }),
    badges: h("div", { class: "badges" }),
    msg: h("p", { class: "msg card-msg", role: "status" }),
    tasks: h("div", { class: "tasks" }),
    certs: h("div", { class: "certs" }),
    moreTitle: h("h3", {}, t("moreActions")),
    more: h("div", { class: "more" }),
  };
  parts.change = changeForm(card);
  parts.unlock = unlockForm(card);
  parts.sign = signForm(card, (id) => openRenewal(card, id));
  parts.renew = renewForm(card);
  card.parts = parts;
  card.el = h("section", { class: "token", "data-token": card.token.id },
    parts.title, parts.meta, parts.badges, parts.msg, parts.tasks,
    h("h3", {}, t("certificates")), parts.certs,
    parts.moreTitle, parts.more);
  renderCard(card);
}

// rebuildCard builds the card anew in place, in the page's language, for
// the token as it is now; what was typed in its forms goes.
export function rebuildCard(card) {
  const old = card.el;
  buildCard(card);
  old.replaceWith(card.el);
}

// renderCard shows the card's state, keeping the forms and what is typed in
// them.
function renderCard(card) {
  if (!card.el) return;
  const { token: tok, parts } = card;
  const pin = tok.pin || {};
  parts.title.textContent = tok.label;
  parts.meta.textContent = [tok.manufacturer, tok.model].filter(Boolean).join(" · ") + " · " + t("serial") + " " + tok.serial;
  const b = [];
  if (tok.media && tok.media.legacy) b.push(badge("warn", t("legacy"), { "data-media": "legacy", title: tok.media.description || null }));
  else if (tok.media) b.push(badge("info", t("media") + ": " + (tok.media.description || tok.media.profile), { "data-media": tok.media.profile }));
  b.push(pinBadge(tok.pin));
  if (pin.soLocked) b.push(badge("bad", t("soLocked")));
  if (tok.readOnly) b.push(badge("info", t("readOnly")));
  parts.badges.replaceChildren(...b.filter(Boolean));
  if (card.certErr) parts.certs.replaceChildren(h("p", { class: "msg error" }, explain(card.certErr)));
  else if (!card.certs.length) parts.certs.replaceChildren(h("p", {}, t("noCerts")));
  else parts.certs.replaceChildren(certTable(card.certs));
  // A listing that failed says so until one works.
  if (card.listErr) {
    say(parts.msg, "error", explain(card.listErr));
    parts.msg.dataset.listing = "failed";
  } else if (parts.msg.dataset.listing) say(parts.msg, "", "");
  renderTasks(card);
  const usable = !pin.locked;
  const more = [];
  if (usable && !tok.readOnly) more.push(parts.change);
  if (!pin.locked && unlockApplies(card)) more.push(parts.unlock);
  if (usable && card.certs.length) {
    parts.sign.update();
    more.push(parts.sign);
    if (!tok.readOnly) {
      parts.renew.update();
      more.push(parts.renew);
    }
  }
  place(parts.more, more);
  parts.moreTitle.hidden = !more.length;
  lockButtons(card);
}
