//! API keys and merchants (platform admins, as `/api/v1/admin/...`): create a merchant, create a
//! key with scopes, environment and account allow-list (shown once, on the answer page only; never
//! in a URL or a log), revoke a key (its console sessions end with it). Creation and revocation go
//! through `routes::admin::{create_merchant_as, create_api_key_as, revoke_api_key_as}`, the admin
//! API's own code (validation, allow-list check, cache purge).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use router_core::db::console;
use router_core::domain::Scope;
use uuid::Uuid;

use super::error::ConsoleError;
use super::forms::{Pairs, PathId, Query};
use super::session::{CsrfForm, Session};
use super::view::{self, Nav, badge, page, when_opt};
use crate::pagination::next_page;
use crate::routes::admin::{
    ApiKeyResponse, CreateApiKeyRequest, CreateMerchantRequest, create_api_key_as, create_merchant_as,
    revoke_api_key_as,
};
use crate::state::AppState;

const PAGE_SIZE: i64 = 50;
const MERCHANT_SCOPES: [Scope; 4] =
    [Scope::MessagesSend, Scope::MessagesRead, Scope::AccountsRead, Scope::AccountsWrite];

fn create_form(session: &Session, merchants: &[console::MerchantBrief], chosen: Option<Uuid>) -> maud::Markup {
    html! {
        section {
            h2 { "Create a merchant key" }
            form.stack method="post" action="/admin/keys" {
                (view::csrf(session))
                label { "Merchant"
                    select name="merchant_id" required {
                        @for m in merchants { option value=(m.merchant_id) selected[chosen == Some(m.merchant_id)] { (m.name) } }
                    }
                }
                label { "Name (for humans)" input type="text" name="name" required maxlength="200" placeholder="crm-production"; }
                fieldset {
                    legend { "Scopes" }
                    @for sc in MERCHANT_SCOPES {
                        label.inline { input type="checkbox" name="scopes" value=(sc.as_str()) checked; (sc.as_str()) }
                    }
                }
                fieldset {
                    legend { "Environment" }
                    label.inline { input type="radio" name="environment" value="live" checked; "live (router_live_…)" }
                    label.inline { input type="radio" name="environment" value="test"; "test (router_test_…, sandbox accounts only)" }
                }
                label { "Only these accounts (account ids, one per line; empty for all)"
                    textarea name="account_ids" rows="2" maxlength="8000" {}
                }
                label { "Expires (UTC, optional)" input type="datetime-local" name="expires_at"; }
                button type="submit" { "Create key" }
            }
        }
        section {
            h2 { "Create a merchant" }
            form.stack method="post" action="/admin/merchants" {
                (view::csrf(session))
                label { "Name" input type="text" name="name" required maxlength="200"; }
                button.secondary type="submit" { "Create merchant" }
            }
        }
    }
}

/// `GET /admin/keys`: filters `merchant_id`, `revoked=1` (include revoked).
pub async fn list(State(s): State<AppState>, session: Session, Query(q): Query) -> Result<Response, ConsoleError> {
    session.auth.platform_admin()?;
    let merchant_id = q.uuid("merchant_id")?;
    let include_revoked = q.get("revoked") == Some("1");
    let before = q.cursor()?;
    let mut tx = router_core::db::begin_admin_tx(&s.db).await?;
    let merchants = console::list_merchants(&mut tx, 500).await?;
    let mut rows = console::list_keys(&mut tx, merchant_id, include_revoked, before, PAGE_SIZE + 1).await?;
    tx.commit().await?;
    let next = next_page(&mut rows, PAGE_SIZE, |r| Some((r.created_at, r.api_key_id)));
    let name_of = |id: Option<Uuid>| match id {
        None => "platform".to_owned(),
        Some(id) => merchants.iter().find(|m| m.merchant_id == id).map_or_else(|| view::short(id), |m| m.name.clone()),
    };
    let notice = match q.get("done") {
        Some("revoked") => {
            Some("Key revoked: requests with it now get 401, and its console sessions have ended.".to_owned())
        }
        Some("merchant") => Some("Merchant created: create a key for it below.".to_owned()),
        _ => None,
    };
    let chosen = q.uuid("created_merchant")?.or(merchant_id);
    Ok(page(
        &session,
        "API keys",
        Nav::Keys,
        html! {
            (view::notice(notice, false))
            form.filters method="get" action="/admin/keys" {
                label { "Merchant" select name="merchant_id" {
                    option value="" { "all (and platform keys)" }
                    @for m in &merchants { option value=(m.merchant_id) selected[merchant_id == Some(m.merchant_id)] { (m.name) } }
                } }
                label.inline { input type="checkbox" name="revoked" value="1" checked[include_revoked]; "include revoked" }
                button type="submit" { "Filter" }
            }
            div.table-wrap { table {
                thead { tr { th { "name" } th { "prefix" } th { "merchant" } th { "env" } th { "scopes" } th.hide-narrow { "accounts" } th { "last used" } th { "state" } th { span.skip { "actions" } } } }
                tbody {
                    @if rows.is_empty() { tr { td.muted colspan="9" { "No keys." } } }
                    @for k in &rows {
                        tr {
                            td { (k.name) }
                            td.mono { (k.key_prefix) "…" }
                            td { (name_of(k.merchant_id)) }
                            td { (badge(if k.environment == "test" { "sandbox" } else { "live" })) }
                            td.mono { (k.scopes.join(" ")) }
                            td.hide-narrow { @match &k.account_ids { Some(ids) => { (ids.len()) " only" }, None => { "all" } } }
                            td { (k.last_used_at.map_or_else(|| "never".to_owned(), view::relative)) }
                            td { @if k.revoked_at.is_some() { (badge("revoked")) }
                                 @else if k.expires_at.is_some_and(|e| e <= time::OffsetDateTime::now_utc()) { (badge("expired")) }
                                 @else { (badge("active")) @if let Some(e) = k.expires_at { br; span.muted { "until " (view::when(e)) } } } }
                            td { @if k.revoked_at.is_none() {
                                form method="post" action=(format!("/admin/keys/{}/revoke", k.api_key_id)) {
                                    (view::csrf(&session))
                                    button.danger type="submit" hx-confirm=(format!("Revoke key {}? Every client using it stops working.", k.name)) { "Revoke" }
                                }
                            } }
                        }
                    }
                }
            } }
            (view::pager("/admin/keys", &q.query_without(&["done", "created_merchant"]), next))
            (create_form(&session, &merchants, chosen))
            p.muted { "Platform admin keys are made on the server: " code { "router-api create-admin-key --name NAME" } "." }
        },
    ))
}

fn key_request(form: &Pairs) -> Result<(Uuid, CreateApiKeyRequest), ConsoleError> {
    let merchant_id =
        form.uuid("merchant_id")?.ok_or_else(|| ConsoleError::Invalid("merchant_id: choose a merchant".into()))?;
    let name = form.text("name", 200)?.unwrap_or("").to_owned();
    let scopes = form
        .all("scopes")
        .into_iter()
        .map(|s| Scope::parse(s).ok_or_else(|| ConsoleError::Invalid(format!("scopes: unknown scope {s:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let account_ids = match form.text("account_ids", 8000)? {
        None => None,
        Some(text) => Some(
            text.split(|c: char| c.is_whitespace() || c == ',')
                .filter(|t| !t.is_empty())
                .take(1000)
                .map(|t| {
                    Uuid::try_parse(t)
                        .map_err(|_| ConsoleError::Invalid(format!("account_ids: {t:?} is not an account id")))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let environment = form.one_of("environment", &["live", "test"])?;
    Ok((
        merchant_id,
        CreateApiKeyRequest { name, scopes, account_ids, expires_at: form.time("expires_at")?, environment },
    ))
}

/// `POST /admin/keys`: creates the key and shows it once (201, not a redirect: the key must not
/// travel in a URL).
pub async fn create(State(s): State<AppState>, CsrfForm { session, form }: CsrfForm) -> Result<Response, ConsoleError> {
    session.auth.platform_admin()?;
    let (merchant_id, req) = key_request(&form)?;
    let created: ApiKeyResponse = create_api_key_as(&s, &session.auth, merchant_id, req).await?;
    tracing::info!(api_key.id = %created.api_key_id, merchant.id = %merchant_id, "API key created from the admin console");
    let key = created.key.clone().unwrap_or_default();
    let mut r = page(
        &session,
        "Key created",
        Nav::Keys,
        html! {
            div.notice role="status" { "Copy the key now: it is stored only as a hash and will not be shown again." }
            label { "API key"
                input.key-once.mono type="text" name="key" readonly value=(key) id="new-key" aria-describedby="key-help" autofocus;
            }
            p.muted id="key-help" { "Use it as " code { "Authorization: Bearer <key>" } "." }
            dl.facts {
                dt { "name" } dd { (created.name) }
                dt { "key id" } dd.mono { (created.api_key_id) }
                dt { "environment" } dd { (created.environment) }
                dt { "scopes" } dd.mono { (created.scopes.join(" ")) }
                dt { "accounts" } dd { @match &created.account_ids { Some(ids) => { @for id in ids { span.mono { (id) } " " } }, None => { "all of the merchant's" } } }
                dt { "expires" } dd { (when_opt(created.expires_at)) }
            }
            p { a href="/admin/keys" { "Back to API keys" } }
        },
    );
    *r.status_mut() = StatusCode::CREATED;
    Ok(r)
}

/// `POST /admin/keys/{id}/revoke`.
pub async fn revoke(
    State(s): State<AppState>,
    PathId(api_key_id): PathId,
    CsrfForm { session, .. }: CsrfForm,
) -> Result<Response, ConsoleError> {
    session.auth.platform_admin()?;
    revoke_api_key_as(&s, &session.auth, api_key_id).await?;
    tracing::info!(api_key.id = %api_key_id, "API key revoked from the admin console");
    Ok(Redirect::to("/admin/keys?done=revoked").into_response())
}

/// `POST /admin/merchants`.
pub async fn create_merchant(
    State(s): State<AppState>,
    CsrfForm { session, form }: CsrfForm,
) -> Result<Response, ConsoleError> {
    session.auth.platform_admin()?;
    let name = form.text("name", 200)?.unwrap_or("").to_owned();
    let m = create_merchant_as(&s, &session.auth, &CreateMerchantRequest { name }).await?;
    Ok(Redirect::to(&format!("/admin/keys?done=merchant&created_merchant={}", m.merchant_id)).into_response())
}
