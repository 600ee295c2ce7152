DROP TRIGGER IF EXISTS ledger_entry_new_postings_only ON ledger_entry;
DROP FUNCTION IF EXISTS ledger_entries_of_new_postings();

CREATE OR REPLACE FUNCTION ledger_posting_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_check_balanced(NEW.id);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_check_balanced(NEW.posting_id);
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_entry_sums_to_zero AFTER INSERT ON ledger_entry
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced();

-- ledger_check_balanced() as migration 0004 left it (remembers the last posting checked).
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
