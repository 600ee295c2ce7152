-- Back to ledger_post() without the audit row (post_postgresql.sql).
DROP FUNCTION IF EXISTS ledger_post(bigint, text, text, text, bigint, timestamptz, text, bigint,
  text, text, bigint[], bigint[], bigint[], bigint[], bigint[], bigint[], text, text, text,
  bigint, jsonb);
