"""read_table Lambda handler: one keyset page of an allow-listed table."""

from typing import Any

from psycopg2 import sql

from shared import config, db, observability
from utilities.read_table import transform

CONFIG = config.load(database=True)
observability.setup_logging(CONFIG.log_level)
LOG = observability.get_logger(__name__)
DB = db.for_function(CONFIG)


def handler(event: Any, context: Any) -> dict[str, Any]:
    try:
        query = transform.parse(event)
    except transform.BadRequest as e:
        return {"statusCode": 400, "error": str(e)}
    key = sql.SQL(", ").join(map(sql.Identifier, query.key))
    where = sql.SQL("WHERE ({}) > ({})").format(key, sql.SQL(", ").join([sql.Placeholder()] * len(query.key)))
    statement = sql.SQL("SELECT * FROM {table} {where} ORDER BY {key} LIMIT %s").format(
        table=sql.Identifier(query.table), where=where if query.after else sql.SQL(""), key=key
    )

    def read(cur: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur.execute(statement, (*(query.after or ()), query.limit + 1))
        return [c.name for c in cur.description], cur.fetchall()

    columns, rows = DB.run(read)
    page = [transform.json_row(columns, r) for r in rows[: query.limit]]
    last = rows[query.limit - 1] if len(rows) > query.limit else None
    cursor = transform.encode_cursor(query.table, [last[columns.index(k)] for k in query.key]) if last else None
    return {"statusCode": 200, "table": query.table, "rows": page, "next": cursor}
