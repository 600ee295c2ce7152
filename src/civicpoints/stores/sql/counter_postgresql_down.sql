DROP FUNCTION IF EXISTS stores_counter_context(bigint, bigint, bigint, bigint[], text, text, date,
  boolean);
DROP FUNCTION IF EXISTS stores_counter_redeem(text, text, text, text, jsonb, timestamptz, bigint,
  bigint, bigint, bigint, bigint, bigint, bigint, text, text, text, bigint[], integer[], bigint[],
  bigint, bigint, text, text, bigint, text, text, bigint, jsonb, boolean);
DROP FUNCTION IF EXISTS stores_counter_context(bigint, bigint, bigint, bigint[], text, text, date,
  boolean, bigint, bigint, text);
DROP FUNCTION IF EXISTS stores_counter_redeem(text, text, text, text, jsonb, timestamptz, bigint,
  bigint, bigint, bigint, bigint, bigint, bigint, text, text, text, bigint[], integer[], bigint[],
  bigint, bigint, text, text, bigint, text, text, bigint, jsonb, boolean, text, jsonb);
