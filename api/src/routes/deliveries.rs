//! CRM webhook deliveries: the merchant's view (with the attempt log) and the platform DLQ.

use axum::extract::State;
use axum::http::StatusCode;
use router_core::db::accounts::AccountScope;
use router_core::db::{self, deliveries};
use router_core::domain::Scope;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, AppJson, AppPath, AppQuery, ErrorBody};
use crate::pagination::{decode_cursor, next_page};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(list_dlq))
        .routes(routes!(retry_one))
        .routes(routes!(retry_bulk))
}

/// The `status` filter's values (a delivery's states).
pub const DELIVERY_STATUSES: [&str; 3] = ["pending", "delivered", "dlq"];

/// A CRM webhook delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    /// Our id of the delivery (a UUID): the `{delivery_id}` of `GET /api/v1/webhook-deliveries/{delivery_id}`.
    /// The DLQ retry accepts it or `webhook_id`.
    pub delivery_id: Uuid,
    /// The `webhook-id` header the CRM received: `msg_` + `delivery_id` without dashes, the same on
    /// every attempt, retry and redrive (the CRM's deduplication key). The DLQ retry accepts it or
    /// `delivery_id`.
    #[schema(pattern = "^msg_[0-9a-f]{32}$", example = "msg_0190a1b2c3d47e8f9a0b1c2d3e4f5a6b")]
    pub webhook_id: String,
    pub merchant_id: Uuid,
    pub account_id: Uuid,
    /// The CRM endpoint this delivery goes to (`/accounts/{id}/endpoints`).
    pub endpoint_id: Option<Uuid>,
    pub event_type: String,
    pub event_id: String,
    /// `pending`, `delivered` or `dlq`.
    pub status: String,
    pub attempts: i32,
    /// Why it is in the DLQ: `auth_error`, `retries_exhausted`, `endpoint_gone`, `endpoint_disabled`,
    /// `no_endpoint`, `blocked_url`.
    pub dlq_reason: Option<String>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub first_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub dead_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The exact JSON body sent on every attempt.
    pub payload: Value,
    /// The attempt log (only on `GET /webhook-deliveries/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_log: Option<Vec<AttemptResponse>>,
}

/// One attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptResponse {
    pub attempt_no: i32,
    /// HTTP status the CRM answered (none on timeout or connection failure).
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    /// `timeout`, `connect`, `transport`, `redirect`, `http_4xx`, `http_5xx`; null on success.
    pub error_class: Option<String>,
    /// The CRM's response body, truncated to 4 KB.
    pub response_body: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub attempted_at: OffsetDateTime,
}

impl From<deliveries::DeliveryListRow> for DeliveryResponse {
    fn from(r: deliveries::DeliveryListRow) -> Self {
        let payload = deliveries::payload_json(&r);
        Self {
            webhook_id: router_core::webhooks::webhook_id(r.delivery_id),
            delivery_id: r.delivery_id,
            merchant_id: r.merchant_id,
            account_id: r.account_id,
            endpoint_id: r.endpoint_id,
            event_type: r.event_type,
            event_id: r.event_id,
            status: r.status.to_string(),
            attempts: r.attempts,
            dlq_reason: r.dlq_reason,
            last_error: r.last_error,
            first_attempt_at: r.first_attempt_at,
            last_attempt_at: r.last_attempt_at,
            next_attempt_at: r.next_attempt_at,
            delivered_at: r.delivered_at,
            dead_at: r.dead_at,
            created_at: r.created_at,
            payload,
            attempts_log: None,
        }
    }
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub data: Vec<DeliveryResponse>,
    pub next_cursor: Option<String>,
}

fn limit_of(l: Option<i64>) -> Result<i64, ApiError> {
    let l = l.unwrap_or(50);
    if (1..=200).contains(&l) { Ok(l) } else { Err(ApiError::invalid("limit", "must be 1–200")) }
}

/// Query of `GET /webhook-deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    pub account_id: Uuid,
    /// `pending`, `delivered` or `dlq`.
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// The merchant's CRM deliveries for an account, newest first.
#[utoipa::path(get, path = "/api/v1/webhook-deliveries", tag = "webhooks", operation_id = "v1.webhook_deliveries.list",
    params(DeliveriesQuery),
    responses((status = 200, body = DeliveryList), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn list_deliveries(
    State(s): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<DeliveriesQuery>,
) -> ApiResult<AppJson<DeliveryList>> {
    let merchant_id = auth.merchant(Scope::AccountsRead)?;
    let limit = limit_of(q.limit)?;
    if let Some(st) = q.status.as_deref()
        && !DELIVERY_STATUSES.contains(&st)
    {
        return Err(ApiError::invalid("status", "must be pending, delivered or dlq"));
    }
    let before = decode_cursor(q.cursor.as_deref())?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    auth.require_account(&mut tx, q.account_id, "account").await?;
    let filter = deliveries::DeliveryFilter { account_id: Some(q.account_id), status: q.status, ..Default::default() };
    let mut rows = deliveries::list(&mut tx, AccountScope::default(), &filter, before, limit + 1).await?;
    tx.commit().await?;
    let next_cursor = next_page(&mut rows, limit, |r| Some((r.created_at, r.delivery_id)));
    Ok(AppJson(DeliveryList { data: rows.into_iter().map(Into::into).collect(), next_cursor }))
}

/// One delivery with its attempt log.
#[utoipa::path(get, path = "/api/v1/webhook-deliveries/{delivery_id}", tag = "webhooks", operation_id = "v1.webhook_deliveries.get",
    params(("delivery_id" = Uuid, Path, description = "Delivery id")),
    responses((status = 200, body = DeliveryResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(delivery.id = %delivery_id))]
async fn get_delivery(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(delivery_id): AppPath<Uuid>,
) -> ApiResult<AppJson<DeliveryResponse>> {
    let merchant_id = auth.merchant(Scope::AccountsRead)?;
    let mut tx = db::begin_merchant_tx(&s.db, merchant_id).await?;
    let row = deliveries::find(&mut tx, delivery_id).await?.ok_or(ApiError::NotFound("delivery"))?;
    auth.require_account(&mut tx, row.account_id, "delivery").await?;
    let attempts = deliveries::attempts(&mut tx, delivery_id).await?;
    tx.commit().await?;
    let mut resp: DeliveryResponse = row.into();
    resp.attempts_log = Some(
        attempts
            .into_iter()
            .map(|a| AttemptResponse {
                attempt_no: a.attempt_no,
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                error_class: a.error_class,
                response_body: a.response_body,
                attempted_at: a.attempted_at,
            })
            .collect(),
    );
    Ok(AppJson(resp))
}

/// DLQ filters.
#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DlqQuery {
    pub merchant_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub event_type: Option<String>,
    /// `auth_error`, `retries_exhausted`, `endpoint_gone`, `endpoint_disabled`, `no_endpoint`, `blocked_url`.
    pub reason: Option<String>,
    /// Dead-lettered at or after (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// Dead-lettered before (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    #[serde(default)]
    #[param(ignore)]
    #[schema(ignore)]
    pub cursor: Option<String>,
    #[serde(default)]
    #[param(ignore)]
    #[schema(ignore)]
    pub limit: Option<i64>,
}

/// `dlq_reason` values (why a delivery was dead-lettered).
pub const DLQ_REASONS: [&str; 6] =
    ["auth_error", "retries_exhausted", "endpoint_gone", "endpoint_disabled", "no_endpoint", "blocked_url"];

impl DlqQuery {
    /// The filters name known values (an unknown one would silently match nothing).
    fn validate(&self) -> Result<(), ApiError> {
        if let Some(r) = self.reason.as_deref()
            && !DLQ_REASONS.contains(&r)
        {
            return Err(ApiError::invalid("reason", format!("must be one of {}", DLQ_REASONS.join(", "))));
        }
        if let Some(e) = self.event_type.as_deref()
            && !router_core::domain::events::ALL.contains(&e)
        {
            return Err(ApiError::invalid("event_type", "must be an event type of the catalogue"));
        }
        Ok(())
    }

    fn filter(&self) -> deliveries::DeliveryFilter {
        deliveries::DeliveryFilter {
            merchant_id: self.merchant_id,
            account_id: self.account_id,
            status: None,
            event_type: self.event_type.clone(),
            reason: self.reason.clone(),
            since: self.since,
            until: self.until,
        }
    }
}

/// Pagination of `GET /admin/dlq/webhooks`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

/// Dead-lettered deliveries across merchants, newest first.
#[utoipa::path(get, path = "/api/v1/admin/dlq/webhooks", tag = "admin", operation_id = "v1.admin.dlq.list",
    params(DlqQuery, Page),
    responses((status = 200, body = DeliveryList), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn list_dlq(
    State(s): State<AppState>,
    auth: Auth,
    AppQuery(q): AppQuery<DlqQuery>,
) -> ApiResult<AppJson<DeliveryList>> {
    auth.platform_admin()?;
    q.validate()?;
    let limit = limit_of(q.limit)?;
    let before = decode_cursor(q.cursor.as_deref())?;
    let mut tx = db::begin_admin_tx(&s.db).await?;
    let mut rows = deliveries::list_dlq(&mut tx, &q.filter(), before, limit + 1).await?;
    tx.commit().await?;
    let next_cursor = next_page(&mut rows, limit, |r| r.dead_at.map(|d| (d, r.delivery_id)));
    Ok(AppJson(DeliveryList { data: rows.into_iter().map(Into::into).collect(), next_cursor }))
}

/// Result of a redrive.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedriveResponse {
    /// Deliveries put back in the queue (same `webhook-id` and payload, fresh 24 h retry horizon).
    pub requeued: usize,
    pub delivery_ids: Vec<Uuid>,
}

/// Re-enqueues one dead-lettered delivery, named by its `webhook-id` (`msg_…`, what the CRM saw)
/// or its `delivery_id` (UUID).
#[utoipa::path(post, path = "/api/v1/admin/dlq/webhooks/{id}/retry", tag = "admin", operation_id = "v1.admin.dlq.retry",
    params(("id" = String, Path, description = "The delivery's `webhook_id` (`msg_` + 32 hex digits) or its `delivery_id` (UUID)",
        pattern = "^(msg_[0-9a-fA-F]{32}|[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")),
    responses((status = 202, body = RedriveResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all, fields(delivery.id = tracing::field::Empty))]
async fn retry_one(
    State(s): State<AppState>,
    auth: Auth,
    AppPath(id): AppPath<String>,
) -> ApiResult<(StatusCode, AppJson<RedriveResponse>)> {
    auth.platform_admin()?;
    let delivery_id = parse_delivery_ref(&id)?;
    tracing::Span::current().record("delivery.id", tracing::field::display(delivery_id));
    let ids = redrive_as(&s, &auth, &deliveries::DeliveryFilter::default(), Some(delivery_id), 1).await?;
    if ids.is_empty() {
        return Err(ApiError::NotFound("dead-lettered delivery"));
    }
    Ok((StatusCode::ACCEPTED, AppJson(RedriveResponse { requeued: ids.len(), delivery_ids: ids })))
}

/// A delivery named by its `webhook-id` (`msg_<32 hex>`) or its UUID (with or without dashes).
fn parse_delivery_ref(id: &str) -> Result<Uuid, ApiError> {
    let hex = id.strip_prefix("msg_");
    let parsed = match hex {
        Some(h) if h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Uuid::try_parse(h).ok(),
        Some(_) => None,
        None if id.len() == 36 || id.len() == 32 => Uuid::try_parse(id).ok(),
        None => None,
    };
    parsed.ok_or_else(|| {
        ApiError::bad_path("id", "must be a delivery's webhook_id (`msg_` + 32 hex digits) or its delivery_id (UUID)")
    })
}

/// Re-enqueues every dead-lettered delivery matching the filters (at most 10 000 per call).
#[utoipa::path(post, path = "/api/v1/admin/dlq/webhooks/retry", tag = "admin", operation_id = "v1.admin.dlq.retry_bulk",
    request_body = DlqQuery,
    responses((status = 202, body = RedriveResponse), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    security(("ApiKeyAuth" = [])))]
#[tracing::instrument(skip_all)]
async fn retry_bulk(
    State(s): State<AppState>,
    auth: Auth,
    AppJson(q): AppJson<DlqQuery>,
) -> ApiResult<(StatusCode, AppJson<RedriveResponse>)> {
    auth.platform_admin()?;
    q.validate()?;
    let ids = redrive_as(&s, &auth, &q.filter(), None, REDRIVE_MAX).await?;
    Ok((StatusCode::ACCEPTED, AppJson(RedriveResponse { requeued: ids.len(), delivery_ids: ids })))
}

/// Most deliveries one bulk redrive re-enqueues.
pub const REDRIVE_MAX: i64 = 10_000;

/// Re-enqueues dead-lettered deliveries (exactly `only`, or up to `max` matching `filter`) for a
/// platform admin: the REST API's and the admin console's one code path. Returns the ids.
///
/// # Errors
/// 403 for other keys, Postgres errors.
pub async fn redrive_as(
    s: &AppState,
    auth: &Auth,
    filter: &deliveries::DeliveryFilter,
    only: Option<Uuid>,
    max: i64,
) -> ApiResult<Vec<Uuid>> {
    auth.platform_admin()?;
    let mut tx = db::begin_admin_tx(&s.db).await?;
    let ids = deliveries::redrive(&mut tx, filter, only, max).await?;
    tx.commit().await?;
    tracing::info!(requeued = ids.len(), "dead-lettered deliveries re-enqueued");
    Ok(ids)
}
