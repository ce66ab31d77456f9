/* sqlite_idem.c - Idempotency-Key records of the SQLite backend (API.md
 * 11): looked up and kept in the write's own transaction, on the writer
 * thread, so that an answer is stored exactly when its write commits. */
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"

int sq_idem_lookup(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	struct sq_conn *c = s->writer_conn;
	sqlite3_stmt *st;
	int rc;

	rc = sq_row(c, &st, SQ_IDEM_GET, "%s", cmd->idem_key);
	if (rc <= 0)
		return rc;
	const void *req = sqlite3_column_blob(st, 0);
	size_t req_len = (size_t)sqlite3_column_bytes(st, 0);
	unsigned status = (unsigned)sqlite3_column_int(st, 1);
	const char *body = (const char *)sqlite3_column_text(st, 2);
	size_t body_len = (size_t)sqlite3_column_bytes(st, 2);
	int64_t created = sqlite3_column_int64(st, 3);

	if (created <= now - s->cfg.idempotency_ttl_ms) {
		sq_done(st);
		return sq_run(c, SQ_IDEM_DELETE, "%s", cmd->idem_key) < 0 ? -1 : 0;
	}
	int same = req_len == cmd->idem_request_len &&
	           (req_len == 0 || memcmp(req, cmd->idem_request, req_len) == 0);
	rc = 1;
	if (!same) {
		cmd->outcome = OUTCOME_IDEMPOTENCY_KEY_REUSED;
	} else if (store_cmd_set_answer(cmd, status, body ? body : "", body_len) == 0) {
		cmd->outcome = OUTCOME_OK;
		cmd->replayed = true;
	} else {
		rc = -1;
	}
	sq_done(st);
	return rc;
}

int sq_idem_store(struct sq_state *s, struct store_cmd *cmd, int64_t now)
{
	unsigned status;
	char *body;
	size_t len;

	if (cmd->answer(cmd, &status, &body, &len) != 0)
		return -1;
	int rc = store_cmd_set_answer(cmd, status, body, len);
	free(body);
	if (rc != 0)
		return -1;
	if (!store_answer_storable(status))
		return 0;
	return sq_run(s->writer_conn, SQ_IDEM_INSERT, "%s%.*s%d%.*s" SQ_I64, cmd->idem_key,
	              (int)cmd->idem_request_len, cmd->idem_request, (int)status,
	              (int)cmd->answer_len, cmd->answer_body, now) == 1
	           ? 0
	           : -1;
}
