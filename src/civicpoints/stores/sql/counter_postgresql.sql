-- The keyed counter redemption in two round trips (stores/services/counter_keyed.py).
-- Both are PL/pgSQL so their statements are planned once per connection. An offline sale's
-- sync (docs/offline-counter.md) takes the same two calls, with its device and its period.

-- The signatures before the offline counter (stores 0010 re-creates both functions).
DROP FUNCTION IF EXISTS stores_counter_context(bigint, bigint, bigint, bigint[], text, text, date,
  boolean);
DROP FUNCTION IF EXISTS stores_counter_redeem(text, text, text, text, jsonb, timestamptz, bigint,
  bigint, bigint, bigint, bigint, bigint, bigint, text, text, text, bigint[], integer[], bigint[],
  bigint, bigint, text, text, bigint, text, text, bigint, jsonb, boolean);

-- stores_counter_context(): everything the checks need, in one read. One row when the store
-- exists (none otherwise): the store, its scheme's rate, whether the user is one of its clerks,
-- the townships it serves, its points account; the household with its PIN state, village,
-- account and any disqualification on the day; the requested products on sale (id order);
-- the key's stored response, if any; and ids for the redemption (and its delivery) to come.
-- With a device (an offline sale's sync): the device, the sale already recorded under its key,
-- whether its sequence number names another sale, and the scheme's offline allowance (the
-- write counts the household's offline spending against it under the account's lock).
CREATE OR REPLACE FUNCTION stores_counter_context(
  p_store bigint, p_user bigint, p_household bigint, p_products bigint[],
  p_scope text, p_key text, p_day date, p_delivery boolean,
  p_device bigint, p_seq bigint, p_sale_key text
) RETURNS TABLE (
  scheme_id bigint, store_name text, store_active boolean, window_kind text,
  window_weekdays text, window_dates text, region_path text, yuan_per_point numeric,
  is_clerk boolean, served_paths text[], store_account bigint,
  household_scheme bigint, head_name text, household_status text, phone text,
  pin_hash text, pin_failures integer, pin_locked_until timestamptz,
  village_id bigint, village_path text, household_account bigint, banned_until date,
  product_ids bigint[], product_names text[], product_units text[], product_prices bigint[],
  product_limits bigint[],
  record_state text, record_hash text, record_status integer, record_body text,
  redemption_id bigint, delivery_id bigint,
  device_store bigint, device_status text, device_secret text, device_enrolled timestamptz,
  offline_status text, seq_taken boolean, offline_allowance bigint, offline_period_days integer
) LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY
  SELECT s.scheme_id, s.name::text, s.active, s.window_kind::text, s.window_weekdays::text,
         s.window_dates::text, r.path::text, sc.yuan_per_point,
         EXISTS (SELECT 1 FROM stores_store_clerks c WHERE c.store_id = s.id AND c.user_id = p_user),
         ARRAY(SELECT t.path::text FROM stores_store_served_townships st
                 JOIN schemes_region t ON t.id = st.region_id
                WHERE st.store_id = s.id ORDER BY t.path),
         (SELECT a.id FROM ledger_account a
           WHERE a.scheme_id = s.scheme_id AND a.kind = 'store' AND a.owner_ref = 'store:' || s.id),
         h.scheme_id, h.head_name::text, h.status::text, h.phone::text, h.pin_hash::text,
         h.pin_failures::integer, h.pin_locked_until, h.village_id, v.path::text, ha.id,
         (SELECT max(d.ends_on) FROM households_disqualification d
           WHERE d.household_id = h.id AND d.lifted_at IS NULL
             AND d.starts_on <= p_day AND d.ends_on >= p_day),
         p.ids, p.names, p.units, p.prices, p.limits,
         i.state::text, i.request_hash::text, i.response_status::integer, i.response_body::text,
         CASE WHEN i.id IS NULL THEN nextval('stores_redemption_id_seq'::regclass) END,
         CASE WHEN i.id IS NULL AND p_delivery THEN nextval('stores_delivery_id_seq'::regclass) END,
         dv.store_id, dv.status::text, dv.secret_hash::text, dv.enrolled_at,
         (SELECT o.status::text FROM stores_offlinesale o
           WHERE p_device IS NOT NULL AND o.key = p_sale_key AND o.scheme_id = s.scheme_id),
         p_device IS NOT NULL AND EXISTS (
           SELECT 1 FROM stores_offlinesale o
            WHERE o.device_id = p_device AND o.seq = p_seq AND o.key <> p_sale_key),
         sc.offline_allowance, sc.offline_period_days::integer
    FROM stores_store s
    JOIN schemes_region r ON r.id = s.region_id
    JOIN schemes_scheme sc ON sc.id = s.scheme_id
    LEFT JOIN households_household h ON h.id = p_household
    LEFT JOIN schemes_region v ON v.id = h.village_id
    LEFT JOIN ledger_account ha ON ha.household_id = h.id
    LEFT JOIN ledger_idempotencyrecord i ON i.scope = p_scope AND i.key = p_key
    LEFT JOIN stores_counterdevice dv ON dv.id = p_device
   CROSS JOIN LATERAL (
         SELECT array_agg(pr.id ORDER BY pr.id) AS ids,
                array_agg(pr.name::text ORDER BY pr.id) AS names,
                array_agg(pr.unit::text ORDER BY pr.id) AS units,
                array_agg(pr.price ORDER BY pr.id) AS prices,
                array_agg(pr.limit_quantity::bigint ORDER BY pr.id) AS limits
           FROM stores_product pr
          WHERE pr.store_id = s.id AND pr.id = ANY(p_products) AND pr.active) p
   WHERE s.id = p_store;
END $$;

-- stores_counter_redeem(): the whole write, one statement and so one transaction. A twin of
-- this request (same key) waits on the key's transaction-scoped advisory lock, then finds the
-- key answered and gets NULL, having written nothing. Then: stock out by guarded decrements
-- in product-id order (none below zero: SQLSTATE 'CP002' with the product id); the posting
-- household -> store through the ledger's own ledger_post() (a balance that cannot cover it:
-- 'CP001'); the redemption row, its lines, stock moves, delivery and audit row; earlier wrong
-- PINs cleared; last, the key's record with the response, whose "balance_after" is the
-- household's balance right after the posting (in points), which the function returns. A
-- record that appeared meanwhile without the lock (the general way's in-flight marker)
-- undoes it all: 'CP003'. An offline sale (p_offline: its device, sequence number, time,
-- clerk, items, the allowance and its period) is counted against the allowance under the
-- household account's lock, after the stock (the online order of locks: stock, then account;
-- over it: 'CP004' with what was used), and its stores_offlinesale row is written with it.
CREATE OR REPLACE FUNCTION stores_counter_redeem(
  p_scope text, p_key text, p_hash text, p_owner text, p_body jsonb, p_now timestamptz,
  p_scheme bigint, p_store bigint, p_household bigint, p_actor bigint, p_redemption bigint,
  p_points bigint, p_cash bigint, p_mode text, p_reason text, p_redemption_key text,
  p_products bigint[], p_quantities integer[], p_prices bigint[],
  p_household_account bigint, p_store_account bigint, p_memo text, p_posting_hash text,
  p_delivery bigint, p_address text, p_phone text,
  p_audit_region bigint, p_audit_detail jsonb, p_pin_reset boolean,
  p_source text, p_offline jsonb
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  pid bigint;
  newbal bigint;
  used bigint;
  i integer;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(p_scope || chr(31) || p_key, 0));
  IF EXISTS (SELECT 1 FROM ledger_idempotencyrecord WHERE scope = p_scope AND key = p_key) THEN
    RETURN NULL;
  END IF;
  FOR i IN 1 .. array_length(p_products, 1) LOOP
    UPDATE stores_product SET stock = stock - p_quantities[i]
     WHERE id = p_products[i] AND stock >= p_quantities[i];
    IF NOT FOUND THEN
      RAISE EXCEPTION '%', p_products[i] USING ERRCODE = 'CP002';
    END IF;
  END LOOP;
  IF p_offline IS NOT NULL THEN
    PERFORM 1 FROM ledger_account WHERE id = p_household_account FOR UPDATE;
    SELECT coalesce(sum(o.points), 0) INTO used FROM stores_offlinesale o
     WHERE o.household_id = p_household
       AND o.offline_at >= (p_offline->>'period_start')::timestamptz
       AND o.offline_at < (p_offline->>'period_end')::timestamptz;
    IF used + p_points > (p_offline->>'allowance')::bigint THEN
      RAISE EXCEPTION '%', used USING ERRCODE = 'CP004';
    END IF;
  END IF;
  pid := ledger_post(
    p_scheme, 'redemption', 'redeem:' || p_redemption, p_posting_hash, p_actor, p_now, p_memo,
    NULL, 'redemption', p_redemption::text,
    ARRAY[p_household_account, p_store_account], ARRAY[-p_points, p_points],
    ARRAY[NULL, NULL]::bigint[],
    ARRAY[p_household_account], ARRAY[-p_points], ARRAY[0]::bigint[]);
  IF pid IS NULL THEN
    RAISE EXCEPTION 'redemption % was posted before', p_redemption USING ERRCODE = 'unique_violation';
  END IF;
  INSERT INTO stores_redemption (id, scheme_id, store_id, household_id, posting_id, points,
                                 cash_fen, mode, assisted_reason, source, idempotency_key,
                                 actor_id, created_at, return_reason)
  VALUES (p_redemption, p_scheme, p_store, p_household, pid, p_points, p_cash, p_mode, p_reason,
          p_source, p_redemption_key, p_actor, p_now, '');
  IF p_offline IS NOT NULL THEN
    INSERT INTO stores_offlinesale (scheme_id, device_id, seq, key, store_id, household_id,
                                    recorded_by_id, offline_at, points, cash_fen, items, status,
                                    redemption_id, reason_code, reason, synced_at, synced_by_id,
                                    resolution, resolution_cash_fen, resolution_note)
    VALUES (p_scheme, (p_offline->>'device')::bigint, (p_offline->>'seq')::bigint,
            p_redemption_key, p_store, p_household, (p_offline->>'recorded_by')::bigint,
            (p_offline->>'offline_at')::timestamptz, p_points, p_cash, p_offline->'items',
            'synced', p_redemption, '', '', p_now, p_actor, '', 0, '');
  END IF;
  INSERT INTO stores_redemptionline (scheme_id, redemption_id, product_id, quantity, unit_price)
  SELECT p_scheme, p_redemption, x.product, x.quantity, x.price
    FROM unnest(p_products, p_quantities, p_prices) AS x(product, quantity, price);
  INSERT INTO stores_stockmove (scheme_id, store_id, product_id, kind, quantity, donor, reason,
                                redemption_id, actor_id, created_at)
  SELECT p_scheme, p_store, x.product, 'redemption', -x.quantity, '', '', p_redemption,
         p_actor, p_now
    FROM unnest(p_products, p_quantities) AS x(product, quantity);
  IF p_delivery IS NOT NULL THEN
    INSERT INTO stores_delivery (id, scheme_id, store_id, redemption_id, address, phone, status,
                                 courier, proof_path, proof_type, failure_reason, created_at)
    VALUES (p_delivery, p_scheme, p_store, p_redemption, p_address, p_phone, 'pending',
            '', '', '', '', p_now);
  END IF;
  INSERT INTO audit_auditevent (actor_id, scheme_id, action, object_type, object_id, region_id,
                                detail, created_at)
  VALUES (p_actor, p_scheme, 'store.redeem', 'Redemption', p_redemption::text, p_audit_region,
          p_audit_detail, p_now);
  IF p_pin_reset THEN
    UPDATE households_household SET pin_failures = 0, pin_locked_until = NULL
     WHERE id = p_household AND (pin_failures <> 0 OR pin_locked_until IS NOT NULL);
  END IF;
  SELECT e.balance_after INTO newbal
    FROM ledger_entry e WHERE e.posting_id = pid AND e.account_id = p_household_account;
  INSERT INTO ledger_idempotencyrecord (scope, key, request_hash, state, owner, lease_until,
                                        response_status, response_body, created_at)
  VALUES (p_scope, p_key, p_hash, 'succeeded', p_owner, p_now, 201,
          jsonb_set(p_body, '{balance_after}', to_jsonb(round(newbal::numeric / 100, 2))), p_now)
  ON CONFLICT (scope, key) DO NOTHING;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'key % was taken meanwhile', p_key USING ERRCODE = 'CP003';
  END IF;
  RETURN newbal;
END $$;
