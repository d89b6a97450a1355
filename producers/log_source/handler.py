"""log_source Lambda handler: CloudWatch Logs subscription delivery in, error events on the stream out."""

from datetime import UTC, datetime
from typing import Any

from producers.log_source import transform
from shared import aws, config, events, kinesis, observability
from shared.exceptions import PublishError
from shared.publisher import PublishResult

CONFIG = config.load(stream=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
PUBLISHER = aws.publisher(CONFIG)


def handler(event: Any, context: Any) -> dict[str, Any]:
    delivery = transform.parse_request(event)  # a BadDelivery raises: the invocation fails and is visible
    outcome = transform.convert(delivery, received_at=datetime.now(UTC))
    found, skipped = outcome.events, outcome.skipped
    records = kinesis.aggregate([(e.event_id, events.encode(e)) for e in found])
    result = PUBLISHER.publish(records) if records else PublishResult()
    observability.emit_metrics(
        "log_source",
        {
            "LogEventsIn": len(delivery.log_events),
            "EventsPublished": len(found),
            "LogEventsSkipped": len(skipped),
            "FieldsDropped": outcome.fields_dropped,
        },
    )
    if result.failed:
        # Failing the invocation makes Lambda retry the delivery; event ids are deterministic, so it is harmless.
        raise PublishError(f"{len(result.failed)} of {len(records)} records not taken by the stream in time")
    return {
        "published": len(found),
        "skipped": skipped,
        "fieldsDropped": outcome.fields_dropped,
        "messageType": delivery.message_type,
    }
