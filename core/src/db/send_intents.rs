//! `send_intents`: the Graph call a message has in flight, or is holding after an ambiguous answer
//! (one row per message at most). The protocol around these statements is in
//! [`crate::reconcile`].

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// A recorded intent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IntentRow {
    pub message_id: Uuid,
    pub part: i32,
    pub started_at: OffsetDateTime,
    pub hold_until: Option<OffsetDateTime>,
    pub reason: Option<String>,
}

/// What is about to be sent: the part's index and what its echo will carry.
#[derive(Debug, Clone, Copy)]
pub struct NewIntent<'a> {
    pub message_id: Uuid,
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    pub recipient_id: &'a str,
    pub part: i32,
    /// `text` or an attachment type.
    pub match_kind: &'a str,
    /// The part's text when `match_kind` is `text`.
    pub match_text: Option<&'a str>,
}

/// The claim a worker holds on the message's job while it records an intent.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    pub job_id: i64,
    pub lock_token: Uuid,
    /// How long the lease must still run: the call's timeout and a margin. No other worker can
    /// claim the job (and make the same call) before the call has ended either way.
    pub must_cover: std::time::Duration,
}

/// Records (or moves to the next part) the call about to be made, only while `lease` is this
/// worker's and still runs for `lease.must_cover`. Committed on its own before the call, so a
/// crash during it leaves the row behind. False (nothing written) when the lease is lost or about
/// to end: the caller must not make the call (renew, or leave it to the new owner).
///
/// # Errors
/// Postgres errors.
pub async fn upsert(conn: &mut PgConnection, i: &NewIntent<'_>, lease: Lease) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        r"insert into send_intents (message_id, merchant_id, account_id, recipient_id, part, match_kind, match_text)
          select $1, $2, $3, $4, $5, $6, $7
           where exists (select 1 from jobs
                          where job_id = $8 and lock_token = $9 and state = 'running'
                            and locked_until > now() + make_interval(secs => $10))
          on conflict on constraint send_intents_pkey do update
             set part = excluded.part, match_kind = excluded.match_kind, match_text = excluded.match_text,
                 started_at = now(), hold_until = null, reason = null",
    )
    .bind(i.message_id)
    .bind(i.merchant_id)
    .bind(i.account_id)
    .bind(i.recipient_id)
    .bind(i.part)
    .bind(i.match_kind)
    .bind(i.match_text)
    .bind(lease.job_id)
    .bind(lease.lock_token)
    .bind(lease.must_cover.as_secs_f64())
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The message's intent, if any.
///
/// # Errors
/// Postgres errors.
pub async fn find(conn: &mut PgConnection, message_id: Uuid) -> Result<Option<IntentRow>, sqlx::Error> {
    sqlx::query_as("select message_id, part, started_at, hold_until, reason from send_intents where message_id = $1")
        .bind(message_id)
        .fetch_optional(&mut *conn)
        .await
}

/// The call's answer was ambiguous: hold the part until `hold_until`. `false` when the intent is
/// gone (an echo was adopted meanwhile).
///
/// # Errors
/// Postgres errors.
pub async fn hold(
    conn: &mut PgConnection,
    message_id: Uuid,
    part: i32,
    hold_until: OffsetDateTime,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("update send_intents set hold_until = $3, reason = $4 where message_id = $1 and part = $2")
        .bind(message_id)
        .bind(part)
        .bind(hold_until)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Removes the message's intent (a definite answer). Returns whether a row was removed.
///
/// # Errors
/// Postgres errors.
pub async fn delete(conn: &mut PgConnection, message_id: Uuid) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("delete from send_intents where message_id = $1").bind(message_id).execute(&mut *conn).await?;
    Ok(r.rows_affected() == 1)
}

/// Removes exactly this intent (same part, same call start): the window ended without an echo.
/// `false` when an echo adopted it first, or another run moved it on: then there is nothing to
/// resend.
///
/// # Errors
/// Postgres errors.
pub async fn expire(
    conn: &mut PgConnection,
    message_id: Uuid,
    part: i32,
    started_at: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("delete from send_intents where message_id = $1 and part = $2 and started_at = $3")
        .bind(message_id)
        .bind(part)
        .bind(started_at)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The echo adoption, in the ingest transaction (RLS: the merchant's context is set): takes the
/// oldest intent of the conversation whose part the echo matches, started before the echo was
/// stored, deletes it, records the echo's mid as that part's (only while the message is pending
/// and the part is still the next unrecorded one), and wakes the message's job. Returns the
/// message adopted into, if any.
///
/// # Errors
/// Postgres errors.
pub async fn adopt_echo(
    conn: &mut PgConnection,
    account_id: Uuid,
    recipient_id: &str,
    match_kind: &str,
    match_text: Option<&str>,
    mid: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    // `for update` waits (no `skip locked`): a worker completing the same message holds the row
    // in its final transaction. If it commits, the intent is gone and this echo is its echo
    // (matched by mid, or forwarded as the documented echo race); if it dies before committing
    // (`kill -9` mid-completion), its transaction rolls back and the echo adopts the intent here.
    // Skipping the locked row lost that echo, and the part was sent again after the window (9
    // duplicates in one `router-proof` worker-kill run). Both sides take the intent before the
    // message (`reconcile::settle_answered`), so the wait cannot close a cycle between them.
    let adopted: Option<Uuid> = sqlx::query_scalar(
        r"with i as (
              delete from send_intents
               where message_id = (
                     select message_id from send_intents
                      where account_id = $1 and recipient_id = $2 and match_kind = $3
                        and match_text is not distinct from $4 and started_at <= now()
                      order by started_at
                      limit 1
                        for update)
              returning message_id, part
          )
          update outbound_messages m
             set instagram_message_ids = array_append(m.instagram_message_ids, $5),
                 instagram_message_id = coalesce(m.instagram_message_id, $5)
            from i
           where m.message_id = i.message_id and m.status = 'pending'
             and cardinality(m.instagram_message_ids) = i.part
             and not (m.instagram_message_ids @> array[$5])
          returning m.message_id",
    )
    .bind(account_id)
    .bind(recipient_id)
    .bind(match_kind)
    .bind(match_text)
    .bind(mid)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(message_id) = adopted {
        // Wake the held job now rather than at the end of the window (it re-reads the message,
        // finds the part recorded and completes, or sends the next part), and tell the workers:
        // a job made due by an update is announced by nothing else (workers would find it only
        // at their next poll).
        sqlx::query(
            r"with woken as (
                  update jobs set run_at = now(), updated_at = now()
                   where ordering_key = 'send:' || $1::text || ':' || $2 and kind = 'message.send'
                     and state = 'available' and payload ->> 'message_id' = $3::text
                  returning 1
              )
              select pg_notify($4, '') from woken limit 1",
        )
        .bind(account_id)
        .bind(recipient_id)
        .bind(message_id)
        .bind(crate::queue::CHANNEL)
        .execute(&mut *conn)
        .await?;
    }
    Ok(adopted)
}
