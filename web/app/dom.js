// Small helpers the page's modules share, holding no state of the page:
// building elements (h, badge, place), the message lines (say, and explain
// for what an error means), and names and dates as the page shows them.

import { commonName as cnOf, errorMessage } from "../tokenagent.js";
import { t, language } from "./i18n.js";

export const $ = (id) => document.getElementById(id);

// h builds an element: h("p", {class: "x"}, "text", child).
export function h(tag, attrs, ...children) {
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

export function badge(kind, text, attrs) {
  return h("span", { class: "badge " + kind, ...attrs }, text);
}

// place puts children into box in order, moving nothing when they are
// there already (moving a node would take the focus from what is typed in).
export function place(box, children) {
  const now = [...box.children];
  if (now.length === children.length && now.every((c, i) => c === children[i])) return;
  box.replaceChildren(...children);
}

// commonName is the CN of a distinguished name as certs.list gives it, or
// the whole name when it has none.
export function commonName(dn) {
  return cnOf(dn) ?? dn;
}

// dnText shows a distinguished name as its CN, the whole name on hover.
export function dnText(dn) {
  return h("span", { class: "dn", title: dn }, commonName(dn));
}

export function day(time) {
  return h("time", { datetime: time }, time.slice(0, 10));
}

// explain says what an error of the client means, in the page's language
// (errorMessage: never the agent's English message, which goes to the
// console for whoever debugs). ctx.certificate says the call's params hold
// a pasted certificate, which is what INVALID_PARAMS is then about.
export function explain(err, ctx = {}) {
  if (err && err.message) console.debug("tokenagent:", err.reason, err.message);
  if (ctx.certificate && err && err.reason === "INVALID_PARAMS") return t("notCertificate");
  return errorMessage(err, language());
}

// say shows text in out, a message line, styled as kind ("ok", "error",
// "warn" or "" for neither).
export function say(out, kind, text) {
  out.classList.remove("ok", "error", "warn");
  out.classList.add("msg");
  if (kind) out.classList.add(kind);
  out.textContent = text;
  delete out.dataset.countdown;
  delete out.dataset.listing;
}
