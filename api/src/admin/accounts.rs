//! Accounts: status, token expiry, last inbound message, messaging windows, the CRM endpoint
//! (URL, event filter, circuit, disabled by 410), and the actions an operator needs: send a test
//! event, disable/enable, re-connect through OAuth.
//!
//! Reads need `accounts:read`, actions `accounts:write` (as `GET`/`PUT /api/v1/accounts/{id}`);
//! a key's allow-list and a test key's sandbox-only rule apply through `Auth::account_scope`.
//! Platform admins see and act on every merchant's accounts, except re-connecting, which (as in the
//! REST API) needs the merchant's own key.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use router_core::db::{accounts as db_accounts, console};
use router_core::domain::Scope;
use router_core::webhooks;
use time::OffsetDateTime;

use super::error::ConsoleError;
use super::forms::{PathId, Query};
use super::session::{CsrfForm, Session};
use super::view::{self, Nav, badge, page, when_opt};
use crate::pagination::next_page;
use crate::state::AppState;

const PAGE_SIZE: i64 = 50;
const STATUSES: [&str; 4] = ["active", "inactive", "error", "deleted"];

fn endpoint_cell(a: &console::AccountSummary) -> maud::Markup {
    let now = OffsetDateTime::now_utc();
    html! {
        @match &a.crm_webhook_url {
            None => { span.muted { "no CRM endpoint" } }
            Some(url) => {
                span.mono { (url) } br;
                @if a.endpoint_status.as_deref() == Some("disabled") {
                    (badge("disabled")) " " span.muted { (a.disabled_reason.as_deref().unwrap_or("")) }
                } @else if a.circuit_open_until.is_some_and(|t| t > now) {
                    (badge("open")) " " span.muted { "circuit open " (view::relative(a.circuit_open_until.unwrap_or(now))) }
                } @else {
                    (badge("closed")) " " span.muted { "circuit" }
                }
            }
        }
    }
}

/// `GET /admin/accounts`: filters `status`, `q` (username or Instagram id), `merchant_id`
/// (platform admins), cursor pagination.
pub async fn list(State(s): State<AppState>, session: Session, Query(q): Query) -> Result<Response, ConsoleError> {
    let admin = session.auth.is_platform_admin();
    let filter = console::AccountFilter {
        merchant_id: if admin { q.uuid("merchant_id")? } else { None },
        status: q.one_of("status", &STATUSES)?,
        search: q.text("q", 100)?.map(str::to_owned),
    };
    let before = q.cursor()?;
    let mut tx = super::read_tx(&s, &session, Scope::AccountsRead).await?;
    let mut rows =
        console::list_accounts(&mut tx, session.auth.account_scope(), &filter, before, PAGE_SIZE + 1).await?;
    let merchants = if admin { console::list_merchants(&mut tx, 500).await? } else { Vec::new() };
    tx.commit().await?;
    let next = next_page(&mut rows, PAGE_SIZE, |r| Some((r.created_at, r.account_id)));
    let now = OffsetDateTime::now_utc();
    Ok(page(
        &session,
        "Accounts",
        Nav::Accounts,
        html! {
            form.filters method="get" action="/admin/accounts" {
                label { "Status"
                    select name="status" {
                        option value="" { "live (not deleted)" }
                        @for st in STATUSES { option value=(st) selected[filter.status.as_deref() == Some(st)] { (st) } }
                    }
                }
                label { "Username or Instagram id" input type="search" name="q" value=(filter.search.as_deref().unwrap_or("")) maxlength="100"; }
                @if admin {
                    label { "Merchant"
                        select name="merchant_id" {
                            option value="" { "all merchants" }
                            @for m in &merchants { option value=(m.merchant_id) selected[filter.merchant_id == Some(m.merchant_id)] { (m.name) } }
                        }
                    }
                }
                button type="submit" { "Filter" }
            }
            div.table-wrap { table {
                thead { tr {
                    th { "account" } @if admin { th { "merchant" } } th { "status" } th { "token expires" }
                    th.hide-narrow { "last inbound" } th.hide-narrow { "windows open" } th { "CRM endpoint" }
                } }
                tbody {
                    @if rows.is_empty() { tr { td.muted colspan="7" { "No accounts match." } } }
                    @for a in &rows {
                        tr {
                            td { a href=(format!("/admin/accounts/{}", a.account_id)) { "@" (a.username) }
                                 br; span.mono.muted { (a.instagram_account_id) }
                                 @if a.sandbox { " " (badge("sandbox")) } }
                            @if admin { td { (a.merchant_name) } }
                            td { (badge(&a.status)) @if let Some(r) = &a.status_reason { br; span.muted { (r) } } }
                            td { @match a.token_expires_at {
                                Some(t) => { span class=(if t < now + time::Duration::days(10) { "badge bad" } else { "" }) { (view::relative(t)) } }
                                None => { span.muted { "unknown" } }
                            } }
                            td.hide-narrow { (a.last_inbound_at.map_or_else(|| "—".to_owned(), view::relative)) }
                            td.hide-narrow.num { (a.open_windows) }
                            td { (endpoint_cell(a)) }
                        }
                    }
                }
            } }
            (view::pager("/admin/accounts", &q.query_without(&[]), next))
        },
    ))
}

/// `GET /admin/accounts/{id}`.
pub async fn show(
    State(s): State<AppState>,
    session: Session,
    PathId(account_id): PathId,
    Query(q): Query,
) -> Result<Response, ConsoleError> {
    let mut tx = super::read_tx(&s, &session, Scope::AccountsRead).await?;
    let a = console::find_account(&mut tx, session.auth.account_scope(), account_id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    tx.commit().await?;
    let notice = match q.get("done") {
        Some("test_event") => Some(format!(
            "Test event queued as delivery {}; it appears under Deliveries once attempted.",
            q.uuid("delivery")?.map_or_else(String::new, |d| d.to_string())
        )),
        Some("disabled") => Some("Account disabled: sends wait until it is enabled again.".to_owned()),
        Some("enabled") => Some("Account enabled: waiting sends resume.".to_owned()),
        _ => None,
    };
    // Instagram's login may be answered with another Instagram account than this one: then that
    // account was connected (or re-connected), and this one still needs its own login.
    let connected = q.uuid("account_id").ok().flatten();
    let other = connected.filter(|c| *c != account_id);
    let oauth_notice = match q.get("status") {
        Some("connected") if other.is_none() => {
            Some("Re-connected through Instagram: the new token is stored.".to_owned())
        }
        _ => None,
    };
    let error = match (q.get("done"), q.get("status")) {
        (Some("no_endpoint"), _) => {
            Some("This account has no CRM endpoint: nothing to send a test event to.".to_owned())
        }
        (_, Some("error")) => Some(format!(
            "Re-connecting failed: {}.",
            oauth_failure(q.one_of("error", OAUTH_ERRORS).ok().flatten().as_deref())
        )),
        _ => None,
    };
    let can_write = session.auth.is_platform_admin() || session.auth.scopes.contains(&Scope::AccountsWrite);
    let can_reconnect = !session.auth.is_platform_admin()
        && session.auth.scopes.contains(&Scope::AccountsWrite)
        && session.auth.account_ids.is_none();
    let live = a.deleted_at.is_none();
    let base = format!("/admin/accounts/{account_id}");
    Ok(page(
        &session,
        &format!("@{}", a.username),
        Nav::Accounts,
        html! {
            (view::notice(notice.or(oauth_notice), false))
            (view::notice(error, true))
            @if let (Some("connected"), Some(other)) = (q.get("status"), other) {
                div.notice.error role="alert" {
                    "Instagram's login was answered with another Instagram account, so "
                    a href=(format!("/admin/accounts/{other}")) { "that account" }
                    " was connected instead; this one still needs a login as @" (a.username) "."
                }
            }
            dl.facts {
                dt { "status" } dd { (badge(&a.status)) @if let Some(r) = &a.status_reason { " " span.muted { (r) } } @if a.sandbox { " " (badge("sandbox")) } }
                dt { "account id" } dd.mono { (a.account_id) }
                dt { "Instagram id" } dd.mono { (a.instagram_account_id) }
                @if session.auth.is_platform_admin() { dt { "merchant" } dd { (a.merchant_name) " " span.mono.muted { (a.merchant_id) } } }
                dt { "token expires" } dd { (when_opt(a.token_expires_at)) @if let Some(t) = a.token_expires_at { " (" (view::relative(t)) ")" } }
                dt { "last inbound message" } dd { (when_opt(a.last_inbound_at)) }
                dt { "messaging windows open" } dd { (a.open_windows) " conversation(s) wrote within 24 h" }
                dt { "CRM endpoint" } dd { (endpoint_cell(&a)) }
                dt { "event filter" } dd { @match &a.event_types { Some(t) => { (t.join(", ")) }, None => { "all events" } } }
                dt { "consecutive failures" } dd { (a.consecutive_failures.unwrap_or(0)) }
                dt { "connected" } dd { (view::when(a.created_at)) }
                @if let Some(d) = a.deleted_at { dt { "deleted" } dd { (view::when(d)) } }
            }
            div.actions {
                a href=(format!("/admin/conversations?account_id={account_id}")) { "Conversations" }
                a href=(format!("/admin/deliveries?account_id={account_id}")) { "Deliveries" }
                @if a.sandbox { @if let Some(sb) = &s.config.sandbox_graph_api_base_url {
                    a href=(sb.as_str()) hx-boost="false" { "Customer simulator (sandbox)" }
                } }
            }
            @if live && can_write {
                h2 { "Actions" }
                div.actions {
                    form method="post" action=(format!("{base}/test-event")) {
                        (view::csrf(&session))
                        button type="submit" { "Send test event" }
                    }
                    form method="post" action=(format!("{base}/status")) {
                        (view::csrf(&session))
                        @if a.status == "inactive" {
                            input type="hidden" name="status" value="active";
                            button.secondary type="submit" { "Enable" }
                        } @else {
                            input type="hidden" name="status" value="inactive";
                            button.danger type="submit" hx-confirm="Disable this account? Sends wait until it is enabled again." { "Disable" }
                        }
                    }
                    @if can_reconnect {
                        form method="post" action=(format!("{base}/reconnect")) hx-boost="false" {
                            (view::csrf(&session))
                            button.secondary type="submit" { "Re-connect (Instagram login)" }
                        }
                    }
                }
                @if !can_reconnect { p.muted { "Re-connecting runs Instagram's login for the merchant: sign in with the merchant's key (accounts:write, no allow-list)." } }
            }
        },
    ))
}

/// Finds a live account the session may change (`accounts:write` for merchant keys).
async fn writable(
    s: &AppState,
    session: &Session,
    account_id: uuid::Uuid,
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, console::AccountSummary), ConsoleError> {
    let mut tx = super::read_tx(s, session, Scope::AccountsWrite).await?;
    let a = console::find_account(&mut tx, session.auth.account_scope(), account_id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    if a.deleted_at.is_some() {
        return Err(ConsoleError::NotFound);
    }
    Ok((tx, a))
}

/// `POST /admin/accounts/{id}/test-event`: queues an `endpoint.test` delivery (signed, retried and
/// logged like every delivery).
pub async fn send_test_event(
    State(s): State<AppState>,
    PathId(account_id): PathId,
    CsrfForm { session, .. }: CsrfForm,
) -> Result<Response, ConsoleError> {
    let (mut tx, a) = writable(&s, &session, account_id).await?;
    let ids = webhooks::enqueue_events(&mut tx, &[webhooks::test_event(a.merchant_id, account_id)]).await?;
    tx.commit().await?;
    let target = match ids.first() {
        Some(d) => format!("/admin/accounts/{account_id}?done=test_event&delivery={d}"),
        None => format!("/admin/accounts/{account_id}?done=no_endpoint"),
    };
    Ok(Redirect::to(&target).into_response())
}

/// `POST /admin/accounts/{id}/status` (`status=inactive|active`): the same update as
/// `PUT /api/v1/accounts/{id}` with a status; enabling wakes the sends that waited.
pub async fn set_status(
    State(s): State<AppState>,
    PathId(account_id): PathId,
    CsrfForm { session, form }: CsrfForm,
) -> Result<Response, ConsoleError> {
    let status = form
        .one_of("status", &["active", "inactive"])?
        .ok_or_else(|| ConsoleError::Invalid("status: must be active or inactive".into()))?;
    let (mut tx, _) = writable(&s, &session, account_id).await?;
    db_accounts::update_account(
        &mut tx,
        account_id,
        &db_accounts::AccountPatch {
            access_token_enc: None,
            app_secret_enc: None,
            status: Some(&status),
            username: None,
        },
    )
    .await?;
    if status == "active" {
        router_core::queue::wake_account_jobs(&mut tx, account_id).await?;
    }
    tx.commit().await?;
    tracing::info!(account.id = %account_id, %status, "account status changed from the admin console");
    let done = if status == "active" { "enabled" } else { "disabled" };
    Ok(Redirect::to(&format!("/admin/accounts/{account_id}?done={done}")).into_response())
}

/// `POST /admin/accounts/{id}/reconnect`: starts Instagram login (`GET /oauth/instagram/start`'s
/// code path) and sends the browser there; the callback comes back to the account's page.
pub async fn reconnect(
    State(s): State<AppState>,
    PathId(account_id): PathId,
    CsrfForm { session, .. }: CsrfForm,
) -> Result<Response, ConsoleError> {
    let (tx, _) = writable(&s, &session, account_id).await?;
    tx.commit().await?;
    let back = format!("{}/admin/accounts/{account_id}", s.config.api().api_base_url.as_str().trim_end_matches('/'));
    let q = crate::routes::oauth::StartQuery { crm_webhook_url: None, redirect_after: Some(back) };
    let started = crate::routes::oauth::start_as(&s, &session.auth, &q).await?;
    Ok(Redirect::to(&started.authorize_url).into_response())
}

/// The error codes the OAuth callback appends to `redirect_after` (`status=error&error=…`).
const OAUTH_ERRORS: &[&str] =
    &["oauth_denied", "invalid_oauth_code", "oauth_exchange_failed", "environment_mismatch", "invalid_oauth_state"];

fn oauth_failure(code: Option<&str>) -> &'static str {
    match code {
        Some("oauth_denied") => "the login was cancelled or permission was not granted on Instagram",
        Some("invalid_oauth_code") => "Instagram came back without an authorization code",
        Some("oauth_exchange_failed") => "Instagram refused to exchange the code for a token; try again",
        Some("environment_mismatch") => {
            "that Instagram account is connected in the other environment (live vs sandbox)"
        }
        Some("invalid_oauth_state") => "the login took too long or was already used; start again",
        _ => "see the router's log",
    }
}
