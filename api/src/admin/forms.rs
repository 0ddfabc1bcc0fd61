//! Bounded, NUL-safe parsing of console forms and query strings.
//!
//! The hostile-input rules of the REST API hold here too: a form body is at most
//! [`super::MAX_FORM_BYTES`] (413 beyond), a query string at most 4 KiB, at most 500 fields, and
//! U+0000 anywhere (names or values) is a 422 before any handler or database work (Postgres `text`
//! refuses it). Values are then parsed into typed fields (UUIDs, times, enums) by the pages, each
//! failure a 422 naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

use super::error::ConsoleError;

/// Longest query string the console reads.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Most fields in one form or query.
pub const MAX_FIELDS: usize = 500;

/// Decoded `name=value` pairs, in order (repeated names allowed: checkbox lists).
#[derive(Debug, Clone, Default)]
pub struct Pairs(pub Vec<(String, String)>);

impl Pairs {
    /// Parses `application/x-www-form-urlencoded` bytes.
    ///
    /// # Errors
    /// 422 for NUL or too many fields.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConsoleError> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(bytes).into_owned().collect();
        if pairs.len() > MAX_FIELDS {
            return Err(ConsoleError::Invalid(format!("at most {MAX_FIELDS} fields")));
        }
        if let Some((name, _)) = pairs.iter().find(|(k, v)| k.contains('\0') || v.contains('\0')) {
            let name: String = name.replace('\0', "\u{FFFD}").chars().take(40).collect();
            return Err(ConsoleError::Invalid(format!("{name}: must not contain NUL (U+0000)")));
        }
        Ok(Self(pairs))
    }

    /// The first non-empty (trimmed) value of `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).find(|v| !v.is_empty())
    }

    /// Every non-empty value of `name`.
    #[must_use]
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty()).collect()
    }

    /// A text field of at most `max` characters.
    ///
    /// # Errors
    /// 422 when longer.
    pub fn text(&self, name: &str, max: usize) -> Result<Option<&str>, ConsoleError> {
        match self.get(name) {
            Some(v) if v.chars().count() > max => {
                Err(ConsoleError::Invalid(format!("{name}: at most {max} characters")))
            }
            v => Ok(v),
        }
    }

    /// A UUID field.
    ///
    /// # Errors
    /// 422 when present and not a UUID.
    pub fn uuid(&self, name: &str) -> Result<Option<Uuid>, ConsoleError> {
        self.get(name)
            .map(|v| Uuid::try_parse(v).map_err(|_| ConsoleError::Invalid(format!("{name}: must be an id (UUID)"))))
            .transpose()
    }

    /// One of `allowed`.
    ///
    /// # Errors
    /// 422 for anything else.
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ConsoleError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v.to_owned())),
            Some(_) => Err(ConsoleError::Invalid(format!("{name}: must be one of {}", allowed.join(", ")))),
        }
    }

    /// A time: RFC 3339, or the `YYYY-MM-DDTHH:MM` of an HTML `datetime-local` input (read as UTC).
    ///
    /// # Errors
    /// 422 when unreadable or outside what Postgres stores.
    pub fn time(&self, name: &str) -> Result<Option<OffsetDateTime>, ConsoleError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        let local = format_description!("[year]-[month]-[day]T[hour]:[minute]");
        let local_s = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
        let t = OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
            .ok()
            .or_else(|| time::PrimitiveDateTime::parse(v, &local).ok().map(time::PrimitiveDateTime::assume_utc))
            .or_else(|| time::PrimitiveDateTime::parse(v, &local_s).ok().map(time::PrimitiveDateTime::assume_utc))
            .filter(|t| (1970..=9999).contains(&t.year()))
            .ok_or_else(|| ConsoleError::Invalid(format!("{name}: must be a date and time (YYYY-MM-DDTHH:MM, UTC)")))?;
        Ok(Some(t))
    }

    /// A pagination cursor (as the REST API encodes them).
    ///
    /// # Errors
    /// 422 for a forged or unreadable cursor.
    pub fn cursor(&self) -> Result<Option<(OffsetDateTime, Uuid)>, ConsoleError> {
        crate::pagination::decode_cursor(self.get("cursor")).map_err(ConsoleError::from)
    }

    /// The pairs, minus `cursor` and anything in `drop`, as a query string (for pager links).
    #[must_use]
    pub fn query_without(&self, drop: &[&str]) -> String {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            if k != "cursor" && !drop.contains(&k.as_str()) && !v.trim().is_empty() {
                ser.append_pair(k, v.trim());
            }
        }
        ser.finish()
    }
}

/// The query string of a GET page, parsed with the rules above.
#[derive(Debug, Clone, Default)]
pub struct Query(pub Pairs);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        if q.len() > MAX_QUERY_BYTES {
            return Err(ConsoleError::TooLarge);
        }
        Ok(Self(Pairs::parse(q.as_bytes())?))
    }
}

/// A form body (`application/x-www-form-urlencoded`), parsed with the rules above. The CSRF token
/// is checked by [`super::session::CsrfForm`], which every state-changing handler takes.
#[derive(Debug, Clone, Default)]
pub struct FormBody(pub Pairs);

impl<S: Send + Sync> FromRequest<S> for FormBody {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(ConsoleError::UnsupportedMedia);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|_| ConsoleError::TooLarge)?;
        Ok(Self(Pairs::parse(&bytes)?))
    }
}

/// The `{id}` of a console path, parsed: a malformed id is a 404 like an unknown one (there is
/// nothing to tell apart), answered before the handler opens a transaction.
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ConsoleError::NotFound)?;
        Uuid::try_parse(&raw).map(Self).map_err(|_| ConsoleError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_anywhere_is_refused_and_repeated_fields_are_kept() {
        assert!(matches!(Pairs::parse(b"a=x%00y"), Err(ConsoleError::Invalid(m)) if m.starts_with("a:")));
        assert!(matches!(Pairs::parse(b"a%00b=1"), Err(ConsoleError::Invalid(_))));
        let p = Pairs::parse(b"ids=1&ids=2&ids=&x=+y+").unwrap();
        assert_eq!(p.all("ids"), vec!["1", "2"]);
        assert_eq!(p.get("x"), Some("y"));
        let many = vec!["a=1"; MAX_FIELDS + 1].join("&");
        assert!(Pairs::parse(many.as_bytes()).is_err());
    }

    #[test]
    fn times_accept_rfc3339_and_datetime_local_and_refuse_the_rest() {
        let p = Pairs::parse(b"a=2026-12-01T10:30&b=2026-12-01T10:30:00Z&c=yesterday&d=0000-01-01T00:00").unwrap();
        assert_eq!(p.time("a").unwrap().unwrap().hour(), 10);
        assert!(p.time("b").unwrap().is_some());
        assert!(p.time("c").is_err());
        assert!(p.time("d").is_err());
        assert!(p.time("missing").unwrap().is_none());
    }
}
