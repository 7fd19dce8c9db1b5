// The transport without a server: Idempotency-Key once per logical POST (kept across retries),
// Retry-After honoured in both its forms, retries bounded, the bearer token always sent.
import assert from "node:assert/strict";
import { test } from "node:test";

import { retryAfterMs, transport } from "../http.js";

function recorder(statuses: number[], retryAfter: string | null = "1") {
  const seen: Request[] = [];
  const waits: number[] = [];
  const send = transport({
    token: "sk_test",
    maxRetries: 2,
    sleep: async (ms) => {
      waits.push(ms);
    },
    fetch: async (request) => {
      seen.push(request);
      const status = statuses[seen.length - 1] ?? 200;
      const headers = retryAfter === null ? undefined : { "Retry-After": retryAfter };
      return new Response(JSON.stringify({ status }), { status, headers });
    },
  });
  return { send, seen, waits };
}

test("a POST gets one Idempotency-Key, the same on every retry, and the bearer token", async () => {
  const { send, seen, waits } = recorder([429, 503, 201]);
  const response = await send(new Request("http://x/v1/sessions", { method: "POST", body: "{}" }));
  assert.equal(response.status, 201);
  assert.equal(seen.length, 3);
  const keys = new Set(seen.map((r) => r.headers.get("Idempotency-Key")));
  assert.equal(keys.size, 1);
  assert.match([...keys][0] ?? "", /^[0-9a-f-]{36}$/);
  assert.ok(seen.every((r) => r.headers.get("Authorization") === "Bearer sk_test"));
  assert.deepEqual(waits, [1000, 1000]);
  // Every attempt sent the body (a Request body can be read only once).
  for (const request of seen) {
    assert.equal(await request.text(), "{}");
  }
});

test("two calls get two keys; a caller's own key is kept; a GET gets none", async () => {
  const { send, seen } = recorder([]);
  await send(new Request("http://x/v1/skills", { method: "POST", body: "{}" }));
  await send(new Request("http://x/v1/skills", { method: "POST", body: "{}" }));
  await send(new Request("http://x/v1/skills", { method: "POST", body: "{}", headers: { "Idempotency-Key": "mine" } }));
  await send(new Request("http://x/v1/skills"));
  const keys = seen.map((r) => r.headers.get("Idempotency-Key"));
  assert.notEqual(keys[0], keys[1]);
  assert.equal(keys[2], "mine");
  assert.equal(keys[3], null);
});

test("retries stop after maxRetries and hand back the last answer", async () => {
  const { send, seen } = recorder([429, 429, 429, 429]);
  const response = await send(new Request("http://x/v1/skills"));
  assert.equal(response.status, 429);
  assert.equal(seen.length, 3);
});

test("other errors are not retried", async () => {
  const { send, seen } = recorder([500, 409]);
  assert.equal((await send(new Request("http://x/v1/skills"))).status, 500);
  assert.equal(seen.length, 1);
});

test("Retry-After: seconds, an HTTP date, or backoff when missing", () => {
  assert.equal(retryAfterMs("3", 0), 3000);
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(retryAfterMs("Thu, 01 Jan 2026 00:00:05 GMT", 0, now), 5000);
  assert.equal(retryAfterMs(null, 0), 250);
  assert.equal(retryAfterMs("soon", 2), 1000);
});
