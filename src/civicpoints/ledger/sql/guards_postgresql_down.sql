DROP TRIGGER IF EXISTS ledger_posting_sums_to_zero ON ledger_posting;
DROP TRIGGER IF EXISTS ledger_entry_sums_to_zero ON ledger_entry;
DROP TRIGGER IF EXISTS ledger_chainlink_append_only ON ledger_chainlink;
DROP TRIGGER IF EXISTS ledger_entry_append_only ON ledger_entry;
DROP TRIGGER IF EXISTS ledger_posting_append_only ON ledger_posting;
DROP FUNCTION IF EXISTS ledger_posting_balanced();
DROP FUNCTION IF EXISTS ledger_entry_balanced();
DROP FUNCTION IF EXISTS ledger_check_balanced(bigint);
DROP FUNCTION IF EXISTS ledger_refuse_change();
