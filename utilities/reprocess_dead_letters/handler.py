"""reprocess_dead_letters Lambda handler: a page of dead letters at a time, each page one transaction."""

import functools
from typing import Any

from psycopg2 import sql

from shared import bulk, config, db, kinesis, observability, rows
from shared.exceptions import Rejected
from utilities.reprocess_dead_letters import transform

CONFIG = config.load(database=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
DB = db.for_function(CONFIG)
kinesis.load_codec()
rows.load_reader()
STOP_WITH_MS_LEFT = 15_000  # a page takes well under this; stop before Lambda's timeout, never inside a page


class _DryRun(Exception):
    """Raised at the end of a dry-run page so its transaction rolls back; carries what the page would have done."""

    def __init__(self, result: tuple[int, transform.Totals]) -> None:
        super().__init__("dry run")
        self.result = result


def _page(cur: Any, request: transform.Request, after: int) -> tuple[int, transform.Totals] | None:
    """Reprocess the next page after id ``after``: its last id and its accounting, or None when nothing is left.

    Counts are returned, not accumulated, so an attempt that rolls back (and DB.run's one retry) counts nothing.
    """
    conditions, values = transform.selection(request)
    where = sql.SQL(" AND ").join([sql.SQL("id > %s"), *map(sql.SQL, conditions)])
    cur.execute(
        sql.SQL(
            "SELECT id, event_source_arn, shard_id, sequence_number, sub_sequence_number, partition_key, reason, raw "
            "FROM dead_letters WHERE {} ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
        ).format(where),
        (after, *values, request.page_size),
    )
    letters = [transform.DeadLetter(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bytes(r[7])) for r in cur.fetchall()]
    if not letters:
        return None
    verdicts = [transform.judge(letter) for letter in letters]
    rows = [row for v in verdicts for row in v.rows]
    owner = [i for i, v in enumerate(verdicts) for _ in v.rows]  # which dead letter each row came from
    written, refused = bulk.insert_or_reject(cur, "errors", transform.ERROR_COLUMNS, rows, key=transform.ERROR_KEY)
    # A row PostgreSQL refuses (the consumer's backstop) keeps its dead letter, with PostgreSQL's reason; the
    # letter's other rows may be in errors by then, which is harmless: a later run finds them as duplicates.
    refused_reason = {owner[i]: reason for i, reason in refused}
    dead = [d for i, v in enumerate(verdicts) if v.reason is None and i not in refused_reason for d in v.dead]
    page = transform.Totals(pages=1)
    page.split_dead_letters = bulk.insert_idempotent(
        cur, "dead_letters", transform.DEAD_LETTER_COLUMNS, dead, key=transform.DEAD_LETTER_KEY
    )
    gone, updated = [], []
    for i, (letter, verdict) in enumerate(zip(letters, verdicts, strict=True)):
        reason = refused_reason.get(i, verdict.reason)
        page.count(letter.reason, moved=reason is None)
        if reason is None:
            gone.append(letter.id)
        elif reason != letter.reason:
            updated.append((reason, letter.id))
    if gone:
        cur.execute("DELETE FROM dead_letters WHERE id = ANY(%s)", (gone,))
    for reason, ident in updated:
        cur.execute("UPDATE dead_letters SET reason = %s WHERE id = %s", (reason, ident))
    page.rows_written = written
    page.duplicates = len(rows) - len(refused) - written
    page.reasons_updated = len(updated)
    if request.dry_run:
        raise _DryRun((letters[-1].id, page))
    return letters[-1].id, page


def run(request: transform.Request, context: Any = None) -> dict[str, Any]:
    """Every matching dead letter, a page (one transaction) at a time; a dry run rolls every page back."""
    totals = transform.Totals()
    after, complete = 0, True
    while True:
        if context is not None and context.get_remaining_time_in_millis() < STOP_WITH_MS_LEFT:
            complete = False  # what is left stays a dead letter: running again picks it up
            break
        try:
            result = DB.run(functools.partial(_page, request=request, after=after))
        except _DryRun as done:
            result = done.result
        if result is None:
            break
        after, page = result
        totals.add(page)
        LOG.info(
            "dead letter page done",
            extra={"after_id": after, "examined": totals.examined, "moved": totals.moved, "dry_run": request.dry_run},
        )
    return {"statusCode": 200, "dry_run": request.dry_run, "complete": complete, **totals.report()}


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        request = transform.parse_request(event, stage=CONFIG.stage, unconfirmed_stages=CONFIG.reset_allowed_stages)
    except Rejected as e:
        LOG.warning("reprocess refused", extra={"reason": str(e), "stage": CONFIG.stage})
        return e.response()
    result = run(request, context)
    LOG.warning("dead letters reprocessed" if not request.dry_run else "dry run", extra=result)
    return result
