// The connection to the agent that serves this page: connecting and
// reconnecting, the notice above the cards that says how it goes, the calls
// the other modules make (call), and the listings they ask for
// (scheduleRefresh), which run the listing start was given one at a time.

import { connect } from "../tokenagent.js";
import { t } from "./i18n.js";
import { $, explain } from "./dom.js";

let agent = null;
let list = null; // the listing start was given
let refreshing = null;
let again = false;

// notice shows, above the cards, what text() says, and says it again in
// another language when the page's changes.
let noticeText = () => "";

function notice(kind, text) {
  const n = $("notice");
  n.className = kind;
  noticeText = text;
  n.textContent = text();
}

// renderNotice says the notice again, in the page's language.
export function renderNotice() {
  $("notice").textContent = noticeText();
}

// call makes one call on the agent (see tokenagent.js).
export function call(method, params) {
  return agent.call(method, params);
}

// scheduleRefresh lists again: at once, or after the listing under way,
// however many ask meanwhile.
export function scheduleRefresh() {
  if (!agent) return;
  if (refreshing) {
    again = true;
    return;
  }
  // aria-busy tells assistive technology, and tests, that the cards are
  // being read again.
  const region = document.getElementById("tokens");
  region?.setAttribute("aria-busy", "true");
  refreshing = (async () => {
    do {
      again = false;
      try {
        await list();
        document.body.dataset.ready = "1";
      } catch (err) {
        notice("error", () => trouble(err));
      }
    } while (again);
    refreshing = null;
    region?.removeAttribute("aria-busy");
  })();
}

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
async function connectAgent() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  notice("", () => t("connecting"));
  try {
    agent = await connect(url);
  } catch (err) {
    notice("error", () => trouble(err));
    setTimeout(connectAgent, 3000);
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

// start connects to the agent, and lists with listing (an async function)
// each time scheduleRefresh asks.
export function start(listing) {
  list = listing;
  connectAgent();
}
