//! `GET /admin`: what needs attention now, from the same statements as the `/metrics` gauges
//! (`db::console::overview`; the scheduler's gauge refresh reads `db::console::gauge_counts`,
//! through `db::housekeeping::ops_counts`, and `queue::stats` too). Under a merchant key every
//! number is that merchant's (row-level security); a key limited to some accounts or to the
//! sandbox sees the per-account pages only.

use axum::extract::State;
use axum::response::Response;
use maud::html;
use router_core::db::console;
use router_core::domain::Scope;

use super::error::ConsoleError;
use super::session::Session;
use super::view::{Nav, page};
use crate::state::AppState;

/// `GET /admin`.
pub async fn show(State(s): State<AppState>, session: Session) -> Result<Response, ConsoleError> {
    let (s, session) = (&s, &session);
    if !session.auth.is_platform_admin() && !session.auth.scopes.contains(&Scope::AccountsRead) {
        // Still a page (with the navigation and "Sign out"), not a bare 403: the key is valid,
        // it just may not read these numbers.
        return Ok(page(
            session,
            "Overview",
            Nav::Overview,
            html! {
                p { "This key has no " code { "accounts:read" } " scope, so the overview, accounts and deliveries are not shown. Its scopes: "
                    code { (session.auth.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")) } "." }
            },
        ));
    }
    let scoped = session.auth.account_ids.is_some()
        || (!session.auth.is_platform_admin() && session.auth.environment == router_core::crypto::KeyEnvironment::Test);
    if scoped {
        return Ok(page(
            session,
            "Overview",
            Nav::Overview,
            html! {
                p { "This key is limited to some accounts (an allow-list, or sandbox accounts only), so merchant-wide totals are not shown. "
                    "See " a href="/admin/accounts" { "Accounts" } ", " a href="/admin/conversations" { "Conversations" } " and "
                    a href="/admin/deliveries" { "Deliveries" } "." }
            },
        ));
    }
    let mut tx = super::read_tx(s, session, Scope::AccountsRead).await?;
    let o = console::overview(&mut tx).await?;
    tx.commit().await?;
    let depth: i64 = o.queue.iter().map(|k| k.depth).sum();
    let oldest = o.queue.iter().map(|k| k.oldest_runnable_secs).fold(0.0_f64, f64::max);
    let in_error = o.accounts.iter().find(|(st, _)| st == "error").map_or(0, |(_, n)| *n);
    let cards: [(&str, String, bool, Option<&str>); 8] = [
        ("jobs in the queue", depth.to_string(), false, None),
        ("oldest runnable job", format!("{oldest:.0} s"), oldest > 60.0, None),
        ("sends / s (5 min)", format!("{:.2}", o.sends_per_sec), false, None),
        ("deliveries / s (5 min)", format!("{:.2}", o.deliveries_per_sec), false, None),
        (
            "dead letters",
            o.dlq_size.to_string(),
            o.dlq_size > 0,
            session.auth.is_platform_admin().then_some("/admin/dead-letters"),
        ),
        ("accounts in error", in_error.to_string(), in_error > 0, Some("/admin/accounts?status=error")),
        ("circuits open", o.circuits_open.to_string(), o.circuits_open > 0, Some("/admin/accounts")),
        ("tokens expiring ≤ 10 days", o.tokens_expiring.to_string(), o.tokens_expiring > 0, Some("/admin/accounts")),
    ];
    Ok(page(
        session,
        "Overview",
        Nav::Overview,
        html! {
            div.cards {
                @for (label, value, bad, link) in cards {
                    div class=(if bad { "card bad" } else { "card" }) {
                        span.n { (value) }
                        @if let Some(href) = link { a.l href=(href) { (label) } } @else { span.l { (label) } }
                    }
                }
            }
            h2 { "Queue by kind" }
            div.table-wrap { table {
                thead { tr { th { "kind" } th.num { "depth" } th.num { "runnable" } th.num { "running" } th.num { "oldest runnable" } } }
                tbody {
                    @if o.queue.is_empty() { tr { td.muted colspan="5" { "The queue is empty." } } }
                    @for k in &o.queue {
                        tr { td.mono { (k.kind) } td.num { (k.depth) } td.num { (k.runnable) } td.num { (k.running) }
                             td.num { (format!("{:.0} s", k.oldest_runnable_secs)) } }
                    }
                }
            } }
            h2 { "Accounts by status" }
            div.table-wrap { table {
                thead { tr { th { "status" } th.num { "accounts" } } }
                tbody { @for (st, n) in &o.accounts { tr { td { a href=(format!("/admin/accounts?status={st}")) { (super::view::badge(st)) } } td.num { (n) } } } }
            } }
            p.muted { "Same numbers as the Prometheus gauges router_queue_depth, router_queue_oldest_job_age_seconds, router_dlq_size, "
                "router_webhook_circuits_open and router_accounts (read now, not at the last scrape)." }
        },
    ))
}
