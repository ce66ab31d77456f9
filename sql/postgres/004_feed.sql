-- boxoffice PostgreSQL schema, version 4: the per-show change feed that
-- every node tails for its event streams (API.md 9).
--
-- Each write records its seat changes inside its own transaction: the
-- store wraps every write call as SELECT bo_feed(<write function>(...)),
-- so recording is the write's LAST step and adds no statement, round trip
-- or commit. For each show the write changed, bo_feed takes that show's
-- next seq from show_feed (an upsert that locks the show's feed row until
-- commit) and inserts the changes into seat_events under that seq.
--
-- Why a per-show row lock, held from the last statement through commit:
-- it is what makes seq order commit order. The holder of seq N commits
-- before the writer of N+1 can take the row, so any snapshot that sees N+1
-- sees N too, and a reader of "seq > K" never skips a change that commits
-- later. A global bigserial is assigned at insert, not at commit, so
-- rows appear out of id order; xids are assigned at the first write and
-- are not commit order either. The cost: writes to ONE show commit one
-- after another (their WAL flushes cannot be grouped); writes to different
-- shows never wait on each other, and nothing is global. NOTIFY inside the
-- write would serialise every commit of the database (measured ~600
-- writes/s); NOTIFY after it costs a second commit per write.
--
-- Rows are pruned by count per show (bo_feed_prune), so the table stays
-- bounded; a node that falls further behind than that resynchronises its
-- viewers with fresh snapshots.

CREATE TABLE show_feed (
    show_id bigint PRIMARY KEY REFERENCES shows(id),
    seq     bigint NOT NULL
);

CREATE TABLE seat_events (
    show_id    bigint NOT NULL,
    seq        bigint NOT NULL,
    changes    jsonb NOT NULL, -- [[row, number, "HELD"|"AVAILABLE"|"BOOKED"], ...]
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (show_id, seq)
);

-- Records p_changes ([[show_id, row, number, status], ...], as every write
-- function returns them) as one event per show, shows in ascending id so
-- that writers spanning shows (the sweeper) lock feed rows in one order.
CREATE OR REPLACE FUNCTION bo_feed_record(p_changes jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    rec record;
    v_seq bigint;
BEGIN
    IF p_changes IS NULL OR jsonb_array_length(p_changes) = 0 THEN
        RETURN;
    END IF;
    FOR rec IN
        SELECT (c ->> 0)::bigint AS show_id,
               jsonb_agg(jsonb_build_array(c -> 1, c -> 2, c -> 3) ORDER BY ord) AS changes
          FROM jsonb_array_elements(p_changes) WITH ORDINALITY AS e(c, ord)
         GROUP BY 1
         ORDER BY 1
    LOOP
        INSERT INTO show_feed AS f (show_id, seq) VALUES (rec.show_id, 1)
            ON CONFLICT (show_id) DO UPDATE SET seq = f.seq + 1
            RETURNING seq INTO v_seq;
        INSERT INTO seat_events (show_id, seq, changes) VALUES (rec.show_id, v_seq, rec.changes);
    END LOOP;
END
$$;

-- A write's answer, passed through after its changes are recorded.
CREATE OR REPLACE FUNCTION bo_feed(p_result jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_result ->> 'outcome' = 'OK' THEN
        PERFORM bo_feed_record(p_result -> 'changes');
    END IF;
    RETURN p_result;
END
$$;

-- Keeps the newest p_keep events of every show; returns how many went.
CREATE OR REPLACE FUNCTION bo_feed_prune(p_keep int) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_gone bigint;
BEGIN
    DELETE FROM seat_events e USING show_feed f
     WHERE e.show_id = f.show_id AND e.seq <= f.seq - p_keep;
    GET DIAGNOSTICS v_gone = ROW_COUNT;
    RETURN v_gone;
END
$$;
