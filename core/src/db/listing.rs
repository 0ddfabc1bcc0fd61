//! The one builder behind the filtered and account-scoped statements: the console's pages, the
//! REST lists, the DLQ and its redrive, and the account lookups inside an [`AccountScope`]. The
//! account scope, the filters and the keyset cursor are written here once.
//!
//! A filter that is set adds its own plain predicate (`d.status = $n`, `d.created_at >= $n`); one
//! that is not set adds nothing. A statement therefore names only the columns it filters on, each
//! compared directly with a parameter, and the planner matches them to the indexes as it would in a
//! hand-written statement. Column names come from the callers' string constants, never from input;
//! every value is a bind parameter.

use sqlx::postgres::PgRow;
use sqlx::{Encode, FromRow, PgConnection, Postgres, QueryBuilder, Type};
use time::OffsetDateTime;
use uuid::Uuid;

/// Which of the context's accounts a caller may see: the one filter every API route applies
/// (through `Auth::find_account` / `Auth::account_scope` in the API), so no route carries its own
/// copy of the rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountScope<'a> {
    /// Only these accounts (an API key's allow-list), when set.
    pub only: Option<&'a [Uuid]>,
    /// Only sandbox accounts: a `router_test_` key never sees or touches a live account.
    pub sandbox_only: bool,
}

impl AccountScope<'_> {
    /// Whether the allow-list (if any) names `account_id`; a cheap pre-check before any query.
    #[must_use]
    pub fn allows_id(&self, account_id: Uuid) -> bool {
        self.only.is_none_or(|ids| ids.contains(&account_id))
    }
}

/// A statement under construction: its head (up to `where`), then `where` and one predicate per
/// filter that is set.
pub(crate) struct Filtered<'a> {
    qb: QueryBuilder<'a, Postgres>,
}

impl<'a> Filtered<'a> {
    /// `head` is the statement up to its `where`; `always` the predicate every row must meet
    /// (`true` when there is none). Write partial-index predicates here as literals
    /// (`d.status = 'dlq'`), so the planner can match the index.
    pub(crate) fn new(head: &str, always: &str) -> Self {
        let mut qb = QueryBuilder::new(head);
        qb.push(" where ").push(always);
        Self { qb }
    }

    /// ` and …` pushed by `push` with the value, when `value` is set.
    pub(crate) fn when<T>(mut self, value: Option<T>, push: impl FnOnce(&mut QueryBuilder<'a, Postgres>, T)) -> Self {
        if let Some(v) = value {
            self.qb.push(" and ");
            push(&mut self.qb, v);
        }
        self
    }

    /// ` and {col} {op} $n`, when `value` is set.
    pub(crate) fn cmp<T>(self, col: &str, op: &str, value: Option<T>) -> Self
    where
        T: 'a + Encode<'a, Postgres> + Type<Postgres>,
    {
        self.when(value, |qb, v| {
            qb.push(format_args!("{col} {op} ")).push_bind(v);
        })
    }

    /// ` and {col} = $n`, when `value` is set.
    pub(crate) fn eq<T>(self, col: &str, value: Option<T>) -> Self
    where
        T: 'a + Encode<'a, Postgres> + Type<Postgres>,
    {
        self.cmp(col, "=", value)
    }

    /// `{col}` in `[since, until)`, each bound when set.
    pub(crate) fn within(self, col: &str, since: Option<OffsetDateTime>, until: Option<OffsetDateTime>) -> Self {
        self.cmp(col, ">=", since).cmp(col, "<", until)
    }

    /// The caller's [`AccountScope`]: `account` (the row's account id) in the allow-list when there
    /// is one, and `sandbox` (that account's sandbox flag) true for a test key.
    pub(crate) fn scope(self, account: &str, sandbox: &str, scope: AccountScope<'a>) -> Self {
        self.when(scope.only, |qb, ids| {
            qb.push(format_args!("{account} = any(")).push_bind(ids).push(")");
        })
        .when(scope.sandbox_only.then_some(()), |qb, ()| {
            qb.push(sandbox);
        })
    }

    /// The statement so far, for statements that go on after their filters (a CTE).
    pub(crate) fn into_builder(self) -> QueryBuilder<'a, Postgres> {
        self.qb
    }

    /// Fetches the one row the predicates name, if any.
    ///
    /// # Errors
    /// Postgres errors.
    pub(crate) async fn fetch_optional<T>(mut self, conn: &mut PgConnection) -> Result<Option<T>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.qb.build_query_as().fetch_optional(&mut *conn).await
    }

    /// Fetches every row, in `order` (an `order by` list).
    ///
    /// # Errors
    /// Postgres errors.
    pub(crate) async fn fetch_all<T>(mut self, conn: &mut PgConnection, order: &str) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.qb.push(format_args!(" order by {order}"));
        self.qb.build_query_as().fetch_all(&mut *conn).await
    }

    /// Fetches a keyset page: rows strictly before the `(at, id)` cursor, newest first, at most
    /// `limit`.
    ///
    /// # Errors
    /// Postgres errors.
    pub(crate) async fn fetch_page<T>(
        self,
        conn: &mut PgConnection,
        (at, id): (&str, &str),
        before: Option<(OffsetDateTime, Uuid)>,
        limit: i64,
    ) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut qb = self
            .when(before, |qb, (t, i)| {
                qb.push(format_args!("({at}, {id}) < (")).push_bind(t).push(", ").push_bind(i).push(")");
            })
            .qb;
        qb.push(format_args!(" order by {at} desc, {id} desc limit ")).push_bind(limit);
        qb.build_query_as().fetch_all(&mut *conn).await
    }
}
