"""How the service behaves when a dependency fails: the breakers live here (and, with the
resilience work, retries and degraded modes)."""
