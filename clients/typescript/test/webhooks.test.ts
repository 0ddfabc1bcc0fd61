// Unit tests of the webhook helpers against deliveries signed by the router's own code
// (clients/testdata/webhook-vectors.json).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  WebhookVerificationError,
  hubSignature,
  standardWebhooksKey,
  standardWebhooksSignature,
  verifyHubSignature,
  verifyStandardWebhook,
  verifyWebhook,
} from "../src/index.js";

interface Vector {
  name: string;
  current: string;
  previous: string | null;
  now: number;
  body: string;
  headers: Record<string, string>;
}
const vectors: Vector[] = JSON.parse(
  readFileSync(new URL("../../../testdata/webhook-vectors.json", import.meta.url), "utf8"),
).vectors;

test("the vector file has the spec example and real rotated deliveries", () => {
  assert.ok(vectors.length >= 2, "expected captured vectors besides the spec example");
  assert.ok(vectors.some((v) => v.previous !== null), "expected a delivery signed during a rotation");
});

for (const v of vectors) {
  const opts = { now: v.now };
  const h = v.headers;

  test(`${v.name}: Standard Webhooks verifies with every active secret`, () => {
    assert.equal(verifyStandardWebhook(v.current, h, v.body, opts), true);
    if (v.previous) assert.equal(verifyStandardWebhook(v.previous, h, v.body, opts), true);
    assert.equal(verifyStandardWebhook([`whsec_${Buffer.alloc(24, 7).toString("base64")}`, v.current], h, v.body, opts), true);
    assert.deepEqual(verifyWebhook(v.current, new Headers(h), Buffer.from(v.body), opts), JSON.parse(v.body));
  });

  test(`${v.name}: our signatures are the router's`, () => {
    const sigs = h["webhook-signature"]!.split(" ");
    assert.equal(sigs[0], standardWebhooksSignature(v.current, h["webhook-id"]!, h["webhook-timestamp"]!, v.body));
    if (v.previous) {
      assert.equal(sigs[1], standardWebhooksSignature(v.previous, h["webhook-id"]!, h["webhook-timestamp"]!, v.body));
      assert.equal(h["x-hub-signature-256"], hubSignature(v.previous, v.body));
      assert.equal(h["x-hub-signature-256-next"], hubSignature(v.current, v.body));
    } else {
      assert.equal(h["x-hub-signature-256"], hubSignature(v.current, v.body));
    }
  });

  test(`${v.name}: X-Hub-Signature-256 verifies, and -Next with the new secret`, () => {
    const hubSecret = v.previous ?? v.current;
    assert.equal(verifyHubSignature(hubSecret, v.body, h["x-hub-signature-256"]), true);
    assert.equal(verifyHubSignature(hubSecret, v.body, h["x-hub-signature-256"]!.toUpperCase().replace("SHA256=", "sha256=")), true);
    if (v.previous) assert.equal(verifyHubSignature(v.current, v.body, h["x-hub-signature-256-next"]), true);
    assert.equal(verifyHubSignature(hubSecret, `${v.body} `, h["x-hub-signature-256"]), false);
    assert.equal(verifyHubSignature("whsec_someone_elses_secret", v.body, h["x-hub-signature-256"]), false);
    assert.equal(verifyHubSignature(hubSecret, v.body, h["x-hub-signature-256"]!.replace("sha256=", "sha1=")), false);
    assert.equal(verifyHubSignature(hubSecret, v.body, undefined), false);
  });

  test(`${v.name}: tampering, wrong secrets, stale timestamps and missing headers are refused`, () => {
    assert.equal(verifyStandardWebhook(v.current, h, `${v.body} `, opts), false);
    assert.equal(verifyStandardWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx", h, v.body, opts), false);
    assert.equal(verifyStandardWebhook(v.current, { ...h, "webhook-id": `${h["webhook-id"]}x` }, v.body, opts), false);
    assert.equal(verifyStandardWebhook(v.current, h, v.body, { now: v.now + 301 }), false);
    assert.equal(verifyStandardWebhook(v.current, h, v.body, { now: v.now - 301 }), false);
    assert.equal(verifyStandardWebhook(v.current, h, v.body, { now: v.now + 301, toleranceSeconds: 400 }), true);
    const noSig = { ...h };
    delete noSig["webhook-signature"];
    assert.equal(verifyStandardWebhook(v.current, noSig, v.body, opts), false);
    assert.equal(verifyStandardWebhook(v.current, { ...h, "webhook-signature": h["webhook-signature"]!.replaceAll("v1,", "v2,") }, v.body, opts), false);
    assert.throws(() => verifyWebhook(v.current, h, `${v.body} `, opts), WebhookVerificationError);
  });
}

test("whsec_ keys are base64-decoded only when the rest is canonical base64", () => {
  assert.deepEqual(standardWebhooksKey("whsec_AAEC"), Buffer.from([0, 1, 2]));
  assert.deepEqual(standardWebhooksKey("whsec_not base64!"), Buffer.from("whsec_not base64!"));
  assert.deepEqual(standardWebhooksKey("whsec_AAE"), Buffer.from("whsec_AAE"));
  assert.deepEqual(standardWebhooksKey("plain-secret-1234"), Buffer.from("plain-secret-1234"));
});
