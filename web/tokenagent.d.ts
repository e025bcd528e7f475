// Type declarations for tokenagent.js, the JavaScript client of the
// tokenagent wire protocol (docs/PROTOCOL.md). Served beside it as
// /tokenagent.d.ts, and shipped beside it in the npm package.

/** The agent's default socket: "ws://127.0.0.1:24321/ws". */
export const DEFAULT_URL: string;

/** Client-side reasons, beside the protocol's error reasons. */
export const AGENT_UNREACHABLE: "AGENT_UNREACHABLE";
export const TIMEOUT: "TIMEOUT";
export const CLOSED: "CLOSED";
export const LOCAL_NETWORK_DENIED: "LOCAL_NETWORK_DENIED";

/** The protocol's error reasons (PROTOCOL.md section 3). */
export type ProtocolReason =
  | "PARSE_ERROR"
  | "INVALID_REQUEST"
  | "METHOD_NOT_FOUND"
  | "INVALID_PARAMS"
  | "INTERNAL"
  | "TOKEN_NOT_FOUND"
  | "OBJECT_NOT_FOUND"
  | "KEY_NOT_FOUND"
  | "PIN_INCORRECT"
  | "PIN_LOCKED"
  | "PIN_FINAL_TRY"
  | "PIN_INVALID"
  | "SO_PIN_INCORRECT"
  | "SO_PIN_LOCKED"
  | "MECHANISM_UNSUPPORTED"
  | "TOKEN_READ_ONLY"
  | "PERMISSION_DENIED"
  | "RATE_LIMITED"
  | "TOKEN_REMOVED"
  | "DEVICE_ERROR"
  | "CONSENT_DENIED"
  | "CONSENT_TIMEOUT"
  | "CONSENT_UNAVAILABLE";

/** Every reason an AgentError may carry. */
export type Reason = ProtocolReason | "AGENT_UNREACHABLE" | "TIMEOUT" | "CLOSED" | "LOCAL_NETWORK_DENIED";

/**
 * What calls and connect reject with. code, reason and data come from the
 * JSON-RPC error (data.reason is reason); for the client's own errors
 * (AGENT_UNREACHABLE, TIMEOUT, CLOSED, LOCAL_NETWORK_DENIED) code is
 * undefined. After a dropped socket, data is {closeCode, closeReason}; after
 * a failed connect, see connect. method is the call's method (undefined for
 * connect's errors). message is the agent's or the client's English, for
 * logs: show people errorMessage(err, lang).
 */
export class AgentError extends Error {
  constructor(message: string, reason?: Reason, code?: number, data?: ErrorData, method?: string);
  readonly name: "AgentError";
  readonly reason: Reason | undefined;
  readonly code: number | undefined;
  readonly data: ErrorData | undefined;
  readonly method: string | undefined;
}

/**
 * The data member of an error: its reason, and the fields that reason
 * carries (docs/PROTOCOL.md sections 3 and 5; the client's own reasons in
 * section 1). Only these are ever sent: standard PKCS#11 cannot tell how
 * many PIN tries are left, so the agent never sends a count of them.
 */
export interface ErrorData {
  reason?: ProtocolReason;
  /** PIN_INCORRECT, SO_PIN_INCORRECT: the token reports that wrong PINs (of that kind) were entered; SoftHSM sets it after one. */
  countLow?: boolean;
  /** PIN_INCORRECT, SO_PIN_INCORRECT: one try is left. */
  finalTry?: boolean;
  /** PIN_INVALID: the token's PIN length rules. */
  minLen?: number;
  maxLen?: number;
  /** RATE_LIMITED: seconds until PINs of that kind are tried again. */
  retryAfterSeconds?: number;
  /** PIN_FINAL_TRY: whether repeating the call with confirmFinalTry would try the PIN (never from a web page's origin). */
  confirmable?: boolean;
  /** INVALID_PARAMS from sign.batch: the index (from 0) of the item at fault. */
  index?: number;
  /** AGENT_UNREACHABLE after the socket dropped (or the agent closed it as idle). */
  closeCode?: number;
  closeReason?: string;
  /** AGENT_UNREACHABLE from connect: whether the agent answered /healthz (so it refused this page's origin). */
  agentRunning?: boolean;
  /** AGENT_UNREACHABLE from connect: the agent runs but has no place for another connection from this page's origin now. */
  busy?: boolean;
  /** LOCAL_NETWORK_DENIED (and AGENT_UNREACHABLE while the browser may still ask): the permission's state. */
  permission?: LocalNetworkPermission;
}

/**
 * Whether the browser lets this page reach the agent on this computer
 * (Chromium's Local Network Access permission, "loopback-network").
 */
export type LocalNetworkPermission = "granted" | "prompt" | "denied" | "unsupported";

/**
 * The state of the permission for this page: "granted" (also for a page
 * served from loopback, which is never asked), "prompt" (connecting makes
 * the browser ask: explain first, connect from a user action), "denied"
 * (connect rejects with LOCAL_NETWORK_DENIED; the user must allow it in the
 * site's settings) or "unsupported" (a browser without the check).
 */
export function localNetworkPermission(): Promise<LocalNetworkPermission>;

export interface ConnectOptions {
  /** Milliseconds a call waits for its response before rejecting with TIMEOUT; 0: forever. Default 60000. */
  timeout?: number;
  /** Milliseconds connect waits for the socket to open, counted once the browser's permission is granted. Default 10000. */
  connectTimeout?: number;
  /** Reopen a dropped socket. Default true. */
  reconnect?: boolean;
  /** Milliseconds before the first reconnection attempt; doubles after each failed one. Default 250. */
  reconnectDelay?: number;
  /** The longest wait between attempts, in milliseconds. Default 10000. */
  maxReconnectDelay?: number;
}

export interface CallOptions {
  /** Overrides the connection's timeout for this call. */
  timeout?: number;
}

/**
 * Opens a socket to the agent (default DEFAULT_URL). Resolves once it is
 * open. Rejects with LOCAL_NETWORK_DENIED when the browser's permission is
 * or becomes denied, and with AGENT_UNREACHABLE when the handshake fails
 * (data.agentRunning: true when the agent answered /healthz, so it refused
 * this origin; false when nothing answers) or no answer comes within
 * connectTimeout, which starts once the permission is granted: while the
 * browser asks the user, connect waits.
 */
export function connect(url?: string, options?: ConnectOptions): Promise<Agent>;

/**
 * A connection to the agent. It dispatches "open" (Event) after a
 * reconnection and "close" (CloseEvent) when the socket drops; "idle"
 * (Event) when the agent closed a socket that had no request for a while
 * (and no events subscription), which the next call opens again. While the
 * browser's permission is not granted, reconnection waits, and resumes
 * when it becomes granted.
 */
export class Agent extends EventTarget {
  private constructor();
  /** The socket's URL. */
  readonly url: string;
  /** Whether the socket is open now. */
  readonly connected: boolean;
  /**
   * Calls method, one of the protocol's (Methods), with its params: a
   * misspelt method or param does not compile. Resolves with the result;
   * rejects with an AgentError (TIMEOUT after the timeout,
   * AGENT_UNREACHABLE when not connected or the socket drops,
   * LOCAL_NETWORK_DENIED when reconnection waits for the browser's
   * permission, CLOSED after close()).
   */
  call<M extends ConsentMethod>(method: M, params: WithConsent<Methods[M]["params"]>, options?: CallOptions): Promise<Methods[M]["result"]>;
  call<M extends keyof Methods>(method: M, params: Methods[M]["params"], options?: CallOptions): Promise<Methods[M]["result"]>;
  /**
   * Calls any method with any params, unchecked: for methods of a newer
   * agent than these declarations know. Behaves as call; params defaults
   * to {}.
   */
  callUnchecked(method: string, params?: object, options?: CallOptions): Promise<unknown>;
  /** Subscribes to a notification (sending events.subscribe once); returns the unsubscribe function. */
  on<M extends keyof Notifications>(method: M, fn: (params: Notifications[M]) => void): () => void;
  /** Closes for good: no reconnection; waiting calls reject with CLOSED. */
  close(): void;
}

/** Notification methods and their params. */
export interface Notifications {
  "tokens.changed": TokensChanged;
  "readers.changed": ReadersChanged;
}

export interface TokensChanged {
  added: Token[];
  removed: string[];
  changed: Token[];
}

export interface ReadersChanged {
  readers: string[];
  cards: { reader: string; present: boolean; atr: string | null }[];
}

export interface AgentInfo {
  name: string;
  version: string;
  protocol: number;
  modules: {
    path: string;
    manufacturer: string;
    description: string;
    libraryVersion: string;
    /** ready; recovering after a call failed as if its back end went away; failed (error says why). */
    state: "ready" | "recovering" | "failed";
    error: string | null;
  }[];
  pcsc: { available: boolean; readers: string[]; error: string | null; cards?: CardStatus[] };
}

/** agent.info's pcsc.cards, an extension (docs/PROTOCOL.md). */
export interface CardStatus {
  reader: string;
  atr: string | null;
  card: string | null;
  vendor: string | null;
  module: string | null;
  moduleInstalled: boolean;
  moduleLoaded: boolean;
  note: string | null;
}

export interface Token {
  id: string;
  label: string;
  manufacturer: string;
  model: string;
  serial: string;
  module: string;
  slot: number;
  reader: string | null;
  atr: string | null;
  pin: {
    initialized: boolean;
    loginRequired: boolean;
    locked: boolean;
    countLow: boolean;
    finalTry: boolean;
    soLocked: boolean;
    soCountLow: boolean;
    soFinalTry: boolean;
    /** A PIN pad: the person types the PIN on the reader, and the page sends "" wherever a PIN is due. */
    protectedAuthPath: boolean;
    minLen: number;
    maxLen: number;
  };
  media: { profile: string; legacy: boolean; upgradeTo: string | null; description: string } | null;
  readOnly: boolean;
}

export type LifetimeStatus = "valid" | "expiring" | "expired" | "not_yet_valid";

export interface Lifetime {
  status: LifetimeStatus;
  daysLeft: number;
  remaining: { years: number; months: number; days: number };
}

export interface Certificate {
  id: string;
  label: string;
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  sha256: string;
  /** "RSA", "EC", "Ed25519", "GOST-2012", or OpenSSL's name of another. */
  keyAlgorithm: string;
  keySize: number;
  curve: string | null;
  /** GOST keys only: the parameter set, e.g. "CryptoPro-A" (a dotted OID when unnamed). */
  paramSet?: GOSTParamSet | string;
  keyUsage: KeyUsage[];
  der: string;
  lifetime: Lifetime;
}

/** Key usage bits by their RFC 5280 names, as certs.list gives them. */
export type KeyUsage =
  | "digitalSignature" | "nonRepudiation" | "keyEncipherment" | "dataEncipherment"
  | "keyAgreement" | "keyCertSign" | "cRLSign" | "encipherOnly" | "decipherOnly";

export interface LifetimeCheck {
  token: string;
  status: LifetimeStatus | "empty";
  renewRecommended: boolean;
  earliestNotAfter: string | null;
  certificates: { id: string; subject: string; notAfter: string; lifetime: Lifetime }[];
}

export interface MonthsDays {
  months: number;
  days: number;
}

export interface MediaCheck {
  token: string;
  profile: string | null;
  legacy: boolean;
  upgradeTo: string | null;
  /** Extension: the catalogue's description of upgradeTo, for people. */
  upgradeToDescription: string | null;
  /** Extension: the profile's carry_over_months; 0 when not legacy. */
  carryOverMonths: number;
  cert: string | null;
  remaining: MonthsDays;
  carryOver: MonthsDays;
  credit: MonthsDays;
}

/** GOST keys on tokens that offer them; GOST-2012-512 needs the TC26 vendor mechanisms. */
export type KeyAlgorithm = "RSA-2048" | "RSA-3072" | "RSA-4096" | "EC-P256" | "EC-P384" | "GOST-2012-256" | "GOST-2012-512";

/** GOST R 34.10-2012 parameter sets: the TC26-256-* and CryptoPro-* for GOST-2012-256, TC26-512-* for GOST-2012-512. */
export type GOSTParamSet =
  | "TC26-256-A" | "TC26-256-B" | "TC26-256-C" | "TC26-256-D"
  | "CryptoPro-A" | "CryptoPro-B" | "CryptoPro-C" | "CryptoPro-XchA" | "CryptoPro-XchB"
  | "TC26-512-A" | "TC26-512-B" | "TC26-512-C";

/** SHA-2 for RSA and EC keys; Streebog (GOST R 34.11-2012) of the key's size for GOST keys. */
export type DigestAlgorithm = "SHA-256" | "SHA-384" | "SHA-512" | "STREEBOG-256" | "STREEBOG-512";

export interface Subject {
  commonName: string;
  organization?: string;
  organizationalUnit?: string;
  country?: string;
  province?: string;
  locality?: string;
  serialNumber?: string;
  email?: string;
}

/**
 * What every PIN-taking method takes beside its PIN. The agent honours it
 * only on its own page and in local programs: from a web page the final
 * try is refused with PIN_FINAL_TRY, data.confirmable false (PROTOCOL.md
 * section 5).
 */
export interface FinalTry {
  /** Spend the token's last PIN try (pin.unlock: the SO PIN's). */
  confirmFinalTry?: boolean;
}

/** The params of a method that logs in with the user PIN. */
export interface WithPIN extends FinalTry {
  token: string;
  /** The user PIN; "" on a token with a PIN pad (pin.protectedAuthPath). */
  pin: string;
}

/** Exactly one of data (the bytes to sign, base64) and digest (their hash, base64). */
export type SignInput = { data: string; digest?: never } | { digest: string; data?: never };

/** The options sign and sign.batch share. */
export interface SignOptions extends WithPIN {
  cert: string;
  /** Default SHA-256; a GOST key takes the Streebog of its size. */
  digestAlgorithm?: DigestAlgorithm;
  /** Default raw. */
  format?: "raw" | "cms";
  /** RSA only; default pkcs1v15. */
  padding?: "pkcs1v15" | "pss";
  /** CMS only; default true. false embeds data (and refuses digest). */
  detached?: boolean;
}

export type SignParams = SignOptions & SignInput;

export interface Signature {
  /** Base64; a raw GOST signature is s‖r, each half big-endian, as X.509 and CMS carry it. */
  signature: string;
  format: "raw" | "cms";
  algorithm: SignatureAlgorithm;
}

type SHA2 = "SHA256" | "SHA384" | "SHA512";
export type SignatureAlgorithm =
  | `RSA-PKCS1v15-${SHA2}`
  | `RSA-PSS-${SHA2}`
  | `ECDSA-${SHA2}`
  | "GOST-2012-256-STREEBOG-256"
  | "GOST-2012-512-STREEBOG-512";

/** keys.list's entry: one private key. */
export interface Key {
  id: string;
  /** "" when the key has none. */
  label: string;
  algorithm: "RSA" | "EC" | "GOST-2012";
  keySize: number;
  curve: string | null;
  /** GOST keys only, as in certs.list. */
  paramSet?: GOSTParamSet | string;
  /** Base64 SPKI DER, from the key's public key object or a certificate bound to it; null when the token holds neither. */
  publicKey: string | null;
  /** The ids of the certificates whose public key is the key's. */
  certificates: string[];
}

/** renewal.pending's entry: a renewal started and not yet completed or cancelled. */
export interface PendingRenewal {
  /** The key to certify. */
  key: string;
  /** The certificate renewed. */
  cert: string;
  /** The request renewal.prepare answered, PEM. */
  csr: string;
  /** RFC 3339. */
  createdAt: string;
}

/** Params of a method that takes none. */
export type NoParams = Record<string, never>;

/**
 * Every method of the protocol (PROTOCOL.md section 4, in its order) with
 * its params and result: the only way to call (Agent.call). Methods this
 * file does not know go through Agent.callUnchecked.
 */
export interface Methods {
  "agent.info": { params: NoParams; result: AgentInfo };
  "tokens.list": { params: NoParams; result: { tokens: Token[] } };
  "certs.list": { params: { token: string }; result: { certificates: Certificate[] } };
  "lifetime.check": { params: { token: string; at?: string }; result: LifetimeCheck };
  "media.check": { params: { token: string; cert?: string; at?: string }; result: MediaCheck };
  /** Without pin, no login: complete is then false unless the token needs none. */
  "keys.list": {
    params: FinalTry & { token: string; pin?: string };
    result: { keys: Key[]; complete: boolean };
  };
  "keys.generate": {
    params: WithPIN & { algorithm: KeyAlgorithm; paramSet?: GOSTParamSet; label?: string };
    result: { key: string; publicKey: string };
  };
  "csr.create": {
    params: WithPIN & { key: string; subject: Subject; dnsNames?: string[]; emails?: string[] };
    result: { csr: string };
  };
  "certs.import": { params: WithPIN & { certificate: string; label?: string }; result: { cert: string } };
  "objects.delete": {
    params: WithPIN & { id: string; what: "certificate" | "key" | "both" };
    result: { deleted: number };
  };
  "renewal.prepare": {
    params: WithPIN & { cert: string; newKey?: boolean; algorithm?: KeyAlgorithm; paramSet?: GOSTParamSet };
    result: { key: string; csr: string };
  };
  "renewal.complete": {
    params: WithPIN & { certificate: string; replaces?: string; removeOld?: boolean };
    result: { cert: string };
  };
  "renewal.pending": { params: { token: string }; result: { pending: PendingRenewal[] } };
  "renewal.cancel": { params: WithPIN & { key: string }; result: { cancelled: true; deleted: number } };
  "pin.change": { params: FinalTry & { token: string; oldPin: string; newPin: string }; result: { changed: true } };
  /** confirmFinalTry here is the SO PIN's. */
  "pin.unlock": { params: FinalTry & { token: string; soPin: string; newPin: string }; result: { unlocked: true } };
  "sign": { params: SignParams; result: Signature };
  "sign.batch": { params: SignOptions & { items: SignInput[] }; result: { signatures: Signature[] } };
  "events.subscribe": { params: NoParams; result: { subscribed: true } };
}

// ---- Helpers for portals

/** Hashes digestOf computes: sign's SHA-2 digestAlgorithm values. */
export type SHA2Algorithm = "SHA-256" | "SHA-384" | "SHA-512";

/** Blobs up to this many bytes (64 MiB) digestOf reads whole and hands to WebCrypto; larger ones it streams. */
export const DIGEST_MEMORY_LIMIT: number;

export interface DigestOptions {
  /** Blobs larger than this many bytes are streamed through the client's own SHA-2 (0: every Blob). Default DIGEST_MEMORY_LIMIT. */
  memoryLimit?: number;
}

/**
 * Hashes a File or other Blob, an ArrayBuffer or a typed array and
 * resolves with the digest in base64, for sign's (or a sign.batch item's)
 * digest with the same digestAlgorithm. Memory: WebCrypto has no
 * incremental digest, so a Blob of at most memoryLimit bytes is read whole
 * (its size in memory, about twice that at the peak while WebCrypto copies
 * it); a larger one, and every input where WebCrypto is missing (not a
 * secure context), is streamed through the client's own SHA-2 in a few
 * kilobytes, several times slower than WebCrypto. Rejects with RangeError for another algorithm (GOST keys: send
 * data, which the agent hashes with Streebog) and TypeError for another
 * input.
 */
export function digestOf(input: Blob | ArrayBuffer | ArrayBufferView, algorithm?: SHA2Algorithm, options?: DigestOptions): Promise<string>;

/** What pickCertificates keeps: a certificate must pass every criterion given. */
export interface CertificateFilter {
  /** Usages the certificate must all have. */
  keyUsage?: KeyUsage | KeyUsage[];
  /**
   * The issuer's DN as certs.list gives it ("CN=Test CA,O=Example"), or
   * its common name for a string without "=" ("Test CA"), or a RegExp
   * tested against the DN; an array: any of them.
   */
  issuer?: string | RegExp | (string | RegExp)[];
  /** A time (Date, or RFC 3339) within notBefore … notAfter. */
  validAt?: Date | string;
  /** Lifetime statuses, any of which passes. */
  status?: LifetimeStatus | LifetimeStatus[];
}

/** The fields of a certificate pickCertificates reads. */
export type PickableCertificate = Pick<Certificate, "issuer" | "keyUsage" | "notBefore" | "notAfter" | "lifetime">;

/**
 * The certificates that pass every criterion of filter, in their order.
 * Throws TypeError for a criterion it does not know, RangeError for a
 * validAt that is no time.
 */
export function pickCertificates<C extends PickableCertificate>(certs: readonly C[], filter?: CertificateFilter): C[];

/** The common name of a DN as certs.list gives it ("CN=Alice,O=Example" → "Alice"); null when it has none. */
export function commonName(dn: string): string | null;

/** The languages of messages. */
export type Language = "en" | "ru" | "zh";

/**
 * The keys of messages beside the reasons: sentences for what an error's
 * data or method tells (errorMessage joins a reason's sentence and one of
 * these where it applies), and UNKNOWN for a reason the table lacks.
 */
export type MessageVariant =
  | "AGENT_NOT_RUNNING" | "AGENT_REFUSED" | "AGENT_BUSY" | "AGENT_PROMPT" | "CONNECTION_LOST" | "LOCAL_NETWORK_PROMPT"
  | "COUNT_LOW" | "FINAL_TRY" | "SO_COUNT_LOW" | "SO_FINAL_TRY"
  | "PIN_FINAL_TRY_SO" | "FINAL_TRY_CONFIRM" | "FINAL_TRY_ELSEWHERE"
  | "PIN_LENGTH" | "RATE_LIMITED_SO" | "RETRY_IN" | "ITEM" | "UNKNOWN";

export type MessageKey = Reason | MessageVariant;

/**
 * The sentences errorMessage uses, by language and key (frozen). {min},
 * {max} (PIN_LENGTH), {wait} (RETRY_IN, e.g. "42 seconds") and {item}
 * (ITEM, from 1) stand for values.
 */
export const messages: { readonly [L in Language]: { readonly [K in MessageKey]: string } };

/**
 * Says for people what err means and what to do, in lang ("en", "ru",
 * "zh", or a BCP 47 tag of one; default the browser's language, English
 * for others), never with the agent's English message. err is what a call
 * or connect rejected with, or any object with reason and, where they
 * matter, data and method (pin.unlock's errors are about the unlock
 * code): { reason: "RATE_LIMITED", data: { retryAfterSeconds: 42 } } says
 * the wait, for a countdown.
 */
export function errorMessage(err: unknown, lang?: Language | (string & {})): string;

// ---- Consent (docs/PROTOCOL.md section 7) ----------------------------------

/** The reason of a call with consent whose window the browser did not open; from the client, code undefined, as from the agent. */
export const CONSENT_UNAVAILABLE: "CONSENT_UNAVAILABLE";

/** The PIN-taking methods, which take consent instead of their PINs. */
export type ConsentMethod =
  | "keys.generate" | "csr.create" | "certs.import" | "objects.delete" | "renewal.prepare" | "renewal.complete"
  | "renewal.cancel" | "keys.list" | "pin.change" | "pin.unlock" | "sign" | "sign.batch";

/**
 * consent: true (or {description}, the site's own words shown on the
 * consent page) has the client make the nonce and open the agent's consent
 * window, from the user action this call must be made in; {nonce} is the
 * contract's param, for a page that opens the window itself (consentURL).
 */
export type Consent = true | { description?: string } | { nonce: string; description?: string };

/** A PIN-taking method's params with consent in place of the PINs, which the person types on the consent page. */
export type WithConsent<P> = Omit<P, "pin" | "oldPin" | "newPin" | "soPin" | "confirmFinalTry"> & { consent: Consent };

/** The URL of the consent page for nonce at the agent whose socket is socketURL. */
export function consentURL(socketURL: string, nonce: string): string;
