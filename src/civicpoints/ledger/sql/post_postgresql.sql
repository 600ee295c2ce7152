-- ledger_post(): the whole of post() in one statement on PostgreSQL (one round trip, plans
-- cached by PL/pgSQL). Same steps and the same guards as the Python path used on SQLite:
-- insert the posting (ON CONFLICT on the idempotency key: NULL means "a retry, read the
-- earlier posting"), move household balances in account-id order with the guarded UPDATE,
-- insert the entries with each household's balance after. A household that cannot cover
-- its debit raises SQLSTATE 'CP001' with the account id as the message.
CREATE OR REPLACE FUNCTION ledger_post(
  p_scheme bigint, p_kind text, p_key text, p_hash text, p_actor bigint,
  p_created timestamptz, p_memo text, p_reverses bigint, p_ref_type text, p_ref_id text,
  p_accounts bigint[], p_amounts bigint[], p_members bigint[],
  p_move_accounts bigint[], p_move_deltas bigint[], p_move_held bigint[]
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  pid bigint;
  after bigint[] := '{}';
  newbal bigint;
  i integer;
BEGIN
  INSERT INTO ledger_posting (scheme_id, kind, idempotency_key, request_hash, actor_id,
                              created_at, memo, reverses_id, ref_type, ref_id)
  VALUES (p_scheme, p_kind, p_key, p_hash, p_actor, p_created, p_memo, p_reverses,
          p_ref_type, p_ref_id)
  ON CONFLICT (scheme_id, idempotency_key) DO NOTHING
  RETURNING id INTO pid;
  IF pid IS NULL THEN
    RETURN NULL;
  END IF;
  -- Entries carry no FK to accounts (see ledger/models.py): check existence and scheme here.
  IF (SELECT count(*) FROM ledger_account WHERE id = ANY(p_accounts) AND scheme_id = p_scheme)
     <> (SELECT count(DISTINCT a) FROM unnest(p_accounts) AS a) THEN
    RAISE EXCEPTION 'posting % names an account outside scheme %', pid, p_scheme
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  FOR i IN 1 .. coalesce(array_length(p_move_accounts, 1), 0) LOOP
    UPDATE ledger_account
       SET balance = balance + p_move_deltas[i], held = held + p_move_held[i]
     WHERE id = p_move_accounts[i] AND kind = 'household'
       AND balance + p_move_deltas[i] >= held + p_move_held[i]
       AND held + p_move_held[i] >= 0
    RETURNING balance INTO newbal;
    IF NOT FOUND THEN
      RAISE EXCEPTION '%', p_move_accounts[i] USING ERRCODE = 'CP001';
    END IF;
    after := after || newbal;
  END LOOP;
  INSERT INTO ledger_entry (scheme_id, posting_id, account_id, amount, balance_after, member_id)
  SELECT p_scheme, pid, leg.account, leg.amount,
         (SELECT m.bal FROM unnest(p_move_accounts, after) AS m(acc, bal) WHERE m.acc = leg.account),
         leg.member
    FROM unnest(p_accounts, p_amounts, p_members) WITH ORDINALITY AS leg(account, amount, member, n)
   ORDER BY leg.n;
  RETURN pid;
END $$;

-- Deferred sum-to-zero checks: the posting row and each of its entries queue one check each,
-- all run at COMMIT when every entry is in place, so the first check of a posting in a
-- transaction answers for the others. (A check forced early with SET CONSTRAINTS ... IMMEDIATE
-- and entries added to the same posting afterwards in the same transaction are not
-- re-checked; post() never does that and verify() checks every posting again.)
CREATE OR REPLACE FUNCTION ledger_check_balanced(pid bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  total numeric;
  legs integer;
BEGIN
  IF current_setting('ledger.checked_posting', true) = pid::text THEN
    RETURN;
  END IF;
  SELECT COALESCE(SUM(amount), 0), COUNT(*) INTO total, legs
    FROM ledger_entry WHERE posting_id = pid;
  IF total <> 0 OR legs < 2 THEN
    RAISE EXCEPTION 'posting % is unbalanced: % over % entries', pid, total, legs
      USING ERRCODE = 'check_violation';
  END IF;
  PERFORM set_config('ledger.checked_posting', pid::text, true);
END $$;
