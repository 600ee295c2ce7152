-- ledger_post() with the posting's audit row (migration 0010): the same steps as before
-- (post_postgresql.sql, migration 0004), then, when p_audit_action is given, the audit row of
-- the action the posting carries out, in the same statement: a service that posts and audits
-- makes one round trip for both. The row records p_audit_type/p_audit_object, or the posting
-- itself when they are empty; its detail gains the posting's id as "posting". The new
-- arguments default to NULL, so callers of the old form (stores_counter_redeem) are unchanged.
-- The scheme check of the accounts moved to where each row is read anyway (below).
DROP FUNCTION IF EXISTS ledger_post(bigint, text, text, text, bigint, timestamptz, text, bigint,
  text, text, bigint[], bigint[], bigint[], bigint[], bigint[], bigint[]);

CREATE OR REPLACE FUNCTION ledger_post(
  p_scheme bigint, p_kind text, p_key text, p_hash text, p_actor bigint,
  p_created timestamptz, p_memo text, p_reverses bigint, p_ref_type text, p_ref_id text,
  p_accounts bigint[], p_amounts bigint[], p_members bigint[],
  p_move_accounts bigint[], p_move_deltas bigint[], p_move_held bigint[],
  p_audit_action text DEFAULT NULL, p_audit_type text DEFAULT NULL,
  p_audit_object text DEFAULT NULL, p_audit_region bigint DEFAULT NULL,
  p_audit_detail jsonb DEFAULT NULL
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  pid bigint;
  after bigint[] := '{}';
  newbal bigint;
  i integer;
  other bigint;
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
  -- Entries carry no FK to accounts (see ledger/models.py): each account must exist in the
  -- posting's scheme. A household account's guarded UPDATE below finds it by id, kind and
  -- scheme (a row it reads anyway); each other account (a system account, a row nobody
  -- updates) is looked up by its key here. (One count over all the accounts, as before,
  -- read every busy household row twice: measured, a sixth of the statement's cost.)
  FOREACH other IN ARRAY p_accounts LOOP
    IF other <> ALL (p_move_accounts) THEN
      PERFORM FROM ledger_account a WHERE a.id = other AND a.scheme_id = p_scheme;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'posting % names an account outside scheme %', pid, p_scheme
          USING ERRCODE = 'foreign_key_violation';
      END IF;
    END IF;
  END LOOP;
  FOR i IN 1 .. coalesce(array_length(p_move_accounts, 1), 0) LOOP
    UPDATE ledger_account
       SET balance = balance + p_move_deltas[i], held = held + p_move_held[i]
     WHERE id = p_move_accounts[i] AND kind = 'household' AND scheme_id = p_scheme
       AND balance + p_move_deltas[i] >= held + p_move_held[i]
       AND held + p_move_held[i] >= 0
    RETURNING balance INTO newbal;
    IF NOT FOUND THEN
      IF NOT EXISTS (SELECT 1 FROM ledger_account
                      WHERE id = p_move_accounts[i] AND kind = 'household'
                        AND scheme_id = p_scheme) THEN
        RAISE EXCEPTION 'posting % names an account outside scheme %', pid, p_scheme
          USING ERRCODE = 'foreign_key_violation';
      END IF;
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
  IF p_audit_action IS NOT NULL THEN
    INSERT INTO audit_auditevent (actor_id, scheme_id, action, object_type, object_id,
                                  region_id, detail, created_at)
    VALUES (p_actor, p_scheme, p_audit_action,
            CASE WHEN coalesce(p_audit_type, '') = '' THEN 'Posting' ELSE p_audit_type END,
            CASE WHEN coalesce(p_audit_type, '') = '' THEN pid::text ELSE p_audit_object END,
            p_audit_region,
            coalesce(p_audit_detail, '{}'::jsonb) || jsonb_build_object('posting', pid),
            p_created);
  END IF;
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
