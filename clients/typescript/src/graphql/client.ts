// A typed GraphQL client in a dozen lines: graphql-codegen's TypedDocumentString carries each
// operation's result and variables types; the transport is the REST client's (auth, retries).
import type { TypedDocumentString } from "../generated/graphql/graphql.js";
import { transport, type TransportOptions } from "../http.js";

export interface GraphQLErrorBody {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string };
}

/** A GraphQL answer with errors: `code` is the first error's `extensions.code`. */
export class GraphQLProblem extends Error {
  readonly code: string | undefined;
  readonly errors: GraphQLErrorBody[];

  constructor(errors: GraphQLErrorBody[]) {
    super(errors.map((e) => `${e.extensions?.code ?? "?"}: ${e.message}`).join("; "));
    this.name = "GraphQLProblem";
    this.errors = errors;
    this.code = errors[0]?.extensions?.code;
  }
}

interface GraphQLBody<TResult> {
  data?: TResult | null;
  errors?: GraphQLErrorBody[];
}

export type Execute = <TResult, TVariables>(
  document: TypedDocumentString<TResult, TVariables>,
  variables: TVariables,
) => Promise<TResult>;

export function graphqlClient(options: TransportOptions & { url: string }): Execute {
  const send = transport(options);
  return async <TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    variables: TVariables,
  ): Promise<TResult> => {
    const response = await send(
      new Request(options.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/graphql-response+json" },
        body: JSON.stringify({ query: document.toString(), variables }),
      }),
    );
    const body: GraphQLBody<TResult> = await response.json();
    if (body.errors !== undefined && body.errors.length > 0) {
      throw new GraphQLProblem(body.errors);
    }
    if (body.data == null) {
      throw new Error(`${response.status} with neither data nor errors`);
    }
    return body.data;
  };
}
