//! `message_templates`: one immutable row per template version (see the migration
//! `20261207000054_message_templates.sql` and [`crate::templates`]).
//!
//! Writes of one template name are serialised by a transaction-scoped advisory lock on
//! (merchant, name), so two concurrent updates get versions n+1 and n+2 instead of one failing on
//! the unique key. Every statement runs under the merchant's RLS context as well as filtering by
//! merchant explicitly (the index leads with it).

use sqlx::PgConnection;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::outbound::{Attachment, Button, QuickReply};
use crate::templates::Variable;

/// A stored template version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateRow {
    pub template_id: Uuid,
    pub merchant_id: Uuid,
    pub name: String,
    pub version: i32,
    pub body: String,
    pub variables: Json<Vec<Variable>>,
    pub quick_replies: Option<Json<Vec<QuickReply>>>,
    pub attachment: Option<Json<Attachment>>,
    /// Sent as a button template with the rendered text.
    pub buttons: Option<Json<Vec<Button>>>,
    pub created_at: OffsetDateTime,
    pub deleted_at: Option<OffsetDateTime>,
}

const COLS: &str = "template_id, merchant_id, name, version, body, variables, quick_replies, attachment, buttons, \
                    created_at, deleted_at";

/// A version to write.
#[derive(Debug, Clone, Copy)]
pub struct NewVersion<'a> {
    pub merchant_id: Uuid,
    pub name: &'a str,
    pub body: &'a str,
    pub variables: &'a [Variable],
    pub quick_replies: Option<&'a [QuickReply]>,
    pub attachment: Option<&'a Attachment>,
    pub buttons: Option<&'a [Button]>,
}

/// Whether a write starts a template or continues one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Only if no live version of the name exists (a deleted one's numbering continues).
    Create,
    /// Only if a live version exists.
    Update,
}

/// Writes the next version of `v.name`. `None`: [`Write::Create`] found a live template of that
/// name, or [`Write::Update`] found none.
///
/// # Errors
/// Postgres errors.
pub async fn write_version(
    conn: &mut PgConnection,
    v: &NewVersion<'_>,
    mode: Write,
) -> Result<Option<TemplateRow>, sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2, 0))")
        .bind(v.merchant_id)
        .bind(v.name)
        .execute(&mut *conn)
        .await?;
    sqlx::query_as(&format!(
        r"insert into message_templates (template_id, merchant_id, name, version, body, variables, quick_replies,
                                         attachment, buttons)
          select $1, $2, $3, coalesce(max(t.version), 0) + 1, $4, $5, $6, $7, $9
            from message_templates t
           where t.merchant_id = $2 and t.name = $3
          having coalesce(bool_or(t.deleted_at is null), false) = $8
          returning {COLS}"
    ))
    .bind(Uuid::now_v7())
    .bind(v.merchant_id)
    .bind(v.name)
    .bind(v.body)
    .bind(Json(v.variables))
    .bind(v.quick_replies.map(Json))
    .bind(v.attachment.map(Json))
    // Whether a live version must exist (an update) or must not (a create).
    .bind(mode == Write::Update)
    .bind(v.buttons.map(Json))
    .fetch_optional(&mut *conn)
    .await
}

/// The live version `version` of `name`, or its latest live version.
///
/// # Errors
/// Postgres errors.
pub async fn find(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    name: &str,
    version: Option<i32>,
) -> Result<Option<TemplateRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        r"select {COLS} from message_templates
           where merchant_id = $1 and name = $2 and deleted_at is null and ($3::int is null or version = $3)
           order by version desc
           limit 1"
    ))
    .bind(merchant_id)
    .bind(name)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await
}

/// A version by id, deleted or not (what a message was rendered from).
///
/// # Errors
/// Postgres errors.
pub async fn find_by_id(conn: &mut PgConnection, template_id: Uuid) -> Result<Option<TemplateRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {COLS} from message_templates where template_id = $1"))
        .bind(template_id)
        .fetch_optional(&mut *conn)
        .await
}

/// The latest live version of each template, by name, after the `after` name.
///
/// # Errors
/// Postgres errors.
pub async fn list_latest(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<TemplateRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        r"select distinct on (name) {COLS} from message_templates
           where merchant_id = $1 and deleted_at is null and ($2::text is null or name > $2)
           order by name, version desc
           limit $3"
    ))
    .bind(merchant_id)
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
}

/// The newest 100 live versions of `name`, newest first.
///
/// # Errors
/// Postgres errors.
pub async fn versions(conn: &mut PgConnection, merchant_id: Uuid, name: &str) -> Result<Vec<TemplateRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        r"select {COLS} from message_templates
           where merchant_id = $1 and name = $2 and deleted_at is null
           order by version desc
           limit 100"
    ))
    .bind(merchant_id)
    .bind(name)
    .fetch_all(&mut *conn)
    .await
}

/// Soft-deletes every version of `name`; false when there was no live one.
///
/// # Errors
/// Postgres errors.
pub async fn delete(conn: &mut PgConnection, merchant_id: Uuid, name: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update message_templates set deleted_at = now() where merchant_id = $1 and name = $2 and deleted_at is null",
    )
    .bind(merchant_id)
    .bind(name)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
