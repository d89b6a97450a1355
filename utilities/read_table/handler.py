"""read_table Lambda handler: one keyset page of an allow-listed table, or a summary of its counts."""

from typing import Any

from psycopg2 import sql

from shared import config, db, observability
from shared.exceptions import Rejected
from shared.tables import TIME_COLUMN
from utilities.read_table import transform

CONFIG = config.load(database=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
DB = db.for_function(CONFIG)


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        query = transform.parse_request(event)
    except Rejected as e:
        return e.response()
    if isinstance(query, transform.Summary):
        return _summary(query)
    key = sql.SQL(", ").join(map(sql.Identifier, query.key))
    # Only rows of transactions older than this snapshot's xmin: all of them have finished, so every row a later
    # page could show sorts after the cursor handed out now (see shared/sql/0005_paging_txid.sql).
    where: list[sql.Composable] = [sql.SQL("txid < pg_snapshot_xmin(pg_current_snapshot())")]
    params: list[Any] = []
    if query.after is not None:
        where.append(sql.SQL("({}) > ({})").format(key, sql.SQL(", ").join([sql.Placeholder()] * len(query.key))))
        params += query.after
    if query.since is not None:
        where.append(sql.SQL("{} >= %s").format(sql.Identifier(TIME_COLUMN[query.table])))
        params.append(query.since)
    statement = sql.SQL("SELECT * FROM {table} WHERE {where} ORDER BY {key} LIMIT %s").format(
        table=sql.Identifier(query.table), where=sql.SQL(" AND ").join(where), key=key
    )

    def read(cur: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur.execute(statement, (*params, query.limit + 1))
        return [c.name for c in cur.description], cur.fetchall()

    columns, rows = DB.run(read)
    shown = rows[: query.limit]
    page = [transform.json_row(columns, r) for r in shown]
    # "next": the following page, or null at the end; "resume": where to carry on later (after the last row
    # shown), to pick up rows whose transactions were still open.
    position = [shown[-1][columns.index(k)] for k in query.key] if shown else query.after
    resume = transform.encode_cursor(query.table, position, since=query.since)
    cursor = resume if len(rows) > query.limit else None
    return {"statusCode": 200, "table": query.table, "rows": page, "next": cursor, "resume": resume}


def _summary(summary: transform.Summary) -> dict[str, Any]:
    # One statement, so every count comes from the same snapshot and they add up.
    columns = {
        column: sql.SQL("(created_at AT TIME ZONE 'UTC')::date") if column == "day" else sql.Identifier(column)
        for _, column in summary.groups
    }
    keys = [sql.SQL("{} AS {}").format(expr, sql.Identifier(f"k_{column}")) for column, expr in columns.items()]
    sets = sql.SQL(", ").join([sql.SQL("({})").format(sql.Identifier(f"k_{c}")) for c in columns] + [sql.SQL("()")])
    which = sql.SQL(" ").join(
        sql.SQL("WHEN GROUPING({k}) = 0 THEN {i}").format(k=sql.Identifier(f"k_{c}"), i=sql.Literal(i))
        for i, c in enumerate(columns)
    )
    key = sql.SQL("COALESCE({})").format(
        sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(f"k_{c}")) for c in columns)
    )
    statement = sql.SQL(
        "SELECT CASE {which} END, {key}, count(*) FROM (SELECT {keys} FROM {table}) AS t "
        "GROUP BY GROUPING SETS ({sets})"
    ).format(which=which, key=key, keys=sql.SQL(", ").join(keys), table=sql.Identifier(summary.table), sets=sets)

    def read(cur: Any) -> list[tuple[Any, ...]]:
        cur.execute(statement)
        return list(cur.fetchall())

    reply = transform.summary_reply(summary, DB.run(read))
    return {"statusCode": 200, "table": summary.table, "summary": reply}
