// The forms of a card's actions, each making calls that take PINs: change
// and unlock the PIN, sign a file, start a renewal, store an issued
// certificate, discard a key, make a request again. actionForm builds and
// wires them all: it asks for the PINs a form takes (on a token whose
// reader has a PIN pad it asks for none, says the reader does, and sends ""
// for each), reads them only to build one request, clears their inputs
// before the request is sent, and keeps no PIN. A form taking a kind of PIN
// the agent throttles cannot be submitted (throttle.js).

import { t } from "./i18n.js";
import { h, say, explain, commonName } from "./dom.js";
import { throttled, startThrottle, countdown, lockButtons } from "./throttle.js";
import { call, scheduleRefresh } from "./connection.js";

// b64 and unb64 turn bytes into base64 and back, as the agent takes and
// gives them.
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

export function field(key, input) {
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

// pinEntry tells how tok's PINs are entered: "pad", typed on its
// reader's PIN pad (pin.protectedAuthPath), the page asking for none and
// sending "" for each; "noLogin", the token needs no login
// (pin.loginRequired false), so the user PIN is not asked for; "page",
// typed on this page.
export function pinEntry(tok) {
  if (tok.pin && tok.pin.protectedAuthPath) return "pad";
  if (tok.pin && tok.pin.loginRequired === false) return "noLogin";
  return "page";
}

function pinPad(tok) {
  return pinEntry(tok) === "pad";
}

// noLogin tells whether a form taking the PINs pins needs none of them:
// it takes only the user PIN, and tok needs no login (pin.loginRequired
// false), so the agent makes none and the PIN sent is not used. A PIN
// change or unlock still asks for its PINs.
function noLogin(tok, pins) {
  return pinEntry(tok) === "noLogin" && pins.length === 1 && pins[0] === "pin";
}

// pinFields asks for the PINs pins, or says on a token with a PIN pad
// that the reader asks for them, or on a token that needs no login that
// none is needed.
function pinFields(card, pins) {
  if (pinPad(card.token)) return [h("p", { class: "pinpad" }, t(SECRETS[pins[0]].pad))];
  if (noLogin(card.token, pins)) return [h("p", { class: "pinpad" }, t("noLoginPin"))];
  return pins.flatMap((p) => {
    const s = SECRETS[p];
    const input = field(s.label, pinInput(p, s.autocomplete));
    return s.repeat ? [input, field(s.repeat, pinInput(p + "2", s.autocomplete))] : [input];
  });
}

// readPINs puts the PINs pins into params, "" for each on a token with a
// PIN pad or where none is needed (noLogin), and returns the key of a
// problem: a new PIN typed twice differently.
function readPINs(card, el, pins, params) {
  const pad = pinPad(card.token) || noLogin(card.token, pins);
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
export function actionForm(card, out, { name, fields = [], pins = ["pin"], submit, danger, hidden, kind = "user", read = () => null, run, ctx }) {
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
      card.render();
      break;
  }
}

// focusForm puts the focus where the person goes on in form: its first PIN,
// or its button where the PIN is typed on the reader.
export function focusForm(form) {
  (form.querySelector("input[type=password]") || form.querySelector("button[type=submit]")).focus();
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
      await call(spec.method, params);
      return spec.done;
    },
  });
  return h("details", { class: spec.kind }, h("summary", {}, t(spec.summary)), form, out);
}

export function changeForm(card) {
  return pinForm(card, { kind: "change", secret: "oldPin",
    method: "pin.change", submit: "submitChange", done: "pinChanged", summary: "changePin", pinKind: "user" });
}

export function unlockForm(card) {
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
// expired, and offers to renew it (renew(id) opens the renewal of the
// certificate id); null for a valid certificate.
function expiryWarning(card, cert, renew) {
  const lt = (cert && cert.lifetime) || {};
  let text;
  switch (lt.status) {
    case "expiring": text = t("signExpiring", { n: lt.daysLeft, date: cert.notAfter.slice(0, 10) }); break;
    case "expired": text = t("signExpired", { date: cert.notAfter.slice(0, 10) }); break;
    case "not_yet_valid": text = t("signNotYet"); break;
    default: return null;
  }
  const button = card.token.readOnly || lt.status === "not_yet_valid" ? null
    : h("button", { type: "button", class: "link", onclick: () => renew(cert.id) }, t("renewNow"));
  return h("p", { class: "msg warn expiry-warning", "data-status": lt.status }, text, button ? " " : null, button);
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

// signForm signs a file with a certificate of the card; renew(id) opens the
// renewal of the certificate id, which an expiry warning offers.
export function signForm(card, renew) {
  const out = h("p", { class: "msg", role: "alert" });
  const link = h("p", { class: "download" });
  const warning = h("div", { class: "warning" });
  const select = h("select", { name: "cert", required: true });
  const showWarning = () => warning.replaceChildren(...[expiryWarning(card, card.certs.find((c) => c.id === select.value), renew)].filter(Boolean));
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
      const res = await call("sign", params);
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

// prepared records a request the page just made for key, to show it at
// once (an enrolment's is not kept by the agent) and open it.
export function prepared(card, key, csr, done) {
  card.csrs.set(key, csr);
  card.opened = key;
  say(card.parts.msg, "ok", t(done));
}

// renewal.prepare for the certificate params.cert; the renewal then waits
// in the card's tasks.
export async function prepareRenewal(card, params) {
  const res = await call("renewal.prepare", params);
  prepared(card, res.key, res.csr, "prepared");
  return null;
}

export function renewForm(card) {
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
export function completeForm(card, key, replaces, out) {
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
      await call("renewal.complete", params);
      card.csrs.delete(key);
      say(card.parts.msg, "ok", t("renewed"));
      return "renewed";
    },
  });
}

// discardForm deletes key, a renewal's or an enrolment's key that has no
// certificate, and the agent's record of it (renewal.cancel).
export function discardForm(card, key, out) {
  const form = actionForm(card, out, {
    name: "discard",
    fields: [h("p", {}, t("discardText"))],
    submit: "submitDiscard",
    danger: true,
    read: (_, params) => {
      params.key = key;
    },
    run: async (params) => {
      await call("renewal.cancel", params);
      card.csrs.delete(key);
      say(card.parts.msg, "ok", t("discarded"));
      return "discarded";
    },
  });
  return h("details", { class: "discard" }, h("summary", {}, t("discard")), form);
}

// subjectFields asks for the name a request is made for.
export function subjectFields() {
  return field("commonName", h("input", { type: "text", name: "commonName", required: true, maxlength: 64, autocomplete: "name" }));
}

// remakeForm makes the request for key again (after a reload the page no
// longer has an enrolment's request; the agent keeps only renewals').
export function remakeForm(card, key, out) {
  const form = actionForm(card, out, {
    name: "remake",
    fields: [subjectFields()],
    submit: "submitRemake",
    read: (el, params) => {
      Object.assign(params, { key, subject: { commonName: el.commonName.value.trim() } });
    },
    run: async (params) => {
      const res = await call("csr.create", params);
      prepared(card, key, res.csr, "enrolled");
      card.render();
      return null;
    },
  });
  return h("details", { class: "remake" }, h("summary", {}, t("remakeCsr")), form);
}
