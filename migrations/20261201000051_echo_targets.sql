-- Echo matching at scale (issue 17, growth curve). An echo whose mid is not a message's last
-- part is found through the GIN index of `instagram_message_ids` (`@>`). Under row-level
-- security that index cannot be used: `@>` (arraycontains) is not leakproof, so Postgres must
-- apply the tenant policy first and reads the whole table instead — measured at 1 M messages
-- with auto_explain: a sequential scan of outbound_messages, 3.6–78 s per ingest batch.
--
-- This function runs the same lookup as the table owner, where the index is usable, and applies
-- the tenant rule itself: only rows of the merchant named by `app.merchant_id` (the caller's
-- transaction context, set before every ingest statement) and of the given accounts. The GIN
-- probe stays behind `offset 0` so the planner cannot AND it with a scan of every message of the
-- account. search_path is pinned with pg_temp last so a caller cannot shadow the table.
create function echo_targets(p_accounts uuid[], p_mids text[])
returns table (account_id uuid, mid text, message_id uuid)
language sql stable security definer set search_path = public, pg_temp as $$
    select u.a, u.m, coalesce(b.message_id, g.message_id)
      from unnest(p_accounts, p_mids) as u (a, m)
      left join outbound_messages b
             on b.account_id = u.a and b.instagram_message_id = u.m
            and b.merchant_id = nullif(current_setting('app.merchant_id', true), '')::uuid
      left join lateral (
           select o.message_id, o.account_id, o.merchant_id from outbound_messages o
            where b.message_id is null and o.instagram_message_ids @> array[u.m] offset 0
      ) g on g.account_id = u.a and g.merchant_id = nullif(current_setting('app.merchant_id', true), '')::uuid
     where coalesce(b.message_id, g.message_id) is not null
$$;

revoke all on function echo_targets(uuid[], text[]) from public;
grant execute on function echo_targets(uuid[], text[]) to router_app;
