-- awards_claims_posted(): the end of a finalize batch on PostgreSQL (awards/services/notices.py).
-- Marks the batch's claims posted with their postings and writes one "post" event each, in two
-- statements whatever the batch's size. The claims are found by primary key; sequential scans
-- are off inside the function because without statistics (autovacuum off, a table never
-- analysed) the planner underestimates the table and costs a scan of all of it below 500
-- index probes, batch after batch.
CREATE OR REPLACE FUNCTION awards_claims_posted(
  p_ids bigint[], p_postings bigint[], p_at timestamptz, p_award_reason text,
  p_deduction_reason text
) RETURNS integer LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
  marked integer;
BEGIN
  WITH v AS (
    SELECT * FROM unnest(p_ids, p_postings) WITH ORDINALITY AS v(id, posting, n)
  ), moved AS (
    UPDATE awards_claim AS c SET status = 'posted', posting_id = v.posting, updated_at = p_at
      FROM v
     WHERE c.id = ANY (p_ids) AND c.id = v.id
    RETURNING c.id, c.scheme_id, c.is_deduction
  ), events AS (
    INSERT INTO awards_claimevent (scheme_id, claim_id, actor_id, actor_household_id, action,
                                   from_status, to_status, reason, created_at)
    SELECT scheme_id, id, NULL, NULL, 'post', 'on_notice', 'posted',
           CASE WHEN is_deduction THEN p_deduction_reason ELSE p_award_reason END, p_at
      FROM moved ORDER BY id
    RETURNING 1
  )
  SELECT count(*) INTO marked FROM events;
  IF marked <> coalesce(array_length(p_ids, 1), 0) THEN
    RAISE EXCEPTION 'awards_claims_posted: % of % claims found', marked,
      coalesce(array_length(p_ids, 1), 0) USING ERRCODE = 'no_data_found';
  END IF;
  RETURN marked;
END $$;
