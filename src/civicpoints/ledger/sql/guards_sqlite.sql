-- SQLite has no deferred triggers, so the sum-to-zero check lives in post() there; UPDATE of
-- ledger rows is refused here. (DELETE stays possible so the test runner can empty tables.)
CREATE TRIGGER ledger_posting_append_only BEFORE UPDATE ON ledger_posting
BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on ledger_posting refused'); END;
CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE ON ledger_entry
BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on ledger_entry refused'); END;
CREATE TRIGGER ledger_chainlink_append_only BEFORE UPDATE ON ledger_chainlink
BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE on ledger_chainlink refused'); END;
