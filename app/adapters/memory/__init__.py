"""In-process adapters: the page cache and the token buckets of a single process (no Redis)."""
