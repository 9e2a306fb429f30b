"""HTTP plumbing shared by every route: reading bodies and queries, answers, middleware, OpenAPI."""
