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
  | "DEVICE_ERROR";

/** Every reason an AgentError may carry. */
export type Reason = ProtocolReason | ConsentReason | "AGENT_UNREACHABLE" | "TIMEOUT" | "CLOSED" | "LOCAL_NETWORK_DENIED";

/**
 * What calls and connect reject with. code, reason and data come from the
 * JSON-RPC error (data.reason is reason); for the client's own errors
 * (AGENT_UNREACHABLE, TIMEOUT, CLOSED, LOCAL_NETWORK_DENIED) code is
 * undefined. After a dropped socket, data is {closeCode, closeReason}; after
 * a failed connect, see connect.
 */
export class AgentError extends Error {
  constructor(message: string, reason?: Reason, code?: number, data?: ErrorData);
  readonly name: "AgentError";
  readonly reason: Reason | undefined;
  readonly code: number | undefined;
  readonly data: ErrorData | undefined;
}

/** The data member of an error: reason and what the reason adds. */
export interface ErrorData {
  reason?: string;
  countLow?: boolean;
  finalTry?: boolean;
  retriesLeft?: number;
  minLen?: number;
  maxLen?: number;
  retryAfterSeconds?: number;
  /** PIN_FINAL_TRY: whether repeating the call with confirmFinalTry would try the PIN (never from a web page's origin). */
  confirmable?: boolean;
  index?: number;
  closeCode?: number;
  closeReason?: string;
  /** AGENT_UNREACHABLE from connect: whether the agent answered /healthz (so it refused this page's origin). */
  agentRunning?: boolean;
  /** AGENT_UNREACHABLE from connect: the agent runs but has no place for another connection from this page's origin now. */
  busy?: boolean;
  /** LOCAL_NETWORK_DENIED (and AGENT_UNREACHABLE while the browser may still ask): the permission's state. */
  permission?: LocalNetworkPermission;
  [key: string]: unknown;
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
   * Calls method. Resolves with the result; rejects with an AgentError
   * (TIMEOUT after the timeout, AGENT_UNREACHABLE when not connected or the
   * socket drops, LOCAL_NETWORK_DENIED when reconnection waits for the
   * browser's permission, CLOSED after close()). params defaults to {}.
   */
  call<M extends ConsentMethod>(method: M, params: WithConsent<Methods[M]["params"]>, options?: CallOptions): Promise<Methods[M]["result"]>;
  call<M extends keyof Methods>(method: M, params: Methods[M]["params"], options?: CallOptions): Promise<Methods[M]["result"]>;
  call(method: string, params?: object, options?: CallOptions): Promise<any>;
  /** Subscribes to a notification (sending events.subscribe once); returns the unsubscribe function. */
  on<M extends keyof Notifications>(method: M, fn: (params: Notifications[M]) => void): () => void;
  on(method: string, fn: (params: any) => void): () => void;
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
  cards: { reader: string; present: boolean; atr: string }[];
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
    error: string | null;
  }[];
  pcsc: { available: boolean; readers: string[]; error: string | null; cards?: CardStatus[] };
}

/** agent.info's pcsc.cards, an extension (docs/PROTOCOL.md). */
export interface CardStatus {
  reader: string;
  atr: string;
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
  keyUsage: string[];
  der: string;
  lifetime: Lifetime;
}

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

export interface SignParams {
  token: string;
  pin: string;
  cert: string;
  data?: string;
  digest?: string;
  digestAlgorithm?: DigestAlgorithm;
  format?: "raw" | "cms";
  padding?: "pkcs1v15" | "pss";
  detached?: boolean;
  confirmFinalTry?: boolean;
}

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

/** Methods with their params and results. */
export interface Methods {
  "agent.info": { params: Record<string, never>; result: AgentInfo };
  "tokens.list": { params: Record<string, never>; result: { tokens: Token[] } };
  "certs.list": { params: { token: string }; result: { certificates: Certificate[] } };
  "lifetime.check": { params: { token: string; at?: string }; result: LifetimeCheck };
  "media.check": { params: { token: string; cert?: string; at?: string }; result: MediaCheck };
  "keys.generate": {
    params: { token: string; pin: string; algorithm: KeyAlgorithm; paramSet?: GOSTParamSet; label?: string };
    result: { key: string; publicKey: string };
  };
  "csr.create": {
    params: { token: string; pin: string; key: string; subject: Subject; dnsNames?: string[]; emails?: string[] };
    result: { csr: string };
  };
  "certs.import": { params: { token: string; pin: string; certificate: string; label?: string }; result: { cert: string } };
  "objects.delete": {
    params: { token: string; pin: string; id: string; what: "certificate" | "key" | "both" };
    result: { deleted: number };
  };
  "renewal.prepare": {
    params: { token: string; pin: string; cert: string; newKey?: boolean; algorithm?: KeyAlgorithm; paramSet?: GOSTParamSet };
    result: { key: string; csr: string };
  };
  "renewal.complete": {
    params: { token: string; pin: string; certificate: string; replaces?: string; removeOld?: boolean };
    result: { cert: string };
  };
  "pin.change": { params: { token: string; oldPin: string; newPin: string }; result: { changed: true } };
  "pin.unlock": { params: { token: string; soPin: string; newPin: string }; result: { unlocked: true } };
  "sign": { params: SignParams; result: Signature };
  "sign.batch": {
    params: Omit<SignParams, "data" | "digest"> & { items: ({ data: string } | { digest: string })[] };
    result: { signatures: Signature[] };
  };
  "events.subscribe": { params: Record<string, never>; result: { subscribed: true } };
}

// ---- Consent (docs/PROTOCOL.md section 7) ----------------------------------

/** Reasons of calls with consent. CONSENT_UNAVAILABLE also comes from the client (code undefined) when the window is blocked. */
export type ConsentReason = "CONSENT_DENIED" | "CONSENT_TIMEOUT" | "CONSENT_UNAVAILABLE";
export const CONSENT_UNAVAILABLE: "CONSENT_UNAVAILABLE";

/** The PIN-taking methods, which take consent instead of their PINs. */
export type ConsentMethod =
  | "keys.generate" | "csr.create" | "certs.import" | "objects.delete" | "renewal.prepare" | "renewal.complete"
  | "pin.change" | "pin.unlock" | "sign" | "sign.batch";

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
