// The self-service page: the tokens plugged into this computer, their
// certificates and PINs, over the agent that serves this page. PINs are read
// from their inputs only to build one request; the inputs are cleared before
// the request is sent, and no PIN is logged or kept.
//
// Each token's card leads with what needs doing (its tasks): a locked PIN to
// unlock, renewals waiting for the issuer's certificate (renewal.pending,
// kept by the agent across reloads and restarts), certificates to renew,
// keys without a certificate, an enrolment for a token with none, legacy
// media to replace. The other actions follow, each shown only where it
// applies. While the agent throttles a kind of PIN (RATE_LIMITED) the card
// counts down and the forms taking that kind cannot be submitted.

import { connect, commonName as cnOf, errorMessage } from "../tokenagent.js";
import { t, setLanguage, language, languages, pick, span } from "./i18n.js";

const LANG_KEY = "tokenagent.lang";
const $ = (id) => document.getElementById(id);

// The key algorithms an enrolment offers, the first being the default: what
// issuers accept most widely first.
const ENROL_ALGORITHMS = ["RSA-2048", "RSA-3072", "EC-P256", "EC-P384"];

let agent = null;
const cards = new Map(); // token id → card (see newCard)
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

// commonName is the CN of a distinguished name as certs.list gives it, or
// the whole name when it has none.
function commonName(dn) {
  return cnOf(dn) ?? dn;
}

// dnText shows a distinguished name as its CN, the whole name on hover.
function dnText(dn) {
  return h("span", { class: "dn", title: dn }, commonName(dn));
}

function day(time) {
  return h("time", { datetime: time }, time.slice(0, 10));
}

// explain says what an error of the client means, in the page's language
// (errorMessage: never the agent's English message, which goes to the
// console for whoever debugs). ctx.certificate says the call's params hold
// a pasted certificate, which is what INVALID_PARAMS is then about.
function explain(err, ctx = {}) {
  if (err && err.message) console.debug("tokenagent:", err.reason, err.message);
  if (ctx.certificate && err && err.reason === "INVALID_PARAMS") return t("notCertificate");
  return errorMessage(err, language());
}

// say shows text in out, a message line, styled as kind ("ok", "error",
// "warn" or "" for neither).
function say(out, kind, text) {
  out.classList.remove("ok", "error", "warn");
  out.classList.add("msg");
  if (kind) out.classList.add(kind);
  out.textContent = text;
  delete out.dataset.countdown;
  delete out.dataset.listing;
}

// notice shows, above the cards, what text() says, and says it again in
// another language when the page's changes.
let noticeText = () => "";

function notice(kind, text) {
  const n = $("notice");
  n.className = kind;
  noticeText = text;
  n.textContent = text();
}

// ---- the wrong-PIN throttle

// A card's throttle holds, per kind of PIN ("user", "so"), the time
// (Date.now()) until which the agent answers RATE_LIMITED. One timer ticks
// for all cards while any is throttled.
let ticker = 0;

function throttled(card, kind) {
  return card.throttle[kind] > Date.now();
}

function secondsLeft(card, kind) {
  return Math.max(0, Math.ceil((card.throttle[kind] - Date.now()) / 1000));
}

function startThrottle(card, kind, seconds) {
  card.throttle[kind] = Date.now() + seconds * 1000;
  if (!ticker) ticker = setInterval(tick, 250);
  renderCard(card);
}

// countdownText says, in the words of errorMessage, that kind's PIN may be
// tried again in n seconds.
function countdownText(kind, n) {
  return errorMessage({ reason: "RATE_LIMITED", method: kind === "so" ? "pin.unlock" : undefined, data: { retryAfterSeconds: n } }, language());
}

// tick updates the countdowns, and ends the throttles whose time is up.
function tick() {
  let any = false;
  for (const card of cards.values()) {
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
        renderCard(card);
      }
    }
  }
  if (!any) {
    clearInterval(ticker);
    ticker = 0;
  }
}

// countdown makes el show the live countdown of kind's throttle.
function countdown(card, el, kind) {
  const n = secondsLeft(card, kind);
  el.textContent = countdownText(kind, n);
  el.dataset.countdown = kind;
  el.dataset.seconds = String(n);
}

// lockButtons disables the submit buttons of the card's forms that are
// busy or take a kind of PIN being throttled.
function lockButtons(card) {
  for (const form of card.forms) {
    const off = form.dataset.busy === "1" || (!!form.dataset.pin && throttled(card, form.dataset.pin));
    for (const b of form.querySelectorAll("button[type=submit]")) b.disabled = off;
  }
}

// ---- forms

function field(key, input) {
  return h("label", {}, h("span", {}, t(key)), input);
}

function pinInput(name, autocomplete) {
  return h("input", { type: "password", name, required: true, autocomplete, inputmode: "text" });
}

// The params that carry PINs, with how a form asks for each: its label, its
// autocomplete, and what the form says instead on a token with a PIN pad
// (pad, by the form's first PIN). A new PIN is typed twice. The PINs are
// dropped from a request's params once it has been answered.
const SECRETS = {
  pin: { label: "pin", autocomplete: "current-password", pad: "padPin" },
  oldPin: { label: "currentPin", autocomplete: "current-password", pad: "padChange" },
  soPin: { label: "unlockCode", autocomplete: "off", pad: "padUnlock" },
  newPin: { label: "newPin", autocomplete: "new-password", repeat: "repeatPin" },
};

// pinPad tells whether tok's PINs are typed on its reader's PIN pad
// (pin.protectedAuthPath): the page then asks for none and sends "" for
// each.
function pinPad(tok) {
  return !!(tok.pin && tok.pin.protectedAuthPath);
}

// pinFields asks for the PINs pins, or says on a token with a PIN pad
// that the reader asks for them.
function pinFields(card, pins) {
  if (pinPad(card.token)) return [h("p", { class: "pinpad" }, t(SECRETS[pins[0]].pad))];
  return pins.flatMap((p) => {
    const s = SECRETS[p];
    const input = field(s.label, pinInput(p, s.autocomplete));
    return s.repeat ? [input, field(s.repeat, pinInput(p + "2", s.autocomplete))] : [input];
  });
}

// readPINs puts the PINs pins into params, "" for each on a token with a
// PIN pad, and returns the key of a problem: a new PIN typed twice
// differently.
function readPINs(card, el, pins, params) {
  const pad = pinPad(card.token);
  for (const p of pins) params[p] = pad ? "" : el[p].value;
  if (!pad && pins.includes("newPin") && el.newPin.value !== el.newPin2.value) return "pinMismatch";
  return null;
}

function finalTryBox() {
  return h("label", { class: "check final", hidden: true },
    h("input", { type: "checkbox", name: "confirmFinalTry" }), h("span", {}, t("confirmFinal")));
}

// actionForm builds a form that makes a call taking PINs: its fields, then
// the PINs pins (see pinFields), the final-try confirmation and its submit
// button (the text submit; danger for one that deletes). On submit,
// read(elements, params) adds the form's values to params (the token id
// and the PINs already there) and returns the key of a problem to show
// instead of calling, if any; the PIN inputs and the final-try box are
// cleared before anything is sent; then run(params) makes the calls and
// returns the key of the message that says it worked. kind is the kind of
// PIN the form takes ("user", "so"), whose throttle keeps it from being
// submitted; ctx goes to explain.
function actionForm(card, out, { name, fields = [], pins = ["pin"], submit, danger, hidden, kind = "user", read = () => null, run, ctx }) {
  const form = h("form", { class: name, hidden }, ...fields, ...pinFields(card, pins), finalTryBox(),
    h("button", { type: "submit", class: danger ? "danger" : null }, t(submit)));
  form.dataset.pin = kind;
  card.forms.add(form);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (form.dataset.busy === "1" || throttled(card, kind)) return;
    const el = form.elements;
    const params = { token: card.token.id };
    const problem = readPINs(card, el, pins, params) || read(el, params);
    if (el.confirmFinalTry.checked) params.confirmFinalTry = true;
    for (const input of form.querySelectorAll("input[type=password]")) input.value = "";
    el.confirmFinalTry.checked = false;
    form.querySelector(".final").hidden = true;
    if (problem) return say(out, "error", t(problem));
    say(out, "", t("working"));
    form.dataset.busy = "1";
    lockButtons(card);
    (async () => {
      try {
        const done = await run(params, out);
        if (done) say(out, "ok", t(done));
      } catch (err) {
        failed(card, form, out, err, kind, ctx);
      } finally {
        for (const p of Object.keys(SECRETS)) delete params[p];
        delete form.dataset.busy;
        lockButtons(card);
        scheduleRefresh();
      }
    })();
  });
  return form;
}

// failed explains err in out: after PIN_FINAL_TRY it shows the form's
// confirmation box, after RATE_LIMITED it counts down.
function failed(card, form, out, err, kind, ctx) {
  say(out, "error", explain(err, ctx));
  switch (err && err.reason) {
    case "PIN_FINAL_TRY":
      form.querySelector(".final").hidden = false;
      break;
    case "RATE_LIMITED":
      startThrottle(card, kind, (err.data && err.data.retryAfterSeconds) || 60);
      say(out, "warn", "");
      countdown(card, out, kind);
      break;
    case "PIN_INCORRECT":
    case "SO_PIN_INCORRECT":
      card.wrongPIN = true;
      renderCard(card);
      break;
  }
}

// pinForm builds the form of a PIN operation: a secret (the current PIN or
// the unlock code) and a new PIN. spec names the form's class, the
// secret's param, the method and texts.
function pinForm(card, spec) {
  const out = h("p", { class: "msg", role: "alert" });
  const form = actionForm(card, out, {
    name: spec.kind,
    fields: spec.hint ? [h("p", { class: "hint" }, t(spec.hint))] : [],
    pins: [spec.secret, "newPin"],
    submit: spec.submit,
    kind: spec.pinKind,
    run: async (params) => {
      await agent.call(spec.method, params);
      return spec.done;
    },
  });
  return h("details", { class: spec.kind }, h("summary", {}, t(spec.summary)), form, out);
}

function changeForm(card) {
  return pinForm(card, { kind: "change", secret: "oldPin",
    method: "pin.change", submit: "submitChange", done: "pinChanged", summary: "changePin", pinKind: "user" });
}

function unlockForm(card) {
  return pinForm(card, { kind: "unlock", hint: "unlockHint", secret: "soPin",
    method: "pin.unlock", submit: "submitUnlock", done: "pinUnlocked", summary: "unlockPin", pinKind: "so" });
}

// signDigest says how the page signs a file with cert's key: WebCrypto
// hashes the file here and only the digest goes to the agent, except for a
// GOST key: WebCrypto has no Streebog, so the file goes whole and the agent
// hashes it with the Streebog of the key's size.
function signDigest(cert) {
  if (cert && cert.keyAlgorithm === "GOST-2012") return { digestAlgorithm: "STREEBOG-" + cert.keySize, webCrypto: null };
  return { digestAlgorithm: "SHA-256", webCrypto: "SHA-256" };
}

// expiryWarning says, before signing with cert, that it expires soon or has
// expired, and offers to renew it; null for a valid certificate.
function expiryWarning(card, cert) {
  const lt = (cert && cert.lifetime) || {};
  let text;
  switch (lt.status) {
    case "expiring": text = t("signExpiring", { n: lt.daysLeft, date: cert.notAfter.slice(0, 10) }); break;
    case "expired": text = t("signExpired", { date: cert.notAfter.slice(0, 10) }); break;
    case "not_yet_valid": text = t("signNotYet"); break;
    default: return null;
  }
  const renew = card.token.readOnly || lt.status === "not_yet_valid" ? null
    : h("button", { type: "button", class: "link", onclick: () => openRenewal(card, cert.id) }, t("renewNow"));
  return h("p", { class: "msg warn expiry-warning", "data-status": lt.status }, text, renew ? " " : null, renew);
}

// preferredCert is the certificate a form offers first: the valid one that
// lasts longest, else the one that lasts longest.
function preferredCert(certs) {
  const last = (list) => list.reduce((a, c) => (!a || c.notAfter > a.notAfter ? c : a), null);
  return last(certs.filter((c) => c.lifetime && c.lifetime.status === "valid")) || last(certs);
}

function certOptions(select, certs, preferred) {
  const chosen = select.value;
  select.replaceChildren(...certs.map((c) =>
    h("option", { value: c.id, title: c.subject }, commonName(c.subject) + " — " + c.notAfter.slice(0, 10))));
  if (certs.some((c) => c.id === chosen)) select.value = chosen;
  else if (preferred) select.value = preferred.id;
}

function signForm(card) {
  const out = h("p", { class: "msg", role: "alert" });
  const link = h("p", { class: "download" });
  const warning = h("div", { class: "warning" });
  const select = h("select", { name: "cert", required: true });
  const showWarning = () => warning.replaceChildren(...[expiryWarning(card, card.certs.find((c) => c.id === select.value))].filter(Boolean));
  select.addEventListener("change", showWarning);
  let file = null;
  const form = actionForm(card, out, {
    name: "sign",
    fields: [field("certificate", select), warning, field("file", h("input", { type: "file", name: "file", required: true }))],
    submit: "submitSign",
    read: (el, params) => {
      file = el.file.files[0];
      const digest = signDigest(card.certs.find((c) => c.id === el.cert.value));
      Object.assign(params, { cert: el.cert.value, digestAlgorithm: digest.digestAlgorithm, format: "cms", detached: true });
      return file ? null : "chooseFile";
    },
    run: async (params, o) => {
      const digest = signDigest(card.certs.find((c) => c.id === params.cert));
      const bytes = await file.arrayBuffer();
      if (digest.webCrypto) {
        say(o, "", t("hashing"));
        params.digest = b64(await crypto.subtle.digest(digest.webCrypto, bytes));
      } else params.data = b64(bytes);
      say(o, "", t("working"));
      const res = await agent.call("sign", params);
      const name = file.name + ".p7s";
      const old = link.querySelector("a");
      if (old) URL.revokeObjectURL(old.href);
      const url = URL.createObjectURL(new Blob([unb64(res.signature)], { type: "application/pkcs7-signature" }));
      const a = h("a", { href: url, download: name }, t("downloadAgain", { name }));
      link.replaceChildren(a);
      a.click();
      say(o, "ok", t("signed", { name }));
      return null;
    },
  });
  const details = h("details", { class: "sign" }, h("summary", {}, t("signFile")), form, out, link);
  details.update = () => {
    certOptions(select, card.certs, preferredCert(card.certs));
    showWarning();
  };
  return details;
}

// csrBlock shows a CSR with a copy button and a download link.
function csrBlock(card, key, csr, out) {
  const text = h("textarea", { class: "csr", name: "csr", readonly: true, rows: 8, spellcheck: "false" });
  text.value = csr;
  const name = (card.token.label || "token") + "-" + key + ".csr";
  const url = URL.createObjectURL(new Blob([csr], { type: "application/pkcs10" }));
  const copy = h("button", { type: "button" }, t("copy"));
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(csr);
      say(out, "ok", t("copied"));
    } catch {
      text.select();
    }
  });
  return h("div", { class: "csr-block" }, field("csr", text),
    h("p", { class: "actions" }, copy, h("a", { href: url, download: name }, t("downloadCsr", { name }))));
}

// prepared records a request the page just made for key, to show it at
// once (an enrolment's is not kept by the agent) and open it.
function prepared(card, key, csr, done) {
  card.csrs.set(key, csr);
  card.opened = key;
  say(card.parts.msg, "ok", t(done));
}

// renewal.prepare for the certificate params.cert; the renewal then waits
// in the card's tasks.
async function prepareRenewal(card, params) {
  const res = await agent.call("renewal.prepare", params);
  prepared(card, res.key, res.csr, "prepared");
  return null;
}

// certificateInput is the issued certificate as renewal.complete takes it,
// from the text pasted or else the file chosen: PEM as it is, DER as base64.
async function certificateInput(text, file) {
  if (text) return text;
  if (!file) return "";
  const bytes = new Uint8Array(await file.arrayBuffer());
  const pemText = new TextDecoder().decode(bytes);
  return pemText.includes("-----BEGIN") ? pemText : b64(bytes);
}

// completeForm stores the certificate issued for key: renewal.complete,
// which also clears a pending renewal's record (replaces: the certificate
// renewed, if any).
function completeForm(card, key, replaces, out) {
  let file = null;
  let text = "";
  return actionForm(card, out, {
    name: "complete",
    fields: [
      h("h4", {}, t("pasteIssued")),
      field("issuedCert", h("textarea", { name: "certificate", rows: 6, spellcheck: "false" })),
      field("issuedFile", h("input", { type: "file", name: "file", accept: ".pem,.crt,.cer,.der" })),
      replaces ? h("label", { class: "check" }, h("input", { type: "checkbox", name: "removeOld" }), h("span", {}, t("removeOld"))) : null,
    ],
    submit: "submitComplete",
    ctx: { certificate: true },
    read: (el, params) => {
      file = el.file.files[0];
      text = el.certificate.value.trim();
      if (replaces) params.replaces = replaces;
      if (el.removeOld && el.removeOld.checked) params.removeOld = true;
      return text || file ? null : "noIssued";
    },
    run: async (params) => {
      params.certificate = await certificateInput(text, file);
      await agent.call("renewal.complete", params);
      card.csrs.delete(key);
      say(card.parts.msg, "ok", t("renewed"));
      return "renewed";
    },
  });
}

// discardForm deletes key, a renewal's or an enrolment's key that has no
// certificate, and the agent's record of it (renewal.cancel).
function discardForm(card, key, out) {
  const form = actionForm(card, out, {
    name: "discard",
    fields: [h("p", {}, t("discardText"))],
    submit: "submitDiscard",
    danger: true,
    read: (el, params) => {
      params.key = key;
    },
    run: async (params) => {
      await agent.call("renewal.cancel", params);
      card.csrs.delete(key);
      say(card.parts.msg, "ok", t("discarded"));
      return "discarded";
    },
  });
  return h("details", { class: "discard" }, h("summary", {}, t("discard")), form);
}

// subjectFields asks for the name a request is made for.
function subjectFields() {
  return field("commonName", h("input", { type: "text", name: "commonName", required: true, maxlength: 64, autocomplete: "name" }));
}

// remakeForm makes the request for key again (after a reload the page no
// longer has an enrolment's request; the agent keeps only renewals').
function remakeForm(card, key, out) {
  const form = actionForm(card, out, {
    name: "remake",
    fields: [subjectFields()],
    submit: "submitRemake",
    read: (el, params) => {
      Object.assign(params, { key, subject: { commonName: el.commonName.value.trim() } });
    },
    run: async (params) => {
      const res = await agent.call("csr.create", params);
      prepared(card, key, res.csr, "enrolled");
      renderCard(card);
      return null;
    },
  });
  return h("details", { class: "remake" }, h("summary", {}, t("remakeCsr")), form);
}

// ---- tasks: what needs doing, first on a card

// taskBox builds a task's box. A task that shows what a listing says gives
// its box an update, which renderTasks calls after each listing; the box
// itself, with its forms and what is typed in them, stays.
function taskBox(name, attrs, ...children) {
  return h("div", { class: "task", "data-task": name, ...attrs }, ...children);
}

function throttleTask(card, kind) {
  const count = h("p", { class: "count" });
  countdown(card, count, kind);
  const box = taskBox("throttle", { "data-kind": kind, role: "status" }, count);
  if (kind === "user" && unlockApplies(card)) box.append(h("p", {}, t("throttledUnlock")));
  return box;
}

function unlockTask(card) {
  if (card.token.pin.soLocked) return taskBox("locked", {}, h("strong", {}, t("taskUnlock")), h("p", {}, t("taskBothLocked")));
  const box = taskBox("unlock", {}, h("strong", {}, t("taskUnlock")), h("p", {}, t("taskUnlockText")));
  box.update = () => {
    card.parts.unlock.open = true;
    if (card.parts.unlock.parentNode !== box) box.append(card.parts.unlock);
  };
  return box;
}

// awaitingTask is a key waiting for its certificate: a pending renewal
// (pending from renewal.pending) or a key without a certificate from
// keys.list (an enrolment's, or a renewal the agent did not record).
function awaitingTask(card, key, pending, label) {
  const out = h("p", { class: "msg", role: "alert" });
  const title = h("strong", {});
  const request = h("div", { class: "request" });
  const box = taskBox(pending ? "pending" : "key", { "data-key": key },
    title, h("p", {}, t(pending ? "taskPendingText" : "taskKeyText")), request,
    completeForm(card, key, pending && pending.cert, out), discardForm(card, key, out), out);
  box.update = () => {
    if (pending) {
      const cert = card.certs.find((c) => c.id === pending.cert);
      title.textContent = t("taskPending", { cn: cert ? commonName(cert.subject) : pending.cert, date: pending.createdAt.slice(0, 10) });
    } else title.textContent = label ? t("taskKeyLabel", { label }) : t("taskKey");
    const csr = (pending && pending.csr) || card.csrs.get(key);
    if (request.dataset.csr !== String(!!csr)) {
      request.dataset.csr = String(!!csr);
      request.replaceChildren(csr
        ? h("details", { class: "csr", open: card.opened === key }, h("summary", {}, t("csr")), csrBlock(card, key, csr, out))
        : remakeForm(card, key, out));
    }
  };
  return box;
}

function renewTask(card, cert) {
  const out = h("p", { class: "msg", role: "alert" });
  const title = h("strong", {});
  const form = actionForm(card, out, {
    name: "renew-now",
    hidden: true,
    submit: "submitPrepare",
    read: (el, params) => {
      params.cert = cert.id;
    },
    run: (params) => prepareRenewal(card, params),
  });
  const open = h("button", { type: "button", class: "cta" }, t("renewNow"));
  open.addEventListener("click", () => showRenewForm(form, open));
  const box = taskBox("renew", { "data-cert": cert.id }, title, h("p", {}, t("taskRenewText")), open, form, out);
  box.update = () => {
    const c = card.certs.find((x) => x.id === cert.id) || cert;
    title.replaceChildren(c.lifetime.status === "expired"
      ? t("taskExpired", { cn: commonName(c.subject), date: c.notAfter.slice(0, 10) })
      : t("taskExpiring", { cn: commonName(c.subject), n: c.lifetime.daysLeft, date: c.notAfter.slice(0, 10) }));
    title.title = c.subject;
  };
  return box;
}

function showRenewForm(form, button) {
  form.hidden = false;
  button.hidden = true;
  focusForm(form);
}

// focusForm puts the focus where the person goes on in form: its first PIN,
// or its button where the PIN is typed on the reader.
function focusForm(form) {
  (form.querySelector("input[type=password]") || form.querySelector("button[type=submit]")).focus();
}

// openRenewal opens the renewal of the certificate id: its task when it has
// one, else the renewal form among the other actions.
function openRenewal(card, id) {
  const waiting = card.pending.find((p) => p.cert === id);
  const box = card.taskEls.get(waiting ? "pending-" + waiting.key : "renew-" + id);
  if (box && waiting) return box.scrollIntoView({ block: "nearest" });
  if (box) {
    showRenewForm(box.querySelector("form.renew-now"), box.querySelector("button.cta"));
    box.scrollIntoView({ block: "nearest" });
    return;
  }
  const d = card.parts.renew;
  d.open = true;
  d.querySelector("select").value = id;
  focusForm(d.querySelector("form"));
}

function enrolTask(card) {
  const out = h("p", { class: "msg", role: "alert" });
  const form = actionForm(card, out, {
    name: "enrol",
    fields: [subjectFields(),
      field("algorithm", h("select", { name: "algorithm" }, ENROL_ALGORITHMS.map((a) => h("option", { value: a }, a))))],
    submit: "submitEnrol",
    read: (el, params) => {
      Object.assign(params, { algorithm: el.algorithm.value, label: el.commonName.value.trim(),
        subject: { commonName: el.commonName.value.trim() } });
    },
    run: async (params) => {
      const { subject, algorithm, label } = params;
      const { key } = await agent.call("keys.generate", { token: params.token, pin: params.pin, algorithm, label,
        ...(params.confirmFinalTry ? { confirmFinalTry: true } : {}) });
      const { csr } = await agent.call("csr.create", { token: params.token, pin: params.pin, key, subject });
      prepared(card, key, csr, "enrolled");
      return null;
    },
  });
  return taskBox("enrol", {}, h("strong", {}, t("taskEnrol")), h("p", {}, t("taskEnrolText")), form, out);
}

// mediaTask explains, for legacy media, what of the certificate's lifetime
// carries over to new media, what becomes credit, and what to do next.
function mediaTask(card) {
  const title = h("strong", {});
  const report = h("div", { class: "report" });
  const next = h("p", { "data-part": "next" }, t("mediaNext"));
  const box = taskBox("media", { "data-legacy": "true" }, title, report, next);
  box.update = () => {
    const { media } = card.token;
    title.textContent = media.description ? t("taskMedia", { desc: media.description }) : t("taskMediaNoDesc");
    const r = card.media;
    if (!r) return report.replaceChildren();
    next.textContent = r.upgradeToDescription ? t("mediaNextTarget", { target: r.upgradeToDescription }) : t("mediaNext");
    const left = r.remaining.months || r.remaining.days;
    const carries = r.carryOver.months || r.carryOver.days;
    const vars = { remaining: span(r.remaining), carry: span(r.carryOver), credit: span(r.credit),
      rule: span({ months: r.carryOverMonths, days: 0 }) };
    report.replaceChildren(
      h("p", { class: "explain" }, !left ? t("mediaExplainNothing") : t(carries ? "mediaExplain" : "mediaExplainNoCarry", vars)),
      h("dl", { class: "media" },
        h("dt", {}, t("mediaRemaining")), h("dd", { "data-part": "remaining" }, vars.remaining),
        h("dt", {}, t("mediaCarry")), h("dd", { "data-part": "carryOver" }, vars.carry),
        h("dt", {}, t("mediaCredit")), h("dd", { "data-part": "credit" }, vars.credit)));
  };
  return box;
}

// unlockApplies tells whether to offer the unlock: a wrong PIN was entered
// (the token's flags, or this page saw one), the user PIN is throttled, or
// the PIN is locked; not when the unlock code is locked too.
function unlockApplies(card) {
  const pin = card.token.pin || {};
  if (pin.soLocked || card.token.readOnly) return false;
  return !!(pin.locked || pin.countLow || pin.finalTry || card.wrongPIN || throttled(card, "user"));
}

// tasks lists what needs doing on the card, most pressing first, each with
// a key that stays the same across listings and a builder.
function tasks(card) {
  const tok = card.token;
  const pin = tok.pin || {};
  const list = [];
  for (const kind of ["user", "so"]) {
    if (throttled(card, kind)) list.push({ key: "throttle-" + kind, build: () => throttleTask(card, kind) });
  }
  if (pin.locked) list.push({ key: pin.soLocked ? "locked" : "unlock", build: () => unlockTask(card) });
  const writable = !tok.readOnly && !pin.locked;
  if (writable) {
    const waiting = new Set();
    for (const p of card.pending) {
      waiting.add(p.key);
      list.push({ key: "pending-" + p.key, build: () => awaitingTask(card, p.key, p) });
    }
    const renewing = new Set(card.pending.map((p) => p.cert));
    const due = card.certs.filter((c) => !renewing.has(c.id) && ["expired", "expiring"].includes(c.lifetime && c.lifetime.status));
    due.sort((a, b) => a.notAfter.localeCompare(b.notAfter));
    for (const c of due) list.push({ key: "renew-" + c.id, build: () => renewTask(card, c) });
    for (const k of card.keys) {
      if (k.certificates.length || waiting.has(k.id)) continue;
      list.push({ key: "key-" + k.id, build: () => awaitingTask(card, k.id, null, k.label) });
    }
    if (!card.certErr && !card.certs.length && !list.some((x) => /^(pending|key)-/.test(x.key))) {
      list.push({ key: "enrol", build: () => enrolTask(card) });
    }
  }
  if (tok.media && tok.media.legacy) list.push({ key: "media", build: () => mediaTask(card) });
  return list;
}

// place puts children into box in order, moving nothing when they are
// there already (moving a node would take the focus from what is typed in).
function place(box, children) {
  const now = [...box.children];
  if (now.length === children.length && now.every((c, i) => c === children[i])) return;
  box.replaceChildren(...children);
}

function renderTasks(card) {
  const next = new Map();
  for (const spec of tasks(card)) {
    let el = card.taskEls.get(spec.key);
    if (!el) el = spec.build();
    if (el.update) el.update();
    next.set(spec.key, el);
  }
  card.taskEls = next;
  place(card.parts.tasks, [...next.values()]);
}

// ---- the cards

// newCard is the page's state of one token: the agent's listings, the
// requests this page made (csrs: key id → CSR), the throttles, and the
// elements showing them.
function newCard(token) {
  return { token, certs: [], certErr: null, pending: [], keys: [], media: null, listErr: null,
    csrs: new Map(), opened: null, wrongPIN: false, throttle: { user: 0, so: 0 } };
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

function renewForm(card) {
  const out = h("p", { class: "msg", role: "alert" });
  const select = h("select", { name: "cert", required: true });
  const form = actionForm(card, out, {
    name: "renew-prepare",
    fields: [h("p", {}, t("renewIntro")), field("certificate", select)],
    submit: "submitPrepare",
    read: (el, params) => {
      params.cert = el.cert.value;
    },
    run: (params) => prepareRenewal(card, params),
  });
  const details = h("details", { class: "renew" }, h("summary", {}, t("renew")), form, out);
  // The certificate that expires first is the one most likely meant.
  details.update = () => certOptions(select, card.certs,
    card.certs.reduce((a, c) => (!a || c.notAfter < a.notAfter ? c : a), null));
  return details;
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
  parts.sign = signForm(card);
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
function rebuildCard(card) {
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
    agent.call("certs.list", token),
    agent.call("renewal.pending", token),
    agent.call("keys.list", token),
    tok.media && tok.media.legacy ? agent.call("media.check", token) : null,
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

// refresh lists the tokens and what each holds, and updates the cards in
// place, so that forms being filled in survive an update.
async function refreshOnce() {
  const { tokens } = await agent.call("tokens.list", {});
  const seen = new Set();
  for (const tok of tokens) {
    const read = await readToken(tok);
    if (!read) continue;
    seen.add(tok.id);
    let card = cards.get(tok.id);
    if (card) {
      const pad = pinPad(card.token);
      Object.assign(card, { token: tok }, read);
      // The forms ask for PINs or not by the token's PIN pad.
      if (pinPad(tok) !== pad) rebuildCard(card);
      else renderCard(card);
    } else {
      card = Object.assign(newCard(tok), read);
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
        notice("error", () => trouble(err));
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
  for (const card of cards.values()) rebuildCard(card);
  const empty = $("tokens").querySelector(".empty");
  if (empty) empty.textContent = t("noTokens");
  $("notice").textContent = noticeText();
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

// trouble says what keeps the page from the agent. The page comes from
// the agent, which has stopped (or is busy) since it served it: the page's
// own sentences say how to start it, which a portal's could not.
function trouble(err) {
  if (err && err.reason === "AGENT_UNREACHABLE") return t(err.data?.busy ? "busy" : "unreachable");
  return explain(err);
}

// This page comes from the agent itself, on loopback, which browsers never
// ask about (Local Network Access): the client reports it "granted", so the
// question and its Connect button that a portal needs (examples/portal) do
// not arise here. LOCAL_NETWORK_DENIED is still explained should a browser
// ever refuse it.
async function start() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  notice("", () => t("connecting"));
  try {
    agent = await connect(url);
  } catch (err) {
    notice("error", () => trouble(err));
    setTimeout(start, 3000);
    return;
  }
  notice("", () => "");
  agent.addEventListener("close", () => notice("error", () => t("unreachable")));
  agent.addEventListener("open", () => {
    notice("", () => t("reconnected"));
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
