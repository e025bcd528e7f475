// The JavaScript client's own tests, run in a real browser by
// client_test.go. run returns one {name, ok, detail} per test; the Go side
// asserts on them.

// Frames the page sends that are events.subscribe requests.
let subscribeSends = 0;
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  try {
    if (JSON.parse(data).method === "events.subscribe") subscribeSends++;
  } catch {
    // not ours to judge
  }
  return send.call(this, data);
};

function check(cond, what) {
  if (!cond) throw new Error(what);
}

async function rejection(promise) {
  try {
    const v = await promise;
    throw new Error(`resolved with ${JSON.stringify(v)}, want a rejection`);
  } catch (err) {
    return err;
  }
}

function checkError(err, reason, code) {
  check(err instanceof Error, `not an Error: ${err}`);
  check(err.reason === reason, `reason ${err.reason}, want ${reason} (${err.message})`);
  check(err.code === code, `code ${err.code}, want ${code}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// until calls step, then checks cond, every 50 ms until cond holds.
async function until(cond, what, step = async () => {}, within = 5000) {
  const end = performance.now() + within;
  for (;;) {
    await step();
    if (cond()) return;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const control = (what) => fetch(`/control/${what}`, { method: "POST" }).then((r) => {
  if (!r.ok) throw new Error(`control ${what}: status ${r.status}`);
});

// nextEvent makes the agent publish readers.changed until got grows.
const nextEvent = (got, what) => {
  const n = got.length;
  return until(() => got.length > n, what, () => control("event"));
};

function tests(client, cfg) {
  const { connect, AgentError, DEFAULT_URL } = client;
  let shared = null; // the agent of "events", reused by "reconnect"
  let got2 = [];
  return {
    async exports() {
      check(DEFAULT_URL === "ws://127.0.0.1:24321/ws", `DEFAULT_URL ${DEFAULT_URL}`);
      check(typeof connect === "function", "connect is not a function");
      check(client.AGENT_UNREACHABLE === "AGENT_UNREACHABLE" && client.TIMEOUT === "TIMEOUT", "reason constants");
      check(client.LOCAL_NETWORK_DENIED === "LOCAL_NETWORK_DENIED", "LOCAL_NETWORK_DENIED");
    },

    async info() {
      const agent = await connect(cfg.agent);
      check(agent.connected, "not connected after connect");
      const info = await agent.call("agent.info", {});
      check(info.name === "tokenagent" && info.protocol === 1, `agent.info ${JSON.stringify(info)}`);
      const noParams = await agent.call("agent.info");
      check(noParams.name === "tokenagent", "agent.info without params");
      agent.close();
      check(!agent.connected, "connected after close");
      checkError(await rejection(agent.call("agent.info", {})), "CLOSED", undefined);
    },

    async errors() {
      const agent = await connect(cfg.agent);
      try {
        let err = await rejection(agent.call("no.such.method", {}));
        check(err instanceof AgentError, "not an AgentError");
        checkError(err, "METHOD_NOT_FOUND", -32601);
        check(err.data && err.data.reason === "METHOD_NOT_FOUND", `data ${JSON.stringify(err.data)}`);
        check(typeof err.message === "string" && err.message !== "", "empty message");

        err = await rejection(agent.call("certs.list", { token: "00000000000000000000000000000000" }));
        checkError(err, "TOKEN_NOT_FOUND", 1001);
        check(err.data && err.data.reason === "TOKEN_NOT_FOUND", `data ${JSON.stringify(err.data)}`);

        err = await rejection(agent.call("certs.list", {}));
        checkError(err, "INVALID_PARAMS", -32602);

        // The connection still serves after errors.
        check((await agent.call("agent.info", {})).name === "tokenagent", "agent.info after errors");
      } finally {
        agent.close();
      }
    },

    async events() {
      const agent = await connect(cfg.agent);
      shared = agent;
      subscribeSends = 0;
      let threw = false;
      try {
        agent.on("readers.changed", "not a function");
      } catch (err) {
        threw = err instanceof TypeError;
      }
      check(threw, "on with a non-function did not throw TypeError");
      const got1 = [];
      const off1 = agent.on("readers.changed", (p) => got1.push(p));
      agent.on("readers.changed", (p) => got2.push(p));
      agent.on("readers.changed", () => {
        throw new Error("a failing handler"); // must not starve the others
      });
      await nextEvent(got1, "the first readers.changed");
      check(subscribeSends === 1, `events.subscribe sent ${subscribeSends} times, want once`);
      check(got2.length === got1.length, `handlers saw ${got1.length} and ${got2.length} events`);
      const p = got1[0];
      check(p.readers[0] === "Test Reader" && p.cards[0].present === true, `params ${JSON.stringify(p)}`);

      off1();
      off1(); // twice is harmless
      got1.length = 0;
      await nextEvent(got2, "readers.changed after unsubscribing");
      check(got1.length === 0, "the removed handler still gets events");
      check(subscribeSends === 1, `events.subscribe sent ${subscribeSends} times after more events`);
    },

    async reconnect() {
      const agent = shared;
      check(agent !== null, "needs the agent of events");
      const closes = [];
      let opens = 0;
      agent.addEventListener("close", (ev) => closes.push(ev.code));
      agent.addEventListener("open", () => opens++);
      await control("restart");
      await until(() => opens > 0, "the reconnection");
      check(closes.length === 1 && closes[0] === 1001, `close events ${JSON.stringify(closes)}`);
      check(agent.connected, "not connected after the open event");
      check((await agent.call("agent.info", {})).name === "tokenagent", "agent.info after reconnecting");
      check(subscribeSends === 2, `events.subscribe sent ${subscribeSends} times, want 2 (once per socket)`);
      await nextEvent(got2, "readers.changed after reconnecting");
      agent.close();
      check(closes.length === 1, "close() dispatched a close event");
    },

    async timeout() {
      const agent = await connect(cfg.silent, { timeout: 500 });
      try {
        let t0 = performance.now();
        let err = await rejection(agent.call("agent.info", {}));
        let took = performance.now() - t0;
        checkError(err, "TIMEOUT", undefined);
        check(took >= 490 && took < 5000, `timed out after ${took} ms, want about 500`);

        t0 = performance.now();
        err = await rejection(agent.call("agent.info", {}, { timeout: 50 }));
        took = performance.now() - t0;
        checkError(err, "TIMEOUT", undefined);
        check(took >= 45 && took < 490, `per-call timeout after ${took} ms, want about 50`);
        check(agent.connected, "a timeout closed the socket");
      } finally {
        agent.close();
      }
    },

    async dropped() {
      const agent = await connect(cfg.silent, { reconnect: false, timeout: 0 });
      const closes = [];
      agent.addEventListener("close", (ev) => closes.push(ev.code));
      const pending = agent.call("agent.info", {});
      agent.call("test.drop", {}).catch(() => {});
      const err = await rejection(pending);
      checkError(err, "AGENT_UNREACHABLE", undefined);
      check(err.data && err.data.closeCode === 1006, `data ${JSON.stringify(err.data)}`);
      check(!agent.connected && closes.length === 1, `connected ${agent.connected}, closes ${closes}`);
      // Not connected, no reconnection: calls fail at once.
      checkError(await rejection(agent.call("agent.info", {})), "AGENT_UNREACHABLE", undefined);
      agent.close();
    },

    async closed() {
      const agent = await connect(cfg.silent, { timeout: 0 });
      const pending = agent.call("agent.info", {});
      agent.close();
      checkError(await rejection(pending), "CLOSED", undefined);
      agent.close(); // twice is harmless
    },

    async unreachable() {
      const t0 = performance.now();
      const err = await rejection(connect(cfg.dead));
      checkError(err, "AGENT_UNREACHABLE", undefined);
      check(err instanceof AgentError, "not an AgentError");
      check(err.data && err.data.agentRunning === false, `data ${JSON.stringify(err.data)}, want agentRunning false`);
      check(performance.now() - t0 < 5000, "took too long");
    },

    async backoff() {
      // The server accepts, closes at once, refuses a few handshakes, then
      // accepts again; client_test.go checks the gaps between attempts.
      const agent = await connect(cfg.flaky, { reconnectDelay: 40, maxReconnectDelay: 80 });
      let opens = 0;
      agent.addEventListener("open", () => opens++);
      await until(() => opens > 0, "the reconnection", undefined, 10000);
      agent.close();
    },

    // ---- on a public origin (lna_test.go): Local Network Access

    async denied() {
      // Headless Chromium answers the browser's question with "deny".
      const before = await client.localNetworkPermission();
      check(before === "prompt", `permission before connecting ${before}, want prompt`);
      let t0 = performance.now();
      let err = await rejection(connect(cfg.agent));
      const took = performance.now() - t0;
      checkError(err, "LOCAL_NETWORK_DENIED", undefined);
      check(took < 1000, `LOCAL_NETWORK_DENIED after ${Math.round(took)} ms, want within 1 s`);
      check(err.data && err.data.permission === "denied", `data ${JSON.stringify(err.data)}`);
      const after = await client.localNetworkPermission();
      check(after === "denied", `permission after ${after}, want denied`);
      // Denied: connect rejects without a socket.
      t0 = performance.now();
      err = await rejection(connect(cfg.agent));
      checkError(err, "LOCAL_NETWORK_DENIED", undefined);
      check(performance.now() - t0 < 500, "a second connect took too long");
    },

    // sign connects quietly, lists the tokens and signs cfg.text as CMS
    // with the token's certificate 01; client_test.go verifies the
    // signature it returns.
    async sign() {
      const state = await client.localNetworkPermission();
      check(state === "granted", `permission ${state}, want granted`);
      const agent = await connect(cfg.agent);
      try {
        const { tokens } = await agent.call("tokens.list", {});
        const tok = tokens.find((t) => t.label === cfg.token);
        check(tok, `token ${cfg.token} not among ${JSON.stringify(tokens.map((t) => t.label))}`);
        const data = btoa(cfg.text);
        const sig = await agent.call("sign", { token: tok.id, pin: cfg.pin, cert: "01", data, format: "cms" });
        check(sig.format === "cms", `format ${sig.format}`);
        return sig.signature;
      } finally {
        agent.close();
      }
    },

    async health() {
      // CORS for an allowed origin: the page reads the answer.
      const h = await (await fetch(cfg.health, { cache: "no-store" })).json();
      check(h.status === "ok" && h.protocol === 1, `healthz ${JSON.stringify(h)}`);
    },

    async refused() {
      // Granted, but not in allowed_origins: the agent answers /healthz,
      // so the client says it runs, and the page cannot read /healthz.
      const err = await rejection(connect(cfg.agent));
      checkError(err, "AGENT_UNREACHABLE", undefined);
      check(err.data && err.data.agentRunning === true, `data ${JSON.stringify(err.data)}, want agentRunning true`);
      check(await rejection(fetch(cfg.health)) instanceof TypeError, "read /healthz across origins without CORS");
    },

    async paused() {
      // Reconnection waits while the permission is denied and resumes when
      // it is granted.
      const agent = await connect(cfg.agent);
      let opens = 0;
      agent.addEventListener("open", () => opens++);
      try {
        await control("deny");
        await control("restart");
        let last = null;
        await until(() => last && last.reason === "LOCAL_NETWORK_DENIED", "calls rejected with LOCAL_NETWORK_DENIED", async () => {
          last = await agent.call("agent.info", {}).then(() => null, (err) => err);
        });
        check(last.data.permission === "denied", `data ${JSON.stringify(last.data)}`);
        check(opens === 0, "reconnected while denied");
        await control("grant");
        await until(() => opens > 0, "the reconnection after the grant");
        check((await agent.call("agent.info", {})).name === "tokenagent", "agent.info after the grant");
      } finally {
        agent.close();
      }
    },

    async waits() {
      // Headed: the browser's question stays open. connect does not time
      // out meanwhile, and rejects at once when the answer is "deny".
      check(await client.localNetworkPermission() === "prompt", "permission not prompt");
      let outcome = null;
      const t0 = performance.now();
      const pending = connect(cfg.agent, { connectTimeout: 100 }).then(
        (a) => { outcome = "open"; a.close(); },
        (err) => { outcome = err; });
      await sleep(600); // six connect timeouts
      check(outcome === null, `connect settled while the browser asked: ${outcome && (outcome.reason || outcome)}`);
      const denyAt = performance.now();
      await control("deny");
      await pending;
      checkError(outcome, "LOCAL_NETWORK_DENIED", undefined);
      const took = performance.now() - denyAt;
      check(took < 1000, `LOCAL_NETWORK_DENIED ${Math.round(took)} ms after the answer`);
      return Math.round(denyAt - t0);
    },

    // ---- helpers for portals (helpers_test.go)

    // digests hashes the bytes cfg.blob serves, cut to each length of
    // cfg.lengths, each way digestOf takes them: helpers_test.go checks
    // every digest with Go's SHA-2.
    async digests() {
      const { digestOf } = client;
      const out = [];
      for (const n of cfg.lengths) {
        const blob = await (await fetch(`${cfg.blob}?n=${n}`)).blob();
        check(blob.size === n, `served ${blob.size} bytes, want ${n}`);
        const bytes = new Uint8Array(await blob.arrayBuffer());
        for (const alg of ["SHA-256", "SHA-384", "SHA-512"]) {
          const ways = {
            blob: () => digestOf(blob, alg),
            file: () => digestOf(new File([blob], "document.pdf"), alg),
            streamed: () => digestOf(blob, alg, { memoryLimit: 0 }),
            buffer: () => digestOf(bytes.buffer, alg),
            view: () => digestOf(bytes.subarray(1), alg), // from offset 1: Go hashes n-1 bytes
          };
          for (const [how, digest] of Object.entries(ways)) {
            if (how === "view" && n === 0) continue;
            const t0 = performance.now();
            out.push({ n, alg, how, digest: await digest(), ms: performance.now() - t0 });
          }
        }
      }
      check(await rejection(digestOf(new Blob(["x"]), "STREEBOG-256")) instanceof RangeError, "STREEBOG-256 did not reject with RangeError");
      check(await rejection(digestOf("text")) instanceof TypeError, "a string did not reject with TypeError");
      return out;
    },

    // pick lists the certificates of token cfg.token and returns the ids
    // each filter of cfg.filters keeps (a filter's "validAt" is an RFC
    // 3339 time and "issuerRegExp" a RegExp's source), and the common
    // name of each certificate's subject.
    async pick() {
      const { pickCertificates, commonName } = client;
      const agent = await connect(cfg.agent);
      try {
        const { tokens } = await agent.call("tokens.list", {});
        const tok = tokens.find((t) => t.label === cfg.token);
        check(tok, `token ${cfg.token} not among ${JSON.stringify(tokens.map((t) => t.label))}`);
        const { certificates } = await agent.call("certs.list", { token: tok.id });
        const picked = {};
        for (const [name, f] of Object.entries(cfg.filters)) {
          const filter = { ...f };
          if (f.issuerRegExp !== undefined) {
            delete filter.issuerRegExp;
            filter.issuer = [filter.issuer ?? [], new RegExp(f.issuerRegExp)].flat();
          }
          picked[name] = pickCertificates(certificates, filter).map((c) => c.id);
        }
        check((await rejection((async () => pickCertificates(certificates, { keyUsages: "digitalSignature" }))())) instanceof TypeError,
          "a misspelt criterion did not throw TypeError");
        check((await rejection((async () => pickCertificates(certificates, { validAt: "yesterday" }))())) instanceof RangeError,
          "a validAt that is no time did not throw RangeError");
        const names = Object.fromEntries(certificates.map((c) => [c.id, commonName(c.subject)]));
        return { picked, names };
      } finally {
        agent.close();
      }
    },

    // messages returns the client's message table and errorMessage's
    // sentence for each of cfg.cases ({reason, data, method, lang}, as an
    // AgentError with an English message that must not show), and for
    // real errors of the agent and the client in each language:
    // helpers_test.go checks them.
    async messages() {
      const { errorMessage, messages, AgentError: E } = client;
      const raw = "agent's English: invalid params";
      const said = cfg.cases.map((c) => errorMessage(c.bare ? { reason: c.reason, data: c.data, method: c.method }
        : new E(raw, c.reason, 1, c.data, c.method), c.lang));
      said.forEach((m, i) => check(!m.includes(raw), `case ${i} shows the agent's message: ${m}`));
      check(Object.isFrozen(messages) && Object.isFrozen(messages.en), "the table is not frozen");

      const real = [];
      const agent = await connect(cfg.agent);
      const record = async (promise) => {
        const err = await rejection(promise);
        check(err instanceof E, `not an AgentError: ${err}`);
        real.push({ reason: err.reason, data: err.data ?? null, method: err.method ?? null, message: err.message,
          said: Object.fromEntries(["en", "ru", "zh"].map((l) => [l, errorMessage(err, l)])) });
      };
      try {
        const { tokens } = await agent.call("tokens.list", {});
        const tok = tokens.find((t) => t.label === cfg.token);
        check(tok, `token ${cfg.token} not found`);
        const sign = (pin, extra = {}) => agent.call("sign", { token: tok.id, pin, cert: cfg.cert, data: "aGk=", ...extra });
        await record(agent.callUnchecked("no.such.method", {}));
        await record(agent.call("certs.list", { token: "not a token id" }));
        await record(agent.call("certs.list", { token: "0".repeat(32) }));
        await record(agent.callUnchecked("sign.batch", { token: tok.id, pin: cfg.pin, cert: cfg.cert, items: [{ data: "aGk=" }, { dat: "aGk=" }] }));
        await record(agent.callUnchecked("certs.import", { token: tok.id, pin: cfg.pin, certificate: "not a certificate" }));
        await record(agent.call("media.check", { token: tok.id, cert: "77" }));
        for (let i = 0; i < 3; i++) await record(sign("0000")); // wrong PINs: then the throttle
        await record(sign(cfg.pin));
      } finally {
        agent.close();
      }
      await record(agent.call("agent.info", {}));
      await record(connect(cfg.dead));
      return { table: messages, said, real };
    },

    // unchecked calls through callUnchecked, and checks that errors name
    // the method of their call.
    async unchecked() {
      const agent = await connect(cfg.agent, { timeout: 5000 });
      try {
        const info = await agent.callUnchecked("agent.info");
        check(info.name === "tokenagent", `callUnchecked("agent.info") ${JSON.stringify(info)}`);
        check((await agent.callUnchecked("tokens.list", {})).tokens.length >= 1, "callUnchecked(tokens.list) lists no token");
        let err = await rejection(agent.callUnchecked("vendor.extension", { any: 1 }));
        checkError(err, "METHOD_NOT_FOUND", -32601);
        check(err.method === "vendor.extension", `method ${err.method}`);
        err = await rejection(agent.call("certs.list", {}));
        checkError(err, "INVALID_PARAMS", -32602);
        check(err.method === "certs.list", `method ${err.method}`);
      } finally {
        agent.close();
      }
      const silent = await connect(cfg.silent, { timeout: 100 });
      let err = await rejection(silent.callUnchecked("agent.info", {}));
      checkError(err, "TIMEOUT", undefined);
      check(err.method === "agent.info", `TIMEOUT's method ${err.method}`);
      silent.close();
      err = await rejection(silent.callUnchecked("tokens.list", {}));
      checkError(err, "CLOSED", undefined);
      check(err.method === "tokens.list", `CLOSED's method ${err.method}`);
    },

    async forbidden() {
      // On an origin the agent does not allow: the module loads (it is
      // public), the socket does not.
      const err = await rejection(connect(cfg.agent));
      checkError(err, "AGENT_UNREACHABLE", undefined);
      check(err.data && err.data.agentRunning === true, `data ${JSON.stringify(err.data)}, want agentRunning true (the agent answered /healthz)`);
      // A page on loopback is never asked for the permission.
      check(await client.localNetworkPermission() === "granted", "localNetworkPermission on a loopback page");
    },
  };
}

export async function run(client, cfg) {
  const all = tests(client, cfg);
  const results = [];
  for (const name of cfg.tests) {
    const t0 = performance.now();
    try {
      const value = await all[name]();
      results.push({ name, ok: true, detail: "", ms: Math.round(performance.now() - t0), value: value ?? null });
    } catch (err) {
      results.push({ name, ok: false, detail: String(err && err.stack || err), ms: Math.round(performance.now() - t0) });
    }
  }
  return results;
}
