"""The local stack: moto's Kinesis endpoint, an embedded PostgreSQL, an event source mapping emulator, a CLI."""
