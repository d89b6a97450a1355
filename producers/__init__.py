"""Producers: functions that accept events and publish them to a Kinesis stream."""
