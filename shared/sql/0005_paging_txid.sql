-- Complete paging for read_table. Each row records the id of the transaction that wrote it (a column default:
-- COPY keeps its multi-row inserts, no trigger runs). read_table pages in (txid, key) order and shows only rows
-- whose transaction id is below its snapshot's xmin: every such transaction has finished, so no row can still
-- appear behind a cursor it has handed out. A time or an identity column cannot promise that: a transaction that
-- started (or drew its number) earlier may commit after a later one was read.
-- Rows already here all get this migration's id and are paged by their key.
ALTER TABLE errors ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE dead_letters ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();

CREATE INDEX errors_txid_event_id_idx ON errors (txid, event_id);
CREATE INDEX dead_letters_txid_id_idx ON dead_letters (txid, id);
