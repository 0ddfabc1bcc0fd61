//! The checks of Instagram's structured messages (generic and button templates, buttons) that a
//! send or an account's persistent menu carries, with Meta's limits (research: Meta's generic
//! template and button template pages): a title of 1–80 characters, up to ten cards, up to three
//! buttons, button titles of 1–20 characters, payloads of 1–1000, http(s) URLs of at most 2048.
//! Every refusal is a 422 naming the field path, like the rest of the API.

use router_core::outbound::{Button, ButtonTemplate, Card, GenericTemplate};

use crate::error::ApiError;

/// An http(s) URL of at most 2048 characters, as the OpenAPI document's `HTTP_URL` pattern
/// states it (a host of letters, digits, dots and hyphens, an optional port up to 65535, then
/// printable ASCII after `/`, `?` or `#`) and as the URL standard parses it. Media, button and
/// card URLs all use this one rule, so the API accepts exactly what its document describes.
pub fn is_http_url(u: &str) -> bool {
    let scheme_len = if u.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("http://")) {
        7
    } else if u.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("https://")) {
        8
    } else {
        return false;
    };
    let rest = &u[scheme_len..];
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let (host, port) = authority.split_once(':').map_or((authority, None), |(h, p)| (h, Some(p)));
    let port_ok = port.is_none_or(|p| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && {
            let digits = p.trim_start_matches('0');
            digits.len() <= 5 && digits.parse::<u32>().unwrap_or(0) <= 65_535
        }
    });
    u.len() <= 2048
        && !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port_ok
        && tail.bytes().all(|b| (0x21..0x7f).contains(&b))
        && url::Url::parse(u).is_ok_and(|p| p.host().is_some())
}

/// `s` is 1–`max` characters and not only whitespace.
fn text(field: &str, s: &str, max: usize) -> Result<(), ApiError> {
    let n = s.chars().count();
    if n == 0 || n > max || s.trim().is_empty() {
        return Err(ApiError::invalid(field, format!("must be 1–{max} characters, not only spaces")));
    }
    Ok(())
}

fn url(field: &str, u: &str) -> Result<(), ApiError> {
    if is_http_url(u) {
        Ok(())
    } else {
        Err(ApiError::invalid(field, "must be an http(s) URL of at most 2048 characters"))
    }
}

/// One button at `field`.
pub fn check_button(field: &str, b: &Button) -> Result<(), ApiError> {
    match b {
        Button::WebUrl { title, url: u } => {
            text(&format!("{field}.title"), title, 20)?;
            url(&format!("{field}.url"), u)
        }
        Button::Postback { title, payload } => {
            text(&format!("{field}.title"), title, 20)?;
            text(&format!("{field}.payload"), payload, 1000)
        }
    }
}

/// `min`–`max` buttons at `field`.
pub fn check_buttons(field: &str, buttons: &[Button], min: usize, max: usize) -> Result<(), ApiError> {
    if buttons.len() < min || buttons.len() > max {
        return Err(ApiError::invalid(field, format!("must have {min}–{max} buttons, got {}", buttons.len())));
    }
    buttons.iter().enumerate().try_for_each(|(i, b)| check_button(&format!("{field}[{i}]"), b))
}

fn check_card(field: &str, c: &Card) -> Result<(), ApiError> {
    text(&format!("{field}.title"), &c.title, 80)?;
    if let Some(s) = &c.subtitle {
        text(&format!("{field}.subtitle"), s, 80)?;
    }
    if let Some(u) = &c.image_url {
        url(&format!("{field}.image_url"), u)?;
    }
    if let Some(u) = &c.default_action_url {
        url(&format!("{field}.default_action_url"), u)?;
    }
    check_buttons(&format!("{field}.buttons"), &c.buttons, 0, 3)
}

/// A generic template: 1–10 cards.
pub fn check_generic(g: &GenericTemplate) -> Result<(), ApiError> {
    let n = g.elements.len();
    if n == 0 || n > 10 {
        return Err(ApiError::invalid("generic_template.elements", format!("must have 1–10 cards, got {n}")));
    }
    g.elements.iter().enumerate().try_for_each(|(i, c)| check_card(&format!("generic_template.elements[{i}]"), c))
}

/// A button template: 1–640 characters of text and 1–3 buttons.
pub fn check_button_template(b: &ButtonTemplate) -> Result<(), ApiError> {
    text("button_template.text", &b.text, 640)?;
    check_buttons("button_template.buttons", &b.buttons, 1, 3)
}

#[cfg(test)]
mod tests {
    use super::is_http_url;

    #[test]
    fn urls_are_accepted_exactly_as_the_document_describes_them() {
        for ok in ["https://cdn.example/a.png?x=1#f", "HTTP://shop.example:08080/p", "http://a.b"] {
            assert!(is_http_url(ok), "{ok}");
        }
        for bad in [
            "httPS://-h83f*",
            "ftp://x.example",
            "https://",
            "https://a b.example",
            "https://x.example:70000",
            "javascript:alert(1)",
            "https://exa\u{e9}mple.com",
            "https://x.example/\u{e9}",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
    }
}
