DROP TRIGGER IF EXISTS ledger_posting_append_only;
DROP TRIGGER IF EXISTS ledger_entry_append_only;
DROP TRIGGER IF EXISTS ledger_chainlink_append_only;
