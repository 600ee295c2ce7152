-- Database guards for the ledger on PostgreSQL (kept beside the migration that installs them).
-- 1. Postings, entries and chain links are append-only: UPDATE and DELETE are refused.
-- 2. Every posting sums to zero with at least two entries, checked at COMMIT (deferred), so
--    a posting and its entries can be inserted in any order inside one transaction.

CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER ledger_posting_append_only BEFORE UPDATE OR DELETE ON ledger_posting
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_entry
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_chainlink_append_only BEFORE UPDATE OR DELETE ON ledger_chainlink
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

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

CREATE OR REPLACE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_check_balanced(NEW.posting_id);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ledger_posting_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_check_balanced(NEW.id);
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_entry_sums_to_zero AFTER INSERT ON ledger_entry
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced();
CREATE CONSTRAINT TRIGGER ledger_posting_sums_to_zero AFTER INSERT ON ledger_posting
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_posting_balanced();

-- 3. Accounts are never deleted (entries refer to them without a database FK).
CREATE TRIGGER ledger_account_never_deleted BEFORE DELETE ON ledger_account
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
