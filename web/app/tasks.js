// What needs doing on a token's card, first on it (its tasks), most
// pressing first: a throttled PIN's countdown, a locked PIN to unlock,
// renewals waiting for the issuer's certificate (renewal.pending, kept by
// the agent across reloads and restarts), certificates to renew, keys
// without a certificate, an enrolment for a token with none, legacy media
// to replace. renderTasks shows them after each listing, keeping the boxes
// of tasks that remain, with what is typed in their forms.

import { t, span } from "./i18n.js";
import { h, say, place, commonName } from "./dom.js";
import { throttled, countdown } from "./throttle.js";
import { call } from "./connection.js";
import { field, actionForm, focusForm, completeForm, discardForm, remakeForm, prepared, prepareRenewal, subjectFields } from "./forms.js";

// The key algorithms an enrolment offers, the first being the default: what
// issuers accept most widely first.
const ENROL_ALGORITHMS = ["RSA-2048", "RSA-3072", "EC-P256", "EC-P384"];

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
    read: (_, params) => {
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

// openRenewal opens the renewal of the certificate id: its task when it has
// one, else the renewal form among the other actions.
export function openRenewal(card, id) {
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
      const { key } = await call("keys.generate", { token: params.token, pin: params.pin, algorithm, label,
        ...(params.confirmFinalTry ? { confirmFinalTry: true } : {}) });
      const { csr } = await call("csr.create", { token: params.token, pin: params.pin, key, subject });
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
export function unlockApplies(card) {
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

export function renderTasks(card) {
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
