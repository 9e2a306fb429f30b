"""Adapters: the ports of app/ports/ implemented on a database, on Redis, or in this process."""
