-- Least privilege. One NOLOGIN group role per kind of access, and one login role per database function that is
-- granted its group; the function connects as its login role (DATABASE_USER with DATABASE_IAM_AUTH=1).
-- migrate keeps the master user: it owns the schema and creates these roles.
--   pipeline_writer    error_sink: INSERT into errors and dead_letters, SELECT on the columns ON CONFLICT
--                      reads (the conflict targets) and on those the staging temp table copies, TEMP
--   pipeline_reader    read_table: SELECT on errors and dead_letters
--   pipeline_resetter  reset_table: TRUNCATE on errors and dead_letters, and their row count through a
--                      function, so the reply can say how many rows went without reading any
-- Roles belong to the whole server, so they are created only when missing; the grants are this database's.
DO $$
DECLARE
    role text;
BEGIN
    FOREACH role IN ARRAY ARRAY['pipeline_writer', 'pipeline_reader', 'pipeline_resetter'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', role);
        END IF;
    END LOOP;
    FOREACH role IN ARRAY ARRAY['error_sink', 'read_table', 'reset_table'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', role);
        END IF;
    END LOOP;
END
$$;

-- Each login role inherits exactly one group's privileges.
GRANT pipeline_writer TO error_sink;
GRANT pipeline_reader TO read_table;
GRANT pipeline_resetter TO reset_table;

-- Nothing for everyone: no table rights, no objects in public, no temp tables unless granted.
REVOKE ALL ON errors, dead_letters FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO pipeline_writer, pipeline_reader, pipeline_resetter;
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO pipeline_writer', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO pipeline_reader, pipeline_resetter', current_database());
END
$$;

GRANT INSERT ON errors, dead_letters TO pipeline_writer;
GRANT SELECT (event_id) ON errors TO pipeline_writer;
GRANT SELECT (event_source_arn, shard_id, sequence_number, sub_sequence_number) ON dead_letters TO pipeline_writer;

GRANT SELECT ON errors, dead_letters TO pipeline_reader;

GRANT TRUNCATE ON errors, dead_letters TO pipeline_resetter;

CREATE FUNCTION reset_table_row_count(target regclass) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF target NOT IN ('public.errors'::regclass, 'public.dead_letters'::regclass) THEN
        RAISE EXCEPTION 'reset_table_row_count counts only errors and dead_letters';
    END IF;
    EXECUTE format('SELECT count(*) FROM %s', target) INTO n;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION reset_table_row_count(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reset_table_row_count(regclass) TO pipeline_resetter;
