//! Conversations: per account, a thread of inbound and outbound messages (the history
//! `GET /api/v1/messages` returns, newest first), each outbound message with its status history
//! and error, and every message with the CRM deliveries it caused. Needs `messages:read`.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;
use maud::html;
use router_core::db::{console, messages};
use router_core::domain::Scope;
use uuid::Uuid;

use super::error::ConsoleError;
use super::forms::{PathId, Query};
use super::session::Session;
use super::view::{self, Nav, badge, page};
use crate::pagination::next_page;
use crate::state::AppState;

const PAGE_SIZE: i64 = 50;
const THREAD_PAGE: i64 = 30;

/// `GET /admin/conversations`: filters `account_id`, `contact` (IGSID or username part).
pub async fn list(State(s): State<AppState>, session: Session, Query(q): Query) -> Result<Response, ConsoleError> {
    let account_id = q.uuid("account_id")?;
    let contact = q.text("contact", 100)?.map(str::to_owned);
    let before = q.cursor()?;
    let mut tx = super::read_tx(&s, &session, Scope::MessagesRead).await?;
    let scope = session.auth.account_scope();
    let accounts = console::list_accounts(&mut tx, scope, &console::AccountFilter::default(), None, 200).await?;
    let mut rows =
        console::list_conversations(&mut tx, scope, account_id, contact.as_deref(), before, PAGE_SIZE + 1).await?;
    tx.commit().await?;
    let next = next_page(&mut rows, PAGE_SIZE, |r| Some((r.updated_at, r.conversation_id)));
    let now = time::OffsetDateTime::now_utc();
    Ok(page(
        &session,
        "Conversations",
        Nav::Conversations,
        html! {
            form.filters method="get" action="/admin/conversations" {
                label { "Account"
                    select name="account_id" {
                        option value="" { "all accounts" }
                        @for a in &accounts { option value=(a.account_id) selected[account_id == Some(a.account_id)] { "@" (a.username) } }
                    }
                }
                label { "Contact (IGSID or username)" input type="search" name="contact" value=(contact.as_deref().unwrap_or("")) maxlength="100"; }
                button type="submit" { "Filter" }
            }
            div.table-wrap { table {
                thead { tr { th { "contact" } th { "account" } th { "last customer message" } th { "window" } th.hide-narrow { "last activity" } } }
                tbody {
                    @if rows.is_empty() { tr { td.muted colspan="5" { "No conversations match." } } }
                    @for c in &rows {
                        tr {
                            td { a href=(format!("/admin/conversations/{}", c.conversation_id)) {
                                @if let Some(u) = &c.contact_username { "@" (u) " " } span.mono { (c.contact_igsid) } } }
                            td { "@" (c.account_username) }
                            td { (c.last_inbound_at.map_or_else(|| "—".to_owned(), view::relative)) }
                            td { @if c.last_inbound_at.is_some_and(|t| t > now - time::Duration::hours(24)) { (badge("open window")) } @else { span.muted { "closed" } } }
                            td.hide-narrow { (view::relative(c.updated_at)) }
                        }
                    }
                }
            } }
            (view::pager("/admin/conversations", &q.query_without(&[]), next))
        },
    ))
}

/// `GET /admin/conversations/{id}`: the thread, newest first, paginated.
pub async fn show(
    State(s): State<AppState>,
    session: Session,
    PathId(conversation_id): PathId,
    Query(q): Query,
) -> Result<Response, ConsoleError> {
    let before = q.cursor()?;
    let mut tx = super::read_tx(&s, &session, Scope::MessagesRead).await?;
    let c = console::find_conversation(&mut tx, session.auth.account_scope(), conversation_id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let mut items =
        messages::conversation_page(&mut tx, c.account_id, &c.contact_igsid, before, THREAD_PAGE + 1).await?;
    let next = next_page(&mut items, THREAD_PAGE, |r| Some((r.at, r.id)));
    let outbound: Vec<Uuid> = items.iter().filter(|i| i.direction == "outbound").map(|i| i.id).collect();
    let inbound: Vec<Uuid> = items.iter().filter(|i| i.direction == "inbound").map(|i| i.id).collect();
    let histories = console::histories(&mut tx, &outbound).await?;
    let errors = console::message_errors(&mut tx, &outbound).await?;
    let caused = console::deliveries_caused_by(&mut tx, c.merchant_id, &outbound, &inbound).await?;
    tx.commit().await?;
    let mut history_of: HashMap<Uuid, Vec<&console::MessageEvent>> = HashMap::new();
    for h in &histories {
        history_of.entry(h.message_id).or_default().push(h);
    }
    let error_of: HashMap<Uuid, &console::MessageError> = errors.iter().map(|e| (e.message_id, e)).collect();
    let mut caused_of: HashMap<Uuid, Vec<&console::CausedDelivery>> = HashMap::new();
    for d in &caused {
        caused_of.entry(d.cause_id).or_default().push(d);
    }
    let title = match &c.contact_username {
        Some(u) => format!("@{u} ↔ @{}", c.account_username),
        None => format!("{} ↔ @{}", c.contact_igsid, c.account_username),
    };
    Ok(page(
        &session,
        &title,
        Nav::Conversations,
        html! {
            p.muted { "Contact " span.mono { (c.contact_igsid) } " · account " a href=(format!("/admin/accounts/{}", c.account_id)) { "@" (c.account_username) }
                " · last customer message " (view::when_opt(c.last_inbound_at)) " · newest first" }
            ol.thread {
                @if items.is_empty() { li.muted { "No messages (content older than the retention period is purged)." } }
                @for m in &items {
                    li class=(m.direction.as_str()) {
                        div.meta {
                            (if m.direction == "inbound" { "customer" } else { "business" }) " · " (m.kind)
                            " · " time datetime=(view::when(m.at)) { (view::when(m.at)) }
                            @if let Some(st) = &m.status { " · " (badge(st)) }
                        }
                        @if let Some(t) = &m.text { p.text { (t) } }
                        @else if let Some(content) = &m.content { @if !content.is_null() { details { summary { "content" } (view::json_block(content)) } } }
                        @if let Some(e) = error_of.get(&m.id) {
                            @if let Some(code) = &e.error_code {
                                p { (badge("error")) " " span.mono { (code) } ": " (e.error_message.as_deref().unwrap_or("")) " (" (e.attempts) " attempt(s))" }
                            }
                        }
                        @if let Some(h) = history_of.get(&m.id) {
                            div.meta { "history: "
                                @for (n, ev) in h.iter().enumerate() {
                                    @if n > 0 { " → " }
                                    (ev.status) " " span title=(view::when(ev.occurred_at)) { (view::when(ev.occurred_at)) }
                                }
                            }
                        }
                        @if let Some(ds) = caused_of.get(&m.id) {
                            div.meta { "deliveries: "
                                @for (n, d) in ds.iter().enumerate() {
                                    @if n > 0 { ", " }
                                    a href=(format!("/admin/deliveries/{}", d.delivery_id)) { (d.event_type) } " " (badge(&d.status))
                                }
                            }
                        }
                    }
                }
            }
            (view::pager(&format!("/admin/conversations/{conversation_id}"), "", next))
        },
    ))
}
