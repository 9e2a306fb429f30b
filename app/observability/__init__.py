"""Logs now; metrics and traces land here beside them."""
