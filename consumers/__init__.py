"""Consumers: functions behind Kinesis event source mappings."""
