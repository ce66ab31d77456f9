/* pg_idem.c - a write with an Idempotency-Key on PostgreSQL (API.md 11):
 * the key's record looked up (and locked), the operation, and its answer
 * kept, all in one transaction on one connection, retried when a
 * concurrent first request won the key or the transaction was serialized
 * out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_internal.h"

/* Settles a keyed command from a live record of its key (row 0 of r):
 * the same request is replayed, another one refused. */
static int pg_idem_settle(struct store_cmd *cmd, const PGresult *r)
{
	const char *req = PQgetvalue(r, 0, 0);
	size_t req_len = (size_t)PQgetlength(r, 0, 0);

	cmd->nchanges = 0;
	if (req_len != cmd->idem_request_len || memcmp(req, cmd->idem_request, req_len) != 0) {
		cmd->outcome = OUTCOME_IDEMPOTENCY_KEY_REUSED;
		return 0;
	}
	unsigned status = (unsigned)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
	if (store_cmd_set_answer(cmd, status, PQgetvalue(r, 0, 2), (size_t)PQgetlength(r, 0, 2)) !=
	    0)
		return -1;
	cmd->outcome = OUTCOME_OK;
	cmd->replayed = true;
	return 0;
}

/* One attempt of a keyed command in one transaction: look the key up
 * (locking a live record), run the operation, keep its answer. Returns 0
 * when settled, 1 to try again (a concurrent first request won the key,
 * or a serialization failure), -1 on a storage error. Rolls back itself. */
static int pg_keyed_attempt(struct pg_state *s, struct pg_conn *c, struct store_cmd *cmd,
                            enum pg_call_id id, const struct pg_args *a, json_t **res)
{
	char ttl[48], status[16];
	PGresult *r = NULL;
	int rc = -1;

	snprintf(ttl, sizeof(ttl), "%lld milliseconds", (long long)s->cfg.idempotency_ttl_ms);
	if (pg_exec_ok(c->conn, "BEGIN") != 0)
		return -1;
	const char *get[] = {cmd->idem_key, ttl};
	r = pg_run(s, c, PG_IDEM_GET, 2, get);
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK)
		goto fail;
	if (PQntuples(r) == 1) {
		rc = pg_idem_settle(cmd, r);
		PQclear(r);
		pg_exec_ok(c->conn, rc == 0 ? "COMMIT" : "ROLLBACK");
		return rc;
	}
	PQclear(r);
	r = pg_run(s, c, id, a->n, a->v);
	if (r == NULL || (*res = pg_value(r)) == NULL || pg_decode_write(cmd, *res) != 0)
		goto fail;
	PQclear(r);
	r = NULL;

	unsigned code;
	char *body;
	size_t len;
	if (cmd->answer(cmd, &code, &body, &len) != 0)
		goto fail;
	int kept = store_cmd_set_answer(cmd, code, body, len);
	free(body);
	if (kept != 0)
		goto fail;
	if (store_answer_storable(code)) {
		snprintf(status, sizeof(status), "%u", code);
		const char *put[] = {cmd->idem_key, cmd->idem_request, status, cmd->answer_body,
		                     ttl};
		r = pg_run(s, c, PG_IDEM_PUT, 5, put);
		if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
			goto fail;
		if (strcmp(PQcmdTuples(r), "1") != 0) {
			rc = 1; /* another request with this key committed first */
			goto fail;
		}
		PQclear(r);
		r = NULL;
	}
	if (pg_exec_ok(c->conn, "COMMIT") != 0)
		return -1;
	return 0;
fail:
	if (rc == -1 && pg_retryable(r))
		rc = 1;
	PQclear(r);
	if (c->conn != NULL && PQstatus(c->conn) == CONNECTION_OK)
		pg_exec_ok(c->conn, "ROLLBACK");
	return rc;
}

/* A command with an Idempotency-Key: several statements in one
 * transaction on one connection (the answer is built between them). */
void pg_execute_keyed(struct pg_state *s, struct store_cmd *cmd, enum pg_call_id id,
                      const struct pg_args *a)
{
	struct pg_conn *c = pg_acquire(s);
	json_t *res = NULL;

	if (c == NULL)
		return;
	for (int attempt = 0; attempt < PG_RETRIES; attempt++) {
		store_cmd_reset_output(cmd);
		json_decref(res);
		res = NULL;
		int rc = pg_keyed_attempt(s, c, cmd, id, a, &res);
		if (rc == 0)
			break;
		store_cmd_reset_output(cmd);
		if (rc < 0)
			break;
	}
	pg_release(s, c);
	json_decref(res);
}
