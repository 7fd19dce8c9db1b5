// The transport both proofs share: one `fetch` that a generated client is handed. It sends the
// caller's bearer token, gives every POST an Idempotency-Key (one per logical call, the same on
// each retry, so a retried booking never books twice) and retries 429 and 503 after the wait the
// server asks for in Retry-After.

export interface TransportOptions {
  token: string;
  /** Retries after the first attempt; 0 turns retrying off. */
  maxRetries?: number;
  /** The longest wait honoured, in milliseconds (a server asking for more gets this). */
  maxWaitMs?: number;
  /** Injected in tests; defaults to setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** Injected in tests; defaults to globalThis.fetch. */
  fetch?: (request: Request) => Promise<Response>;
  /** Told of every retry (the proofs count them). */
  onRetry?: (status: number, waitMs: number, request: Request) => void;
}

const RETRYABLE = new Set([429, 503]);

export function retryAfterMs(header: string | null, attempt: number, now: number = Date.now()): number {
  if (header !== null) {
    const trimmed = header.trim();
    if (/^\d+$/.test(trimmed)) {
      return Number(trimmed) * 1000;
    }
    const date = Date.parse(trimmed);
    if (!Number.isNaN(date)) {
      return Math.max(0, date - now);
    }
  }
  // No usable Retry-After: exponential backoff from 250 ms.
  return 250 * 2 ** attempt;
}

export function transport(options: TransportOptions): (request: Request) => Promise<Response> {
  const maxRetries = options.maxRetries ?? 4;
  const maxWaitMs = options.maxWaitMs ?? 30_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  return async (request: Request): Promise<Response> => {
    const headers = new Headers(request.headers);
    headers.set("Authorization", `Bearer ${options.token}`);
    if (request.method === "POST" && !headers.has("Idempotency-Key")) {
      headers.set("Idempotency-Key", crypto.randomUUID());
    }
    const prepared = new Request(request, { headers });
    for (let attempt = 0; ; attempt++) {
      // A Request body can be read once: every attempt sends a clone.
      const response = await send(prepared.clone());
      if (!RETRYABLE.has(response.status) || attempt >= maxRetries) {
        return response;
      }
      const waitMs = Math.min(maxWaitMs, retryAfterMs(response.headers.get("Retry-After"), attempt));
      await response.body?.cancel();
      options.onRetry?.(response.status, waitMs, prepared);
      await sleep(waitMs);
    }
  };
}
