// Runs the generated client against a real router started by scripts/test-clients.sh
// (ROUTER_URL, ROUTER_ADMIN_KEY, FAKE_GRAPH_URL) and verifies real webhook deliveries of
// router-worker with the helpers.
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { appendFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";

import { createRouterClient, hubSignature, verifyHubSignature, verifyStandardWebhook, verifyWebhook } from "../src/index.js";

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run scripts/test-clients.sh`);
  return v;
};
const ROUTER_URL = env("ROUTER_URL");
const FAKE_GRAPH_URL = env("FAKE_GRAPH_URL");
const admin = createRouterClient(ROUTER_URL, env("ROUTER_ADMIN_KEY"));

interface Delivery {
  headers: IncomingHttpHeaders;
  body: Buffer;
  at: number;
}
const deliveries: Delivery[] = [];
const waiters: Array<() => void> = [];
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    deliveries.push({ headers: req.headers, body: Buffer.concat(chunks), at: Math.floor(Date.now() / 1000) });
    res.writeHead(204).end();
    waiters.splice(0).forEach((w) => w());
  });
});

async function delivery(match: (event: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<Delivery> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = deliveries.find((d) => match(JSON.parse(d.body.toString("utf8"))));
    if (found) return found;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no matching webhook within ${timeoutMs} ms; got ${deliveries.map((d) => d.body.toString()).join("\n")}`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Math.min(left, 500));
      waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

function capture(current: string, previous: string | null, d: Delivery, name: string): void {
  const file = process.env.CAPTURE_WEBHOOKS;
  if (!file) return;
  const headers: Record<string, string> = {};
  for (const k of ["webhook-id", "webhook-timestamp", "webhook-signature", "x-hub-signature-256", "x-hub-signature-256-next"]) {
    const v = d.headers[k];
    if (typeof v === "string") headers[k] = v;
  }
  appendFileSync(file, `${JSON.stringify({ name, current, previous, now: d.at, body: d.body.toString("utf8"), headers })}\n`);
}

const newSecret = () => `whsec_${randomBytes(32).toString("base64")}`;
let receiverUrl = "";

before(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/instagram`;
});
after(() => {
  receiver.close();
});

test("a CRM connects a sandbox account, sends a message, reads it back and verifies the router's webhooks", async () => {
  // The operator creates a merchant and a test key for it.
  const merchant = await admin.POST("/api/v1/admin/merchants", { body: { name: "TypeScript client test" } });
  assert.equal(merchant.response.status, 201, JSON.stringify(merchant.error));
  assert.equal(merchant.data?.name, "TypeScript client test");
  const merchantId = merchant.data!.merchant_id;

  const key = await admin.POST("/api/v1/admin/merchants/{merchant_id}/api-keys", {
    params: { path: { merchant_id: merchantId } },
    body: { name: "crm", scopes: ["messages:send", "messages:read", "accounts:read", "accounts:write"], environment: "test" },
  });
  assert.equal(key.response.status, 201, JSON.stringify(key.error));
  const apiKey = key.data?.key;
  assert.ok(apiKey, "the key is returned once, at creation");
  assert.match(apiKey, /^router_test_/);
  const crm = createRouterClient(ROUTER_URL, apiKey);

  // An unknown key is refused with the router's error body.
  const denied = await createRouterClient(ROUTER_URL, "router_test_not-a-real-key").GET("/api/v1/accounts");
  assert.equal(denied.response.status, 401);
  assert.equal(denied.error?.error, "unauthorized");

  // A sandbox Instagram account (fake-graph) connected with a token.
  const igId = `1784140${randomInt(1e9, 1e10 - 1)}`;
  const added = await fetch(`${FAKE_GRAPH_URL}/_fake/accounts`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ig_id: igId, username: "ts_client_shop" }),
  });
  const { access_token: token } = (await added.json()) as { access_token: string };
  const secret1 = newSecret();
  const account = await crm.POST("/api/v1/accounts", {
    body: { instagram_account_id: igId, username: "ts_client_shop", access_token: token, crm_webhook_url: receiverUrl, webhook_secret: secret1 },
  });
  assert.equal(account.response.status, 201, JSON.stringify(account.error));
  assert.equal(account.data!.instagram_account_id, igId);
  assert.equal(account.data!.sandbox, true);
  assert.equal(account.data!.status, "active");
  assert.equal(account.data!.crm_webhook_url, receiverUrl);
  const accountId = account.data!.account_id;

  const listed = await crm.GET("/api/v1/accounts");
  assert.equal(listed.response.status, 200);
  assert.deepEqual(listed.data!.data.map((a) => a.account_id), [accountId]);

  // A customer writes (through the sandbox's signed Meta webhook), which opens the window and
  // reaches the CRM as a signed message.received webhook.
  const customer = `99${randomInt(1e9, 1e10 - 1)}`;
  const inbound = await fetch(`${FAKE_GRAPH_URL}/_fake/inbound`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ target: `${ROUTER_URL}/webhooks/instagram`, ig_id: igId, sender_id: customer, text: "Where is my order?" }),
  });
  assert.equal(((await inbound.json()) as { router_status: number }).router_status, 200);

  const received = await delivery((e) => e.event === "message.received");
  const event = verifyWebhook<Record<string, unknown>>(secret1, received.headers, received.body);
  assert.equal(event.event, "message.received");
  assert.equal(event.account_id, accountId);
  assert.equal(received.headers["x-message-router-event"], "message.received");
  assert.equal(verifyHubSignature(secret1, received.body, received.headers["x-hub-signature-256"] as string), true);
  assert.equal(verifyStandardWebhook(newSecret(), received.headers, received.body), false);
  assert.equal(verifyStandardWebhook(secret1, received.headers, Buffer.concat([received.body, Buffer.from(" ")])), false);
  capture(secret1, null, received, "captured message.received");

  // The CRM replies.
  const sent = await crm.POST("/api/v1/messages/send", {
    body: { account_id: accountId, recipient_id: customer, message: "It ships today 📦", metadata: { ticket: "T-1" } },
  });
  assert.equal(sent.response.status, 202, JSON.stringify(sent.error));
  const messageId = sent.data!.message_id;

  let status = "";
  for (let i = 0; i < 120 && !["sent", "delivered", "read", "failed"].includes(status); i++) {
    const s = await crm.GET("/api/v1/messages/{message_id}/status", { params: { path: { message_id: messageId } } });
    assert.equal(s.response.status, 200, JSON.stringify(s.error));
    assert.equal(s.data!.message_id, messageId);
    status = s.data!.status;
    if (!["sent", "delivered"].includes(status)) await new Promise((r) => setTimeout(r, 250));
  }
  // The sandbox reports delivery right after accepting the message.
  assert.ok(["sent", "delivered"].includes(status), `status ${status}`);

  const history = await crm.GET("/api/v1/messages", { params: { query: { account_id: accountId, recipient_id: customer } } });
  assert.equal(history.response.status, 200, JSON.stringify(history.error));
  const entries = history.data!.data;
  assert.deepEqual(entries.map((e) => e.direction), ["outbound", "inbound"]);
  assert.equal(entries[0]!.id, messageId);
  assert.equal(entries[0]!.text, "It ships today 📦");
  assert.equal(entries[1]!.text, "Where is my order?");

  const sentHook = await delivery((e) => e.event === "message.sent" && e.message_id === messageId);
  const sentEvent = verifyWebhook<Record<string, unknown>>(secret1, sentHook.headers, sentHook.body);
  assert.deepEqual(sentEvent.metadata, { ticket: "T-1" });

  // Unknown ids answer 404 with the error body.
  const missing = await crm.GET("/api/v1/messages/{message_id}/status", {
    params: { path: { message_id: "00000000-0000-7000-8000-000000000000" } },
  });
  assert.equal(missing.response.status, 404);
  assert.equal(missing.error?.error, "not_found");

  // Rotation: the old secret keeps signing alongside the new one.
  const secret2 = newSecret();
  const rotated = await crm.PUT("/api/v1/accounts/{account_id}", { params: { path: { account_id: accountId } }, body: { webhook_secret: secret2 } });
  assert.equal(rotated.response.status, 200, JSON.stringify(rotated.error));
  const second = await crm.POST("/api/v1/messages/send", { body: { account_id: accountId, recipient_id: customer, message: "Tracking: 1Z999" } });
  assert.equal(second.response.status, 202, JSON.stringify(second.error));
  const rotatedHook = await delivery((e) => e.event === "message.sent" && e.message_id === second.data!.message_id);
  const sigs = (rotatedHook.headers["webhook-signature"] as string).split(" ");
  assert.equal(sigs.length, 2);
  assert.equal(verifyStandardWebhook(secret2, rotatedHook.headers, rotatedHook.body), true);
  assert.equal(verifyStandardWebhook(secret1, rotatedHook.headers, rotatedHook.body), true);
  assert.equal(rotatedHook.headers["x-hub-signature-256"], hubSignature(secret1, rotatedHook.body));
  assert.equal(verifyHubSignature(secret2, rotatedHook.body, rotatedHook.headers["x-hub-signature-256-next"] as string), true);
  capture(secret2, secret1, rotatedHook, "captured message.sent during a rotation");
});
