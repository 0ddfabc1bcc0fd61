//! Message templates: named, versioned texts with typed `{{variable}}` placeholders (seed phase 4).
//!
//! A merchant stores `Hi {{first_name}}, order {{order_id}} has shipped` once and sends it with
//! `{"template": "order_shipped", "variables": {...}}`. Everything a template can get wrong is
//! refused when it is written ([`Definition::check`]): a malformed placeholder, a placeholder
//! without a declared variable, a declared variable the body never uses, a body whose fixed text
//! alone is over the message limits. Everything a send can get wrong is refused by [`render`]
//! with a 422 that names the variables: missing ones, ones the template does not declare, wrong
//! types, values over their `max_length`, and a rendered text over the limits every message obeys
//! (1 000 characters, 2 KB of UTF-8).
//!
//! Why rendering happens in Rust at accept time, not in the worker: the stored message is then
//! exactly what goes to Instagram (the status API, the CRM's webhooks and the echo matching all
//! see the real text), a template edited after the accept cannot change a queued message, and the
//! send path and its SQL stay unaware of templates except for the version id they record.
//!
//! The syntax is deliberately small: `{{ name }}` (spaces optional), names `[a-z_][a-z0-9_]*`.
//! There are no conditionals, loops, filters or escapes; a literal `{{` cannot be written. Values
//! are inserted as plain text (Instagram renders no markup).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::{MESSAGE_TEXT_MAX_BYTES, MESSAGE_TEXT_MAX_CHARS};

/// Most variables one template declares.
pub const MAX_VARIABLES: usize = 20;
/// Longest body, in bytes of UTF-8 (placeholders included).
pub const MAX_BODY_BYTES: usize = 4096;
/// Longest template or variable name.
pub const MAX_NAME_LEN: usize = 64;

/// The type of a variable's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VarType {
    /// A JSON string, inserted as it is.
    String,
    /// A JSON integer (no fraction, within 64 bits), inserted in decimal.
    Integer,
}

impl VarType {
    fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
        }
    }
}

/// A declared variable, as stored in `message_templates.variables`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: VarType,
    /// For strings: the most characters a value may have (default and ceiling: 1 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

/// One piece of a parsed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// A refusal, naming the field of the request it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), message: message.into() }
}

/// `[a-z0-9][a-z0-9_]{0,63}`: the template names of URLs and send requests.
#[must_use]
pub fn is_template_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME_LEN
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn is_variable_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME_LEN
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Splits a body into text and placeholders.
///
/// # Errors
/// An `{{` that does not open a well-formed `{{ name }}`, named by its character position.
pub fn parse(body: &str) -> Result<Vec<Segment<'_>>, Invalid> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Segment::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let at = body.len() - rest.len() + open;
        let position = body[..at].chars().count();
        let Some(close) = after.find("}}") else {
            return Err(invalid("body", format!("the placeholder at character {position} has no closing }}}}")));
        };
        let name = after[..close].trim_matches(' ');
        if !is_variable_name(name) {
            return Err(invalid(
                "body",
                format!(
                    "the placeholder at character {position} must be {{{{name}}}} with a name of a-z, 0-9 and _ \
                     (at most {MAX_NAME_LEN}, not starting with a digit)"
                ),
            ));
        }
        out.push(Segment::Var(name));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Segment::Text(rest));
    }
    Ok(out)
}

/// What a template version is made of, as a create or update request gives it.
#[derive(Debug, Clone, Copy)]
pub struct Definition<'a> {
    pub body: &'a str,
    pub variables: &'a [Variable],
    /// The most characters its rendered text may have: [`MESSAGE_TEXT_MAX_CHARS`], or
    /// [`BUTTON_TEXT_MAX_CHARS`] for a template with buttons.
    pub max_chars: usize,
}

/// The text limit of a button template (Meta's).
pub const BUTTON_TEXT_MAX_CHARS: usize = 640;

/// The most characters a template's rendered text may have: a button template's 640 when it has
/// buttons, a message's 1 000 otherwise.
#[must_use]
pub fn text_limit(has_buttons: bool) -> usize {
    if has_buttons { BUTTON_TEXT_MAX_CHARS } else { MESSAGE_TEXT_MAX_CHARS }
}

impl Definition<'_> {
    /// Checks a definition before it is stored.
    ///
    /// # Errors
    /// The first problem found, naming its field (`body`, `variables[i].name`, …).
    pub fn check(&self) -> Result<(), Invalid> {
        if self.body.trim().is_empty() {
            return Err(invalid("body", "must not be empty"));
        }
        if self.body.len() > MAX_BODY_BYTES {
            return Err(invalid("body", format!("must be at most {MAX_BODY_BYTES} bytes of UTF-8")));
        }
        if self.variables.len() > MAX_VARIABLES {
            return Err(invalid("variables", format!("at most {MAX_VARIABLES} variables")));
        }
        for (i, v) in self.variables.iter().enumerate() {
            if !is_variable_name(&v.name) {
                return Err(invalid(
                    format!("variables[{i}].name"),
                    format!("must be 1–{MAX_NAME_LEN} of a-z, 0-9 and _, not starting with a digit"),
                ));
            }
            if self.variables[..i].iter().any(|w| w.name == v.name) {
                return Err(invalid(format!("variables[{i}].name"), format!("{:?} is declared twice", v.name)));
            }
            match (v.kind, v.max_length) {
                (VarType::Integer, Some(_)) => {
                    return Err(invalid(format!("variables[{i}].max_length"), "applies only to string variables"));
                }
                (VarType::String, Some(n)) if n == 0 || n as usize > MESSAGE_TEXT_MAX_CHARS => {
                    return Err(invalid(
                        format!("variables[{i}].max_length"),
                        format!("must be 1–{MESSAGE_TEXT_MAX_CHARS}"),
                    ));
                }
                _ => {}
            }
        }
        let segments = parse(self.body)?;
        let used: Vec<&str> =
            segments.iter().filter_map(|s| if let Segment::Var(v) = s { Some(*v) } else { None }).collect();
        let undeclared = names_not_in(&used, self.variables.iter().map(|v| v.name.as_str()));
        if !undeclared.is_empty() {
            return Err(invalid("body", format!("uses undeclared variables: {}", undeclared.join(", "))));
        }
        let unused =
            names_not_in(&self.variables.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), used.iter().copied());
        if !unused.is_empty() {
            return Err(invalid("variables", format!("declared but not used in the body: {}", unused.join(", "))));
        }
        let fixed: String =
            segments.iter().filter_map(|s| if let Segment::Text(t) = s { Some(*t) } else { None }).collect();
        if fixed.chars().count() > self.max_chars || fixed.len() > MESSAGE_TEXT_MAX_BYTES {
            return Err(invalid(
                "body",
                format!(
                    "its fixed text alone is over a message's limit ({} characters, {MESSAGE_TEXT_MAX_BYTES} bytes)",
                    self.max_chars
                ),
            ));
        }
        Ok(())
    }
}

/// The names of `names` (deduplicated, in order) that `among` does not hold.
fn names_not_in<'a>(names: &[&'a str], among: impl Iterator<Item = &'a str> + Clone) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for n in names {
        if !among.clone().any(|a| a == *n) && !out.contains(n) {
            out.push(n);
        }
    }
    out
}

/// Why a send's variables do not fit its template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// Variables the template declares and the request lacks, and ones it gives that the template
    /// does not declare (both sorted; the unexpected ones cut to the first [`MAX_VARIABLES`], with
    /// the count of the rest in `more`, so a hostile request cannot grow the error body).
    Mismatch { missing: Vec<String>, unexpected: Vec<String>, more: usize },
    /// A value of the wrong type, or too long.
    Value(Invalid),
    /// The rendered text is over a message's limits.
    TooLong { chars: usize, bytes: usize },
}

/// Renders a stored body with a request's values.
///
/// # Errors
/// [`RenderError`]: every missing and unexpected variable at once, else the first bad value, else
/// a rendered text over `max_chars` / [`MESSAGE_TEXT_MAX_BYTES`].
pub fn render(
    body: &str,
    variables: &[Variable],
    values: &Map<String, Value>,
    max_chars: usize,
) -> Result<String, RenderError> {
    let mut missing: Vec<String> =
        variables.iter().filter(|v| !values.contains_key(&v.name)).map(|v| v.name.clone()).collect();
    let mut unexpected: Vec<String> =
        values.keys().filter(|k| !variables.iter().any(|v| &v.name == *k)).map(|k| bounded_name(k)).collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        missing.sort();
        unexpected.sort();
        let more = unexpected.len().saturating_sub(MAX_VARIABLES);
        unexpected.truncate(MAX_VARIABLES);
        return Err(RenderError::Mismatch { missing, unexpected, more });
    }
    let mut rendered_values = Map::new();
    for v in variables {
        let field = format!("variables.{}", v.name);
        let text = match (v.kind, &values[&v.name]) {
            (VarType::String, Value::String(s)) => {
                let max = v.max_length.map_or(MESSAGE_TEXT_MAX_CHARS, |n| n as usize);
                let n = s.chars().count();
                if n > max {
                    return Err(RenderError::Value(invalid(
                        field,
                        format!("must be at most {max} characters, got {n}"),
                    )));
                }
                s.clone()
            }
            (VarType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
            (kind, _) => return Err(RenderError::Value(invalid(field, format!("must be a JSON {}", kind.as_str())))),
        };
        rendered_values.insert(v.name.clone(), Value::String(text));
    }
    // The body was checked when stored; a stored body that no longer parses is treated as text.
    let segments = parse(body).unwrap_or_else(|_| vec![Segment::Text(body)]);
    let mut out = String::with_capacity(body.len());
    for s in segments {
        match s {
            Segment::Text(t) => out.push_str(t),
            Segment::Var(name) => out.push_str(rendered_values.get(name).and_then(Value::as_str).unwrap_or_default()),
        }
    }
    let (chars, bytes) = (out.chars().count(), out.len());
    if chars > max_chars || bytes > MESSAGE_TEXT_MAX_BYTES || out.trim().is_empty() {
        return Err(RenderError::TooLong { chars, bytes });
    }
    Ok(out)
}

/// A client's variable name as quoted back in an error: at most 64 characters, so a hostile
/// request cannot make the error body large.
fn bounded_name(k: &str) -> String {
    k.chars().take(MAX_NAME_LEN).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vars(spec: &[(&str, VarType)]) -> Vec<Variable> {
        spec.iter().map(|(n, k)| Variable { name: (*n).into(), kind: *k, max_length: None }).collect()
    }

    fn render_msg(body: &str, v: &[Variable], values: &Map<String, Value>) -> Result<String, RenderError> {
        render(body, v, values, MESSAGE_TEXT_MAX_CHARS)
    }

    fn values(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn placeholders_parse_with_or_without_spaces_and_bad_ones_are_named_by_position() {
        assert_eq!(
            parse("Hi {{first_name}}, order {{ order_id }}!").unwrap(),
            vec![
                Segment::Text("Hi "),
                Segment::Var("first_name"),
                Segment::Text(", order "),
                Segment::Var("order_id"),
                Segment::Text("!")
            ]
        );
        assert_eq!(parse("é {{x").unwrap_err().message, "the placeholder at character 2 has no closing }}");
        assert!(parse("{{First}}").unwrap_err().message.starts_with("the placeholder at character 0 must be"));
        assert!(parse("{{1x}}").is_err());
        assert!(parse("{{}}").is_err());
        assert_eq!(parse("just }} text").unwrap(), vec![Segment::Text("just }} text")]);
    }

    #[test]
    fn a_definition_declares_exactly_what_its_body_uses() {
        let v = vars(&[("first_name", VarType::String), ("order_id", VarType::Integer)]);
        Definition { body: "Hi {{first_name}}, order {{order_id}}", variables: &v, max_chars: MESSAGE_TEXT_MAX_CHARS }
            .check()
            .unwrap();
        let e = Definition { body: "Hi {{first_name}} {{coupon}}", variables: &v, max_chars: MESSAGE_TEXT_MAX_CHARS }
            .check()
            .unwrap_err();
        assert_eq!((e.field.as_str(), e.message.as_str()), ("body", "uses undeclared variables: coupon"));
        let e = Definition { body: "Hi {{first_name}}", variables: &v, max_chars: MESSAGE_TEXT_MAX_CHARS }
            .check()
            .unwrap_err();
        assert_eq!(e.message, "declared but not used in the body: order_id");
        let twice = vars(&[("a", VarType::String), ("a", VarType::String)]);
        assert_eq!(
            Definition { body: "{{a}}", variables: &twice, max_chars: MESSAGE_TEXT_MAX_CHARS }
                .check()
                .unwrap_err()
                .field,
            "variables[1].name"
        );
        let mut int_len = vars(&[("n", VarType::Integer)]);
        int_len[0].max_length = Some(3);
        assert_eq!(
            Definition { body: "{{n}}", variables: &int_len, max_chars: MESSAGE_TEXT_MAX_CHARS }
                .check()
                .unwrap_err()
                .field,
            "variables[0].max_length"
        );
        let long = "x".repeat(MESSAGE_TEXT_MAX_CHARS + 1);
        assert!(
            Definition { body: &long, variables: &[], max_chars: MESSAGE_TEXT_MAX_CHARS }
                .check()
                .unwrap_err()
                .message
                .contains("fixed text")
        );
    }

    #[test]
    fn rendering_names_every_missing_and_unexpected_variable() {
        let v = vars(&[("first_name", VarType::String), ("order_id", VarType::Integer)]);
        let body = "Hi {{first_name}}, order {{order_id}} has shipped";
        assert_eq!(
            render_msg(body, &v, &values(json!({"first_name": "Ana", "order_id": 1042}))).unwrap(),
            "Hi Ana, order 1042 has shipped"
        );
        assert_eq!(
            render_msg(body, &v, &values(json!({"coupon": "X", "zz": 1}))).unwrap_err(),
            RenderError::Mismatch {
                missing: vec!["first_name".into(), "order_id".into()],
                unexpected: vec!["coupon".into(), "zz".into()],
                more: 0
            }
        );
        let many: Map<String, Value> = (0..500).map(|i| (format!("v{i:03}_{}", "x".repeat(100)), json!(1))).collect();
        let RenderError::Mismatch { unexpected, more, .. } = render_msg(body, &v, &many).unwrap_err() else {
            panic!("expected a mismatch")
        };
        assert_eq!((unexpected.len(), more), (MAX_VARIABLES, 480));
        assert!(unexpected.iter().all(|n| n.chars().count() == MAX_NAME_LEN));
        let RenderError::Value(e) =
            render_msg(body, &v, &values(json!({"first_name": "Ana", "order_id": "1042"}))).unwrap_err()
        else {
            panic!("expected a type error")
        };
        assert_eq!((e.field.as_str(), e.message.as_str()), ("variables.order_id", "must be a JSON integer"));
        assert!(render_msg(body, &v, &values(json!({"first_name": "Ana", "order_id": 1.5}))).is_err());
    }

    #[test]
    fn the_rendered_text_obeys_the_message_limits_and_max_length() {
        let mut v = vars(&[("x", VarType::String)]);
        let ok = "é".repeat(1000);
        assert!(matches!(
            render_msg("{{x}}!", &v, &values(json!({ "x": ok }))).unwrap_err(),
            RenderError::TooLong { chars: 1001, bytes: 2001 }
        ));
        assert_eq!(render_msg("{{x}}", &v, &values(json!({ "x": "a".repeat(1000) }))).unwrap().len(), 1000);
        v[0].max_length = Some(3);
        let RenderError::Value(e) = render_msg("{{x}}", &v, &values(json!({"x": "abcd"}))).unwrap_err() else {
            panic!("expected max_length")
        };
        assert_eq!(e.message, "must be at most 3 characters, got 4");
        assert!(matches!(render_msg("{{x}}", &v, &values(json!({"x": "  "}))), Err(RenderError::TooLong { .. })));
    }
}
