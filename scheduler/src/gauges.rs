//! Queue and DLQ gauges (DESIGN §8), refreshed periodically.

use router_core::db::housekeeping;
use router_core::jobs;
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
    for kind in jobs::kinds::ALL {
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
    let counts = housekeeping::ops_counts(db).await?;
    metrics::gauge!("router_dlq_size").set(counts.dlq as f64);
    metrics::gauge!("router_webhook_circuits_open").set(counts.circuits_open as f64);
    for kind in jobs::kinds::ALL {
        let n = counts.dead_jobs.iter().find(|(k, _)| k == kind).map_or(0, |(_, n)| *n);
        metrics::gauge!("router_dead_jobs", "kind" => kind).set(n as f64);
    }
    // status = 'error' is set only when Meta rejects the token (code 190): the seed's "alert admin".
    for status in ["active", "inactive", "error", "deleted"] {
        let n = counts.accounts.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
        metrics::gauge!("router_accounts", "status" => status).set(n as f64);
    }
    Ok(())
}
