"""The GraphQL face: schema assembly, per-request context, DataLoaders, error codes, GraphiQL."""
