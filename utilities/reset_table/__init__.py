"""reset_table: truncates an allow-listed table, outside production, when the event confirms the name."""
