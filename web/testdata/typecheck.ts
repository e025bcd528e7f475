// What tokenagent.d.ts must accept and reject, checked by types_test.go
// with tsc --strict. Each "@ts-expect-error: TEXT" marks a line tsc must
// reject with an error whose text holds TEXT; every other line must
// compile.

import { connect, AgentError, digestOf, pickCertificates, commonName, errorMessage, messages } from "../tokenagent.js";
import type { Methods, Token, Certificate, Signature, Key, PendingRenewal } from "../tokenagent.js";

export async function correct(token: Token, cert: Certificate): Promise<string[]> {
  const agent = await connect();
  const t = token.id;
  const pin = "1234";
  const info = await agent.call("agent.info", {});
  const state: "ready" | "recovering" | "failed" = info.modules[0].state;
  const { tokens } = await agent.call("tokens.list", {});
  const pad: boolean = tokens[0].pin.protectedAuthPath;
  const { certificates } = await agent.call("certs.list", { token: t });
  await agent.call("lifetime.check", { token: t, at: "2027-01-01T00:00:00Z" });
  await agent.call("media.check", { token: t, cert: cert.id });
  const listed: { keys: Key[]; complete: boolean } = await agent.call("keys.list", { token: t });
  await agent.call("keys.list", { token: t, pin, confirmFinalTry: true });
  const key = await agent.call("keys.generate", { token: t, pin, algorithm: "EC-P256", label: "k", confirmFinalTry: true });
  await agent.call("keys.generate", { token: t, pin, algorithm: "GOST-2012-256", paramSet: "CryptoPro-A" });
  await agent.call("csr.create", { token: t, pin, key: key.key, subject: { commonName: "Alice", country: "RU" }, dnsNames: [], confirmFinalTry: true });
  await agent.call("certs.import", { token: t, pin, certificate: "MIIB", confirmFinalTry: true });
  const { deleted } = await agent.call("objects.delete", { token: t, pin, id: key.key, what: "both", confirmFinalTry: true });
  const prepared = await agent.call("renewal.prepare", { token: t, pin, cert: cert.id, newKey: true, algorithm: "RSA-2048", confirmFinalTry: true });
  await agent.call("renewal.complete", { token: t, pin, certificate: "MIIB", replaces: cert.id, removeOld: true, confirmFinalTry: true });
  const pending: PendingRenewal[] = (await agent.call("renewal.pending", { token: t })).pending;
  const cancelled: { cancelled: true; deleted: number } = await agent.call("renewal.cancel", { token: t, pin, key: prepared.key, confirmFinalTry: true });
  await agent.call("pin.change", { token: t, oldPin: pin, newPin: "5678", confirmFinalTry: true });
  await agent.call("pin.unlock", { token: t, soPin: "12345678", newPin: "1234", confirmFinalTry: true });
  const sig: Signature = await agent.call("sign", { token: t, pin, cert: cert.id, digest: "AAAA", digestAlgorithm: "SHA-256", format: "cms", confirmFinalTry: true });
  await agent.call("sign", { token: t, pin: "", cert: cert.id, data: "aGk=", padding: "pss" }, { timeout: 5000 });
  const { signatures } = await agent.call("sign.batch", { token: t, pin, cert: cert.id, items: [{ data: "aGk=" }, { digest: "AAAA" }], confirmFinalTry: true });
  await agent.call("events.subscribe", {});
  const off = agent.on("tokens.changed", (p) => p.added.map((a) => a.id));
  off();
  const anything: unknown = await agent.callUnchecked("vendor.extension", { any: 1 });
  await agent.callUnchecked("agent.info");
  try {
    await agent.call("certs.list", { token: t });
  } catch (err) {
    if (err instanceof AgentError && err.reason === "RATE_LIMITED") {
      const wait: number | undefined = err.data?.retryAfterSeconds;
      const method: string | undefined = err.method;
      return [String(wait), String(method)];
    }
  }
  agent.close();
  return [state, String(pad), String(certificates.length), String(listed.complete), String(deleted), String(pending.length),
    String(cancelled.deleted), sig.signature, String(signatures.length), String(anything)];
}

export async function mistakes(token: Token, err: AgentError): Promise<void> {
  const agent = await connect();
  const t = token.id;
  const pin = "1234";
  // @ts-expect-error: not assignable to parameter of type 'keyof Methods'
  await agent.call("tokens.lst", {});
  // @ts-expect-error: not assignable to parameter of type 'keyof Methods'
  await agent.call("sign" as string, { token: t });
  // @ts-expect-error: Object literal may only specify known properties
  await agent.call("sign", { token: t, pin, cert: "01", data: "aGk=", fromat: "cms" });
  // @ts-expect-error: Object literal may only specify known properties
  await agent.call("pin.unlock", { token: t, soPin: "1", newPin: "2", confirmFinalTri: true });
  // @ts-expect-error: Object literal may only specify known properties
  await agent.call("csr.create", { token: t, pin, key: "01", subject: { commonname: "Alice" } });
  // @ts-expect-error: Object literal may only specify known properties
  await agent.call("keys.list", { tokn: t });
  // @ts-expect-error: Object literal may only specify known properties
  await agent.call("renewal.pending", { token: t, pin });
  // @ts-expect-error: Property 'token' is missing
  await agent.call("certs.list", {});
  // @ts-expect-error: not assignable to type 'never'
  await agent.call("tokens.list", { token: t });
  // @ts-expect-error: Type '"all"' is not assignable
  await agent.call("objects.delete", { token: t, pin, id: "01", what: "all" });
  // @ts-expect-error: not assignable to parameter
  await agent.call("sign", { token: t, pin, cert: "01", data: "aGk=", digest: "AAAA" });
  // @ts-expect-error: not assignable to parameter
  await agent.call("sign", { token: t, pin, cert: "01" });
  // @ts-expect-error: Object literal may only specify known properties
  await agent.call("sign.batch", { token: t, pin, cert: "01", items: [{ dat: "aGk=" }] });
  // @ts-expect-error: Expected 2-3 arguments
  await agent.call("agent.info");
  // @ts-expect-error: Property 'retriesLeft' does not exist
  void err.data?.retriesLeft;
  // @ts-expect-error: not assignable to parameter of type 'keyof Notifications'
  agent.on("token.changed", () => {});
  // @ts-expect-error: Type 'unknown' is not assignable to type 'string'
  const s: string = await agent.callUnchecked("agent.info");
  // @ts-expect-error: Type 'Token[]' is not assignable to type 'number'
  const n: number = (await agent.call("tokens.list", {})).tokens;
  void s, n;
}

// Every method whose params carry a PIN takes confirmFinalTry.
type PINName = "pin" | "oldPin" | "soPin";
type ParamKeys<M extends keyof Methods> = Methods[M]["params"] extends infer P ? (P extends unknown ? keyof P : never) : never;
type LacksConfirm = {
  [M in keyof Methods]: [Extract<ParamKeys<M>, PINName>] extends [never] ? never : "confirmFinalTry" extends ParamKeys<M> ? never : M;
}[keyof Methods];
export const everyPINMethodConfirms: [LacksConfirm] extends [never] ? true : LacksConfirm = true;

export async function helpers(file: File, certs: Certificate[]): Promise<string> {
  const digest: string = await digestOf(file, "SHA-256");
  await digestOf(new Uint8Array(4), "SHA-512", { memoryLimit: 0 });
  await digestOf(new ArrayBuffer(4));
  // @ts-expect-error: not assignable to parameter of type 'SHA2Algorithm | undefined'
  await digestOf(file, "STREEBOG-256");
  // @ts-expect-error: Argument of type 'string' is not assignable
  await digestOf("text");
  const signing: Certificate[] = pickCertificates(certs, { keyUsage: ["digitalSignature", "nonRepudiation"], issuer: /Test CA/, validAt: new Date(), status: ["valid", "expiring"] });
  const withToken = pickCertificates(certs.map((c) => ({ ...c, token: "t" })), { issuer: ["Test CA", "CN=Other CA"], validAt: "2027-01-01T00:00:00Z" });
  const token: string = withToken[0].token;
  // @ts-expect-error: Object literal may only specify known properties
  pickCertificates(certs, { keyUsages: "digitalSignature" });
  // @ts-expect-error: Type '"signing"' is not assignable
  pickCertificates(certs, { keyUsage: "signing" });
  const name: string | null = commonName(signing[0].subject);
  const text: string = errorMessage(new AgentError("m", "RATE_LIMITED", 1031, { retryAfterSeconds: 5 }), "ru");
  errorMessage({ reason: "RATE_LIMITED", data: { retryAfterSeconds: 4 } }, "zh-CN");
  errorMessage(new Error("any"));
  const table: string = messages.zh.PIN_INCORRECT + messages.en.RETRY_IN;
  // @ts-expect-error: Property 'PIN_WRONG' does not exist
  void messages.en.PIN_WRONG;
  return digest + token + name + text + table;
}
