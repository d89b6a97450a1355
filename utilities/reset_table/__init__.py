"""reset_table: truncates an allow-listed table when the stage is allowed and the event confirms the name."""
