//! `merchants`: tenants.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// A tenant row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MerchantRow {
    pub merchant_id: Uuid,
    pub name: String,
    pub status: String,
    pub created_at: OffsetDateTime,
}

/// Inserts a merchant. Under RLS the caller's context must name `merchant_id` (or be admin).
///
/// # Errors
/// Postgres errors.
#[tracing::instrument(skip_all, fields(merchant.id = %merchant_id))]
pub async fn insert_merchant(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    name: &str,
) -> Result<MerchantRow, sqlx::Error> {
    sqlx::query_as(
        r"insert into merchants (merchant_id, name) values ($1, $2)
          returning merchant_id, name, status, created_at",
    )
    .bind(merchant_id)
    .bind(name)
    .fetch_one(&mut *conn)
    .await
}

/// Finds a merchant visible in the current context.
///
/// # Errors
/// Postgres errors.
pub async fn find_merchant(conn: &mut PgConnection, merchant_id: Uuid) -> Result<Option<MerchantRow>, sqlx::Error> {
    sqlx::query_as("select merchant_id, name, status, created_at from merchants where merchant_id = $1")
        .bind(merchant_id)
        .fetch_optional(&mut *conn)
        .await
}
