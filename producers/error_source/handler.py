"""error_source Lambda handler: the imperative shell around transform.py."""

from datetime import UTC, datetime
from typing import Any

from producers.error_source import transform
from shared import aws, config, invocation, observability
from shared.exceptions import Rejected
from shared.publisher import PublishResult

CONFIG = config.load(stream=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
PUBLISHER = aws.publisher(CONFIG)


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        request = transform.parse_request(event)
        batch = transform.prepare(request, received_at=datetime.now(UTC))
    except Rejected as e:
        LOG.warning("request refused", extra={"status": e.status, "reason": e.reason})
        return transform.error_response(transform.is_http(event), e)
    deadline_s = transform.publish_deadline(CONFIG.publish_deadline_s, invocation.remaining_ms(context))
    result = PUBLISHER.publish(batch.records, deadline_s=deadline_s) if batch.records else PublishResult()
    failed = list(result.failed)
    observability.emit_metrics(
        "error_source",
        {
            "EventsIn": len(request.items),
            "EventsRejected": len(batch.rejected),
            "EventsUnavailable": len(transform.unavailable(batch, failed)),
            "PutRecordsCalls": result.put_calls,
        },
    )
    return transform.respond(request, batch, failed)
