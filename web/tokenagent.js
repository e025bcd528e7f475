// tokenagent.js: the JavaScript client of the tokenagent wire protocol
// (PROTOCOL.md, section 1). An ES module with no dependencies:
//
//   import { connect } from "http://127.0.0.1:24321/tokenagent.js";
//   const agent = await connect();
//   const { tokens } = await agent.call("tokens.list", {});
//   const off = agent.on("tokens.changed", (params) => { ... });
//   off();
//   agent.close();
//
// Beyond the protocol (see docs/PROTOCOL.md): an options object
// for connect, request timeouts (reason TIMEOUT), automatic reconnection with
// backoff that subscribes to events again, "open" and "close" events on the
// agent, and the reason CLOSED for calls cut short by agent.close().

/** The agent's default socket. */
export const DEFAULT_URL = "ws://127.0.0.1:24321/ws";

/** Reasons the client itself gives, beside the protocol's error reasons. */
export const AGENT_UNREACHABLE = "AGENT_UNREACHABLE";
export const TIMEOUT = "TIMEOUT";
export const CLOSED = "CLOSED";

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
 * CLOSED) code is undefined.
 */
export class AgentError extends Error {
  constructor(message, reason, code, data) {
    super(message);
    this.name = "AgentError";
    this.reason = reason;
    this.code = code;
    this.data = data;
  }
}

function unreachable(message, data) {
  return new AgentError(message, AGENT_UNREACHABLE, undefined, data);
}

/**
 * Opens a socket to the agent. It resolves with an Agent once the socket is
 * open and rejects with an AgentError whose reason is AGENT_UNREACHABLE when
 * nothing answers. A browser cannot tell a refused handshake (this page's
 * origin is not allowed) from an agent that is not running: both reject so.
 */
export function connect(url = DEFAULT_URL, options = {}) {
  const agent = new Agent(url, { ...defaults, ...options });
  return agent._open().then(() => agent);
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
  }

  /** Whether the socket is open now. */
  get connected() {
    return this._ws !== null && this._ws.readyState === WebSocket.OPEN;
  }

  /**
   * Calls method with params. It resolves with the result, or rejects with
   * an AgentError: the JSON-RPC error's code, data.reason and data;
   * AGENT_UNREACHABLE when the socket is not open or drops before the
   * response; TIMEOUT when no response comes within the timeout (options of
   * connect, or of this call); CLOSED after close().
   */
  call(method, params = {}, options = {}) {
    return new Promise((resolve, reject) => {
      if (this._closed) {
        reject(new AgentError("the connection to the agent was closed", CLOSED));
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
    this._subscribe();
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
    this._failPending(() => new AgentError("the connection to the agent was closed", CLOSED));
    if (this._ws) {
      const ws = this._ws;
      this._ws = null;
      ws.close(1000);
    }
  }

  // _open opens a socket; it resolves when it is open and rejects with
  // AGENT_UNREACHABLE when it fails or takes longer than connectTimeout.
  _open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      let settled = false;
      let timer = null;
      const fail = (message) => {
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          reject(unreachable(message));
        }
      };
      if (this._opts.connectTimeout > 0) {
        timer = setTimeout(() => {
          fail(`no answer from the agent at ${this.url} within ${this._opts.connectTimeout} ms`);
          ws.close();
        }, this._opts.connectTimeout);
      }
      ws.onopen = () => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        if (this._closed) {
          ws.close(1000);
          reject(new AgentError("the connection to the agent was closed", CLOSED));
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
      // The browser says no more about a failed handshake than this: a
      // refused origin looks the same as no agent.
      ws.onclose = () =>
        fail(`cannot connect to the agent at ${this.url} (not running, or this page's origin is not allowed)`);
    });
  }

  // _dropped handles the end of an open socket.
  _dropped(ws, ev) {
    if (this._ws !== ws) return; // close() ended it
    this._ws = null;
    this._subscribed = false;
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
      if (this._closed) return;
      this._open().catch(() => this._scheduleReconnect());
    }, delay);
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
