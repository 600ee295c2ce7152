DROP FUNCTION IF EXISTS ledger_post_awards(bigint, text, bigint, timestamptz, bigint, bigint[],
  bigint[], bigint[], text[], text[], text[], text[], text[]);
