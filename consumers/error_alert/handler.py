"""error_alert Lambda handler: tumbling-window counts in, one SNS alert per source per closed window out."""

from typing import Any

from consumers.error_alert import transform
from shared import aws, config, observability

CONFIG = config.load(alerts=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
SNS = aws.lazy_client("sns", CONFIG)  # built by the first closed window that has alerts
FIFO = str(CONFIG.alert_topic_arn).endswith(".fifo")


class AlertsNotPublished(Exception):
    """Some alerts of a closed window failed in a way a retry may fix: Lambda retries the final invocation."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    state = transform.accumulate(event.get("state"), event.get("Records", []))
    if not event.get("isFinalInvokeForWindow"):
        return {"state": state, "batchItemFailures": []}
    found = transform.alerts(
        state, threshold=CONFIG.alert_threshold, window=event.get("window", {}), shard_id=event.get("shardId", "")
    )
    published = 0
    transient: list[str] = []
    refused: list[str] = []
    for alert in found:  # each on its own: one failure never takes the others with it
        try:
            SNS.publish(**transform.publish_request(alert, topic_arn=str(CONFIG.alert_topic_arn), fifo=FIFO))
        except (ClientError, BotoCoreError) as e:
            if isinstance(e, ClientError):
                code = e.response.get("Error", {}).get("Code", "ClientError")
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            else:
                code, status = type(e).__name__, None
            retry = transform.is_transient(code, status)
            (transient if retry else refused).append(alert.source)
            LOG.error(
                "alert not published", extra={**alert.message(), "error": code, "will_retry": retry, "detail": str(e)}
            )
            continue
        published += 1
        LOG.warning("alert published", extra=alert.message())
    observability.emit_metrics(
        "error_alert", {"AlertsPublished": published, "AlertsFailed": len(transient) + len(refused)}
    )
    if transient:
        # Failing the final invocation makes Lambda retry it with the same window state: the alerts already
        # published go again with the same deduplication ids, which the FIFO topic drops.
        raise AlertsNotPublished(f"{len(transient)} of {len(found)} alerts not published, retrying: {transient}")
    return {"state": {}, "batchItemFailures": []}
