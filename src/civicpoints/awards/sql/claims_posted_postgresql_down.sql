DROP FUNCTION IF EXISTS awards_claims_posted(bigint[], bigint[], timestamptz, text, text);
