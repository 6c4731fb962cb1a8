//! The OpenAPI document (`indexer/openapi.json`, served at `/openapi.json`) against the router:
//! it documents exactly the router's routes, and every answer the API tests receive conforms to
//! the schema documented for its route and status (checked by [`check_answer`], which the
//! request helper of `api` calls on every answer, together with [`only_safe_integers`]: no answer
//! holds a JSON number beyond 2^53, which clients would round).

use std::sync::LazyLock;

use axum::http::StatusCode;
use memory_indexer::api;
use memory_indexer::api::params::Cursor;
use serde_json::Value;

/// The largest integer every JSON client holds exactly (2^53 - 1, JavaScript's
/// `Number.MAX_SAFE_INTEGER`).
const MAX_SAFE: u64 = (1 << 53) - 1;

static DOC: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(api::OPENAPI).unwrap_or_else(|e| panic!("openapi.json is not JSON: {e}"))
});

/// The route template a request path matches (literal segments must match, `{x}` matches any).
fn template(path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.split('/').collect();
    api::route_paths().into_iter().find(|t| {
        let ts: Vec<&str> = t.split('/').collect();
        ts.len() == segs.len()
            && ts
                .iter()
                .zip(&segs)
                .all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t == s)
    })
}

/// Checks an answer against the document: the route and status must be documented, and a JSON
/// body must conform to the documented schema.
pub(crate) fn check_answer(method: &str, uri: &str, status: StatusCode, body: &Value) {
    only_safe_integers(body, uri).unwrap_or_else(|e| panic!("{e}"));
    let path = uri.split('?').next().unwrap_or(uri);
    let Some(t) = template(path) else {
        // unrouted paths answer the generic error
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        conforms(&DOC["components"]["schemas"]["Error"], body, uri)
            .unwrap_or_else(|e| panic!("{e}"));
        return;
    };
    let op = &DOC["paths"][t][method.to_lowercase()];
    if op.is_null() {
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        conforms(&DOC["components"]["schemas"]["Error"], body, uri)
            .unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let res = &op["responses"][status.as_str()];
    assert!(
        !res.is_null(),
        "{method} {uri}: status {status} is not documented for {t}; body {body}"
    );
    if let Some(schema) = res["content"].get("application/json").map(|c| &c["schema"]) {
        conforms(schema, body, &format!("{method} {uri} ({status})"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Every number of `v` is an integer of magnitude at most [`MAX_SAFE`]: larger values (uint256,
/// uint64) must be decimal strings.
fn only_safe_integers(v: &Value, at: &str) -> Result<(), String> {
    match v {
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) if u <= MAX_SAFE => Ok(()),
            (None, Some(i)) if i.unsigned_abs() <= MAX_SAFE => Ok(()),
            _ => Err(format!(
                "{at}: the number {n} is not an integer within ±2^53 (send it as a string)"
            )),
        },
        Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| only_safe_integers(x, &format!("{at}[{i}]"))),
        Value::Object(o) => o
            .iter()
            .try_for_each(|(k, x)| only_safe_integers(x, &format!("{at}.{k}"))),
        _ => Ok(()),
    }
}

fn resolve(schema: &Value) -> &Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unsupported $ref {r}"));
            let s = &DOC["components"]["schemas"][name];
            assert!(!s.is_null(), "dangling $ref {r}");
            resolve(s)
        }
        None => schema,
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => panic!("unsupported type {other}"),
    }
}

fn hex_of_len(s: &str, n: usize) -> bool {
    s.strip_prefix("0x").is_some_and(|h| {
        h.len() == n
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn pattern_ok(p: &str, s: &str) -> bool {
    match p {
        "^0x[0-9a-f]{40}$" => hex_of_len(s, 40),
        "^0x[0-9a-f]{64}$" => hex_of_len(s, 64),
        "^[0-9]{1,78}$" => (1..=78).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()),
        "^[0-9]{1,20}$" => (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()),
        other => panic!("unsupported pattern {other}"),
    }
}

/// A JSON-Schema subset: `$ref`, `oneOf`, `type` (one or several), `enum`, `pattern`,
/// `minimum`, `maximum`, `properties`, `required`, `additionalProperties: false`, `items`.
fn conforms(schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(schema);
    if let Some(alts) = schema["oneOf"].as_array() {
        let errors: Vec<String> = alts
            .iter()
            .filter_map(|s| conforms(s, v, at).err())
            .collect();
        return if errors.len() < alts.len() {
            Ok(())
        } else {
            Err(format!("{at}: no alternative matches: {errors:?}"))
        };
    }
    match &schema["type"] {
        Value::String(t) if !type_ok(t, v) => return Err(format!("{at}: expected {t}, got {v}")),
        Value::Array(ts) if !ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""), v)) => {
            return Err(format!("{at}: expected one of {ts:?}, got {v}"));
        }
        _ => {}
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(v)
    {
        return Err(format!("{at}: {v} not in {e:?}"));
    }
    if let (Some(p), Some(s)) = (schema["pattern"].as_str(), v.as_str())
        && !pattern_ok(p, s)
    {
        return Err(format!("{at}: {s:?} does not match {p}"));
    }
    if let Some(n) = v.as_f64()
        && (schema["minimum"].as_f64().is_some_and(|m| n < m)
            || schema["maximum"].as_f64().is_some_and(|m| n > m))
    {
        return Err(format!("{at}: {n} out of range"));
    }
    if let Some(o) = v.as_object() {
        let props = schema["properties"].as_object();
        for r in schema["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap_or("");
            if !o.contains_key(r) {
                return Err(format!("{at}: missing required field {r}"));
            }
        }
        for (k, val) in o {
            match props.and_then(|p| p.get(k)) {
                Some(s) => conforms(s, val, &format!("{at}.{k}"))?,
                None if schema["additionalProperties"] == Value::Bool(false) => {
                    return Err(format!("{at}: undocumented field {k}"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(a)) = (schema.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            conforms(items, x, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[test]
fn the_document_lists_exactly_the_routes_of_the_router() {
    let paths = DOC["paths"]
        .as_object()
        .unwrap_or_else(|| panic!("no paths"));
    let routes = api::route_paths();
    for r in &routes {
        let get = &paths
            .get(*r)
            .unwrap_or_else(|| panic!("route {r} is not documented"))["get"];
        assert!(get.is_object(), "GET {r} is not documented");
        assert!(
            get["responses"]["200"].is_object(),
            "GET {r} has no 200 answer documented"
        );
        let params: Vec<&str> = get["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve_param(p)["name"].as_str().unwrap_or(""))
            .collect();
        // every path parameter of the template is documented
        for seg in r.split('/').filter(|s| s.starts_with('{')) {
            let name = seg.trim_matches(|c| c == '{' || c == '}');
            assert!(
                params.contains(&name),
                "path parameter {name} of {r} is not documented"
            );
        }
    }
    for p in paths.keys() {
        assert!(
            routes.contains(&p.as_str()),
            "documented path {p} is not a route"
        );
        assert_eq!(
            paths[p].as_object().map(|o| o.keys().collect::<Vec<_>>()),
            Some(vec![&"get".to_owned()]),
            "{p}"
        );
    }
    assert_eq!(paths.len(), routes.len());
}

fn resolve_param(p: &Value) -> &Value {
    match p["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/parameters/")
                .unwrap_or_else(|| panic!("unsupported $ref {r}"));
            &DOC["components"]["parameters"][name]
        }
        None => p,
    }
}

#[test]
fn every_ref_resolves_and_every_object_schema_is_closed() {
    fn walk(v: &Value, at: &str) {
        match v {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                    let mut node = &*DOC;
                    for part in r.trim_start_matches("#/").split('/') {
                        node = &node[part];
                    }
                    assert!(!node.is_null(), "{at}: dangling {r}");
                }
                if o.get("type") == Some(&Value::String("object".into()))
                    && o.contains_key("properties")
                {
                    assert_eq!(
                        o.get("additionalProperties"),
                        Some(&Value::Bool(false)),
                        "{at}: object schema is open"
                    );
                    let props: Vec<&String> = o["properties"]
                        .as_object()
                        .map(|p| p.keys().collect())
                        .unwrap_or_default();
                    let req: Vec<&str> = o["required"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    assert_eq!(
                        props.len(),
                        req.len(),
                        "{at}: every field is always present (maybe null)"
                    );
                }
                for (k, x) in o {
                    walk(x, &format!("{at}/{k}"));
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| walk(x, &format!("{at}/{i}"))),
            _ => {}
        }
    }
    walk(&DOC, "#");
}

/// Every integer a response schema documents is bounded by 2^53 - 1 (`maximum`, or a format
/// of at most 32 bits): uint64 and uint256 values are documented as strings.
#[test]
fn every_documented_integer_is_below_2_pow_53() {
    fn walk(v: &Value, at: &str, found: &mut usize) {
        match v {
            Value::Object(o) => {
                let t = &o.get("type").cloned().unwrap_or(Value::Null);
                let integer = t == "integer"
                    || t.as_array()
                        .is_some_and(|a| a.contains(&Value::from("integer")));
                if integer {
                    *found += 1;
                    let small = matches!(
                        o.get("format").and_then(Value::as_str),
                        Some("int32" | "uint32")
                    );
                    let max = o.get("maximum").and_then(Value::as_u64);
                    assert!(
                        small || max.is_some_and(|m| m <= MAX_SAFE),
                        "{at}: integer without a bound of at most 2^53 - 1"
                    );
                    assert_ne!(
                        o.get("format").and_then(Value::as_str),
                        Some("uint64"),
                        "{at}: uint64 must be a string"
                    );
                }
                for (k, x) in o {
                    walk(x, &format!("{at}/{k}"), found);
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| walk(x, &format!("{at}/{i}"), found)),
            _ => {}
        }
    }
    let mut found = 0;
    walk(
        &DOC["components"]["schemas"],
        "#/components/schemas",
        &mut found,
    );
    assert!(found > 50, "only {found} integer schemas");
    // and the answer checker refuses an unsafe number
    assert!(only_safe_integers(&serde_json::json!({"a": [1u64 << 53]}), "x").is_err());
    assert!(only_safe_integers(&serde_json::json!({"a": [-(1i64 << 53)]}), "x").is_err());
    assert!(only_safe_integers(&serde_json::json!({"a": 1.5}), "x").is_err());
    assert!(
        only_safe_integers(
            &serde_json::json!({"a": [MAX_SAFE, "18446744073709551615"]}),
            "x"
        )
        .is_ok()
    );
}

/// The scope of each paginated route's cursor, and whether its position is a token id.
const CURSOR_SCOPES: [(&str, &str, bool); 11] = [
    ("/v1/memories", "memories", true),
    ("/v1/memories/{id}/transfers", "transfers", false),
    ("/v1/memories/{id}/certificates", "certificates", false),
    ("/v1/certificates", "certificates", false),
    ("/v1/accounts", "accounts", false),
    ("/v1/accounts/{address}/approvals", "approvals", false),
    ("/v1/listings", "listings", false),
    ("/v1/sales", "sales", false),
    ("/v1/royalties", "royalties", false),
    ("/v1/credits", "credits", false),
    ("/v1/withdrawals", "withdrawals", false),
];

/// The document states, for every paginated route, exactly the cursors the server decodes (the
/// pattern [`Cursor::pattern`] derives from the decoder's rules), so a generator that follows the
/// document (schemathesis) sends no cursor the server refuses, and the empty cursor is refused by
/// both.
#[test]
fn every_cursor_parameter_states_the_servers_cursor_pattern() {
    let mut seen = 0;
    for t in api::route_paths() {
        let params = DOC["paths"][t]["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let cursor = params
            .iter()
            .map(resolve_param)
            .find(|p| p["name"] == "cursor")
            .cloned();
        let expected = CURSOR_SCOPES.iter().find(|(r, _, _)| *r == t);
        match (cursor, expected) {
            (None, None) => {}
            (Some(p), Some((_, scope, token))) => {
                seen += 1;
                assert_eq!(
                    p["schema"]["pattern"].as_str(),
                    Some(Cursor::pattern(scope, *token).as_str()),
                    "{t}"
                );
                // the server's own cursors have that form
                let c = if *token {
                    Cursor::Token("12".into())
                } else {
                    Cursor::Event(12, 3)
                };
                let c = c.encode(scope);
                assert!(Cursor::decode(scope, *token, &c).is_ok(), "{t}: {c}");
                assert!(Cursor::decode(scope, *token, "").is_err(), "{t}");
            }
            (c, e) => panic!("{t}: cursor parameter {c:?}, expected scope {e:?}"),
        }
    }
    assert_eq!(seen, CURSOR_SCOPES.len());
}

#[test]
fn the_checker_rejects_drift() {
    let memory = &DOC["components"]["schemas"]["Memory"];
    let mut m: Value = serde_json::json!({
        "token_id": "1", "creator": format!("0x{}", "ab".repeat(20)), "owner": format!("0x{}", "ab".repeat(20)),
        "account": null, "checksum": format!("0x{}", "cd".repeat(32)), "kind": "w_matrix", "source_model": "a",
        "target_model": "b", "version": "1.0.0", "uri": "", "royalty_bps": 1, "parents": [], "transfer_count": 0, "tier": null,
        "block_number": 1, "log_index": 0, "tx_hash": format!("0x{}", "cd".repeat(32)), "timestamp": null,
    });
    assert_eq!(conforms(memory, &m, "m"), Ok(()));
    m["extra"] = Value::Bool(true);
    assert!(
        conforms(memory, &m, "m").is_err(),
        "undocumented field accepted"
    );
    if let Some(o) = m.as_object_mut() {
        o.remove("extra");
        o.remove("uri");
    }
    assert!(conforms(memory, &m, "m").is_err(), "missing field accepted");
    m["uri"] = Value::String(String::new());
    m["owner"] = Value::String("0xAB".into());
    assert!(conforms(memory, &m, "m").is_err(), "bad address accepted");
    m["owner"] = m["creator"].clone();
    m["tier"] = Value::String("diamond".into());
    assert!(conforms(memory, &m, "m").is_err(), "bad enum accepted");
}
