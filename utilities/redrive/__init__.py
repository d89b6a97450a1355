"""redrive: brings back the records of batches a Kinesis event source mapping gave up on."""
