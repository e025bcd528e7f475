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
// sockets the agent closed as idle, opened again by the next call ("idle"),
// and calls whose PIN the person types on the agent's consent page
// (consent: true; see "Consent" at the end of the file).
//
// Helpers for portals, beside the connection: digestOf hashes a file for
// sign's digest, pickCertificates and commonName choose and name
// certificates, and errorMessage (with its table, messages) says what an
// error means in English, Russian or Chinese.
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
    if (wantsConsent(params)) return callWithConsent(this, method, params, options); // see Consent, below
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

// ---- Digests: digestOf

// SHA-512's round constants and initial values (FIPS 180-4, 4.2.3, 5.3.5),
// each as two 32-bit halves, high half first. SHA-256's are their high
// halves (4.2.2, 5.3.3): the same roots of the same primes, to 32 bits.
const K512 = Uint32Array.of(
  0x428a2f98, 0xd728ae22, 0x71374491, 0x23ef65cd, 0xb5c0fbcf, 0xec4d3b2f, 0xe9b5dba5, 0x8189dbbc,
  0x3956c25b, 0xf348b538, 0x59f111f1, 0xb605d019, 0x923f82a4, 0xaf194f9b, 0xab1c5ed5, 0xda6d8118,
  0xd807aa98, 0xa3030242, 0x12835b01, 0x45706fbe, 0x243185be, 0x4ee4b28c, 0x550c7dc3, 0xd5ffb4e2,
  0x72be5d74, 0xf27b896f, 0x80deb1fe, 0x3b1696b1, 0x9bdc06a7, 0x25c71235, 0xc19bf174, 0xcf692694,
  0xe49b69c1, 0x9ef14ad2, 0xefbe4786, 0x384f25e3, 0x0fc19dc6, 0x8b8cd5b5, 0x240ca1cc, 0x77ac9c65,
  0x2de92c6f, 0x592b0275, 0x4a7484aa, 0x6ea6e483, 0x5cb0a9dc, 0xbd41fbd4, 0x76f988da, 0x831153b5,
  0x983e5152, 0xee66dfab, 0xa831c66d, 0x2db43210, 0xb00327c8, 0x98fb213f, 0xbf597fc7, 0xbeef0ee4,
  0xc6e00bf3, 0x3da88fc2, 0xd5a79147, 0x930aa725, 0x06ca6351, 0xe003826f, 0x14292967, 0x0a0e6e70,
  0x27b70a85, 0x46d22ffc, 0x2e1b2138, 0x5c26c926, 0x4d2c6dfc, 0x5ac42aed, 0x53380d13, 0x9d95b3df,
  0x650a7354, 0x8baf63de, 0x766a0abb, 0x3c77b2a8, 0x81c2c92e, 0x47edaee6, 0x92722c85, 0x1482353b,
  0xa2bfe8a1, 0x4cf10364, 0xa81a664b, 0xbc423001, 0xc24b8b70, 0xd0f89791, 0xc76c51a3, 0x0654be30,
  0xd192e819, 0xd6ef5218, 0xd6990624, 0x5565a910, 0xf40e3585, 0x5771202a, 0x106aa070, 0x32bbd1b8,
  0x19a4c116, 0xb8d2d0c8, 0x1e376c08, 0x5141ab53, 0x2748774c, 0xdf8eeb99, 0x34b0bcb5, 0xe19b48a8,
  0x391c0cb3, 0xc5c95a63, 0x4ed8aa4a, 0xe3418acb, 0x5b9cca4f, 0x7763e373, 0x682e6ff3, 0xd6b2b8a3,
  0x748f82ee, 0x5defb2fc, 0x78a5636f, 0x43172f60, 0x84c87814, 0xa1f0ab72, 0x8cc70208, 0x1a6439ec,
  0x90befffa, 0x23631e28, 0xa4506ceb, 0xde82bde9, 0xbef9a3f7, 0xb2c67915, 0xc67178f2, 0xe372532b,
  0xca273ece, 0xea26619c, 0xd186b8c7, 0x21c0c207, 0xeada7dd6, 0xcde0eb1e, 0xf57d4f7f, 0xee6ed178,
  0x06f067aa, 0x72176fba, 0x0a637dc5, 0xa2c898a6, 0x113f9804, 0xbef90dae, 0x1b710b35, 0x131c471b,
  0x28db77f5, 0x23047d84, 0x32caab7b, 0x40c72493, 0x3c9ebe0a, 0x15c9bebc, 0x431d67c4, 0x9c100d4c,
  0x4cc5d4be, 0xcb3e42b6, 0x597f299c, 0xfc657e2a, 0x5fcb6fab, 0x3ad6faec, 0x6c44198c, 0x4a475817);
const IV512 = Uint32Array.of(0x6a09e667, 0xf3bcc908, 0xbb67ae85, 0x84caa73b, 0x3c6ef372, 0xfe94f82b, 0xa54ff53a, 0x5f1d36f1, 0x510e527f, 0xade682d1, 0x9b05688c, 0x2b3e6c1f, 0x1f83d9ab, 0xfb41bd6b, 0x5be0cd19, 0x137e2179);
const IV384 = Uint32Array.of(0xcbbb9d5d, 0xc1059ed8, 0x629a292a, 0x367cd507, 0x9159015a, 0x3070dd17, 0x152fecd8, 0xf70e5939, 0x67332667, 0xffc00b31, 0x8eb44a87, 0x68581511, 0xdb0c2e0d, 0x64f98fa7, 0x47b5481d, 0xbefa4fa4);
const highHalves = (a) => Int32Array.from(a.filter((_, i) => i % 2 === 0));
const K256 = highHalves(K512).subarray(0, 64);
const IV256 = highHalves(IV512);

const rotr = (x, n) => (x >>> n) | (x << (32 - n));

// compress256 hashes the 64-byte block at off in view into state (8 words),
// with w as the message schedule. Words are held as signed 32-bit
// integers (Int32Array, | 0), which JavaScript engines keep unboxed.
function compress256(state, w, view, off) {
  for (let t = 0; t < 16; t++) w[t] = view.getInt32(off + 4 * t);
  for (let t = 16; t < 64; t++) {
    const x = w[t - 15], y = w[t - 2];
    w[t] = (w[t - 16] + (rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3)) + w[t - 7] + (rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10))) | 0;
  }
  let a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7];
  for (let t = 0; t < 64; t++) {
    const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K256[t] + w[t]) | 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0;
    d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  state[0] += a; state[1] += b; state[2] += c; state[3] += d;
  state[4] += e; state[5] += f; state[6] += g; state[7] += h;
}

// SHA-512 holds 64-bit words as pairs of 32-bit halves, high first. A sum
// adds the low halves as unsigned numbers (>>> 0), exact below 2^53, and
// carries what passes 2^32 into the high half.
const C32 = 0x100000000;
const carry = (lo) => (lo / C32) | 0;

// add64 adds the 64-bit word (h, l) to the pair at i of s.
function add64(s, i, h, l) {
  const lo = (s[i + 1] >>> 0) + (l >>> 0);
  s[i] = s[i] + h + carry(lo);
  s[i + 1] = lo;
}

// compress512 is compress256 for SHA-384 and SHA-512: 128-byte blocks,
// 64-bit words (state 16 halves, w 160).
function compress512(state, w, view, off) {
  for (let i = 0; i < 32; i++) w[i] = view.getInt32(off + 4 * i);
  for (let i = 32; i < 160; i += 2) {
    let xh = w[i - 30], xl = w[i - 29]; // σ0: rotr 1, rotr 8, shr 7
    const s0h = ((xh >>> 1) | (xl << 31)) ^ ((xh >>> 8) | (xl << 24)) ^ (xh >>> 7);
    const s0l = ((xl >>> 1) | (xh << 31)) ^ ((xl >>> 8) | (xh << 24)) ^ ((xl >>> 7) | (xh << 25));
    xh = w[i - 4]; xl = w[i - 3]; // σ1: rotr 19, rotr 61, shr 6
    const s1h = ((xh >>> 19) | (xl << 13)) ^ ((xl >>> 29) | (xh << 3)) ^ (xh >>> 6);
    const s1l = ((xl >>> 19) | (xh << 13)) ^ ((xh >>> 29) | (xl << 3)) ^ ((xl >>> 6) | (xh << 26));
    const lo = (w[i - 31] >>> 0) + (s0l >>> 0) + (w[i - 13] >>> 0) + (s1l >>> 0);
    w[i] = w[i - 32] + s0h + w[i - 14] + s1h + carry(lo);
    w[i + 1] = lo;
  }
  let ah = state[0], al = state[1], bh = state[2], bl = state[3], ch = state[4], cl = state[5], dh = state[6], dl = state[7];
  let eh = state[8], el = state[9], fh = state[10], fl = state[11], gh = state[12], gl = state[13], hh = state[14], hl = state[15];
  for (let i = 0; i < 160; i += 2) {
    // T1 = h + Σ1(e) + Ch(e, f, g) + K + W; Σ1: rotr 14, rotr 18, rotr 41
    const s1h = ((eh >>> 14) | (el << 18)) ^ ((eh >>> 18) | (el << 14)) ^ ((el >>> 9) | (eh << 23));
    const s1l = ((el >>> 14) | (eh << 18)) ^ ((el >>> 18) | (eh << 14)) ^ ((eh >>> 9) | (el << 23));
    const chh = (eh & fh) ^ (~eh & gh), chl = (el & fl) ^ (~el & gl);
    const t1l = (hl >>> 0) + (s1l >>> 0) + (chl >>> 0) + K512[i + 1] + (w[i + 1] >>> 0);
    const t1h = hh + s1h + chh + K512[i] + w[i] + carry(t1l);
    // T2 = Σ0(a) + Maj(a, b, c); Σ0: rotr 28, rotr 34, rotr 39
    const s0h = ((ah >>> 28) | (al << 4)) ^ ((al >>> 2) | (ah << 30)) ^ ((al >>> 7) | (ah << 25));
    const s0l = ((al >>> 28) | (ah << 4)) ^ ((ah >>> 2) | (al << 30)) ^ ((ah >>> 7) | (al << 25));
    const t2l = (s0l >>> 0) + (((al & bl) ^ (al & cl) ^ (bl & cl)) >>> 0);
    const t2h = s0h + ((ah & bh) ^ (ah & ch) ^ (bh & ch)) + carry(t2l);
    hh = gh; hl = gl; gh = fh; gl = fl; fh = eh; fl = el;
    const e = (dl >>> 0) + (t1l >>> 0);
    eh = (dh + t1h + carry(e)) | 0; el = e | 0;
    dh = ch; dl = cl; ch = bh; cl = bl; bh = ah; bl = al;
    const a = (t1l >>> 0) + (t2l >>> 0);
    ah = (t1h + t2h + carry(a)) | 0; al = a | 0;
  }
  add64(state, 0, ah, al); add64(state, 2, bh, bl); add64(state, 4, ch, cl); add64(state, 6, dh, dl);
  add64(state, 8, eh, el); add64(state, 10, fh, fl); add64(state, 12, gh, gl); add64(state, 14, hh, hl);
}

// The hashes digestOf computes itself: block and output sizes in bytes.
const SHA2 = {
  "SHA-256": { block: 64, out: 32, iv: IV256, schedule: 64, compress: compress256 },
  "SHA-384": { block: 128, out: 48, iv: IV384, schedule: 160, compress: compress512 },
  "SHA-512": { block: 128, out: 64, iv: IV512, schedule: 160, compress: compress512 },
};

// Hash is an incremental SHA-2 (FIPS 180-4): update with the message's
// bytes in pieces of any size, then finish. It keeps one block.
class Hash {
  constructor(kind) {
    this.kind = kind;
    this.state = Int32Array.from(kind.iv);
    this.w = new Int32Array(kind.schedule);
    this.block = new Uint8Array(kind.block);
    this.view = new DataView(this.block.buffer);
    this.filled = 0; // bytes in block
    this.length = 0; // bytes hashed, exact up to 2^53
  }

  update(bytes) {
    const size = this.kind.block;
    this.length += bytes.length;
    let i = 0;
    if (this.filled > 0) {
      i = Math.min(size - this.filled, bytes.length);
      this.block.set(bytes.subarray(0, i), this.filled);
      this.filled += i;
      if (this.filled < size) return;
      this.kind.compress(this.state, this.w, this.view, 0);
      this.filled = 0;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (; i + size <= bytes.length; i += size) this.kind.compress(this.state, this.w, view, i);
    this.block.set(bytes.subarray(i));
    this.filled = bytes.length - i;
  }

  // finish pads the message (0x80, zeros, its length in bits in the last
  // 8 bytes: the bytes before them, the length's high part, stay zero
  // below 2^61 bytes) and returns the digest.
  finish() {
    const size = this.kind.block;
    this.block[this.filled++] = 0x80;
    this.block.fill(0, this.filled);
    if (this.filled > size - size / 8) {
      this.kind.compress(this.state, this.w, this.view, 0);
      this.block.fill(0);
    }
    const bits = this.length * 8;
    this.view.setUint32(size - 8, Math.floor(bits / 0x100000000));
    this.view.setUint32(size - 4, bits >>> 0);
    this.kind.compress(this.state, this.w, this.view, 0);
    const out = new Uint8Array(this.kind.out);
    const view = new DataView(out.buffer);
    for (let i = 0; i < out.length / 4; i++) view.setInt32(4 * i, this.state[i]);
    return out;
  }
}

/** Blobs up to this size digestOf reads whole and hands to WebCrypto; larger ones it streams. */
export const DIGEST_MEMORY_LIMIT = 64 * 1024 * 1024;

/**
 * Hashes input (a File or other Blob, an ArrayBuffer or a typed array)
 * with algorithm (SHA-256, SHA-384 or SHA-512) and resolves with the
 * digest in base64, as sign's and sign.batch's digest take it (with the
 * same digestAlgorithm).
 *
 * Memory: WebCrypto (crypto.subtle) hashes fastest but only a whole
 * buffer, having no incremental digest. A Blob of at most
 * options.memoryLimit bytes (default DIGEST_MEMORY_LIMIT, 64 MiB) is read
 * whole and hashed by WebCrypto: at the peak it takes its size in memory,
 * about twice that while WebCrypto copies it. A larger Blob is streamed
 * (Blob.stream) through this module's own SHA-2, one chunk of the stream
 * at a time, so it takes a few kilobytes whatever its size, but hashes
 * several times slower than WebCrypto (30 to 150 MB/s measured in
 * Chromium and Node, against 200 to 700 for WebCrypto); so is
 * every input where WebCrypto is missing (a page that is not a secure
 * context). An ArrayBuffer or typed array is in memory
 * already and goes to WebCrypto as it is.
 *
 * GOST keys sign with Streebog, which WebCrypto lacks: send sign's data
 * for them, which the agent hashes.
 */
export async function digestOf(input, algorithm = "SHA-256", options = {}) {
  const kind = Object.hasOwn(SHA2, algorithm) ? SHA2[algorithm] : null;
  if (!kind) {
    throw new RangeError(`digestOf: algorithm ${algorithm} is not SHA-256, SHA-384 or SHA-512 (for a GOST key send sign's data: the agent hashes it with Streebog)`);
  }
  const subtle = globalThis.crypto?.subtle;
  let bytes = null; // the input in memory
  if (typeof Blob !== "undefined" && input instanceof Blob) {
    if (subtle && input.size <= (options.memoryLimit ?? DIGEST_MEMORY_LIMIT)) bytes = new Uint8Array(await input.arrayBuffer());
  } else if (input instanceof ArrayBuffer) {
    bytes = new Uint8Array(input);
  } else if (ArrayBuffer.isView(input)) {
    bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  } else {
    throw new TypeError("digestOf: the input must be a File, a Blob, an ArrayBuffer or a typed array");
  }
  if (bytes && subtle) return base64(new Uint8Array(await subtle.digest(algorithm, bytes)));
  const hash = new Hash(kind);
  if (bytes) {
    hash.update(bytes);
  } else {
    const reader = input.stream().getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) hash.update(r.value);
  }
  return base64(hash.finish());
}

function base64(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

// ---- Certificates: pickCertificates, commonName

const FILTER_KEYS = new Set(["keyUsage", "issuer", "validAt", "status"]);

/**
 * Returns the certificates of certs (certs.list's, or objects with their
 * fields) that pass every criterion of filter, in their order:
 * - keyUsage: a key usage name, or several, all of which the certificate
 *   must have (e.g. "nonRepudiation" for qualified signatures);
 * - issuer: the issuer's DN as certs.list gives it ("CN=Test CA,O=Example"),
 *   or its common name ("Test CA") for a string without "=", or a RegExp
 *   tested against the DN; or an array of those, any of which may match;
 * - validAt: a Date or an RFC 3339 time within notBefore … notAfter;
 * - status: a lifetime status ("valid", "expiring", …), or several.
 * A criterion left out passes every certificate; a key the filter does
 * not know throws TypeError, so that a misspelt one filters nothing away
 * unnoticed.
 */
export function pickCertificates(certs, filter = {}) {
  for (const key of Object.keys(filter)) {
    if (!FILTER_KEYS.has(key)) throw new TypeError(`pickCertificates: unknown criterion ${key} (keyUsage, issuer, validAt, status)`);
  }
  const list = (v) => (v === undefined ? null : [v].flat());
  const usages = list(filter.keyUsage) ?? [];
  const issuers = list(filter.issuer);
  const statuses = list(filter.status);
  const at = filter.validAt === undefined ? null : new Date(filter.validAt).getTime();
  if (Number.isNaN(at)) throw new RangeError(`pickCertificates: validAt ${filter.validAt} is not a time`);
  const issuedBy = (c) => issuers.some((want) => want instanceof RegExp ? c.issuer.search(want) !== -1
    : want.includes("=") ? c.issuer === want : commonName(c.issuer) === want);
  return certs.filter((c) => usages.every((u) => c.keyUsage.includes(u)) &&
    (issuers === null || issuedBy(c)) &&
    (statuses === null || statuses.includes(c.lifetime.status)) &&
    (at === null || (Date.parse(c.notBefore) <= at && at <= Date.parse(c.notAfter))));
}

/**
 * Returns the common name (CN) of a distinguished name as certs.list
 * gives subjects and issuers (RFC 4514, "CN=Alice,O=Example", with "\" before
 * special characters), or null when it has none. Of several, the first.
 */
export function commonName(dn) {
  let type = "", value = "", inValue = false;
  for (let i = 0; i <= dn.length; i++) {
    const ch = dn[i];
    if (ch === "\\" && inValue) {
      value += dn[++i] ?? "";
    } else if (ch === undefined || ((ch === "," || ch === "+") && inValue)) {
      if (type.trim().toUpperCase() === "CN") return value;
      type = ""; value = ""; inValue = false;
    } else if (ch === "=" && !inValue) {
      inValue = true;
    } else if (inValue) {
      value += ch;
    } else {
      type += ch;
    }
  }
  return null;
}

// ---- Messages for people: errorMessage, messages

// messages holds what errorMessage says, by language and key: a key for
// each reason (the protocol's and the client's own) and a few that say
// more where the error's data or method tells it. errorMessage joins a
// reason's sentence and, when they apply, one of the others. A page may
// use the same table for its own text; {name} stands for a value.
const en = {
  PARSE_ERROR: "The page sent tokenagent a message it could not read. Reload the page and try again.",
  INVALID_REQUEST: "The page sent tokenagent a request it does not understand. Reload the page and try again.",
  METHOD_NOT_FOUND: "This version of tokenagent cannot do what the page asked. Update tokenagent, then try again.",
  INVALID_PARAMS: "tokenagent could not accept what the page sent: a value is missing, too long or not in the expected form. Check what you entered and try again.",
  INTERNAL: "tokenagent ran into an unexpected problem. Try again; if it keeps happening, restart tokenagent.",
  TOKEN_NOT_FOUND: "The token is no longer plugged in. Plug it in and try again.",
  OBJECT_NOT_FOUND: "The certificate or key is no longer on the token. Reload the page to see what the token holds now.",
  KEY_NOT_FOUND: "This certificate does not belong to any key on this token: it was issued for another key or another token.",
  PIN_INCORRECT: "Wrong PIN.",
  PIN_LOCKED: "The PIN is locked after too many wrong tries. Unlock it with the unlock code (SO PIN or PUK) from your issuer.",
  PIN_FINAL_TRY: "The PIN has only one try left: one more wrong PIN locks the token.",
  PIN_INVALID: "The PIN does not meet the token's rules.",
  SO_PIN_INCORRECT: "Wrong unlock code (SO PIN).",
  SO_PIN_LOCKED: "The unlock code is locked. Only your issuer can re-initialise the token now.",
  MECHANISM_UNSUPPORTED: "The token cannot do this with the chosen algorithm. Choose another algorithm or another certificate.",
  TOKEN_READ_ONLY: "The token is write-protected: nothing can be stored on it or deleted from it.",
  PERMISSION_DENIED: "tokenagent does not let this site do that. Ask your administrator whether this site should be allowed to.",
  RATE_LIMITED: "Too many wrong PINs were entered for this token.",
  TOKEN_REMOVED: "The token was removed during the operation. Plug it in again and retry.",
  DEVICE_ERROR: "The token or its reader did not respond as expected. Unplug the token, plug it in again and retry.",
  CONSENT_DENIED: "The request was denied in tokenagent's window, or the window was closed: nothing was done.",
  CONSENT_TIMEOUT: "tokenagent's window waited too long for an answer: nothing was done. Try again.",
  CONSENT_UNAVAILABLE: "tokenagent could not show its window to ask you: allow pop-up windows for this site, then try again.",
  AGENT_UNREACHABLE: "Cannot reach tokenagent on this computer. Check that it is running, then try again.",
  TIMEOUT: "tokenagent did not answer in time. Try again.",
  CLOSED: "The connection to tokenagent was closed. Reload the page to connect again.",
  LOCAL_NETWORK_DENIED: "Your browser blocks this site from reaching tokenagent on this computer. Allow it in the site's settings (the icon left of the address: access to apps and services on this device), then reload the page.",
  AGENT_NOT_RUNNING: "tokenagent is not running on this computer. Install it from your issuer's site or start it, then try again.",
  AGENT_REFUSED: "tokenagent runs on this computer but does not accept this site. Ask your administrator to allow this site in tokenagent's settings.",
  AGENT_BUSY: "tokenagent is busy: it has no room for another connection from this site now. Close other tabs that use it, or try again later.",
  AGENT_PROMPT: "Could not reach tokenagent. If your browser asked whether this site may access apps and services on this device, choose Allow, then try again.",
  CONNECTION_LOST: "The connection to tokenagent was lost. Try again.",
  LOCAL_NETWORK_PROMPT: "Your browser has to ask you before this site can reach tokenagent: connect again and choose Allow when it asks.",
  COUNT_LOW: "The token reports that wrong PINs were entered: check the PIN before the next try, as too many wrong tries lock it.",
  FINAL_TRY: "Only one try is left: one more wrong PIN locks the token.",
  SO_COUNT_LOW: "The token reports that wrong unlock codes were entered: check the code before the next try, as too many wrong tries lock it for good.",
  SO_FINAL_TRY: "Only one try is left: one more wrong unlock code locks it for good.",
  PIN_FINAL_TRY_SO: "The unlock code has only one try left: one more wrong code locks it for good.",
  FINAL_TRY_CONFIRM: "Confirm that you want to use it, then try again.",
  FINAL_TRY_ELSEWHERE: "A web page may not use the last try: enter it on tokenagent's own page on this computer, where you can confirm it.",
  PIN_LENGTH: "It must have {min} to {max} characters.",
  RATE_LIMITED_SO: "Too many wrong unlock codes were entered for this token.",
  RETRY_IN: "Try again in {wait}.",
  ITEM: "The problem is in item {item} of the batch.",
  UNKNOWN: "Something went wrong. Try again.",
};

const ru = {
  PARSE_ERROR: "Страница отправила tokenagent сообщение, которое он не смог прочитать. Перезагрузите страницу и попробуйте ещё раз.",
  INVALID_REQUEST: "Страница отправила tokenagent запрос, который он не понимает. Перезагрузите страницу и попробуйте ещё раз.",
  METHOD_NOT_FOUND: "Эта версия tokenagent не умеет делать то, что запросила страница. Обновите tokenagent и попробуйте ещё раз.",
  INVALID_PARAMS: "tokenagent не смог принять данные от страницы: какое-то значение отсутствует, слишком длинное или записано не в том виде. Проверьте введённые данные и попробуйте ещё раз.",
  INTERNAL: "В работе tokenagent произошёл непредвиденный сбой. Попробуйте ещё раз; если сбой повторяется, перезапустите tokenagent.",
  TOKEN_NOT_FOUND: "Токен больше не подключён. Подключите его и попробуйте ещё раз.",
  OBJECT_NOT_FOUND: "Сертификата или ключа больше нет на токене. Обновите страницу, чтобы увидеть, что на нём сейчас.",
  KEY_NOT_FOUND: "Этот сертификат не подходит ни к одному ключу на этом токене: он выпущен для другого ключа или другого токена.",
  PIN_INCORRECT: "Неверный PIN.",
  PIN_LOCKED: "PIN заблокирован после слишком многих неверных попыток. Разблокируйте его кодом разблокировки (SO PIN или PUK) от удостоверяющего центра.",
  PIN_FINAL_TRY: "У PIN осталась всего одна попытка: ещё один неверный PIN заблокирует токен.",
  PIN_INVALID: "PIN не соответствует требованиям токена.",
  SO_PIN_INCORRECT: "Неверный код разблокировки (SO PIN).",
  SO_PIN_LOCKED: "Код разблокировки заблокирован. Теперь переинициализировать токен может только удостоверяющий центр.",
  MECHANISM_UNSUPPORTED: "Токен не может выполнить это с выбранным алгоритмом. Выберите другой алгоритм или другой сертификат.",
  TOKEN_READ_ONLY: "Токен защищён от записи: на него нельзя ничего записать и с него нельзя ничего удалить.",
  PERMISSION_DENIED: "tokenagent не разрешает этому сайту такое действие. Спросите администратора, следует ли его разрешить.",
  RATE_LIMITED: "Для этого токена введено слишком много неверных PIN.",
  TOKEN_REMOVED: "Токен извлекли во время операции. Подключите его снова и повторите.",
  DEVICE_ERROR: "Токен или считыватель ответил не так, как ожидалось. Извлеките токен, подключите его снова и повторите.",
  CONSENT_DENIED: "Запрос отклонён в окне tokenagent, или окно закрыли: ничего не сделано.",
  CONSENT_TIMEOUT: "Окно tokenagent слишком долго ждало ответа: ничего не сделано. Попробуйте ещё раз.",
  CONSENT_UNAVAILABLE: "tokenagent не смог показать своё окно с вопросом: разрешите всплывающие окна для этого сайта и попробуйте ещё раз.",
  AGENT_UNREACHABLE: "Не удаётся связаться с tokenagent на этом компьютере. Убедитесь, что он запущен, и попробуйте ещё раз.",
  TIMEOUT: "tokenagent не ответил вовремя. Попробуйте ещё раз.",
  CLOSED: "Соединение с tokenagent закрыто. Перезагрузите страницу, чтобы подключиться снова.",
  LOCAL_NETWORK_DENIED: "Браузер не даёт этому сайту связаться с tokenagent на этом компьютере. Разрешите это в настройках сайта (значок слева от адреса: доступ к приложениям и службам на этом устройстве) и перезагрузите страницу.",
  AGENT_NOT_RUNNING: "tokenagent не запущен на этом компьютере. Установите его с сайта удостоверяющего центра или запустите, затем попробуйте ещё раз.",
  AGENT_REFUSED: "tokenagent работает на этом компьютере, но не принимает этот сайт. Попросите администратора разрешить этот сайт в настройках tokenagent.",
  AGENT_BUSY: "tokenagent занят: сейчас у него нет места для ещё одного соединения с этого сайта. Закройте другие вкладки, которые его используют, или попробуйте позже.",
  AGENT_PROMPT: "Не удалось связаться с tokenagent. Если браузер спросил, можно ли этому сайту обращаться к приложениям и службам на этом устройстве, выберите «Разрешить» и попробуйте ещё раз.",
  CONNECTION_LOST: "Соединение с tokenagent прервалось. Попробуйте ещё раз.",
  LOCAL_NETWORK_PROMPT: "Прежде чем этот сайт сможет связаться с tokenagent, браузер должен спросить вас: подключитесь снова и выберите «Разрешить».",
  COUNT_LOW: "Токен сообщает, что вводились неверные PIN: проверьте PIN перед следующей попыткой, так как после слишком многих неверных попыток он блокируется.",
  FINAL_TRY: "Осталась одна попытка: ещё один неверный PIN заблокирует токен.",
  SO_COUNT_LOW: "Токен сообщает, что вводились неверные коды разблокировки: проверьте код перед следующей попыткой, так как после слишком многих неверных попыток он блокируется навсегда.",
  SO_FINAL_TRY: "Осталась одна попытка: ещё один неверный код разблокировки заблокирует его навсегда.",
  PIN_FINAL_TRY_SO: "У кода разблокировки осталась всего одна попытка: ещё один неверный код заблокирует его навсегда.",
  FINAL_TRY_CONFIRM: "Подтвердите, что хотите её использовать, и попробуйте ещё раз.",
  FINAL_TRY_ELSEWHERE: "Веб-странице нельзя тратить последнюю попытку: введите его на собственной странице tokenagent на этом компьютере, где это можно подтвердить.",
  PIN_LENGTH: "Он должен содержать от {min} до {max} символов.",
  RATE_LIMITED_SO: "Для этого токена введено слишком много неверных кодов разблокировки.",
  RETRY_IN: "До следующей попытки: {wait}.",
  ITEM: "Ошибка в элементе № {item} пакета.",
  UNKNOWN: "Что-то пошло не так. Попробуйте ещё раз.",
};

const zh = {
  PARSE_ERROR: "页面发送给 tokenagent 的消息无法读取。请重新加载页面后重试。",
  INVALID_REQUEST: "页面向 tokenagent 发送了无法理解的请求。请重新加载页面后重试。",
  METHOD_NOT_FOUND: "此版本的 tokenagent 无法执行页面请求的操作。请更新 tokenagent 后重试。",
  INVALID_PARAMS: "tokenagent 无法接受页面发送的内容：某个值缺失、过长或格式不正确。请检查您输入的内容后重试。",
  INTERNAL: "tokenagent 遇到了意外问题。请重试；如果问题反复出现，请重新启动 tokenagent。",
  TOKEN_NOT_FOUND: "令牌已不在本机上。请插入令牌后重试。",
  OBJECT_NOT_FOUND: "令牌上已没有该证书或密钥。请重新加载页面，查看令牌上现有的内容。",
  KEY_NOT_FOUND: "此证书与该令牌上的任何密钥都不匹配：它是为另一个密钥或另一个令牌颁发的。",
  PIN_INCORRECT: "PIN 错误。",
  PIN_LOCKED: "由于错误次数过多，PIN 已锁定。请使用颁发机构提供的解锁码（SO PIN 或 PUK）解锁。",
  PIN_FINAL_TRY: "PIN 仅剩一次机会：再输错一次，令牌将被锁定。",
  PIN_INVALID: "PIN 不符合令牌的要求。",
  SO_PIN_INCORRECT: "解锁码（SO PIN）错误。",
  SO_PIN_LOCKED: "解锁码已锁定。现在只有颁发机构能重新初始化令牌。",
  MECHANISM_UNSUPPORTED: "令牌无法用所选算法完成此操作。请选择其他算法或其他证书。",
  TOKEN_READ_ONLY: "令牌处于写保护状态：无法在其上存储或删除任何内容。",
  PERMISSION_DENIED: "tokenagent 不允许此网站执行该操作。请询问管理员是否应允许此网站这样做。",
  RATE_LIMITED: "此令牌的 PIN 输错次数过多。",
  TOKEN_REMOVED: "操作过程中令牌被拔出。请重新插入后重试。",
  DEVICE_ERROR: "令牌或读卡器没有正常响应。请拔出令牌，重新插入后重试。",
  CONSENT_DENIED: "请求已在 tokenagent 的窗口中被拒绝，或窗口已关闭：未执行任何操作。",
  CONSENT_TIMEOUT: "tokenagent 的窗口等待回答的时间过长：未执行任何操作。请重试。",
  CONSENT_UNAVAILABLE: "tokenagent 无法显示询问您的窗口：请允许此网站弹出窗口，然后重试。",
  AGENT_UNREACHABLE: "无法连接到本机上的 tokenagent。请确认它正在运行，然后重试。",
  TIMEOUT: "tokenagent 未及时响应。请重试。",
  CLOSED: "与 tokenagent 的连接已关闭。请重新加载页面以再次连接。",
  LOCAL_NETWORK_DENIED: "浏览器阻止此网站连接本机上的 tokenagent。请在网站设置中允许（地址左侧的图标：访问此设备上的应用和服务），然后重新加载页面。",
  AGENT_NOT_RUNNING: "本机未运行 tokenagent。请从颁发机构网站安装或启动它，然后重试。",
  AGENT_REFUSED: "tokenagent 正在本机运行，但不接受此网站。请让管理员在 tokenagent 的设置中允许此网站。",
  AGENT_BUSY: "tokenagent 正忙：目前无法再接受来自此网站的连接。请关闭使用它的其他标签页，或稍后重试。",
  AGENT_PROMPT: "无法连接到 tokenagent。如果浏览器询问是否允许此网站访问此设备上的应用和服务，请选择“允许”，然后重试。",
  CONNECTION_LOST: "与 tokenagent 的连接已中断。请重试。",
  LOCAL_NETWORK_PROMPT: "此网站连接 tokenagent 之前，浏览器需要先征得您的同意：请再次连接，并在浏览器询问时选择“允许”。",
  COUNT_LOW: "令牌报告已输入过错误的 PIN：下次尝试前请仔细核对，错误次数过多会锁定 PIN。",
  FINAL_TRY: "仅剩一次机会：再输错一次 PIN，令牌将被锁定。",
  SO_COUNT_LOW: "令牌报告已输入过错误的解锁码：下次尝试前请仔细核对，错误次数过多会永久锁定解锁码。",
  SO_FINAL_TRY: "仅剩一次机会：再输错一次解锁码，它将被永久锁定。",
  PIN_FINAL_TRY_SO: "解锁码仅剩一次机会：再输错一次，它将被永久锁定。",
  FINAL_TRY_CONFIRM: "请确认您要使用这次机会，然后重试。",
  FINAL_TRY_ELSEWHERE: "网页不能使用最后一次机会：请在本机 tokenagent 自己的页面上输入，在那里可以确认。",
  PIN_LENGTH: "长度必须为 {min} 到 {max} 个字符。",
  RATE_LIMITED_SO: "此令牌的解锁码输错次数过多。",
  RETRY_IN: "请在{wait}后重试。",
  ITEM: "问题出在批量中的第 {item} 项。",
  UNKNOWN: "出了点问题。请重试。",
};

const freeze = (table) => Object.freeze(Object.fromEntries(Object.entries(table).map(([k, v]) => [k, Object.freeze(v)])));

/** What errorMessage says, by language ("en", "ru", "zh") and key (see errorMessage). */
export const messages = freeze({ en, ru, zh });

// language returns the table's language for a BCP 47 tag ("ru-RU" → "ru"),
// English when it has none of it.
function language(tag) {
  const base = String(tag ?? globalThis.navigator?.language ?? "en").toLowerCase().split(/[-_]/)[0];
  return Object.hasOwn(messages, base) ? base : "en";
}

// wait says how long seconds is in lang: "1 minute 30 seconds".
function wait(seconds, lang) {
  const s = Math.max(1, Math.ceil(seconds));
  const unit = (n, name) => new Intl.NumberFormat(lang, { style: "unit", unit: name, unitDisplay: "long" }).format(n);
  const parts = [];
  if (s >= 60) parts.push(unit(Math.floor(s / 60), "minute"));
  if (s % 60 !== 0) parts.push(unit(s % 60, "second"));
  return parts.join(lang === "zh" ? "" : " ");
}

const isNumber = (v) => typeof v === "number" && Number.isFinite(v);

// messageKeys returns the keys of messages that say what err means, and
// the values their {names} stand for.
function messageKeys(err) {
  const reason = err?.reason;
  const data = err?.data ?? {};
  const so = err?.method === "pin.unlock"; // the one method that takes the SO PIN
  switch (reason) {
    case "PIN_INCORRECT":
      return [[reason, data.finalTry ? "FINAL_TRY" : data.countLow ? "COUNT_LOW" : null]];
    case "SO_PIN_INCORRECT":
      return [[reason, data.finalTry ? "SO_FINAL_TRY" : data.countLow ? "SO_COUNT_LOW" : null]];
    case "PIN_FINAL_TRY":
      return [[so ? "PIN_FINAL_TRY_SO" : reason, data.confirmable === false ? "FINAL_TRY_ELSEWHERE" : "FINAL_TRY_CONFIRM"]];
    case "PIN_INVALID":
      return [[reason, isNumber(data.minLen) && isNumber(data.maxLen) ? "PIN_LENGTH" : null], { min: data.minLen, max: data.maxLen }];
    case "RATE_LIMITED":
      return [[so ? "RATE_LIMITED_SO" : reason, isNumber(data.retryAfterSeconds) ? "RETRY_IN" : null], { seconds: data.retryAfterSeconds }];
    case "INVALID_PARAMS":
      return [[reason, Number.isInteger(data.index) ? "ITEM" : null], { item: data.index + 1 }];
    case "AGENT_UNREACHABLE":
      return [[data.busy ? "AGENT_BUSY" : data.agentRunning === true ? "AGENT_REFUSED" : data.agentRunning === false ? "AGENT_NOT_RUNNING"
        : data.permission === "prompt" ? "AGENT_PROMPT" : data.closeCode !== undefined ? "CONNECTION_LOST" : reason]];
    case "LOCAL_NETWORK_DENIED":
      return [[data.permission === "prompt" ? "LOCAL_NETWORK_PROMPT" : reason]];
  }
  return [[typeof reason === "string" && Object.hasOwn(en, reason) ? reason : "UNKNOWN"]];
}

/**
 * Says for people what err (an AgentError, or anything a call or connect
 * rejected with) means and what to do, in lang: "en", "ru" or "zh", or a
 * BCP 47 tag of them ("ru-RU"); by default the browser's language, and
 * English for others. Never the agent's message, which is English for
 * logs. Where the error's data tells more, it says so: the PIN flags
 * (countLow: the token reports wrong PINs were entered; finalTry), the
 * wait of RATE_LIMITED (retryAfterSeconds, in minutes and seconds), the
 * PIN's lengths, the batch item at fault (data.index, counted from 1 for
 * people), whether a final try can be confirmed here, and why connect
 * failed; for pin.unlock (err.method), the unlock code rather than the
 * PIN. A reason it does not know gets a general sentence.
 *
 * err need only have reason, and data and method where they matter: a
 * page counting a RATE_LIMITED wait down can ask again each second with
 * { reason: "RATE_LIMITED", data: { retryAfterSeconds: left } }.
 */
export function errorMessage(err, lang) {
  const l = language(lang);
  const [keys, vars = {}] = messageKeys(err);
  if (isNumber(vars.seconds)) vars.wait = wait(vars.seconds, l);
  const fill = (s) => s.replace(/\{(\w+)\}/g, (_, name) => String(vars[name]));
  return keys.filter(Boolean).map((k) => fill(messages[l][k] ?? messages.en[k])).join(l === "zh" ? "" : " ");
}

function report(err) {
  if (typeof globalThis.reportError === "function") {
    globalThis.reportError(err);
  } else {
    console.error(err);
  }
}

// ---- Consent (docs/PROTOCOL.md section 7) ----------------------------------
//
// agent.call(method, {...params, consent: true}) (or consent: {description})
// has the person type the PIN on the agent's own consent page, which this
// page never sees: the client makes a nonce, opens the consent window at
// once (synchronously, in the page's user action, so that no popup blocker
// stops it), sends the call with consent: {nonce, description} and no PIN,
// and settles with its outcome, closing the window. A call must come from a
// user action (a click); a blocked window rejects with CONSENT_UNAVAILABLE
// before anything is sent. The call has no client timeout unless the call's
// options give one: the agent bounds the person's time (consent_timeout).

/** Reason of a call with consent whose window could not be opened (code undefined), also a protocol reason. */
export const CONSENT_UNAVAILABLE = "CONSENT_UNAVAILABLE";

// wantsConsent tells a call that asks the client for consent from one
// that carries its own nonce (or none).
function wantsConsent(params) {
  const c = params?.consent;
  return c === true || (c !== null && typeof c === "object" && c.nonce === undefined);
}

// newNonce returns 32 random bytes in base64url.
function newNonce() {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The consent page's URL for nonce at the agent of socketURL (ws://127.0.0.1:24321/ws → http://127.0.0.1:24321/consent?n=…). */
export function consentURL(socketURL, nonce) {
  const u = new URL(socketURL);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  u.pathname = "/consent";
  u.search = "?n=" + encodeURIComponent(nonce);
  u.hash = "";
  return u.href;
}

function callWithConsent(agent, method, params, options) {
  const nonce = newNonce();
  const description = params.consent === true ? undefined : params.consent.description;
  const win = globalThis.open?.(consentURL(agent.url, nonce), "tokenagent-consent-" + nonce, "popup,width=520,height=760");
  if (!win) {
    return Promise.reject(new AgentError("the consent window could not be opened (blocked as a popup?): call from a user action, such as a click", CONSENT_UNAVAILABLE, undefined, undefined, method));
  }
  const consent = description === undefined ? { nonce } : { nonce, description };
  const close = () => {
    if (!win.closed) win.close();
  };
  return agent.call(method, { ...params, consent }, { ...options, timeout: options.timeout ?? 0 }).then(
    (result) => {
      close();
      return result;
    },
    (err) => {
      close();
      throw err;
    },
  );
}
