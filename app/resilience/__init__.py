"""How the service behaves when a dependency fails: the breakers, the request's deadline, and
the repository's one decorator (timing, deadline, retries, breaker)."""
