"""error_alert: counts errors per source in Lambda tumbling windows and publishes one alert per source per window."""
