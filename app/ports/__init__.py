"""The ports: what the service layer needs from storage, the page cache and admission, as protocols."""
