// The self-service page: the tokens plugged into this computer, their
// certificates and PINs, over the agent that serves this page. PINs are read
// from their inputs only to build one request; the inputs are cleared before
// the request is sent, and no PIN is logged or kept.

import { connect, LOCAL_NETWORK_DENIED } from "../tokenagent.js";
import { t, has, setLanguage, language, languages, pick, span } from "./i18n.js";

const LANG_KEY = "tokenagent.lang";
const $ = (id) => document.getElementById(id);

let agent = null;
const cards = new Map(); // token id → {token, certs, certErr, el, parts}
let refreshing = null;
let again = false;

// h builds an element: h("p", {class: "x"}, "text", child).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null) el.append(c);
  return el;
}

function badge(kind, text, attrs) {
  return h("span", { class: "badge " + kind, ...attrs }, text);
}

function b64(buf) {
  const bytes = new Uint8Array(buf);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function unb64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// explain turns an error of the client into guidance for people.
function explain(err) {
  const reason = err && err.reason;
  const data = (err && err.data) || {};
  switch (reason) {
    case "PIN_INCORRECT":
      return t(data.finalTry ? "err.PIN_INCORRECT_FINAL" : data.countLow ? "err.PIN_INCORRECT_LOW" : "err.PIN_INCORRECT");
    case "SO_PIN_INCORRECT":
      return t(data.finalTry ? "err.SO_PIN_INCORRECT_FINAL" : "err.SO_PIN_INCORRECT");
    case "PIN_INVALID":
      return t("err.PIN_INVALID", { min: data.minLen ?? "?", max: data.maxLen ?? "?" });
    case "RATE_LIMITED":
      return t("err.RATE_LIMITED", { n: data.retryAfterSeconds ?? 60 });
  }
  if (reason && has("err." + reason)) return t("err." + reason, { msg: err.message });
  return t("err.other", { msg: (err && err.message) || String(err) });
}

function say(out, kind, text) {
  out.className = "msg " + kind;
  out.textContent = text;
}

function notice(kind, text) {
  const n = $("notice");
  n.className = kind;
  n.textContent = text;
}

// ---- the token cards

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
      h("td", { "data-label": t("subject") }, c.subject),
      h("td", { "data-label": t("issuer") }, c.issuer),
      h("td", { "data-label": t("validUntil") }, h("time", { datetime: c.notAfter }, c.notAfter.slice(0, 10))),
      h("td", { "data-label": t("status") }, lifetimeBadge(c.lifetime)),
      h("td", { "data-label": t("remaining"), class: "remaining" }, span(c.lifetime && c.lifetime.remaining)),
    ))));
}

function field(key, input) {
  return h("label", {}, h("span", {}, t(key)), input);
}

function pinInput(name, autocomplete) {
  return h("input", { type: "password", name, required: true, autocomplete, inputmode: "text" });
}

// busy runs fn with the form's button disabled.
async function busy(form, fn) {
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    await fn();
  } finally {
    button.disabled = false;
  }
}

// handleError explains err in out; after PIN_FINAL_TRY it shows the form's
// confirmation box, after PIN_LOCKED it opens the unlock form.
function handleError(card, form, out, err) {
  say(out, "error", explain(err));
  if (err && err.reason === "PIN_FINAL_TRY") form.querySelector(".final").hidden = false;
  if (err && err.reason === "PIN_LOCKED") card.parts.unlock.open = true;
  scheduleRefresh();
}

function finalTryBox() {
  return h("label", { class: "check final", hidden: true },
    h("input", { type: "checkbox", name: "confirmFinalTry" }), h("span", {}, t("confirmFinal")));
}

// pinForm builds the form of a PIN operation: a secret (the current PIN or
// the unlock code), a new PIN typed twice, and the final-try confirmation.
// spec names the form's class, the secret's field, the method and texts.
function pinForm(card, spec) {
  const out = h("p", { class: "msg", role: "alert" });
  const form = h("form", { class: spec.kind },
    ...(spec.hint ? [h("p", { class: "hint" })] : []),
    field(spec.secretLabel, pinInput(spec.secret, spec.autocomplete)),
    field("newPin", pinInput("newPin", "new-password")),
    field("repeatPin", pinInput("newPin2", "new-password")),
    finalTryBox(),
    h("button", { type: "submit" }, t(spec.submit)));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const el = form.elements;
    const params = { token: card.token.id, [spec.secret]: el[spec.secret].value, newPin: el.newPin.value };
    const same = el.newPin.value === el.newPin2.value;
    if (el.confirmFinalTry.checked) params.confirmFinalTry = true;
    form.reset();
    form.querySelector(".final").hidden = true;
    if (!same) return say(out, "error", t("pinMismatch"));
    say(out, "", t("working"));
    busy(form, async () => {
      try {
        await agent.call(spec.method, params);
        say(out, "ok", t(spec.done));
        scheduleRefresh();
      } catch (err) {
        handleError(card, form, out, err);
      }
    });
  });
  return h("details", { class: spec.kind }, h("summary", {}, t(spec.summary)), form, out);
}

function changeForm(card) {
  return pinForm(card, { kind: "change", secret: "oldPin", secretLabel: "currentPin", autocomplete: "current-password",
    method: "pin.change", submit: "submitChange", done: "pinChanged", summary: "changePin" });
}

function unlockForm(card) {
  return pinForm(card, { kind: "unlock", hint: true, secret: "soPin", secretLabel: "unlockCode", autocomplete: "off",
    method: "pin.unlock", submit: "submitUnlock", done: "pinUnlocked", summary: "unlockPin" });
}

// signDigest says how the page signs a file with cert's key: WebCrypto
// hashes the file here and only the digest goes to the agent, except for a
// GOST key: WebCrypto has no Streebog, so the file goes whole and the agent
// hashes it with the Streebog of the key's size.
function signDigest(cert) {
  if (cert && cert.keyAlgorithm === "GOST-2012") return { digestAlgorithm: "STREEBOG-" + cert.keySize, webCrypto: null };
  return { digestAlgorithm: "SHA-256", webCrypto: "SHA-256" };
}

function signForm(card) {
  const out = h("p", { class: "msg", role: "alert" });
  const link = h("p", { class: "download" });
  const form = h("form", { class: "sign" },
    field("certificate", h("select", { name: "cert", required: true })),
    field("file", h("input", { type: "file", name: "file", required: true })),
    field("pin", pinInput("pin", "current-password")),
    finalTryBox(),
    h("button", { type: "submit" }, t("submitSign")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const el = form.elements;
    const file = el.file.files[0];
    const digest = signDigest(card.certs.find((c) => c.id === el.cert.value));
    const params = { token: card.token.id, pin: el.pin.value, cert: el.cert.value,
      digestAlgorithm: digest.digestAlgorithm, format: "cms", detached: true };
    if (el.confirmFinalTry.checked) params.confirmFinalTry = true;
    el.pin.value = "";
    el.confirmFinalTry.checked = false;
    form.querySelector(".final").hidden = true;
    if (!file) return say(out, "error", t("chooseFile"));
    say(out, "", t(digest.webCrypto ? "hashing" : "working"));
    busy(form, async () => {
      try {
        const bytes = await file.arrayBuffer();
        if (digest.webCrypto) params.digest = b64(await crypto.subtle.digest(digest.webCrypto, bytes));
        else params.data = b64(bytes);
        say(out, "", t("working"));
        const res = await agent.call("sign", params);
        delete params.pin;
        const name = file.name + ".p7s";
        const old = link.querySelector("a");
        if (old) URL.revokeObjectURL(old.href);
        const url = URL.createObjectURL(new Blob([unb64(res.signature)], { type: "application/pkcs7-signature" }));
        const a = h("a", { href: url, download: name }, t("downloadAgain", { name }));
        link.replaceChildren(a);
        a.click();
        say(out, "ok", t("signed", { name }));
      } catch (err) {
        delete params.pin;
        handleError(card, form, out, err);
      }
    });
  });
  return h("details", { class: "sign" }, h("summary", {}, t("signFile")), form, out, link);
}

function mediaForm(card) {
  const out = h("p", { class: "msg", role: "alert" });
  const result = h("div", { class: "media-result" });
  const form = h("form", { class: "media" }, h("button", { type: "submit" }, t("submitCheck")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    say(out, "", t("working"));
    busy(form, async () => {
      try {
        const r = await agent.call("media.check", { token: card.token.id });
        out.textContent = "";
        out.className = "msg";
        result.replaceChildren(
          h("p", { class: r.legacy ? "msg error" : "msg ok", "data-legacy": String(r.legacy) },
            r.legacy ? t("mediaLegacy", { to: r.upgradeTo || "?" }) : t("mediaCurrent")),
          h("dl", { class: "media" },
            h("dt", {}, t("mediaRemaining")), h("dd", { "data-part": "remaining" }, span(r.remaining)),
            h("dt", {}, t("mediaCarry")), h("dd", { "data-part": "carryOver" }, span(r.carryOver)),
            h("dt", {}, t("mediaCredit")), h("dd", { "data-part": "credit" }, span(r.credit))));
      } catch (err) {
        handleError(card, form, out, err);
      }
    });
  });
  return h("details", { class: "media" }, h("summary", {}, t("mediaCheck")), form, out, result);
}

function renewForm(card) {
  const out = h("p", { class: "msg", role: "alert" });
  let replaces = null;
  const prepare = h("form", { class: "renew-prepare" },
    h("p", {}, t("renewIntro")),
    field("certificate", h("select", { name: "cert", required: true })),
    field("pin", pinInput("pin", "current-password")),
    finalTryBox(),
    h("button", { type: "submit" }, t("submitPrepare")));
  const csrText = h("textarea", { class: "csr", name: "csr", readonly: true, rows: 8, spellcheck: "false" });
  const csrLink = h("a", {});
  const copy = h("button", { type: "button" }, t("copy"));
  const step2 = h("div", { class: "renew-step2", hidden: true },
    field("csr", csrText),
    h("p", { class: "actions" }, copy, " ", csrLink));
  const complete = h("form", { class: "renew-complete" },
    field("issuedCert", h("textarea", { name: "certificate", rows: 6, spellcheck: "false" })),
    field("issuedFile", h("input", { type: "file", name: "file", accept: ".pem,.crt,.cer,.der" })),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "removeOld" }), h("span", {}, t("removeOld"))),
    field("pin", pinInput("pin", "current-password")),
    finalTryBox(),
    h("button", { type: "submit" }, t("submitComplete")));
  step2.append(complete);
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(csrText.value);
      say(out, "ok", t("copied"));
    } catch {
      csrText.select();
    }
  });
  prepare.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const el = prepare.elements;
    const params = { token: card.token.id, pin: el.pin.value, cert: el.cert.value };
    if (el.confirmFinalTry.checked) params.confirmFinalTry = true;
    el.pin.value = "";
    el.confirmFinalTry.checked = false;
    prepare.querySelector(".final").hidden = true;
    say(out, "", t("working"));
    busy(prepare, async () => {
      try {
        const res = await agent.call("renewal.prepare", params);
        delete params.pin;
        replaces = params.cert;
        csrText.value = res.csr;
        const name = (card.token.label || "token") + "-" + res.key + ".csr";
        if (csrLink.href) URL.revokeObjectURL(csrLink.href);
        csrLink.href = URL.createObjectURL(new Blob([res.csr], { type: "application/pkcs10" }));
        csrLink.download = name;
        csrLink.textContent = t("downloadCsr", { name });
        step2.hidden = false;
        say(out, "ok", t("prepared"));
      } catch (err) {
        delete params.pin;
        handleError(card, prepare, out, err);
      }
    });
  });
  complete.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const el = complete.elements;
    const file = el.file.files[0];
    const params = { token: card.token.id, pin: el.pin.value, certificate: el.certificate.value.trim() };
    if (replaces) params.replaces = replaces;
    if (el.removeOld.checked) params.removeOld = true;
    if (el.confirmFinalTry.checked) params.confirmFinalTry = true;
    el.pin.value = "";
    el.confirmFinalTry.checked = false;
    complete.querySelector(".final").hidden = true;
    say(out, "", t("working"));
    busy(complete, async () => {
      try {
        if (!params.certificate && file) {
          const bytes = new Uint8Array(await file.arrayBuffer());
          const text = new TextDecoder().decode(bytes);
          params.certificate = text.includes("-----BEGIN") ? text : b64(bytes);
        }
        if (!params.certificate) {
          delete params.pin;
          return say(out, "error", t("noIssued"));
        }
        await agent.call("renewal.complete", params);
        delete params.pin;
        complete.reset();
        step2.hidden = true;
        csrText.value = "";
        replaces = null;
        say(out, "ok", t("renewed"));
        scheduleRefresh();
      } catch (err) {
        delete params.pin;
        handleError(card, complete, out, err);
      }
    });
  });
  return h("details", { class: "renew" }, h("summary", {}, t("renew")), prepare, step2, out);
}

function buildCard(card) {
  const parts = {
    title: h("h2", {}),
    meta: h("p", { class: "meta" }),
    badges: h("div", { class: "badges" }),
    certs: h("div", { class: "certs" }),
  };
  parts.change = changeForm(card);
  parts.unlock = unlockForm(card);
  parts.sign = signForm(card);
  parts.renew = renewForm(card);
  parts.media = mediaForm(card);
  card.parts = parts;
  card.el = h("section", { class: "token", "data-token": card.token.id },
    parts.title, parts.meta, parts.badges,
    h("h3", {}, t("certificates")), parts.certs,
    parts.change, parts.unlock, parts.sign, parts.renew, parts.media);
  updateCard(card);
}

function updateCard(card) {
  const { token: tok, parts } = card;
  parts.title.textContent = tok.label;
  parts.meta.textContent = [tok.manufacturer, tok.model].filter(Boolean).join(" · ") + " · " + t("serial") + " " + tok.serial;
  const b = [];
  if (tok.media && tok.media.legacy) b.push(badge("warn", t("legacy") + (tok.media.description ? ": " + tok.media.description : ""), { "data-media": "legacy" }));
  else if (tok.media) b.push(badge("info", t("media") + ": " + (tok.media.description || tok.media.profile), { "data-media": tok.media.profile }));
  b.push(pinBadge(tok.pin));
  if (tok.pin && tok.pin.soLocked) b.push(badge("bad", t("soLocked")));
  if (tok.readOnly) b.push(badge("info", t("readOnly")));
  parts.badges.replaceChildren(...b.filter(Boolean));
  if (card.certErr) parts.certs.replaceChildren(h("p", { class: "msg error" }, explain(card.certErr)));
  else if (!card.certs.length) parts.certs.replaceChildren(h("p", {}, t("noCerts")));
  else parts.certs.replaceChildren(certTable(card.certs));
  for (const d of [parts.sign, parts.renew]) {
    const select = d.querySelector("select");
    const chosen = select.value;
    select.replaceChildren(...card.certs.map((c) => h("option", { value: c.id }, c.subject + " — " + c.notAfter.slice(0, 10))));
    if (card.certs.some((c) => c.id === chosen)) select.value = chosen;
    d.hidden = !card.certs.length;
  }
  const hint = parts.unlock.querySelector(".hint");
  const locked = !!(tok.pin && tok.pin.locked);
  hint.textContent = locked ? t("unlockHint") : "";
  hint.className = locked ? "hint msg error" : "hint";
  if (locked && !card.wasLocked) parts.unlock.open = true;
  card.wasLocked = locked;
}

function renderEmpty() {
  const list = $("tokens");
  const empty = list.querySelector(".empty");
  if (!cards.size && !empty) list.append(h("p", { class: "empty" }, t("noTokens")));
  if (cards.size && empty) empty.remove();
}

// refresh lists the tokens and their certificates and updates the cards in
// place, so that forms being filled in survive an update.
async function refreshOnce() {
  const { tokens } = await agent.call("tokens.list", {});
  const seen = new Set();
  for (const tok of tokens) {
    seen.add(tok.id);
    let certs = [];
    let certErr = null;
    try {
      certs = (await agent.call("certs.list", { token: tok.id })).certificates;
    } catch (err) {
      if (err.reason === "TOKEN_NOT_FOUND") continue;
      certErr = err;
    }
    let card = cards.get(tok.id);
    if (card) {
      Object.assign(card, { token: tok, certs, certErr });
      updateCard(card);
    } else {
      card = { token: tok, certs, certErr };
      buildCard(card);
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

function scheduleRefresh() {
  if (!agent) return;
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = (async () => {
    do {
      again = false;
      try {
        await refreshOnce();
        document.body.dataset.ready = "1";
      } catch (err) {
        notice("error", explain(err));
      }
    } while (again);
    refreshing = null;
  })();
}

// ---- language

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
  for (const card of cards.values()) {
    const old = card.el;
    buildCard(card);
    old.replaceWith(card.el);
  }
  const empty = $("tokens").querySelector(".empty");
  if (empty) empty.textContent = t("noTokens");
  const n = $("notice");
  if (n.dataset.key) n.textContent = t(n.dataset.key);
}

function initialLanguage() {
  let saved = null;
  try {
    saved = localStorage.getItem(LANG_KEY);
  } catch { /* storage may be disabled */ }
  const param = new URLSearchParams(location.search).get("lang");
  return pick(param || saved || navigator.language);
}

// ---- start

// This page comes from the agent itself, on loopback, which browsers never
// ask about (Local Network Access): the client reports it "granted", so the
// question and its Connect button that a portal needs (examples/portal) do
// not arise here. LOCAL_NETWORK_DENIED is still explained should a browser
// ever refuse it.
async function start() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  const n = $("notice");
  n.dataset.key = "connecting";
  notice("", t("connecting"));
  try {
    agent = await connect(url);
  } catch (err) {
    n.dataset.key = err.reason === LOCAL_NETWORK_DENIED ? "err.LOCAL_NETWORK_DENIED" : err.data?.busy ? "busy" : "unreachable";
    notice("error", t(n.dataset.key));
    setTimeout(start, 3000);
    return;
  }
  delete n.dataset.key;
  notice("", "");
  agent.addEventListener("close", () => {
    n.dataset.key = "unreachable";
    notice("error", t("unreachable"));
  });
  agent.addEventListener("open", () => {
    n.dataset.key = "reconnected";
    notice("", t("reconnected"));
    scheduleRefresh();
  });
  agent.on("tokens.changed", () => scheduleRefresh());
  scheduleRefresh();
}

$("lang").addEventListener("change", (ev) => {
  try {
    localStorage.setItem(LANG_KEY, ev.target.value);
  } catch { /* storage may be disabled */ }
  applyLanguage(ev.target.value);
});
applyLanguage(initialLanguage());
start();
