"""read_table: rows of an allow-listed table as JSON, paged completely with a keyset cursor; a dead-letter summary."""
