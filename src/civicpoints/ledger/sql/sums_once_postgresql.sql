-- Each posting's sum is checked once, at COMMIT (migration 0008).
--
-- Before: a deferred row trigger on ledger_posting AND one on ledger_entry each queued a check,
-- three sums for a two-leg posting (a transaction-local "last posting checked" saved the work
-- only when a posting's checks ran back to back, which in a batch they never do). Now:
-- 1. ledger_posting_sums_to_zero (deferred, per posting row) is the only sum check: at COMMIT
--    every entry of the transaction is in place, so one check per new posting covers them all.
-- 2. ledger_entry_new_postings_only (per INSERT statement, at once) refuses entries for a
--    posting that an earlier transaction wrote: such a posting's check ran when it committed,
--    so an entry added to it later would never be summed. A posting not written yet (entries
--    first, posting later in the same transaction) passes: the deferred foreign key makes it
--    arrive before COMMIT, and its own check sums these entries too.
-- "Written by this transaction": the row's xmin is our transaction or one of its
-- subtransactions (post() runs in a savepoint inside a caller's transaction), i.e.
-- pg_xact_status() says "in progress" for a row we can see. The xid8 of xmin is rebuilt from
-- our own xid8 (same epoch within 2^31 transactions either way).

DROP TRIGGER IF EXISTS ledger_entry_sums_to_zero ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_entry_balanced();

CREATE OR REPLACE FUNCTION ledger_check_balanced(pid bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  total numeric;
  legs integer;
BEGIN
  SELECT COALESCE(SUM(amount), 0), COUNT(*) INTO total, legs
    FROM ledger_entry WHERE posting_id = pid;
  IF total <> 0 OR legs < 2 THEN
    RAISE EXCEPTION 'posting % is unbalanced: % over % entries', pid, total, legs
      USING ERRCODE = 'check_violation';
  END IF;
END $$;

-- The same check written out (one function call less per posting than PERFORM of the above).
CREATE OR REPLACE FUNCTION ledger_posting_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  total numeric;
  legs integer;
BEGIN
  SELECT COALESCE(SUM(amount), 0), COUNT(*) INTO total, legs
    FROM ledger_entry WHERE posting_id = NEW.id;
  IF total <> 0 OR legs < 2 THEN
    RAISE EXCEPTION 'posting % is unbalanced: % over % entries', NEW.id, total, legs
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;

-- One primary-key probe per distinct posting of the statement's entries (LATERAL with LIMIT 1:
-- an index lookup whatever the planner thinks of the table); the xid comparison answers for
-- rows of the top transaction, pg_xact_status() only for rows written in a subtransaction.
CREATE OR REPLACE FUNCTION ledger_entries_of_new_postings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  me bigint := pg_current_xact_id()::text::bigint;
  mine xid := pg_current_xact_id()::xid;
  earlier bigint;
BEGIN
  SELECT e.posting_id INTO earlier
    FROM (SELECT DISTINCT n.posting_id FROM ledger_new_entries AS n) AS e
   CROSS JOIN LATERAL (SELECT p.xmin FROM ledger_posting AS p
                        WHERE p.id = e.posting_id LIMIT 1) AS p
   WHERE CASE WHEN p.xmin = mine THEN false
              ELSE pg_xact_status((me + (p.xmin::text::bigint - me % 4294967296 + 6442450944)
                                        % 4294967296 - 2147483648)::text::xid8)
                   IS DISTINCT FROM 'in progress' END
   LIMIT 1;
  IF earlier IS NOT NULL THEN
    RAISE EXCEPTION 'posting % was written by an earlier transaction: no entries can be added to it',
      earlier USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER ledger_entry_new_postings_only AFTER INSERT ON ledger_entry
  REFERENCING NEW TABLE AS ledger_new_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_of_new_postings();
