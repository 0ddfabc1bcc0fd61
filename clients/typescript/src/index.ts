// Typed client for the Message Router REST API.
//
// `schema.ts` is generated from the router's OpenAPI document by openapi-typescript (run
// scripts/gen-clients.sh; do not edit it); the requests are made by openapi-fetch, so paths,
// parameters, bodies and responses are all checked by the TypeScript compiler.
import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };
/** The API's JSON schemas by name, e.g. `Schemas["SendMessageRequest"]`. */
export type Schemas = components["schemas"];
export type RouterClient = Client<paths>;

/**
 * A client for one router and one API key.
 *
 * ```ts
 * const router = createRouterClient("https://router.example.org", process.env.ROUTER_KEY!);
 * const { data, error, response } = await router.POST("/api/v1/messages/send", { body: { … } });
 * ```
 *
 * `baseUrl` is the router's origin (the paths include `/api/v1`). Every call resolves to
 * `{ data, error, response }`: `data` on 2xx, `error` (the router's error body) otherwise.
 */
export function createRouterClient(baseUrl: string, apiKey: string, options: ClientOptions = {}): RouterClient {
  const headers = new Headers(options.headers as HeadersInit | undefined);
  headers.set("Authorization", `Bearer ${apiKey}`);
  return createClient<paths>({ ...options, baseUrl: baseUrl.replace(/\/+$/, ""), headers });
}

export * from "./webhooks.js";
