-- ledger_post_awards(), second version (migration 0008): the same arguments and answer as
-- post_awards_postgresql.sql, with no temporary table and no plan that depends on column
-- statistics or on the planner's guess of a table's size (autovacuum may be off and a table
-- never analysed: then a list of 500 ids looks like a large part of a table the planner
-- underestimates, and a scan of the whole table wins on paper, batch after batch). Every row
-- is reached by a unique key, and sequential scans are off inside the function:
-- * households: a LATERAL lookup by id per account (LIMIT 1 keeps it a parameterised index
--   probe), locked in id order; balances moved by one UPDATE over the batch's ids;
-- * postings: ids drawn from the sequence first, so the batch's postings are known without
--   reading them back (the first version read the scheme's postings back by a key list,
--   which without statistics was a scan of every posting of the scheme, batch after batch);
--   a key used before is looked up by (scheme, key), the unique key, and only then;
-- * each entry's balance_after: the household's new balance (read by primary key) less the
--   amounts of the same household's later awards in the batch (a window over the batch).
CREATE OR REPLACE FUNCTION ledger_post_awards(
  p_scheme bigint, p_kind text, p_actor bigint, p_created timestamptz, p_issuance bigint,
  p_accounts bigint[], p_amounts bigint[], p_members bigint[], p_keys text[], p_hashes text[],
  p_memos text[], p_ref_types text[], p_ref_ids text[]
) RETURNS TABLE (key text, posting_id bigint, request_hash text) LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
  wanted bigint[];
  fit integer;
  accounts bigint[];
  totals bigint[];
  ids bigint[];
  inserted bigint[];
  earlier_id bigint;
  earlier_hash text;
  i integer;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ledger_account
                  WHERE id = p_issuance AND scheme_id = p_scheme AND kind <> 'household') THEN
    RAISE EXCEPTION 'account % is not a scheme account of scheme %', p_issuance, p_scheme
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  -- Lock the households in id order (post() moves them in that order: no deadlock).
  wanted := ARRAY(SELECT DISTINCT a FROM unnest(p_accounts) AS a ORDER BY a);
  SELECT count(*) FILTER (WHERE l.kind = 'household' AND l.scheme_id = p_scheme) INTO fit
    FROM unnest(wanted) WITH ORDINALITY AS w(id, n)
   CROSS JOIN LATERAL (SELECT a.kind, a.scheme_id FROM ledger_account AS a
                        WHERE a.id = w.id LIMIT 1 FOR UPDATE) AS l;
  IF fit <> coalesce(array_length(wanted, 1), 0) THEN
    RAISE EXCEPTION 'an award names an account that is not a household of scheme %', p_scheme
      USING ERRCODE = 'foreign_key_violation';
  END IF;

  ids := ARRAY(SELECT nextval('ledger_posting_id_seq'::regclass)
                 FROM generate_series(1, coalesce(array_length(p_keys, 1), 0)));
  WITH new_postings AS (
    INSERT INTO ledger_posting (id, scheme_id, kind, idempotency_key, request_hash, actor_id,
                                created_at, memo, reverses_id, ref_type, ref_id)
    SELECT t.id, p_scheme, p_kind, t.k, t.h, p_actor, p_created, t.memo, NULL, t.ref_type,
           t.ref_id
      FROM unnest(ids, p_keys, p_hashes, p_memos, p_ref_types, p_ref_ids)
             WITH ORDINALITY AS t(id, k, h, memo, ref_type, ref_id, n)
     ORDER BY t.n
    ON CONFLICT (scheme_id, idempotency_key) DO NOTHING
    RETURNING id
  )
  SELECT array_agg(id) INTO inserted FROM new_postings;
  IF coalesce(array_length(inserted, 1), 0) < coalesce(array_length(ids, 1), 0) THEN
    -- Some keys were used before: those awards are not posted again (their id stays unused).
    ids := ARRAY(SELECT CASE WHEN x = ANY (inserted) THEN x END
                   FROM unnest(ids) WITH ORDINALITY AS u(x, n) ORDER BY n);
  END IF;

  SELECT array_agg(t.account ORDER BY t.account), array_agg(t.total ORDER BY t.account)
    INTO accounts, totals
    FROM (SELECT u.account, sum(u.amount) AS total
            FROM unnest(p_accounts, p_amounts, ids) AS u(account, amount, id)
           WHERE u.id IS NOT NULL
           GROUP BY u.account) AS t;
  UPDATE ledger_account AS acc SET balance = acc.balance + t.total
    FROM unnest(accounts, totals) AS t(id, total)
   WHERE acc.id = ANY (accounts) AND acc.id = t.id;

  INSERT INTO ledger_entry (scheme_id, posting_id, account_id, amount, balance_after, member_id)
  SELECT p_scheme, leg.id, leg.account, leg.amount, leg.after, leg.member
    FROM (
      SELECT t.id, t.n, 0 AS side, p_issuance AS account, -t.amount AS amount,
             NULL::bigint AS after, NULL::bigint AS member
        FROM unnest(ids, p_amounts) WITH ORDINALITY AS t(id, amount, n)
       WHERE t.id IS NOT NULL
      UNION ALL
      SELECT t.id, t.n, 1, t.account, t.amount,
             (SELECT a.balance FROM ledger_account AS a WHERE a.id = t.account)
               - sum(t.amount) OVER (PARTITION BY t.account)
               + sum(t.amount) OVER (PARTITION BY t.account ORDER BY t.n),
             t.member
        FROM unnest(ids, p_accounts, p_amounts, p_members)
               WITH ORDINALITY AS t(id, account, amount, member, n)
       WHERE t.id IS NOT NULL
    ) AS leg
   ORDER BY leg.n, leg.side;

  FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP
    IF ids[i] IS NULL THEN
      SELECT p.id, p.request_hash INTO earlier_id, earlier_hash
        FROM ledger_posting AS p
       WHERE p.scheme_id = p_scheme AND p.idempotency_key = p_keys[i];
      key := p_keys[i]; posting_id := earlier_id; request_hash := earlier_hash;
    ELSE
      key := p_keys[i]; posting_id := ids[i]; request_hash := p_hashes[i];
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;
