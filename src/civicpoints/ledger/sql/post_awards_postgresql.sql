-- ledger_post_awards(): many two-leg credit postings (issuance -> household) in one statement
-- each step, for batches (finalising a notice of thousands of claims). Credits cannot fail
-- the balance guard, so there is nothing to refuse one by one. Household rows are locked in
-- id order first (the order post() uses), so this never deadlocks with post(). Postings whose
-- key already exists are skipped (a re-run); the function returns (key, posting id) for every
-- key it was given, with the request hash stored for it (the caller compares).
CREATE OR REPLACE FUNCTION ledger_post_awards(
  p_scheme bigint, p_kind text, p_actor bigint, p_created timestamptz, p_issuance bigint,
  p_accounts bigint[], p_amounts bigint[], p_members bigint[], p_keys text[], p_hashes text[],
  p_memos text[], p_ref_types text[], p_ref_ids text[]
) RETURNS TABLE (key text, posting_id bigint, request_hash text) LANGUAGE plpgsql AS $$
DECLARE
  wanted integer;
  moved integer;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ledger_account
                  WHERE id = p_issuance AND scheme_id = p_scheme AND kind <> 'household') THEN
    RAISE EXCEPTION 'account % is not a scheme account of scheme %', p_issuance, p_scheme
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  PERFORM 1 FROM ledger_account
    WHERE id IN (SELECT DISTINCT a FROM unnest(p_accounts) AS a) ORDER BY id FOR UPDATE;

  CREATE TEMP TABLE IF NOT EXISTS ledger_new_awards (
    n bigint, account bigint, amount bigint, member bigint, posting bigint
  ) ON COMMIT DROP;
  TRUNCATE ledger_new_awards;

  WITH input AS (
    SELECT * FROM unnest(p_accounts, p_amounts, p_members, p_keys, p_hashes, p_memos,
                         p_ref_types, p_ref_ids)
      WITH ORDINALITY AS t(account, amount, member, k, h, memo, ref_type, ref_id, n)
  ), inserted AS (
    INSERT INTO ledger_posting (scheme_id, kind, idempotency_key, request_hash, actor_id,
                                created_at, memo, reverses_id, ref_type, ref_id)
    SELECT p_scheme, p_kind, k, h, p_actor, p_created, memo, NULL, ref_type, ref_id
      FROM input ORDER BY n
    ON CONFLICT (scheme_id, idempotency_key) DO NOTHING
    RETURNING id, idempotency_key
  )
  INSERT INTO ledger_new_awards (n, account, amount, member, posting)
  SELECT input.n, input.account, input.amount, input.member, inserted.id
    FROM input JOIN inserted ON inserted.idempotency_key = input.k;

  SELECT count(DISTINCT account) INTO wanted FROM ledger_new_awards;
  WITH totals AS (
    SELECT account, sum(amount) AS total FROM ledger_new_awards GROUP BY account
  ), moved_rows AS (
    UPDATE ledger_account AS acc SET balance = acc.balance + totals.total
      FROM totals
     WHERE acc.id = totals.account AND acc.kind = 'household' AND acc.scheme_id = p_scheme
    RETURNING acc.id, acc.balance - totals.total AS before
  ), legs AS (
    SELECT a.posting, a.n, a.account, a.amount, a.member,
           m.before + sum(a.amount) OVER (PARTITION BY a.account ORDER BY a.n) AS after
      FROM ledger_new_awards AS a JOIN moved_rows AS m ON m.id = a.account
  ), entries AS (
    INSERT INTO ledger_entry (scheme_id, posting_id, account_id, amount, balance_after, member_id)
    SELECT p_scheme, posting, p_issuance, -amount, NULL, NULL FROM legs
    UNION ALL
    SELECT p_scheme, posting, account, amount, after, member FROM legs
    RETURNING 1
  )
  SELECT count(*) FROM moved_rows INTO moved;
  IF moved <> wanted THEN
    RAISE EXCEPTION 'an award names an account that is not a household of scheme %', p_scheme
      USING ERRCODE = 'foreign_key_violation';
  END IF;

  RETURN QUERY
    SELECT p.idempotency_key::text, p.id, p.request_hash::text
      FROM ledger_posting AS p
     WHERE p.scheme_id = p_scheme AND p.idempotency_key = ANY(p_keys);
END $$;
