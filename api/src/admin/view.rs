//! The console's layout and shared fragments (maud: every interpolation is HTML-escaped).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use time::OffsetDateTime;

use super::session::Session;

/// The navigation entries; `Keys` and `DeadLetters` only for platform admins (their REST
/// endpoints are platform-only too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Accounts,
    Conversations,
    Deliveries,
    DeadLetters,
    Keys,
}

const NAV: [(Nav, &str, &str, bool); 6] = [
    (Nav::Overview, "/admin", "Overview", false),
    (Nav::Accounts, "/admin/accounts", "Accounts", false),
    (Nav::Conversations, "/admin/conversations", "Conversations", false),
    (Nav::Deliveries, "/admin/deliveries", "Deliveries", false),
    (Nav::DeadLetters, "/admin/dead-letters", "Dead letters", true),
    (Nav::Keys, "/admin/keys", "API keys", true),
];

/// htmx settings: no inline styles (the CSP forbids them), no `eval`, history from the server,
/// and error pages (403, 404, 422…) shown like any page instead of being dropped.
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0,"refreshOnHistoryMiss":true,"responseHandling":[{"code":"204","swap":false},{"code":"...","swap":true}]}"#;

/// A full console page.
#[must_use]
pub fn page(session: &Session, title: &str, active: Nav, body: Markup) -> Response {
    let admin = session.auth.is_platform_admin();
    let who = if admin { "platform admin" } else { "merchant" };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=(HTMX_CONFIG);
                title { (title) " · Message Router admin" }
                link rel="stylesheet" href="/admin/assets/admin.css";
                script src="/admin/assets/htmx.min.js" defer {}
            }
            body hx-boost="true" {
                a.skip href="#content" { "Skip to content" }
                header.top {
                    a.brand href="/admin" { "Message Router" }
                    nav.main aria-label="Console" {
                        ul {
                            @for (nav, href, label, admin_only) in NAV {
                                @if admin || !admin_only {
                                    li { a href=(href) aria-current=[(nav == active).then_some("page")] { (label) } }
                                }
                            }
                        }
                    }
                    div.who {
                        span title=(format!("{} ({}…)", session.key_name, session.key_prefix)) {
                            (who) ": " strong { (session.key_name) }
                            @if session.auth.environment == router_core::crypto::KeyEnvironment::Test { " " span.badge.warn { "sandbox" } }
                        }
                        form method="post" action="/admin/logout" {
                            (csrf(session))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="content" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
}

/// The hidden CSRF field every form carries.
#[must_use]
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// `2026-12-01 13:05:09 UTC`.
#[must_use]
pub fn when(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.to_offset(time::UtcOffset::UTC).format(&f).unwrap_or_default()
}

/// An optional time, or a dash.
#[must_use]
pub fn when_opt(t: Option<OffsetDateTime>) -> String {
    t.map_or_else(|| "—".to_owned(), when)
}

/// "3 min ago" / "in 2 h": coarse, for scanning tables.
#[must_use]
pub fn relative(t: OffsetDateTime) -> String {
    let d = t - OffsetDateTime::now_utc();
    let (future, secs) = (d.is_positive(), d.whole_seconds().unsigned_abs());
    let text = match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    };
    if future { format!("in {text}") } else { format!("{text} ago") }
}

/// The `value` of a `datetime-local` input for a time.
#[must_use]
pub fn input_time(t: Option<OffsetDateTime>) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    t.and_then(|t| t.to_offset(time::UtcOffset::UTC).format(&f).ok()).unwrap_or_default()
}

/// A status badge coloured by meaning.
#[must_use]
pub fn badge(status: &str) -> Markup {
    let class = match status {
        "active" | "delivered" | "sent" | "read" | "success" | "closed" | "open window" => "badge ok",
        "pending" | "inactive" | "scheduled" | "sandbox" | "half-open" => "badge warn",
        "error" | "failed" | "dlq" | "disabled" | "deleted" | "revoked" | "open" | "expired" => "badge bad",
        _ => "badge",
    };
    html! { span class=(class) { (status) } }
}

/// "Next page" link keeping the filters, when there is a next page.
#[must_use]
pub fn pager(base: &str, query: &str, next: Option<String>) -> Markup {
    html! {
        div.pager {
            @if !query.is_empty() || next.is_some() { a href=(base) { "First page" } }
            @if let Some(c) = next {
                @let sep = if query.is_empty() { "" } else { "&" };
                a href=(format!("{base}?{query}{sep}cursor={c}")) rel="next" { "Next page →" }
            }
        }
    }
}

/// A fixed notice chosen by code (never text from the query string).
#[must_use]
pub fn notice(text: Option<String>, error: bool) -> Markup {
    html! {
        @if let Some(t) = text {
            div class=(if error { "notice error" } else { "notice" }) role="status" { (t) }
        }
    }
}

/// Pretty JSON of a stored body (already bounded by what was stored).
#[must_use]
pub fn json_block(v: &serde_json::Value) -> Markup {
    let s = serde_json::to_string_pretty(v).unwrap_or_default();
    html! { pre.mono { (s) } }
}

/// Shortened id for tables (full id in the link and title).
#[must_use]
pub fn short(id: uuid::Uuid) -> String {
    id.simple().to_string()[..8].to_owned()
}

/// A non-breaking "—".
#[must_use]
pub fn dash() -> Markup {
    PreEscaped("&mdash;".to_owned())
}
