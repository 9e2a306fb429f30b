"""Use cases: validation rules, rate limiting and cache-aside. No SQL, no HTTP."""
