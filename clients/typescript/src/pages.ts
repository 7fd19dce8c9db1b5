// Cursor pagination, the same for REST (`next_cursor`) and GraphQL (`pageInfo.endCursor`).
export interface Page<T> {
  data: T[];
  next_cursor?: string | null;
}

/** Every item of a cursor-paged list, fetching the next page only when the last is used up. */
export async function* paginate<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>): AsyncGenerator<T> {
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    yield* page.data;
    cursor = page.next_cursor ?? undefined;
  } while (cursor !== undefined);
}
