"""Thin handlers, one module per resource: decode, one service call, encode."""
