//! Opaque keyset cursors shared by the list endpoints: `(timestamp, id)` of the last row of a page,
//! base64url-encoded, so the next page continues strictly after it whatever was inserted since.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;

/// The cursor after a row.
#[must_use]
pub fn encode_cursor(at: OffsetDateTime, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", at.unix_timestamp_nanos()))
}

/// Cuts a page read with one row more than `limit` (`limit + 1`) back to `limit` rows, and returns
/// the cursor after its last row (`key`: the row's `(timestamp, id)`) when that extra row was there,
/// i.e. when there is a next page.
pub fn next_page<T>(
    rows: &mut Vec<T>,
    limit: i64,
    key: impl FnOnce(&T) -> Option<(OffsetDateTime, Uuid)>,
) -> Option<String> {
    if rows.len() as i64 <= limit {
        return None;
    }
    rows.truncate(limit as usize);
    rows.last().and_then(key).map(|(at, id)| encode_cursor(at, id))
}

/// Parses an optional `cursor` query parameter.
///
/// # Errors
/// 422 `validation_failed` naming `cursor` when it is not one of ours.
pub fn decode_cursor(c: Option<&str>) -> Result<Option<(OffsetDateTime, Uuid)>, ApiError> {
    let Some(c) = c else { return Ok(None) };
    let bad = || ApiError::invalid("cursor", "is not a cursor from this API");
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?).map_err(|_| bad())?;
    let (ns, id) = raw.split_once('|').ok_or_else(bad)?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(ns.parse().map_err(|_| bad())?).map_err(|_| bad())?;
    // Ours come from stored rows; a forged one before year 1 would reach Postgres (which stops at
    // 4713 BC) and fail the query with a 500.
    if at.year() < 1 {
        return Err(bad());
    }
    Ok(Some((at, id.parse().map_err(|_| bad())?)))
}
