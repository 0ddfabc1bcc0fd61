//! Dead letters (platform admins, as `GET /api/v1/admin/dlq/webhooks`): filter, select, and
//! redrive one, the selected ones, or all matching the filter, through
//! `routes::deliveries::redrive_as` — the admin API's own code path (same `webhook-id` and body,
//! fresh 24 h retry horizon). The result is shown on the page it returns to.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use router_core::db::{console, deliveries};
use uuid::Uuid;

use super::error::ConsoleError;
use super::forms::{Pairs, Query};
use super::session::{CsrfForm, Session};
use super::view::{self, Nav, badge, page};
use crate::pagination::next_page;
use crate::routes::deliveries::{REDRIVE_MAX, redrive_as};
use crate::state::AppState;

const PAGE_SIZE: i64 = 50;
/// Most deliveries "Redrive selected" takes at once.
const MAX_SELECTED: usize = 200;
/// The DLQ reasons (`webhook_deliveries.dlq_reason`): the REST API's list, so both accept the same.
use crate::routes::deliveries::DLQ_REASONS as REASONS;
/// Filter fields, carried from the list into the "redrive all matching" form.
const FILTER_FIELDS: [&str; 6] = ["merchant_id", "account_id", "event_type", "reason", "since", "until"];

fn filter_of(q: &Pairs) -> Result<deliveries::DeliveryFilter, ConsoleError> {
    let types = super::deliveries::event_types();
    Ok(deliveries::DeliveryFilter {
        merchant_id: q.uuid("merchant_id")?,
        account_id: q.uuid("account_id")?,
        status: None,
        event_type: q.one_of("event_type", &types)?,
        reason: q.one_of("reason", &REASONS)?,
        since: q.time("since")?,
        until: q.time("until")?,
    })
}

/// `GET /admin/dead-letters`.
pub async fn list(State(s): State<AppState>, session: Session, Query(q): Query) -> Result<Response, ConsoleError> {
    session.auth.platform_admin()?;
    let filter = filter_of(&q)?;
    let before = q.cursor()?;
    let mut tx = router_core::db::begin_admin_tx(&s.db).await?;
    let mut rows = deliveries::list_dlq(&mut tx, &filter, before, PAGE_SIZE + 1).await?;
    let merchants = console::list_merchants(&mut tx, 500).await?;
    let accounts = console::list_accounts(
        &mut tx,
        router_core::db::accounts::AccountScope::default(),
        &console::AccountFilter { merchant_id: filter.merchant_id, ..Default::default() },
        None,
        200,
    )
    .await?;
    tx.commit().await?;
    let next = next_page(&mut rows, PAGE_SIZE, |r| r.dead_at.map(|d| (d, r.delivery_id)));
    let types = super::deliveries::event_types();
    let done = match (q.get("done"), q.get("n").and_then(|n| n.parse::<u32>().ok())) {
        (Some("redrive"), Some(n)) => Some(format!(
            "{n} delivery(ies) re-enqueued with their original webhook-id and body; follow them under Deliveries (status pending)."
        )),
        _ => None,
    };
    let nothing = (q.get("done") == Some("none"))
        .then(|| "Nothing was re-enqueued: no dead letter matched (already redriven?).".to_owned());
    let name_of =
        |id: Uuid| merchants.iter().find(|m| m.merchant_id == id).map_or_else(|| view::short(id), |m| m.name.clone());
    let account_of = |id: Uuid| accounts.iter().find(|a| a.account_id == id).map(|a| format!("@{}", a.username));
    Ok(page(
        &session,
        "Dead letters",
        Nav::DeadLetters,
        html! {
            (view::notice(done, false))
            (view::notice(nothing, true))
            form.filters method="get" action="/admin/dead-letters" {
                label { "Merchant" select name="merchant_id" {
                    option value="" { "all" }
                    @for m in &merchants { option value=(m.merchant_id) selected[filter.merchant_id == Some(m.merchant_id)] { (m.name) } }
                } }
                label { "Account" select name="account_id" {
                    option value="" { "all" }
                    @for a in &accounts { option value=(a.account_id) selected[filter.account_id == Some(a.account_id)] { "@" (a.username) } }
                } }
                label { "Event" select name="event_type" {
                    option value="" { "any" }
                    @for t in &types { option value=(t) selected[filter.event_type.as_deref() == Some(*t)] { (t) } }
                } }
                label { "Reason" select name="reason" {
                    option value="" { "any" }
                    @for r in REASONS { option value=(r) selected[filter.reason.as_deref() == Some(r)] { (r) } }
                } }
                label { "Dead from (UTC)" input type="datetime-local" name="since" value=(view::input_time(filter.since)); }
                label { "until (UTC)" input type="datetime-local" name="until" value=(view::input_time(filter.until)); }
                button type="submit" { "Filter" }
            }
            form method="post" action="/admin/dead-letters/redrive" id="selected" {
                (view::csrf(&session))
                input type="hidden" name="mode" value="selected";
                div.table-wrap { table {
                    thead { tr { th { span.skip { "select" } } th { "delivery" } th { "merchant" } th { "account" } th { "event" } th { "reason" } th.num { "attempts" } th.hide-narrow { "last error" } th { "dead" } th { span.skip { "actions" } } } }
                    tbody {
                        @if rows.is_empty() { tr { td.muted colspan="10" { "The dead-letter queue is empty for this filter." } } }
                        @for d in &rows {
                            tr {
                                td { input type="checkbox" name="ids" value=(d.delivery_id) aria-label=(format!("select delivery {}", d.delivery_id)); }
                                td { a.mono href=(format!("/admin/deliveries/{}", d.delivery_id)) title=(d.delivery_id) { (view::short(d.delivery_id)) } }
                                td { (name_of(d.merchant_id)) }
                                td { (account_of(d.account_id).unwrap_or_else(|| view::short(d.account_id))) }
                                td.mono { (d.event_type) }
                                td { (badge(d.dlq_reason.as_deref().unwrap_or("dlq"))) }
                                td.num { (d.attempts) }
                                td.hide-narrow { (d.last_error.as_deref().unwrap_or("")) }
                                td { (d.dead_at.map_or_else(|| "—".to_owned(), view::relative)) }
                                td { button.secondary type="submit" name="id" value=(d.delivery_id) formaction="/admin/dead-letters/redrive?mode=one" { "Redrive" } }
                            }
                        }
                    }
                } }
                div.actions { button type="submit" { "Redrive selected" } }
            }
            @if !rows.is_empty() {
                form method="post" action="/admin/dead-letters/redrive" {
                    (view::csrf(&session))
                    input type="hidden" name="mode" value="filter";
                    @for (k, v) in q.0.iter().filter(|(k, _)| FILTER_FIELDS.contains(&k.as_str())) {
                        input type="hidden" name=(k) value=(v);
                    }
                    button.danger type="submit" hx-confirm="Redrive every dead letter matching this filter (up to 10 000)?" {
                        "Redrive all matching this filter"
                    }
                }
            }
            (view::pager("/admin/dead-letters", &q.query_without(&["done", "n"]), next))
        },
    ))
}

/// `POST /admin/dead-letters/redrive`: `mode=one` (`id`), `mode=selected` (`ids`, at most 200) or
/// `mode=filter` (the list's filter fields).
pub async fn redrive(
    State(s): State<AppState>,
    Query(q): Query,
    CsrfForm { session, form }: CsrfForm,
) -> Result<Response, ConsoleError> {
    session.auth.platform_admin()?;
    // A row's own button names its mode in the URL (`formaction`), the forms in a field.
    let mode = q.get("mode").or_else(|| form.get("mode")).unwrap_or("");
    let mut requeued = 0usize;
    let back_filter;
    match mode {
        "one" => {
            let id = form.uuid("id")?.ok_or_else(|| ConsoleError::Invalid("id: choose a delivery".into()))?;
            requeued = redrive_as(&s, &session.auth, &deliveries::DeliveryFilter::default(), Some(id), 1).await?.len();
            back_filter = String::new();
        }
        "selected" => {
            let ids = form.all("ids");
            if ids.is_empty() {
                return Err(ConsoleError::Invalid("ids: select at least one delivery".into()));
            }
            if ids.len() > MAX_SELECTED {
                return Err(ConsoleError::Invalid(format!("ids: at most {MAX_SELECTED} at once; use the filter")));
            }
            let ids: Vec<Uuid> = ids
                .into_iter()
                .map(|i| Uuid::try_parse(i).map_err(|_| ConsoleError::Invalid("ids: must be delivery ids".into())))
                .collect::<Result<_, _>>()?;
            for id in ids {
                requeued +=
                    redrive_as(&s, &session.auth, &deliveries::DeliveryFilter::default(), Some(id), 1).await?.len();
            }
            back_filter = String::new();
        }
        "filter" => {
            let filter = filter_of(&form)?;
            requeued = redrive_as(&s, &session.auth, &filter, None, REDRIVE_MAX).await?.len();
            back_filter = form.query_without(&["csrf", "mode"]);
        }
        _ => return Err(ConsoleError::Invalid("mode: must be one, selected or filter".into())),
    }
    tracing::info!(requeued, mode, "dead letters redriven from the admin console");
    let done = if requeued == 0 { "done=none".to_owned() } else { format!("done=redrive&n={requeued}") };
    let sep = if back_filter.is_empty() { "" } else { "&" };
    Ok(Redirect::to(&format!("/admin/dead-letters?{back_filter}{sep}{done}")).into_response())
}
