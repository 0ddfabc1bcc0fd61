//! Queue and DLQ gauges (DESIGN §8), refreshed periodically.

use router_core::queue;
use sqlx::PgPool;

/// Reads the queue and sets `router_queue_depth{kind,state}`, `router_queue_oldest_job_age_seconds{kind}`
/// `router_dlq_size`, `router_webhook_circuits_open`, `router_dead_jobs{kind}` and
/// `router_accounts{status}`.
///
/// # Errors
/// Postgres errors.
pub async fn refresh(db: &PgPool) -> Result<(), sqlx::Error> {
    let mut stats = queue::stats(db).await?;
    // Known kinds appear even when empty, so dashboards show 0 rather than no data.
    for kind in [queue::kinds::SEND_MESSAGE, queue::kinds::DELIVER_WEBHOOK, queue::kinds::MAINTENANCE] {
        if !stats.iter().any(|s| s.kind == kind) {
            stats.push(queue::KindStats {
                kind: kind.to_owned(),
                depth: 0,
                runnable: 0,
                running: 0,
                oldest_runnable_secs: 0.0,
            });
        }
    }
    for s in stats {
        metrics::gauge!("router_queue_depth", "kind" => s.kind.clone(), "state" => "runnable").set(s.runnable as f64);
        metrics::gauge!("router_queue_depth", "kind" => s.kind.clone(), "state" => "running").set(s.running as f64);
        metrics::gauge!("router_queue_depth", "kind" => s.kind.clone(), "state" => "scheduled")
            .set((s.depth - s.runnable - s.running).max(0) as f64);
        metrics::gauge!("router_queue_oldest_job_age_seconds", "kind" => s.kind).set(s.oldest_runnable_secs);
    }
    // The console's overview reads the same counts (`db::console::gauge_counts`).
    let mut conn = db.acquire().await?;
    let (dlq, open, accounts) = router_core::db::console::gauge_counts(&mut conn).await?;
    drop(conn);
    metrics::gauge!("router_dlq_size").set(dlq as f64);
    metrics::gauge!("router_webhook_circuits_open").set(open as f64);
    let dead: Vec<(String, i64)> =
        sqlx::query_as("select kind, count(*) from dead_jobs group by kind").fetch_all(db).await?;
    for kind in [queue::kinds::SEND_MESSAGE, queue::kinds::DELIVER_WEBHOOK, queue::kinds::MAINTENANCE] {
        let n = dead.iter().find(|(k, _)| k == kind).map_or(0, |(_, n)| *n);
        metrics::gauge!("router_dead_jobs", "kind" => kind).set(n as f64);
    }
    // status = 'error' is set only when Meta rejects the token (code 190): the seed's "alert admin".
    for (status, n) in accounts {
        metrics::gauge!("router_accounts", "status" => status).set(n as f64);
    }
    Ok(())
}
