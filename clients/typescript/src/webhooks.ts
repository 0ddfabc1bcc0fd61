// Verification of the webhooks the router sends to a CRM (docs/CRM_INTEGRATION.md, "Verifying
// signatures"). Both schemes the router signs with are supported:
//
// - `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret as UTF-8, raw body)>` (and, during a
//   secret rotation, `X-Hub-Signature-256-Next` with the new secret);
// - Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64> …`
//   over `"{id}.{timestamp}.{body}"`, keyed by the base64-decoded part of a `whsec_` secret.
//
// Always verify the raw body bytes exactly as received, before parsing them.
import { createHmac, timingSafeEqual } from "node:crypto";

/** Raw body as received: a Buffer/Uint8Array, or a string (UTF-8). */
export type RawBody = Uint8Array | string;
/** Request headers: a fetch `Headers`, or Node's `IncomingHttpHeaders`-like object. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

/** Thrown by {@link verifyWebhook} when a delivery does not verify. */
export class WebhookVerificationError extends Error {
  override name = "WebhookVerificationError";
}

/** Default tolerance between `webhook-timestamp` and the local clock, in seconds. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The Standard Webhooks signing key of a secret: the base64-decoded rest of a `whsec_…` secret
 * when that rest is valid (canonical, padded) base64, otherwise the UTF-8 bytes of the whole
 * secret, exactly as the router derives it.
 */
export function standardWebhooksKey(secret: string): Buffer {
  if (secret.startsWith("whsec_")) {
    const rest = secret.slice("whsec_".length);
    if (CANONICAL_BASE64.test(rest)) {
      const key = Buffer.from(rest, "base64");
      if (key.toString("base64") === rest) return key;
    }
  }
  return Buffer.from(secret, "utf8");
}

const bytes = (body: RawBody): Buffer => (typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body));

/** `sha256=<hex>`: the `X-Hub-Signature-256` value the router sends for `body` under `secret`. */
export function hubSignature(secret: string, body: RawBody): string {
  return `sha256=${createHmac("sha256", Buffer.from(secret, "utf8")).update(bytes(body)).digest("hex")}`;
}

/** `v1,<base64>`: one Standard Webhooks signature. */
export function standardWebhooksSignature(secret: string, webhookId: string, timestamp: number | string, body: RawBody): string {
  const mac = createHmac("sha256", standardWebhooksKey(secret));
  mac.update(`${webhookId}.${timestamp}.`, "utf8");
  mac.update(bytes(body));
  return `v1,${mac.digest("base64")}`;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}

const asList = (secrets: string | readonly string[]): readonly string[] => (typeof secrets === "string" ? [secrets] : secrets);

/**
 * Checks an `X-Hub-Signature-256` (or `X-Hub-Signature-256-Next`) header value against one or
 * more secrets, in constant time. This scheme has no timestamp: prefer Standard Webhooks.
 */
export function verifyHubSignature(secrets: string | readonly string[], body: RawBody, headerValue: string | undefined | null): boolean {
  if (!headerValue || !headerValue.startsWith("sha256=")) return false;
  const given = `sha256=${headerValue.slice("sha256=".length).toLowerCase()}`;
  let ok = false;
  for (const secret of asList(secrets)) ok = safeEqual(given, hubSignature(secret, body)) || ok;
  return ok;
}

export interface StandardWebhooksOptions {
  /** Maximum distance between `webhook-timestamp` and now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The current time in unix seconds (default: the clock). */
  now?: number;
}

/**
 * Checks the Standard Webhooks headers of a delivery: accepts when any space-separated `v1`
 * signature in `webhook-signature` matches any of `secrets` (several during a rotation) and the
 * timestamp is within the tolerance.
 */
export function verifyStandardWebhook(
  secrets: string | readonly string[],
  headers: WebhookHeaders,
  body: RawBody,
  options: StandardWebhooksOptions = {},
): boolean {
  const id = header(headers, "webhook-id");
  const ts = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !ts || !signatures || !/^\d{1,15}$/.test(ts)) return false;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(ts)) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return false;
  const given = signatures
    .split(" ")
    .filter((part) => part.startsWith("v1,"))
    .map((part) => part.slice("v1,".length));
  let ok = false;
  for (const secret of asList(secrets)) {
    const expected = standardWebhooksSignature(secret, id, ts, body).slice("v1,".length);
    for (const sig of given) ok = safeEqual(sig, expected) || ok;
  }
  return ok;
}

/**
 * Verifies a delivery with Standard Webhooks (which includes replay protection) and returns the
 * parsed event; throws {@link WebhookVerificationError} otherwise.
 */
export function verifyWebhook<T = Record<string, unknown>>(
  secrets: string | readonly string[],
  headers: WebhookHeaders,
  body: RawBody,
  options: StandardWebhooksOptions = {},
): T {
  if (!verifyStandardWebhook(secrets, headers, body, options)) {
    throw new WebhookVerificationError("webhook signature or timestamp does not verify");
  }
  return JSON.parse(bytes(body).toString("utf8")) as T;
}
