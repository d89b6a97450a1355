"""error_source: accepts error reports over HTTP or direct invoke and publishes them, KPL-aggregated."""
