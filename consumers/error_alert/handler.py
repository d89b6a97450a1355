"""error_alert Lambda handler: tumbling-window counts in, one SNS alert per source per closed window out."""

import json
from typing import Any

from consumers.error_alert import transform
from shared import aws, config, observability

CONFIG = config.load(alerts=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
SNS = aws.client("sns", CONFIG)
FIFO = str(CONFIG.alert_topic_arn).endswith(".fifo")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    state = transform.accumulate(event.get("state"), event.get("Records", []))
    if not event.get("isFinalInvokeForWindow"):
        return {"state": state, "batchItemFailures": []}
    found = transform.alerts(
        state, threshold=CONFIG.alert_threshold, window=event.get("window", {}), shard_id=event.get("shardId", "")
    )
    for alert in found:
        extra = {"MessageGroupId": alert.source[:128], "MessageDeduplicationId": alert.dedup_id} if FIFO else {}
        SNS.publish(
            TopicArn=CONFIG.alert_topic_arn, Subject=alert.subject, Message=json.dumps(alert.message()), **extra
        )
        LOG.warning("alert published", extra=alert.message())
    observability.emit_metrics("error_alert", {"AlertsPublished": len(found)})
    return {"state": {}, "batchItemFailures": []}
