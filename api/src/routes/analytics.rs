//! `GET /api/v1/analytics`: a merchant's (or one account's) activity per hour or day, read from
//! the scheduler's hourly rollups (`router_core::analytics`), never from message history.

use axum::extract::State;
use router_core::analytics::{self, Bucket, Granularity};
use router_core::db;
use router_core::domain::Scope;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppJson, AppQuery, ErrorBody};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_analytics))
}

/// Query of `GET /analytics`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// Start of the range (RFC 3339), rounded down to its hour or day.
    pub from: String,
    /// End of the range (RFC 3339, exclusive; default now).
    pub to: Option<String>,
    /// `hour` (ranges up to 31 days) or `day` (up to 400 days; default).
    pub granularity: Option<String>,
    /// Only this account (default: every account the key may use).
    pub account_id: Option<Uuid>,
}

/// A report.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyticsReport {
    /// `hour` or `day`.
    pub granularity: String,
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    pub account_id: Option<Uuid>,
    /// The buckets with any activity, oldest first (a bucket without activity is left out).
    pub buckets: Vec<Bucket>,
    /// The whole range.
    pub totals: Bucket,
}

fn instant(field: &str, raw: &str) -> Result<OffsetDateTime, ApiError> {
    let t = OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| ApiError::invalid(field, "must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"))?;
    if !(2000..=9999).contains(&t.year()) {
        return Err(ApiError::invalid(field, "must be between the years 2000 and 9999"));
    }
    Ok(t.to_offset(time::UtcOffset::UTC))
}

/// The range, rounded to whole buckets, and its granularity.
fn range(q: &AnalyticsQuery, now: OffsetDateTime) -> Result<(OffsetDateTime, OffsetDateTime, Granularity), ApiError> {
    let granularity = match q.granularity.as_deref().unwrap_or("day") {
        "hour" => Granularity::Hour,
        "day" => Granularity::Day,
        _ => return Err(ApiError::invalid("granularity", "must be hour or day")),
    };
    let round = |t: OffsetDateTime| {
        let h = analytics::hour_of(t);
        if granularity == Granularity::Day { h.replace_hour(0).unwrap_or(h) } else { h }
    };
    let asked = instant("from", &q.from)?;
    let to = match &q.to {
        Some(t) => instant("to", t)?,
        None => now,
    };
    if to <= asked {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    let (max, what) = match granularity {
        Granularity::Hour => (Duration::days(31), "31 days with granularity=hour"),
        Granularity::Day => (Duration::days(400), "400 days"),
    };
    if to - asked > max {
        return Err(ApiError::invalid("to", format!("the range may span at most {what}")));
    }
    // Rounded after the check: the first bucket starts at the hour or day holding `from`.
    Ok((round(asked), to, granularity))
}

/// Messages received and sent, failures by code, time to first reply (median, p95), CRM delivery
/// success and latency, and messaging windows that closed, per hour or day. Figures come from
/// hourly rollups the scheduler refreshes every 5 minutes.
#[utoipa::path(get, path = "/api/v1/analytics", tag = "analytics", operation_id = "v1.analytics.get",
    params(AnalyticsQuery),
    responses((status = 200, body = AnalyticsReport), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn get_analytics(
    State(s): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<AnalyticsQuery>,
) -> ApiResult<AppJson<AnalyticsReport>> {
    let merchant_id = auth.merchant(Scope::MessagesRead)?;
    let (from, to, granularity) = range(&q, OffsetDateTime::now_utc())?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    if let Some(account_id) = q.account_id {
        auth.require_account(&mut tx, account_id, "account").await?;
    }
    let report =
        analytics::report(&mut tx, merchant_id, auth.account_scope(), q.account_id, (from, to), granularity).await?;
    tx.commit().await?;
    Ok(AppJson(AnalyticsReport {
        granularity: if granularity == Granularity::Hour { "hour" } else { "day" }.into(),
        from,
        to,
        account_id: q.account_id,
        buckets: report.buckets,
        totals: report.totals,
    }))
}
