//! The OpenAPI document (utoipa). Routes register themselves through `OpenApiRouter`, so every
//! routed handler is in the spec; this file adds the metadata and the
//! `ApiKeyAuth` bearer security scheme (the seed's name), applied to every operation unless it opts out.

use utoipa::Modify;

use crate::routes::deliveries::DLQ_REASONS;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Instagram Message Router API",
        description = "Bridge between Instagram Direct Messages and e-commerce CRMs. Send messages, read their status, \
                       manage connected accounts. Authenticate with `Authorization: Bearer router_live_…`. \
                       Errors use one body: `{error, message, details?, correlation_id, timestamp}`.",
        version = "1.0.0",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&SecurityAddon),
    security(("ApiKeyAuth" = [])),
    tags(
        (name = "messages", description = "Outbound messages and their status"),
        (name = "accounts", description = "Connected Instagram accounts and their CRM endpoint"),
        (name = "webhooks", description = "CRM webhook deliveries and their attempt log"),
        (name = "instagram", description = "Meta's webhook endpoints (called by Meta, signed with the app secret)"),
        (name = "admin", description = "Platform administration (platform admin keys)"),
        (name = "templates", description = "Message templates: named, versioned texts with typed variables"),
        (name = "analytics", description = "Activity per hour or day, from hourly rollups"),
    )
)]
pub struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ApiKeyAuth",
            SecurityScheme::Http(
                utoipa::openapi::security::HttpBuilder::from(Http::new(HttpAuthScheme::Bearer))
                    .bearer_format("API Key")
                    .description(Some("`Authorization: Bearer router_live_…` (or `router_test_…` for the sandbox)"))
                    .build(),
            ),
        );
    }
}

/// The full document as served, without needing a running app (the `openapi` subcommand, tests).
#[must_use]
pub fn document() -> serde_json::Value {
    finished(&crate::routes::api_router(<ApiDoc as utoipa::OpenApi>::openapi()).into_openapi())
}

/// The served document: utoipa's, plus what its derive attributes cannot say (see [`constrain`]).
#[must_use]
pub fn finished(doc: &utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut v = serde_json::to_value(doc).unwrap_or_default();
    constrain(&mut v);
    v
}

/// Every limit the handlers check, written into the schemas (so generated clients and property
/// testers see the same contract the code enforces), the required-together rules, the OAuth
/// callback's HTML answers, and links from creating operations to those that take their ids.
///
/// Kept here rather than as `#[schema(...)]` attributes because several are JSON Schema keywords
/// the derive cannot express (`anyOf` of `required`, `dependentRequired`, enums on `String`
/// fields) and one place keeps them reviewable against the handlers' checks.
fn constrain(doc: &mut serde_json::Value) {
    use serde_json::json;
    constrain_schemas(doc);
    constrain_parameters(doc);
    // No string anywhere may hold U+0000 (`AppJson`/`AppQuery`/`AppPath` refuse it; Postgres
    // cannot store it, so no response holds it either).
    no_nul(doc);

    // Meta's notification body (the events themselves are free-form: a malformed one is dropped
    // and counted, never refused, so its batch-mates are stored; a NUL in Meta's text becomes
    // U+FFFD rather than a refusal, hence set after `no_nul`).
    doc["paths"]["/webhooks/instagram"]["post"]["requestBody"]["content"]["application/json"]["schema"] = json!({
        "type": "object",
        "required": ["object", "entry"],
        "properties": {"object": {"type": "string"}, "entry": {"type": "array", "maxItems": 1000}},
    });

    // The OAuth callback answers a browser: HTML unless the caller asks for JSON.
    if let Some(responses) = doc["paths"]["/oauth/instagram/callback"]["get"]["responses"].as_object_mut() {
        for status in ["200", "400"] {
            if let Some(content) = responses.get_mut(status).and_then(|r| r["content"].as_object_mut()) {
                content.insert("text/html".into(), json!({"schema": {"type": "string"}}));
            }
        }
    }

    add_links(doc);
}

/// Pattern of Instagram ids (1–64 digits).
const DIGITS_64: &str = "^[0-9]{1,64}$";
const TEMPLATE_NAME: &str = "^[a-z0-9][a-z0-9_]{0,63}$";
// Rust's `char::is_whitespace` set, spelled out (Python's and ECMA's `\s` differ on \x1c–\x1f).
const NOT_BLANK: &str = "[^\\u0000\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
// Surrounding ASCII whitespace is trimmed by the handler.
const TOKEN: &str = "^[\\t-\\r ]*[!-~]{1,4096}[\\t-\\r ]*$";
// A port is 0–65535 (leading zeros allowed, as the URL parser allows them).
const HTTP_URL: &str = "^[hH][tT][tT][pP][sS]?://[A-Za-z0-9.-]+(:0*(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?([/?#][!-~]*)?$";

/// The request bodies' limits and required-together rules.
fn constrain_schemas(doc: &mut serde_json::Value) {
    use serde_json::json;
    let events = json!(router_core::domain::events::ALL);
    let props: &[(&str, &str, serde_json::Value)] = &[
        ("SendMessageRequest", "recipient_id", json!({"pattern": DIGITS_64})),
        ("SendMessageRequest", "message", json!({"minLength": 1, "maxLength": 1000, "pattern": NOT_BLANK})),
        ("SendMessageRequest", "quick_replies", json!({"minItems": 1, "maxItems": 13})),
        ("SendMessageRequest", "tag", json!({"enum": ["HUMAN_AGENT", null]})),
        ("SendMessageRequest", "idempotency_key", json!({"minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"})),
        ("SendMessageRequest", "template", json!({"pattern": TEMPLATE_NAME})),
        ("SendMessageRequest", "variables", json!({"maxProperties": router_core::templates::MAX_VARIABLES})),
        ("CreateTemplateRequest", "name", json!({"pattern": TEMPLATE_NAME})),
        ("TemplateVariable", "name", json!({"pattern": "^[a-z_][a-z0-9_]{0,63}$"})),
        ("GenericTemplate", "elements", json!({"minItems": 1, "maxItems": 10})),
        ("SenderActionRequest", "recipient_id", json!({"pattern": DIGITS_64})),
        (
            "SenderActionRequest",
            "action",
            json!({"enum": ["typing_on", "typing_off", "mark_seen", "react", "unreact"]}),
        ),
        ("SenderActionRequest", "reaction", json!({"minLength": 1, "maxLength": 16, "pattern": NOT_BLANK})),
        (
            "SenderActionRequest",
            "instagram_message_id",
            json!({"minLength": 1, "maxLength": 512, "pattern": "^[!-~]+$"}),
        ),
        ("IceBreakers", "ice_breakers", json!({"minItems": 1, "maxItems": 4})),
        ("IceBreaker", "question", json!({"minLength": 1, "maxLength": 80, "pattern": NOT_BLANK})),
        ("IceBreaker", "payload", json!({"minLength": 1, "maxLength": 1000, "pattern": NOT_BLANK})),
        ("PersistentMenu", "items", json!({"minItems": 1, "maxItems": 20})),
        ("Card", "title", json!({"minLength": 1, "maxLength": 80, "pattern": NOT_BLANK})),
        ("Card", "subtitle", json!({"minLength": 1, "maxLength": 80, "pattern": NOT_BLANK})),
        ("Card", "image_url", json!({"maxLength": 2048, "pattern": HTTP_URL})),
        ("Card", "default_action_url", json!({"maxLength": 2048, "pattern": HTTP_URL})),
        ("Card", "buttons", json!({"maxItems": 3})),
        ("ButtonTemplate", "text", json!({"minLength": 1, "maxLength": 640, "pattern": NOT_BLANK})),
        ("ButtonTemplate", "buttons", json!({"minItems": 1, "maxItems": 3})),
        ("TemplateVariable", "type", json!({"enum": ["string", "integer"]})),
        ("TemplateVariable", "max_length", json!({"minimum": 1, "maximum": 1000})),
        ("Attachment", "type", json!({"enum": ["image", "video", "audio", "file"]})),
        ("Attachment", "url", json!({"maxLength": 2048, "pattern": HTTP_URL})),
        ("QuickReply", "title", json!({"minLength": 1, "maxLength": 20})),
        ("QuickReply", "payload", json!({"minLength": 1, "maxLength": 1000})),
        ("CreateAccountRequest", "instagram_account_id", json!({"pattern": DIGITS_64})),
        ("CreateAccountRequest", "username", json!({"minLength": 1, "maxLength": 100, "pattern": NOT_BLANK})),
        ("CreateAccountRequest", "access_token", json!({"pattern": TOKEN})),
        ("CreateAccountRequest", "app_secret", json!({"minLength": 16, "maxLength": 256})),
        ("CreateAccountRequest", "webhook_secret", json!({"minLength": 16, "maxLength": 256})),
        ("CreateAccountRequest", "crm_webhook_url", json!({"maxLength": 2048, "pattern": HTTP_URL})),
        ("CreateAccountRequest", "event_types", json!({"items": {"type": "string", "enum": events}})),
        ("UpdateAccountRequest", "crm_webhook_url", json!({"maxLength": 2048, "pattern": HTTP_URL})),
        ("CreateEndpointRequest", "url", json!({"maxLength": 2048, "pattern": HTTP_URL})),
        ("CreateEndpointRequest", "secret", json!({"minLength": 16, "maxLength": 256})),
        ("CreateEndpointRequest", "rate_limit", json!({"minimum": 1, "maximum": 10000})),
        ("UpdateEndpointRequest", "rate_limit", json!({"minimum": 0, "maximum": 10000})),
        ("CreateEndpointRequest", "event_types", json!({"items": {"type": "string", "enum": events}})),
        ("UpdateEndpointRequest", "url", json!({"maxLength": 2048, "pattern": HTTP_URL})),
        ("UpdateEndpointRequest", "secret", json!({"minLength": 16, "maxLength": 256})),
        ("UpdateEndpointRequest", "event_types", json!({"items": {"type": "string", "enum": events}})),
        ("UpdateAccountRequest", "webhook_secret", json!({"minLength": 16, "maxLength": 256})),
        ("UpdateAccountRequest", "app_secret", json!({"minLength": 16, "maxLength": 256})),
        ("UpdateAccountRequest", "access_token", json!({"pattern": TOKEN})),
        ("UpdateAccountRequest", "status", json!({"enum": ["active", "inactive", null]})),
        ("UpdateAccountRequest", "event_types", json!({"items": {"type": "string", "enum": events}})),
        ("CreateMerchantRequest", "name", json!({"minLength": 1, "maxLength": 200, "pattern": NOT_BLANK})),
        ("CreateApiKeyRequest", "name", json!({"minLength": 1, "maxLength": 200, "pattern": NOT_BLANK})),
        ("CreateApiKeyRequest", "environment", json!({"enum": ["live", "test", null]})),
        (
            "CreateApiKeyRequest",
            "scopes",
            json!({"minItems": 1, "items": {"type": "string", "enum": router_core::domain::Scope::ALL
                .iter().filter(|s| **s != router_core::domain::Scope::Admin).map(|s| s.as_str()).collect::<Vec<_>>()}}),
        ),
        (
            "DlqQuery",
            "event_type",
            json!({"enum": events.as_array().cloned().unwrap_or_default().into_iter().chain([json!(null)]).collect::<Vec<_>>()}),
        ),
        (
            "DlqQuery",
            "reason",
            json!({"enum": DLQ_REASONS.iter().map(|r| json!(r)).chain([json!(null)]).collect::<Vec<_>>()}),
        ),
    ];
    let schemas = &mut doc["components"]["schemas"];
    // A template's definition has the same limits in the create and the update body.
    let definition = [
        ("body", json!({"minLength": 1, "maxLength": router_core::templates::MAX_BODY_BYTES, "pattern": NOT_BLANK})),
        ("variables", json!({"maxItems": router_core::templates::MAX_VARIABLES})),
        ("quick_replies", json!({"minItems": 1, "maxItems": 13})),
        ("buttons", json!({"minItems": 1, "maxItems": 3})),
    ];
    let definitions = ["CreateTemplateRequest", "TemplateRequest"]
        .into_iter()
        .flat_map(|schema| definition.iter().map(move |(field, extra)| (schema, *field, extra.clone())));
    for (schema, field, extra) in props.iter().cloned().chain(definitions) {
        if let Some(p) = schemas[schema]["properties"][field].as_object_mut() {
            p.extend(extra.as_object().cloned().unwrap_or_default());
        }
    }
    // A reaction names the customer's message and the reaction; the other actions carry neither.
    if let Some(s) = schemas["SenderActionRequest"].as_object_mut() {
        let action =
            |names: serde_json::Value| json!({"required": ["action"], "properties": {"action": {"enum": names}}});
        let string = json!({"type": "string"});
        let none = json!({"type": "null"});
        s.insert(
            "allOf".into(),
            json!([
                {"if": action(json!(["react"])),
                 "then": {"required": ["instagram_message_id", "reaction"],
                          "properties": {"instagram_message_id": string, "reaction": string}}},
                {"if": action(json!(["unreact"])),
                 "then": {"required": ["instagram_message_id"],
                          "properties": {"instagram_message_id": string, "reaction": none}}},
                {"if": action(json!(["typing_on", "typing_off", "mark_seen"])),
                 "then": {"properties": {"instagram_message_id": none, "reaction": none}}}
            ]),
        );
    }
    // A button's fields, in each variant of the `Button` union.
    let button = [
        ("title", json!({"minLength": 1, "maxLength": 20, "pattern": NOT_BLANK})),
        ("url", json!({"maxLength": 2048, "pattern": HTTP_URL})),
        ("payload", json!({"minLength": 1, "maxLength": 1000, "pattern": NOT_BLANK})),
    ];
    for variant in schemas["Button"]["oneOf"].as_array_mut().into_iter().flatten() {
        // `get_mut`, not indexing: indexing would add the fields a variant lacks, as nulls.
        // Each variant refuses unknown fields (serde's deny_unknown_fields on the enum).
        if let Some(v) = variant.as_object_mut() {
            v.insert("additionalProperties".into(), json!(false));
        }
        let Some(props) = variant.get_mut("properties").and_then(serde_json::Value::as_object_mut) else { continue };
        for (field, extra) in &button {
            if let Some(p) = props.get_mut(*field).and_then(serde_json::Value::as_object_mut) {
                p.extend(extra.as_object().cloned().unwrap_or_default());
            }
        }
    }
    // `attachments` holds images only (Instagram sends several media at once only as images).
    let mut image = schemas["Attachment"].clone();
    image["properties"]["type"]["enum"] = json!(["image"]);
    image["properties"]["type"]["description"] = json!("`image`: only images can be sent several at once.");
    image["description"] = json!("An image of a multi-image message.");
    schemas["ImageAttachment"] = image;
    for schema in ["SendMessageRequest", "CreateTemplateRequest", "TemplateRequest"] {
        schemas[schema]["properties"]["attachments"]["items"] = json!({"$ref": "#/components/schemas/ImageAttachment"});
        // `attachment` or `attachments`, not both (null counts as absent).
        if let Some(s) = schemas[schema].as_object_mut() {
            s.insert(
                "not".into(),
                json!({"required": ["attachment", "attachments"],
                       "properties": {"attachment": {"type": "object"}, "attachments": {"type": "array"}}}),
            );
        }
    }
    // Text, an attachment (or up to ten images), both, or a template; quick replies only with
    // text. A template carries its content, so it comes alone; its version and variables need it.
    if let Some(s) = schemas["SendMessageRequest"].as_object_mut() {
        let given = |field: &str, ty: &str| json!({"required": [field], "properties": {field: {"type": ty}}});
        let heart = json!({"required": ["like_heart"], "properties": {"like_heart": {"const": true}}});
        let structured = [
            given("attachment", "object"),
            given("attachments", "array"),
            given("generic_template", "object"),
            given("button_template", "object"),
            heart.clone(),
        ];
        let mut any = vec![given("message", "string"), given("template", "string")];
        any.extend(structured.iter().cloned());
        s.insert("anyOf".into(), json!(any));
        // At most one attachment-like field.
        let mut pairs = Vec::new();
        for (i, a) in structured.iter().enumerate() {
            for b in &structured[i + 1..] {
                pairs.push(json!({"allOf": [a, b]}));
            }
        }
        s.insert("not".into(), json!({"anyOf": pairs}));
        let none = json!({"type": "null"});
        s.insert(
            "allOf".into(),
            json!([
                {"if": given("quick_replies", "array"), "then": given("message", "string")},
                {"if": given("template", "string"),
                 "then": {"properties": {"message": none, "attachment": none, "attachments": none, "quick_replies": none,
                                         "generic_template": none, "button_template": none,
                                         "like_heart": {"not": {"const": true}}}}},
                {"if": given("variables", "object"), "then": given("template", "string")},
                {"if": given("template_version", "integer"), "then": given("template", "string")}
            ]),
        );
    }
}

/// The path and query parameters' limits.
fn constrain_parameters(doc: &mut serde_json::Value) {
    use serde_json::json;
    let events = json!(router_core::domain::events::ALL);
    let params: &[(&str, &str, &str, serde_json::Value)] = &[
        ("/api/v1/messages", "get", "recipient_id", json!({"pattern": DIGITS_64})),
        ("/api/v1/messages", "get", "limit", json!({"minimum": 1, "maximum": 100, "default": 50})),
        ("/api/v1/templates", "get", "limit", json!({"minimum": 1, "maximum": 100, "default": 50})),
        ("/api/v1/analytics", "get", "granularity", json!({"enum": ["hour", "day"], "default": "day"})),
        ("/api/v1/analytics", "get", "from", json!({"format": "date-time"})),
        ("/api/v1/analytics", "get", "to", json!({"format": "date-time"})),
        ("/api/v1/templates", "get", "cursor", json!({"pattern": TEMPLATE_NAME})),
        ("/api/v1/templates/{name}", "get", "name", json!({"pattern": TEMPLATE_NAME})),
        ("/api/v1/templates/{name}", "get", "version", json!({"minimum": 1})),
        ("/api/v1/templates/{name}", "put", "name", json!({"pattern": TEMPLATE_NAME})),
        ("/api/v1/templates/{name}", "delete", "name", json!({"pattern": TEMPLATE_NAME})),
        ("/api/v1/templates/{name}/versions", "get", "name", json!({"pattern": TEMPLATE_NAME})),
        ("/api/v1/webhook-deliveries", "get", "limit", json!({"minimum": 1, "maximum": 200, "default": 50})),
        ("/api/v1/webhook-deliveries", "get", "status", json!({"enum": crate::routes::deliveries::DELIVERY_STATUSES})),
        (
            "/api/v1/messages/send",
            "post",
            "Idempotency-Key",
            json!({"minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}),
        ),
        ("/api/v1/admin/dlq/webhooks", "get", "limit", json!({"minimum": 1, "maximum": 200, "default": 50})),
        ("/api/v1/admin/dlq/webhooks", "get", "reason", json!({"enum": DLQ_REASONS})),
        ("/api/v1/admin/dlq/webhooks", "get", "event_type", json!({"enum": events})),
        ("/webhooks/instagram", "get", "hub.challenge", json!({"pattern": "^[A-Za-z0-9_-]{1,256}$"})),
        ("/api/v1/accounts/{account_id}/contacts/{igsid}", "delete", "igsid", json!({"pattern": DIGITS_64})),
        ("/api/v1/oauth/instagram/start", "get", "crm_webhook_url", json!({"maxLength": 2048, "pattern": HTTP_URL})),
        ("/api/v1/oauth/instagram/start", "get", "redirect_after", json!({"maxLength": 2048, "pattern": HTTP_URL})),
    ];
    for (path, method, name, extra) in params {
        let Some(list) = doc["paths"][*path][*method]["parameters"].as_array_mut() else { continue };
        for p in list.iter_mut().filter(|p| p["name"] == *name) {
            if let Some(s) = p["schema"].as_object_mut() {
                s.extend(extra.as_object().cloned().unwrap_or_default());
            }
        }
    }
    // Meta's handshake always carries all three parameters.
    if let Some(list) = doc["paths"]["/webhooks/instagram"]["get"]["parameters"].as_array_mut() {
        for p in list.iter_mut() {
            p["required"] = json!(true);
        }
    }
}

/// Links: the ids a creating operation returns, to the operations that take them.
fn add_links(doc: &mut serde_json::Value) {
    use serde_json::json;
    // Links: the ids a creating operation returns, to the operations that take them.
    let account = |op: &str| json!({"operationId": op, "parameters": {"account_id": "$response.body#/account_id"}});
    let links: &[(&str, &str, &str, serde_json::Value)] = &[
        (
            "/api/v1/accounts",
            "post",
            "201",
            json!({
                "GetAccount": account("v1.accounts.get"),
                "UpdateAccount": account("v1.accounts.update"),
                "DeleteAccount": account("v1.accounts.delete"),
                "EraseContact": account("v1.accounts.contacts.erase"),
                "ListDeliveries": account("v1.webhook_deliveries.list"),
            }),
        ),
        (
            "/api/v1/messages/send",
            "post",
            "202",
            json!({
                "GetMessageStatus": {"operationId": "v1.messages.status",
                                     "parameters": {"message_id": "$response.body#/message_id"}},
            }),
        ),
        (
            "/api/v1/admin/merchants",
            "post",
            "201",
            json!({
                "CreateApiKey": {"operationId": "v1.admin.api_keys.create",
                                 "parameters": {"merchant_id": "$response.body#/merchant_id"}},
            }),
        ),
        (
            "/api/v1/admin/merchants/{merchant_id}/api-keys",
            "post",
            "201",
            json!({
                "RevokeApiKey": {"operationId": "v1.admin.api_keys.revoke",
                                 "parameters": {"api_key_id": "$response.body#/api_key_id"}},
            }),
        ),
        (
            "/api/v1/admin/dlq/webhooks",
            "get",
            "200",
            json!({
                "GetDelivery": {"operationId": "v1.webhook_deliveries.get",
                                "parameters": {"delivery_id": "$response.body#/data/0/delivery_id"}},
                "RetryDelivery": {"operationId": "v1.admin.dlq.retry",
                                  "parameters": {"id": "$response.body#/data/0/webhook_id"}},
            }),
        ),
        (
            "/api/v1/webhook-deliveries",
            "get",
            "200",
            json!({
                "GetDelivery": {"operationId": "v1.webhook_deliveries.get",
                                "parameters": {"delivery_id": "$response.body#/data/0/delivery_id"}},
            }),
        ),
    ];
    for (path, method, status, l) in links {
        if let Some(r) = doc["paths"][*path][*method]["responses"][*status].as_object_mut() {
            r.insert("links".into(), l.clone());
        }
    }
}

/// Adds "no NUL" to every plain string schema: anchored patterns are wrapped, free ones get
/// `^[^\u0000]*$`; enums, formats (uuid, date-time) and the callback's HTML are left alone.
fn no_nul(v: &mut serde_json::Value) {
    const FREE: &str = "^[^\\u0000]*$";
    match v {
        serde_json::Value::Object(map) => {
            let is_string = match map.get("type") {
                Some(serde_json::Value::String(t)) => t == "string",
                Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "string"),
                _ => false,
            };
            if is_string && !map.contains_key("enum") && !map.contains_key("format") {
                let pattern = match map.get("pattern").and_then(|p| p.as_str()) {
                    None => FREE.to_owned(),
                    // Unanchored: "contains one of these" — also, no NUL anywhere.
                    Some(p) if !p.starts_with('^') => format!("^[^\\u0000]*{p}[^\\u0000]*$"),
                    Some(p) => p.to_owned(),
                };
                map.insert("pattern".into(), pattern.into());
            }
            for child in map.values_mut() {
                no_nul(child);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(no_nul),
        _ => {}
    }
}
