"""The ports: what the service layer needs from storage, the page cache, the limiter and the read
gate, as protocols."""
