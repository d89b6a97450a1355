"""Utilities: functions operators invoke by hand (migrate, read_table, reset_table)."""
