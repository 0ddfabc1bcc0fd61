//! CRM deliveries: filter by status, event type, account, time; each delivery with its body and
//! full attempt log (the headers sent, with signature values withheld; the CRM's status; the
//! kept 4 KiB of its answer; timing). Needs `accounts:read`, as `GET /api/v1/webhook-deliveries`.

use axum::extract::State;
use axum::response::Response;
use maud::html;
use router_core::db::{console, deliveries};
use router_core::domain::{DeliveryStatus, Scope, events};
use router_core::webhooks;

use super::error::ConsoleError;
use super::forms::{PathId, Query};
use super::session::Session;
use super::view::{self, Nav, badge, page, when_opt};
use crate::pagination::next_page;
use crate::state::AppState;

const PAGE_SIZE: i64 = 50;
/// Statuses a delivery can have.
pub const STATUSES: [&str; 3] = ["pending", "delivered", "dlq"];

/// Every event type a delivery can carry (the business events and the console's test event).
#[must_use]
pub fn event_types() -> Vec<&'static str> {
    let mut v = events::ALL.to_vec();
    v.push(webhooks::ENDPOINT_TEST);
    v
}

/// `GET /admin/deliveries`: filters `status`, `event_type`, `account_id`, `since`, `until`,
/// `merchant_id` (platform admins).
pub async fn list(State(s): State<AppState>, session: Session, Query(q): Query) -> Result<Response, ConsoleError> {
    let admin = session.auth.is_platform_admin();
    let types = event_types();
    let filter = deliveries::DeliveryFilter {
        merchant_id: if admin { q.uuid("merchant_id")? } else { None },
        account_id: q.uuid("account_id")?,
        status: q.one_of("status", &STATUSES)?,
        event_type: q.one_of("event_type", &types)?,
        reason: None,
        since: q.time("since")?,
        until: q.time("until")?,
    };
    let before = q.cursor()?;
    let mut tx = super::read_tx(&s, &session, Scope::AccountsRead).await?;
    let scope = session.auth.account_scope();
    let accounts = console::list_accounts(&mut tx, scope, &console::AccountFilter::default(), None, 200).await?;
    let mut rows = deliveries::list(&mut tx, scope, &filter, before, PAGE_SIZE + 1).await?;
    tx.commit().await?;
    let next = next_page(&mut rows, PAGE_SIZE, |r| Some((r.created_at, r.delivery_id)));
    let username = |id: uuid::Uuid| accounts.iter().find(|a| a.account_id == id).map(|a| a.username.clone());
    Ok(page(
        &session,
        "Deliveries",
        Nav::Deliveries,
        html! {
            form.filters method="get" action="/admin/deliveries" {
                label { "Status" select name="status" {
                    option value="" { "any" }
                    @for st in STATUSES { option value=(st) selected[filter.status.as_deref() == Some(st)] { (st) } }
                } }
                label { "Event" select name="event_type" {
                    option value="" { "any" }
                    @for t in &types { option value=(t) selected[filter.event_type.as_deref() == Some(*t)] { (t) } }
                } }
                label { "Account" select name="account_id" {
                    option value="" { "all accounts" }
                    @for a in &accounts { option value=(a.account_id) selected[filter.account_id == Some(a.account_id)] { "@" (a.username) } }
                } }
                label { "Created from (UTC)" input type="datetime-local" name="since" value=(view::input_time(filter.since)); }
                label { "until (UTC)" input type="datetime-local" name="until" value=(view::input_time(filter.until)); }
                @if let Some(m) = filter.merchant_id { input type="hidden" name="merchant_id" value=(m); }
                button type="submit" { "Filter" }
            }
            div.table-wrap { table {
                thead { tr { th { "delivery" } th { "event" } th { "account" } th { "status" } th.num { "attempts" } th.hide-narrow { "last error" } th { "created" } } }
                tbody {
                    @if rows.is_empty() { tr { td.muted colspan="7" { "No deliveries match." } } }
                    @for d in &rows {
                        tr {
                            td { a.mono href=(format!("/admin/deliveries/{}", d.delivery_id)) title=(d.delivery_id) { (view::short(d.delivery_id)) } }
                            td.mono { (d.event_type) }
                            td { @match username(d.account_id) { Some(u) => { "@" (u) }, None => { span.mono { (view::short(d.account_id)) } } } }
                            td { (badge(d.status.as_str())) @if let Some(r) = &d.dlq_reason { br; span.muted { (r) } } }
                            td.num { (d.attempts) }
                            td.hide-narrow { (d.last_error.as_deref().unwrap_or("")) }
                            td { (view::relative(d.created_at)) }
                        }
                    }
                }
            } }
            (view::pager("/admin/deliveries", &q.query_without(&[]), next))
        },
    ))
}

/// `GET /admin/deliveries/{id}`: the delivery, its body and its attempt log.
pub async fn show(
    State(s): State<AppState>,
    session: Session,
    PathId(delivery_id): PathId,
) -> Result<Response, ConsoleError> {
    let mut tx = super::read_tx(&s, &session, Scope::AccountsRead).await?;
    let d = deliveries::find(&mut tx, delivery_id).await?.ok_or(ConsoleError::NotFound)?;
    // The account rule of the REST route: the delivery's account must be inside the key's scope.
    let account = console::find_account(&mut tx, session.auth.account_scope(), d.account_id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let attempts = deliveries::attempts(&mut tx, delivery_id).await?;
    tx.commit().await?;
    let payload = deliveries::payload_json(&d);
    let webhook_id = webhooks::webhook_id(d.delivery_id);
    Ok(page(
        &session,
        &format!("Delivery {}", view::short(delivery_id)),
        Nav::Deliveries,
        html! {
            dl.facts {
                dt { "status" } dd { (badge(d.status.as_str())) @if let Some(r) = &d.dlq_reason { " " span.mono { (r) } } }
                dt { "event" } dd.mono { (d.event_type) " · " (d.event_id) }
                dt { "account" } dd { a href=(format!("/admin/accounts/{}", account.account_id)) { "@" (account.username) } }
                dt { "webhook-id" } dd.mono { (webhook_id) }
                dt { "delivery id" } dd.mono { (d.delivery_id) }
                dt { "attempts" } dd { (d.attempts) }
                dt { "created" } dd { (view::when(d.created_at)) }
                dt { "first / last attempt" } dd { (when_opt(d.first_attempt_at)) " / " (when_opt(d.last_attempt_at)) }
                dt { "next attempt" } dd { (when_opt(d.next_attempt_at)) }
                dt { "delivered" } dd { (when_opt(d.delivered_at)) }
                dt { "dead-lettered" } dd { (when_opt(d.dead_at)) }
                @if let Some(e) = &d.last_error { dt { "last error" } dd { (e) } }
            }
            @if d.status == DeliveryStatus::Dlq && session.auth.is_platform_admin() {
                form method="post" action="/admin/dead-letters/redrive" {
                    (view::csrf(&session))
                    input type="hidden" name="mode" value="one";
                    input type="hidden" name="id" value=(d.delivery_id);
                    button type="submit" { "Redrive this delivery" }
                }
            }
            h2 { "Attempts" }
            @if attempts.is_empty() { p.muted { "Not attempted yet." } }
            @for a in &attempts {
                @let started = a.attempted_at - time::Duration::milliseconds(i64::from(a.latency_ms));
                details open[attempts.len() <= 3] {
                    summary {
                        "#" (a.attempt_no) " · " (view::when(a.attempted_at)) " · "
                        @match a.status_code { Some(c) => { "HTTP " (c) }, None => { (a.error_class.as_deref().unwrap_or("no answer")) } }
                        " · " (a.latency_ms) " ms"
                    }
                    h3.muted { "Request (the endpoint URL as configured now; signature values withheld)" }
                    pre.mono {
                        "POST " (account.crm_webhook_url.as_deref().unwrap_or("(endpoint removed)")) "\n"
                        "content-type: application/json\n"
                        "user-agent: message-router-webhooks/" (env!("CARGO_PKG_VERSION")) "\n"
                        "webhook-id: " (webhook_id) "\n"
                        "webhook-timestamp: ≈" (started.unix_timestamp()) "\n"
                        "webhook-signature: v1,… (withheld)\n"
                        "x-hub-signature-256: sha256=… (withheld)\n"
                        "x-message-router-event: " (d.event_type) "\n"
                        "x-message-router-attempt: " (a.attempt_no)
                    }
                    h3.muted { "Response" }
                    dl.facts {
                        dt { "status" } dd { @match a.status_code { Some(c) => { (c) }, None => { "none" } } }
                        dt { "error class" } dd { (a.error_class.as_deref().unwrap_or("—")) }
                        dt { "latency" } dd { (a.latency_ms) " ms" }
                    }
                    @if let Some(b) = &a.response_body { pre.mono { (b) } } @else { p.muted { "No body kept." } }
                }
            }
            details {
                summary { "Body (the same bytes on every attempt)" }
                (view::json_block(&payload))
            }
        },
    ))
}
