// A small typed wrapper over openapi-fetch: the generated `paths` give every route, parameter,
// body and response its type; this adds the transport (auth, idempotency, retries), typed
// problems and cursor pagination. Nothing here names a route: a change in the document shows up
// as a compile error in the code that calls it.
import createClient, { type Client } from "openapi-fetch";

import type { components, paths } from "../generated/openapi.js";
import { transport, type TransportOptions } from "../http.js";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];

/** A problem+json answer, typed by the document's Problem schema. */
export class ProblemError<P extends Problem = Problem> extends Error {
  readonly status: number;
  readonly problem: P;

  constructor(status: number, problem: P) {
    super(`${status} ${problem.title}: ${problem.detail}`);
    this.name = "ProblemError";
    this.status = status;
    this.problem = problem;
  }
}

export interface MentorapiOptions extends TransportOptions {
  baseUrl: string;
}

export type Mentorapi = Client<paths>;

export function mentorapi(options: MentorapiOptions): Mentorapi {
  return createClient<paths>({ baseUrl: options.baseUrl, fetch: transport(options) });
}

type Outcome<D, E> =
  | { data: D; error?: never; response: Response }
  | { data?: never; error: E; response: Response };

/**
 * The data of a success, or a thrown ProblemError. `E extends Problem` is the proof that the
 * document types its errors: an error content without a schema is `unknown` and fails to compile.
 */
export async function ok<D, E extends Problem>(pending: Promise<Outcome<D, E>>): Promise<NonNullable<D>> {
  const outcome = await pending;
  // openapi-fetch answers `data: undefined` for a success with no body: not what a caller of ok() wants.
  if (outcome.data != null) {
    return outcome.data;
  }
  if (outcome.error !== undefined) {
    throw new ProblemError(outcome.response.status, outcome.error);
  }
  throw new Error(`${outcome.response.status} with no body where one was expected`);
}

/** The problem a call answers with; a success here is a failure of the caller's expectation. */
export async function problem<D, E extends Problem>(pending: Promise<Outcome<D, E>>): Promise<ProblemError<E>> {
  const outcome = await pending;
  if (outcome.error === undefined) {
    throw new Error(`expected a problem, got ${outcome.response.status}`);
  }
  return new ProblemError(outcome.response.status, outcome.error);
}

export { paginate, type Page } from "../pages.js";
