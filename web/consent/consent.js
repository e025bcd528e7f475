// The consent page (docs/PROTOCOL.md section 7): it shows what a web
// page's call would do, as the agent tells it over the consent socket, and
// sends the person's answer: the PINs they type here, which the page that
// asks never sees, or a denial. Closing the window closes the socket,
// which denies the call.
//
// body[data-state] says where it is: waiting (for the request), request
// (shown), sending (an answer), done (data-outcome: "ok" or the reason)
// or error (nothing to approve).

import { t, setLanguage, language, languages, pick, has } from "/consent/i18n.js";

// approveDelay is how long Approve stays disabled after a request shows,
// so that a click placed before it appeared cannot approve it.
const approveDelay = 500;

const $ = (id) => document.getElementById(id);
const nonce = new URLSearchParams(location.search).get("n") || "";

let socket = null;
let current = null; // the request shown
let shownAt = 0;
let ended = false; // done or error: nothing more to answer
let delayTimer = null;
let countdown = null; // the interval that updates the time left
let expiresAt = 0; // when the request shown expires (Date.now() time)

function setState(state, outcome) {
  document.body.dataset.state = state;
  if (outcome !== undefined) document.body.dataset.outcome = outcome;
}

function status(text, kind = "") {
  const el = $("status");
  el.textContent = text;
  el.className = kind;
}

// fail shows why nothing can be approved here, and ends the page.
function fail(key) {
  ended = true;
  clearInterval(countdown);
  $("consent").hidden = true;
  setState("error");
  status(t(key), "error");
}

function renderStatic() {
  document.title = t("title");
  $("title").textContent = t("title");
  $("lang-label").textContent = t("language");
  const sel = $("lang");
  if (sel.options.length === 0) {
    for (const [code, name] of Object.entries(languages)) sel.add(new Option(name, code));
    sel.addEventListener("change", () => {
      setLanguage(sel.value);
      renderStatic();
      if (current && !ended) {
        render(current, false);
        tick();
      }
    });
  }
  sel.value = language();
  $("approve").textContent = t("approve");
  $("deny").textContent = t("deny");
  if (!current && !ended) status(t("waiting"));
}

function dateText(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(language(), { year: "numeric", month: "short", day: "numeric" });
}

// row adds a term and its description (text, or a node) to the details.
function row(dl, term, value, id) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value;
  if (id) dd.id = id;
  dl.append(dt, dd);
}

function certRows(dl, cert, title, prefix) {
  row(dl, title, cert.subject, prefix + "-subject");
  row(dl, t("issuer"), cert.issuer, prefix + "-issuer");
  row(dl, t("validity"), t("validRange", { from: dateText(cert.notBefore), to: dateText(cert.notAfter) }), prefix + "-validity");
}

function itemsNode(items) {
  if (items.length === 1) {
    const code = document.createElement("span");
    code.className = "hash";
    code.textContent = items[0];
    return code;
  }
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = `${t("items", { n: items.length })}. ${t("showItems")}`;
  const ol = document.createElement("ol");
  ol.className = "items";
  for (const h of items) {
    const li = document.createElement("li");
    li.className = "hash";
    li.textContent = h;
    ol.append(li);
  }
  details.append(summary, ol);
  return details;
}

function operation(req) {
  if (req.method === "sign.batch") return t("op.sign.batch", { n: req.items.length });
  return has("op." + req.method) ? t("op." + req.method) : t("op.other", { method: req.method });
}

// pinNeed says what the person types: a PIN in a field, on the reader's
// keypad, or nothing.
function pinNeed(req) {
  const p = req.token.pin;
  if (p.protectedAuthPath) return "pad";
  if (!p.loginRequired && req.pin === "user" && !req.newPin) return "none";
  return "field";
}

function finalTry(req) {
  const p = req.token.pin;
  const flag = req.pin === "so" ? p.soFinalTry : p.finalTry;
  const retry = req.retry?.data;
  return flag || retry?.finalTry === true || retry?.reason === "PIN_FINAL_TRY";
}

// render shows request req; fresh says it has just come (the PIN fields
// are emptied and Approve waits approveDelay).
function render(req, fresh) {
  current = req;
  setState("request");
  status("");
  $("consent").hidden = false;
  $("origin").textContent = req.origin === "local" ? t("local") : req.origin;
  $("asks").textContent = t("asks");
  $("operation").textContent = operation(req);
  $("description").hidden = req.description == null;
  $("site-says").textContent = t("siteSays");
  $("description-text").textContent = req.description ?? "";

  const dl = $("details");
  dl.replaceChildren();
  const tok = req.token;
  row(dl, t("token"), `${tok.label} (${[tok.manufacturer, tok.model].filter(Boolean).join(" ")}, ${t("serial")} ${tok.serial})`, "token");
  if (req.certificate) certRows(dl, req.certificate, t("certificate"), "cert");
  else if (req.object) row(dl, t("object"), req.object, "object");
  if (req.delete) row(dl, t("deletes"), t("delete." + req.delete), "delete");
  if (req.import) certRows(dl, req.import, t("imported"), "import");
  if (req.key) row(dl, t("key"), req.key.algorithm ? [req.key.algorithm, req.key.paramSet].filter(Boolean).join(" ") : t("keyOld"), "key");
  if (req.label) row(dl, t("label"), req.label, "label");
  if (req.subject) row(dl, t("subject"), req.subject, "subject");
  if (req.items.length > 0) row(dl, req.items.length === 1 ? t("data") : t("items", { n: req.items.length }), itemsNode(req.items), "items");

  const retry = req.retry;
  $("retry").hidden = !retry;
  if (retry) {
    const d = retry.data ?? {};
    const key = "retry." + d.reason;
    let text = has(key) ? t(key, { min: d.minLen, max: d.maxLen }) : retry.message;
    if (d.finalTry && d.reason !== "PIN_FINAL_TRY") text += " " + t("finalNow");
    $("retry").textContent = text;
    $("retry").dataset.reason = d.reason ?? "";
  }

  const need = pinNeed(req);
  $("pin-row").hidden = need !== "field";
  $("pin-label").textContent = req.pin === "so" ? t("soPin") : req.newPin ? t("currentPin") : t("pin");
  $("pin-note").hidden = need === "field";
  $("pin-note").textContent = need === "pad" ? t("pinPad") : t("noLogin");
  const newPin = req.newPin && need === "field";
  $("new-pin-row").hidden = !newPin;
  $("new-pin2-row").hidden = !newPin;
  $("new-pin-label").textContent = t("newPin");
  $("new-pin2-label").textContent = t("newPin2");
  $("final-row").hidden = !finalTry(req);
  $("final-label").textContent = t("final");

  if (fresh) {
    for (const id of ["pin", "new-pin", "new-pin2"]) $(id).value = "";
    $("final").checked = false;
    shownAt = performance.now();
    $("approve").disabled = true;
    $("deny").disabled = false;
    clearTimeout(delayTimer);
    delayTimer = setTimeout(() => { $("approve").disabled = false; }, approveDelay);
    startCountdown(req.expiresIn);
    if (need === "field") $("pin").focus();
  }
}

function startCountdown(seconds) {
  clearInterval(countdown);
  expiresAt = Date.now() + seconds * 1000;
  tick();
  countdown = setInterval(tick, 1000);
}

function tick() {
  const left = Math.max(0, Math.ceil((expiresAt - Date.now()) / 1000));
  $("expires").textContent = t("expires", { n: left });
}

function send(msg) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  socket.send(JSON.stringify(msg));
}

function approve(ev) {
  ev.preventDefault();
  if (!current || ended || $("approve").disabled || performance.now() - shownAt < approveDelay) return;
  const req = current;
  const need = pinNeed(req);
  if (need === "field" && $("pin").value === "") {
    status(t("pinMissing"), "error");
    return;
  }
  if (req.newPin && need === "field" && $("new-pin").value !== $("new-pin2").value) {
    status(t("pinsDiffer"), "error");
    return;
  }
  const msg = { type: "approve", seq: req.seq, confirmFinalTry: !$("final-row").hidden && $("final").checked };
  if (need === "field") {
    msg.pin = $("pin").value;
    if (req.newPin) msg.newPin = $("new-pin").value;
  } else {
    msg.pin = "";
    if (req.newPin) msg.newPin = "";
  }
  // The answer is built: the PINs leave the fields at once.
  for (const id of ["pin", "new-pin", "new-pin2"]) $(id).value = "";
  const frame = JSON.stringify(msg);
  msg.pin = msg.newPin = undefined;
  $("approve").disabled = true;
  $("deny").disabled = true;
  setState("sending");
  status(t("sending"));
  if (socket?.readyState === WebSocket.OPEN) socket.send(frame);
}

function deny() {
  if (!current || ended) return;
  $("approve").disabled = true;
  $("deny").disabled = true;
  send({ type: "deny", seq: current.seq });
}

function done(msg) {
  ended = true;
  clearInterval(countdown);
  clearTimeout(delayTimer);
  $("consent").hidden = true;
  setState("done", msg.outcome);
  const key = "done." + msg.outcome;
  status(has(key) ? t(key) : t("done.other", { reason: msg.outcome }), msg.outcome === "ok" ? "ok" : "error");
}

function receive(ev) {
  let msg;
  try {
    msg = JSON.parse(ev.data);
  } catch {
    return;
  }
  switch (msg?.type) {
    case "request":
      render(msg, true);
      break;
    case "done":
      done(msg);
      break;
    case "error":
      fail("error." + (["unknown", "ended", "elsewhere"].includes(msg.error) ? msg.error : "unknown"));
      break;
  }
}

function start() {
  const params = new URLSearchParams(location.search);
  setLanguage(pick(params.get("lang")) || navigator.languages?.map(pick).find(Boolean) || "en");
  renderStatic();
  $("consent").addEventListener("submit", approve);
  $("deny").addEventListener("click", deny);
  if (!/^[A-Za-z0-9_-]{22,128}$/.test(nonce)) {
    fail("error.nonce");
    return;
  }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/consent/ws?n=${encodeURIComponent(nonce)}`);
  socket.onmessage = receive;
  socket.onclose = () => {
    if (!ended) fail("error.lost");
  };
}

start();
