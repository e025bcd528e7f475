// tokenagent.js: the JavaScript client of the tokenagent wire protocol
// (docs/PROTOCOL.md, section 1). An ES module with no dependencies, which a
// portal serves from its own origin (the npm package ships this very file):
//
//   import { connect, localNetworkPermission } from "./tokenagent.js";
//   if (await localNetworkPermission() === "prompt") await userClicksConnect();
//   const agent = await connect();
//   const { tokens } = await agent.call("tokens.list", {});
//   const off = agent.on("tokens.changed", (params) => { ... });
//   off();
//   agent.close();
//
// Beyond the first contract (docs/PROTOCOL.md marks them Extension): an
// options object for connect, request timeouts (reason TIMEOUT), automatic
// reconnection with backoff that subscribes to events again, "open" and
// "close" events on the agent, the reason CLOSED for calls cut short by
// agent.close(), and the browser's permission for public pages to reach this
// computer (Local Network Access: localNetworkPermission, reason
// LOCAL_NETWORK_DENIED), a busy agent (AGENT_UNREACHABLE with data.busy) and
// sockets the agent closed as idle, opened again by the next call ("idle").
//
// One file on purpose, past the usual length: the agent serves it and the
// npm package ships it as it is, with no build step and no imports.

/** The agent's default socket. */
export const DEFAULT_URL = "ws://127.0.0.1:24321/ws";

/** Reasons the client itself gives, beside the protocol's error reasons. */
export const AGENT_UNREACHABLE = "AGENT_UNREACHABLE";
export const TIMEOUT = "TIMEOUT";
export const CLOSED = "CLOSED";
export const LOCAL_NETWORK_DENIED = "LOCAL_NETWORK_DENIED";

const defaults = {
  timeout: 60000, // ms a call may wait for its response; 0: forever
  connectTimeout: 10000, // ms connect waits for the socket to open
  reconnect: true, // reopen a dropped socket
  reconnectDelay: 250, // ms before the first attempt; doubles after each failure
  maxReconnectDelay: 10000, // ms, the longest wait between attempts
};

/**
 * The error calls reject with. code, reason and data come from the JSON-RPC
 * error; for errors the client raises itself (AGENT_UNREACHABLE, TIMEOUT,
 * CLOSED, LOCAL_NETWORK_DENIED) code is undefined. method is the call's
 * (which kind of PIN a PIN error is about depends on it: pin.unlock takes
 * the SO PIN). message is English, for logs; errorMessage gives people's.
 */
export class AgentError extends Error {
  constructor(message, reason, code, data, method) {
    super(message);
    this.name = "AgentError";
    this.reason = reason;
    this.code = code;
    this.data = data;
    this.method = method;
  }
}

function unreachable(message, data) {
  return new AgentError(message, AGENT_UNREACHABLE, undefined, data);
}

// denied is the error for a page the browser does not let reach the agent:
// the permission is denied, or (after a drop, when reconnecting) the browser
// would have to ask the user again.
function denied(permission = "denied") {
  const message = permission === "denied"
    ? "the browser does not let this page reach the agent on this computer (the site's permission to access apps on this device is denied)"
    : "the browser must ask the user again before this page can reach the agent: connect from a user action";
  return new AgentError(message, LOCAL_NETWORK_DENIED, undefined, { permission });
}

function closed() {
  return new AgentError("the connection to the agent was closed", CLOSED);
}

// The names Chromium gives the permission a public page needs to reach
// loopback: "loopback-network" (Chrome 145 on), "local-network-access"
// (142 to 144). A browser that knows neither has no such check.
const PERMISSION_NAMES = ["loopback-network", "local-network-access"];

// pageOnLoopback tells whether this page itself comes from this computer
// (the agent's own page, a portal under development on localhost). Browsers
// never ask about requests from loopback to loopback, whatever the stored
// permission says.
function pageOnLoopback() {
  const host = globalThis.location?.hostname ?? "";
  return host === "localhost" || host.endsWith(".localhost") || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);
}

// permissionStatus returns the browser's PermissionStatus for reaching
// loopback, or null when the page needs none (it is on loopback itself, or
// the browser has no such permission).
async function permissionStatus() {
  const permissions = globalThis.navigator?.permissions;
  if (pageOnLoopback() || typeof permissions?.query !== "function") return null;
  for (const name of PERMISSION_NAMES) {
    try {
      return await permissions.query({ name });
    } catch (err) {
      if (!(err instanceof TypeError)) throw err; // TypeError: a name this browser does not know
    }
  }
  return null;
}

/**
 * Whether the browser lets this page reach the agent: "granted" (connect
 * quietly; also on a page served from this computer, which is never asked),
 * "prompt" (connecting makes the browser ask the user: explain first, then
 * connect from a user action such as a "Connect" button), "denied" (connect
 * rejects with LOCAL_NETWORK_DENIED; only the user can allow it again, in
 * the site's settings) or "unsupported" (the browser has no such check).
 */
export async function localNetworkPermission() {
  if (pageOnLoopback()) return "granted";
  const status = await permissionStatus();
  return status ? status.state : "unsupported";
}

/**
 * Opens a socket to the agent. It resolves with an Agent once the socket is
 * open. It rejects with an AgentError whose reason is LOCAL_NETWORK_DENIED
 * when the browser's permission is or becomes denied (at once, without
 * trying again), or AGENT_UNREACHABLE when the handshake fails or no answer
 * comes within connectTimeout. While the browser is asking the user, connect
 * waits for the answer; connectTimeout starts once access is granted. After
 * a failed handshake it asks /healthz whether anything runs there:
 * data.agentRunning is true when the agent answered (so it refused this
 * page: an origin not in allowed_origins, or too many connections) and false
 * when nothing did; data.busy is true when the agent said it has no place
 * for a socket from this page's origin now.
 */
export async function connect(url = DEFAULT_URL, options = {}) {
  const agent = new Agent(url, { ...defaults, ...options });
  await agent._open(true);
  return agent;
}

// agentStatus asks the agent's /healthz why a handshake failed: whether
// anything answers there, and whether the agent is busy for this page's
// origin (no place for its socket now). The agent answers CORS for the
// origins it accepts, so for them a cors request reads busy; for others it
// fails, and a no-cors request, which needs no CORS, tells a running agent
// that refused this origin from no agent at all.
async function agentStatus(socketURL) {
  const u = new URL(socketURL);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  u.pathname = "/healthz";
  u.search = "";
  const get = (mode) => fetch(u, {
    mode, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
    signal: AbortSignal.timeout?.(3000),
  });
  try {
    const health = await (await get("cors")).json();
    return { running: true, busy: health?.busy === true };
  } catch { /* an origin the agent refuses, or nothing answers */ }
  try {
    await get("no-cors");
    return { running: true, busy: false };
  } catch {
    return { running: false, busy: false };
  }
}

/** A connection to the agent. Create it with connect. */
export class Agent extends EventTarget {
  constructor(url, options) {
    super();
    this.url = url;
    this._opts = options;
    this._ws = null;
    this._nextId = 1;
    this._pending = new Map(); // id → {resolve, reject, timer}
    this._handlers = new Map(); // notification method → Set of functions
    this._subscribed = false; // events.subscribe sent on this socket
    this._closed = false; // close() was called
    this._delay = options.reconnectDelay;
    this._retry = null; // the reconnection timer
    this._unpause = null; // while reconnection waits for the permission: removes its listener
    this._pausedState = null; // the permission's state while it waits
    this._idle = false; // the agent closed the socket as idle: the next call opens one (_wake)
    this._waking = null; // that opening, while it is under way
  }

  /** Whether the socket is open now. */
  get connected() {
    return this._ws !== null && this._ws.readyState === WebSocket.OPEN;
  }

  /**
   * Calls method with params. It resolves with the result, or rejects with
   * an AgentError: the JSON-RPC error's code, data.reason and data;
   * AGENT_UNREACHABLE when the socket is not open or drops before the
   * response; LOCAL_NETWORK_DENIED when it is not open because the browser
   * denies access; TIMEOUT when no response comes within the timeout
   * (options of connect, or of this call); CLOSED after close().
   */
  call(method, params = {}, options = {}) {
    const sent = this._idle && !this._closed
      ? this._wake().then(() => this._send(method, params, options))
      : this._send(method, params, options);
    // A copy names the method: one failed reopening rejects every call
    // that waited for it with the same error.
    return sent.catch((err) => {
      if (!(err instanceof AgentError) || err.method !== undefined) throw err;
      throw new AgentError(err.message, err.reason, err.code, err.data, method);
    });
  }

  /**
   * Calls any method with any params: call without its declarations'
   * checks (tokenagent.d.ts types call by the protocol's method map), for a
   * method of a newer agent than the declarations know.
   */
  callUnchecked(method, params = {}, options = {}) {
    return this.call(method, params, options);
  }

  // _send sends one request on the open socket and waits for its response.
  _send(method, params, options) {
    return new Promise((resolve, reject) => {
      if (this._closed) {
        reject(closed());
        return;
      }
      if (!this.connected && this._unpause) {
        reject(denied(this._pausedState));
        return;
      }
      if (!this.connected) {
        reject(unreachable("not connected to the agent"));
        return;
      }
      const id = this._nextId++;
      const frame = JSON.stringify({ jsonrpc: "2.0", id, method, params });
      const timeout = options.timeout ?? this._opts.timeout;
      const entry = { resolve, reject, timer: null };
      if (timeout > 0) {
        entry.timer = setTimeout(() => {
          this._pending.delete(id);
          reject(new AgentError(`${method}: no response within ${timeout} ms`, TIMEOUT));
        }, timeout);
      }
      this._pending.set(id, entry);
      this._ws.send(frame);
    });
  }

  /**
   * Calls fn with the params of every notification named method
   * ("tokens.changed", "readers.changed"). The first handler makes the
   * agent send events (events.subscribe, once per socket, again after a
   * reconnection). It returns a function that removes fn.
   */
  on(method, fn) {
    if (typeof fn !== "function") {
      throw new TypeError("on: the handler must be a function");
    }
    let set = this._handlers.get(method);
    if (!set) {
      set = new Set();
      this._handlers.set(method, set);
    }
    // A wrapper, so that one function added twice is two handlers.
    const handler = (params) => fn(params);
    set.add(handler);
    if (this._idle && !this._closed) this._wake().catch(() => {}); // the new socket subscribes
    else this._subscribe();
    return () => {
      set.delete(handler);
      if (set.size === 0 && this._handlers.get(method) === set) {
        this._handlers.delete(method);
      }
    };
  }

  /**
   * Closes the socket for good: no reconnection; calls still waiting reject
   * with CLOSED.
   */
  close() {
    if (this._closed) return;
    this._closed = true;
    clearTimeout(this._retry);
    this._retry = null;
    this._stopPause();
    this._failPending(closed);
    if (this._ws) {
      const ws = this._ws;
      this._ws = null;
      ws.close(1000);
    }
  }

  // _open opens a socket. It resolves when the socket is open and rejects
  // with LOCAL_NETWORK_DENIED when the browser's permission is or becomes
  // denied, or AGENT_UNREACHABLE when the socket fails or connectTimeout
  // passes. The timeout runs only while access is granted: while the
  // browser asks the user, the socket waits for the answer. diagnose says
  // to ask /healthz why a handshake failed.
  async _open(diagnose) {
    const status = await permissionStatus();
    if (status?.state === "denied") throw denied();
    if (this._closed) throw closed();
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      let settled = false;
      let timer = null;
      const settle = () => {
        settled = true;
        clearTimeout(timer);
        status?.removeEventListener("change", onChange);
      };
      const fail = (err) => {
        if (settled) return;
        settle();
        reject(err);
      };
      const arm = () => {
        if (this._opts.connectTimeout <= 0 || timer !== null) return;
        timer = setTimeout(() => {
          fail(unreachable(`no answer from the agent at ${this.url} within ${this._opts.connectTimeout} ms`));
          ws.close();
        }, this._opts.connectTimeout);
      };
      // The socket stays CONNECTING while the browser asks the user.
      const onChange = () => {
        if (status.state === "granted") {
          arm();
        } else if (status.state === "denied") {
          fail(denied());
          ws.close();
        }
      };
      if (status?.state === "prompt") status.addEventListener("change", onChange);
      else arm();
      ws.onopen = () => {
        if (settled) return; // timed out or denied: closed already
        settle();
        if (this._closed) {
          ws.close(1000);
          reject(closed());
          return;
        }
        this._ws = ws;
        this._subscribed = false;
        this._delay = this._opts.reconnectDelay;
        ws.onmessage = (ev) => this._receive(ev.data);
        ws.onclose = (ev) => this._dropped(ws, ev);
        if (this._handlers.size > 0) this._subscribe();
        resolve();
        this.dispatchEvent(new Event("open"));
      };
      // A browser tells a page no more about a failed socket than this: a
      // refused origin, no agent and a denied permission look the same.
      ws.onclose = () => {
        if (!settled) this._whyFailed(status, diagnose).then(fail);
      };
    });
  }

  // _whyFailed returns the error for a socket that closed before it opened.
  async _whyFailed(status, diagnose) {
    if (status) {
      // The permission's change event may come after the close.
      const now = await permissionStatus().catch(() => null);
      if (now?.state === "denied") return denied();
      if (now?.state === "prompt") {
        // Either nothing answers, or the user dismissed the question; a
        // request to /healthz now would ask again.
        return unreachable(`cannot connect to the agent at ${this.url} (not running, or the browser's question about apps on this device was dismissed)`, { permission: "prompt" });
      }
    }
    if (!diagnose) return unreachable(`cannot connect to the agent at ${this.url}`);
    const health = await agentStatus(this.url);
    if (health.busy) {
      return unreachable(`the agent at ${this.url} is busy: it has no place for another connection from this page now; try again later`, { agentRunning: true, busy: true });
    }
    if (health.running) {
      return unreachable(`the agent at ${this.url} refused this page: its origin is not in allowed_origins (or the agent has too many connections)`, { agentRunning: true });
    }
    return unreachable(`nothing answers at ${this.url}: the agent is not running`, { agentRunning: false });
  }

  // _dropped handles the end of an open socket. The agent closes a socket
  // it has had no request on for a while (1000, "idle"; never one with
  // events subscribed): that is no drop, and the next call opens a socket
  // again (_wake) rather than reconnecting at once, so the place is free
  // meanwhile.
  _dropped(ws, ev) {
    if (this._ws !== ws) return; // close() ended it
    this._ws = null;
    this._subscribed = false;
    if (ev.code === 1000 && ev.reason === "idle" && this._handlers.size === 0) {
      this._idle = true;
      this._failPending(() => unreachable("the agent closed the idle connection", { closeCode: ev.code, closeReason: ev.reason }));
      this.dispatchEvent(new Event("idle"));
      return;
    }
    const data = { closeCode: ev.code, closeReason: ev.reason };
    this._failPending(() => unreachable("the connection to the agent was lost", data));
    this.dispatchEvent(new CloseEvent("close", { code: ev.code, reason: ev.reason, wasClean: ev.wasClean }));
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    if (this._closed || !this._opts.reconnect || this._retry !== null) return;
    const delay = this._delay;
    this._delay = Math.min(delay * 2, this._opts.maxReconnectDelay);
    this._retry = setTimeout(() => {
      this._retry = null;
      this._reconnect();
    }, delay);
  }

  // _wake opens a socket again after an idle close, once for all the calls
  // that come meanwhile. When that fails, the client falls back to
  // reconnecting as after a drop.
  _wake() {
    if (!this._waking) {
      this._waking = this._open(false).then(
        () => { this._idle = false; },
        (err) => {
          this._idle = false;
          this._scheduleReconnect();
          throw err;
        },
      ).finally(() => { this._waking = null; });
    }
    return this._waking;
  }

  // _reconnect makes one attempt, unless the browser denies access or would
  // have to ask the user (a question needs a user action): then it waits
  // until the permission changes to granted.
  async _reconnect() {
    if (this._closed) return;
    const status = await permissionStatus().catch(() => null);
    if (this._closed) return;
    if (status && status.state !== "granted") {
      this._pause(status);
      return;
    }
    this._open(false).catch((err) => {
      if (err.reason === LOCAL_NETWORK_DENIED) this._reconnect();
      else this._scheduleReconnect();
    });
  }

  _pause(status) {
    this._pausedState = status.state;
    const resume = () => {
      if (status.state !== "granted") {
        this._pausedState = status.state;
        return;
      }
      this._stopPause();
      this._delay = this._opts.reconnectDelay;
      this._scheduleReconnect();
    };
    status.addEventListener("change", resume);
    this._unpause = () => status.removeEventListener("change", resume);
  }

  _stopPause() {
    if (this._unpause) this._unpause();
    this._unpause = null;
  }

  _failPending(makeError) {
    const pending = this._pending;
    this._pending = new Map();
    for (const entry of pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(makeError());
    }
  }

  // _subscribe sends events.subscribe unless this socket has sent it.
  _subscribe() {
    if (this._subscribed || !this.connected) return;
    this._subscribed = true;
    const ws = this._ws;
    this.call("events.subscribe", {}).catch((err) => {
      // Try again with the next handler, unless the socket is gone (the
      // reconnection subscribes again).
      if (this._ws === ws) this._subscribed = false;
      if (err.reason !== AGENT_UNREACHABLE && err.reason !== CLOSED) report(err);
    });
  }

  _receive(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return; // the agent sends JSON only
    }
    if (msg === null || typeof msg !== "object") return;
    if (msg.id === undefined || msg.id === null) {
      if (typeof msg.method === "string") this._notify(msg.method, msg.params);
      return; // a notification, or an error about no request of ours
    }
    const entry = this._pending.get(msg.id);
    if (!entry) return; // timed out already
    this._pending.delete(msg.id);
    clearTimeout(entry.timer);
    if (msg.error) {
      const e = msg.error;
      const data = e.data ?? undefined;
      entry.reject(new AgentError(e.message || "agent error", data?.reason, e.code, data));
    } else {
      entry.resolve(msg.result);
    }
  }

  _notify(method, params) {
    const set = this._handlers.get(method);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        handler(params);
      } catch (err) {
        report(err); // one failing handler must not starve the others
      }
    }
  }
}

function report(err) {
  if (typeof globalThis.reportError === "function") {
    globalThis.reportError(err);
  } else {
    console.error(err);
  }
}
