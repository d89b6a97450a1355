"""read_table: returns rows of an allow-listed table as JSON, paginated with a keyset cursor."""
