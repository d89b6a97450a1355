"""maintain: daily partitions of errors created ahead and dropped past the retention; old dead letters deleted."""
