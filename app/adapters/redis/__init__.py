"""Redis adapters: the client, the Lua scripts and their codec, the page cache, admission and leases."""
