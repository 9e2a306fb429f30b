"""The composition root's builders, a concern each: main.py calls them in order and hands the
parts to the routes. Only here are settings turned into parts and adapters picked."""
