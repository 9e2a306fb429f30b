"""Storage adapters behind one protocol, one module per dialect; SQL lives in sql/<dialect>/."""
