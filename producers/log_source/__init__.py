"""log_source: turns CloudWatch Logs subscription deliveries into error events on the errors stream."""
