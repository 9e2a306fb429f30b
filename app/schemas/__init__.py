"""msgspec Structs: the shapes of every request and answer, and the source of the OpenAPI document."""
