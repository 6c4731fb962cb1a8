//! Hostile input for every route: every documented parameter of every route (read from the
//! OpenAPI document, which `api_openapi` checks against the router) gets malformed values, plus
//! unknown parameters, duplicated parameters, bad path segments, unknown resources, unknown
//! routes and wrong methods. Every answer must be a 4xx JSON error with the expected stable code
//! (never a 5xx), and conform to the document.

use axum::http::StatusCode;
use memory_indexer::api;
use serde_json::Value;
use sqlx::PgPool;

use crate::api::{ACC1, D1, a, get, h, scenario, send};

const U256_PLUS_ONE: &str =
    "115792089237316195423570985008687907853269984665640564039457584007913129639936";

/// A valid value for each path parameter, and a valid base query for each route.
fn valid_path(t: &str) -> String {
    t.replace("{id}", "1")
        .replace("{digest}", &h(D1))
        .replace("{address}", &a(ACC1))
}

fn base_query(t: &str) -> Vec<(String, String)> {
    let q: &[(&str, &str)] = match t {
        "/v1/best" => &[
            ("source_model", "llama-3-8b"),
            ("target_model", "mistral-7b"),
        ],
        "/v1/royalties/totals" => &[("recipient", "0x00000000000000000000000000000000000acc01")],
        _ => &[],
    };
    q.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn uri(path: &str, q: &[(String, String)]) -> String {
    if q.is_empty() {
        return path.to_owned();
    }
    let qs: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{path}?{}", qs.join("&"))
}

fn with(q: &[(String, String)], k: &str, v: &str) -> Vec<(String, String)> {
    let mut q: Vec<(String, String)> = q.iter().filter(|(n, _)| n != k).cloned().collect();
    q.push((k.to_owned(), v.to_owned()));
    q
}

fn bad_addresses() -> Vec<String> {
    vec![
        String::new(),
        "0x".into(),
        "0x123".into(),
        "a11ce".into(),
        format!("0x{}", "zz".repeat(20)),
        format!("0x{}", "00".repeat(21)),
        "00000000000000000000000000000000000a11ce".into(),
        "%FF%FE".into(),
        "0x00000000000000000000000000000000000a11c%00".into(),
    ]
}

fn bad_ids() -> Vec<String> {
    vec![
        "-1".into(),
        "abc".into(),
        "1.5".into(),
        "0x1".into(),
        "1e3".into(),
        "9".repeat(79),
        "9".repeat(100),
        "%201".into(),
        "".into(),
    ]
}

fn bad_bytes32() -> Vec<String> {
    vec![
        "0x12".into(),
        format!("0x{}", "00".repeat(33)),
        "xyz".into(),
        format!("0x{}", "gg".repeat(32)),
    ]
}

fn bad_cursors() -> Vec<String> {
    vec![
        "zz".into(),
        "00".into(),
        "".into(),
        "abc".into(),
        alloy::hex::encode("v1:zzz:1"),
        alloy::hex::encode("v1:zzz:1:1"),
        alloy::hex::encode("v2:memories:1"),
        "f".repeat(600),
    ]
}

fn bad_integers(min: i64, max: i64) -> Vec<String> {
    let mut v: Vec<String> = vec![
        (min - 1).to_string(),
        (max + 1).to_string(),
        "10000".into(),
        "-1".into(),
        "abc".into(),
    ];
    v.extend([
        "1.5".into(),
        "".into(),
        "99999999999999999999999".into(),
        "0x10".into(),
    ]);
    v
}

/// Malformed values of a documented parameter, from its schema.
fn bad_values(param: &Value) -> Vec<String> {
    let s = &param["schema"];
    if param["name"] == "cursor" {
        return bad_cursors();
    }
    match (s["type"].as_str(), s["pattern"].as_str()) {
        (Some("string"), Some("^0[xX][0-9a-fA-F]{40}$")) => bad_addresses(),
        (Some("string"), Some("^0[xX][0-9a-fA-F]{64}$")) => bad_bytes32(),
        (Some("string"), Some("^[0-9]{1,78}$")) => bad_ids(),
        (Some("boolean"), _) => vec![
            "yes".into(),
            "1".into(),
            "TRUE".into(),
            "".into(),
            "truex".into(),
        ],
        (Some("integer"), _) => bad_integers(
            s["minimum"].as_i64().unwrap_or(0),
            s["maximum"].as_i64().unwrap_or(0),
        ),
        (Some("string"), None) if s["enum"].is_array() => vec![
            "bogus".into(),
            "GOLD".into(),
            "0".into(),
            "5".into(),
            "".into(),
        ],
        // free text (model ids): empty, too long (in characters, as `maxLength` counts), NUL
        (Some("string"), Some("^[^\\u0000]+$")) if s["maxLength"] == 256 => vec![
            "".into(),
            "x".repeat(257),
            "%C3%A9".repeat(257),
            "a%00b".into(),
        ],
        other => panic!("no hostile values for parameter {param} ({other:?})"),
    }
}

fn resolve_param(doc: &Value, p: &Value) -> Value {
    match p["$ref"].as_str() {
        Some(r) => doc["components"]["parameters"][r.rsplit('/').next().unwrap_or("")].clone(),
        None => p.clone(),
    }
}

async fn expect(app: &axum::Router, method: &str, uri: &str, status: StatusCode, code: &str) {
    let (s, body) = send(app, method, uri).await;
    assert_eq!(s, status, "{method} {uri}: {body}");
    assert_eq!(body["error"]["code"], code, "{method} {uri}: {body}");
    let msg = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    for leak in [
        "select ",
        "sqlx",
        "postgres",
        "syntax error",
        "panicked",
        "relation ",
        "column ",
    ] {
        assert!(!msg.contains(leak), "{uri}: message leaks internals: {msg}");
    }
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn every_documented_parameter_of_every_route_refuses_malformed_values(pool: PgPool) {
    let app = scenario(&pool).await;
    let doc: Value = serde_json::from_str(api::OPENAPI).unwrap_or_else(|e| panic!("{e}"));
    let mut checked = 0;
    for t in api::route_paths() {
        let path = valid_path(t);
        let base = base_query(t);
        // the valid request itself succeeds (so the failures below are caused by the bad value)
        let (s, body) = get(&app, &uri(&path, &base)).await;
        assert_eq!(s, StatusCode::OK, "{t}: {body}");
        // unknown parameters are refused on every route
        expect(
            &app,
            "GET",
            &uri(&path, &with(&base, "unknown_filter", "1")),
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
        // ... and the message names it in the API's words
        let (_, body) = get(&app, &uri(&path, &with(&base, "unknown_filter", "1"))).await;
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.starts_with("invalid query string: unknown_filter: unknown field `unknown_filter`"),
            "{t}: {msg}"
        );
        expect(
            &app,
            "GET",
            &uri(&path, &with(&base, "Owner", "1")),
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
        let params = doc["paths"][t]["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for p in params.iter().map(|p| resolve_param(&doc, p)) {
            let name = p["name"].as_str().unwrap_or_default();
            for bad in bad_values(&p) {
                let u = if p["in"] == "path" {
                    uri(&t.replace(&format!("{{{name}}}"), &bad), &base)
                } else {
                    uri(&path, &with(&base, name, &bad))
                };
                if p["in"] == "path" && bad.is_empty() {
                    // an empty segment is another route (or none): never a 5xx
                    let (s, _) = get(&app, &u).await;
                    assert!(s.is_client_error() || s.is_success(), "{u}: {s}");
                    continue;
                }
                expect(&app, "GET", &u, StatusCode::BAD_REQUEST, "bad_request").await;
                checked += 1;
            }
            if p["in"] == "query" {
                // a parameter given twice
                let mut q = with(&base, name, "1");
                q.push((name.to_owned(), "2".to_owned()));
                expect(
                    &app,
                    "GET",
                    &uri(&path, &q),
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                )
                .await;
            }
        }
        // required parameters
        for p in params
            .iter()
            .map(|p| resolve_param(&doc, p))
            .filter(|p| p["required"] == true && p["in"] == "query")
        {
            let name = p["name"].as_str().unwrap_or_default();
            let q: Vec<(String, String)> =
                base.iter().filter(|(k, _)| k != name).cloned().collect();
            expect(
                &app,
                "GET",
                &uri(&path, &q),
                StatusCode::BAD_REQUEST,
                "bad_request",
            )
            .await;
        }
        // other methods
        expect(
            &app,
            "POST",
            &path,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        )
        .await;
        expect(
            &app,
            "DELETE",
            &path,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        )
        .await;
    }
    assert!(checked > 150, "only {checked} hostile values checked");
}

/// What the document accepts, the server accepts: a token id above 2^256 - 1 (78 digits, as the
/// pattern allows) names no token; free text of 256 two-byte characters is within `maxLength`.
#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn schema_valid_edge_values_are_accepted(pool: PgPool) {
    let app = scenario(&pool).await;
    let big = "9".repeat(78);
    for u in [
        format!("/v1/memories/{big}"),
        format!("/v1/memories/{U256_PLUS_ONE}/transfers"),
        format!("/v1/memories/{big}/provenance"),
    ] {
        expect(&app, "GET", &u, StatusCode::NOT_FOUND, "not_found").await;
    }
    let text = "%C3%A9".repeat(256);
    for u in [
        format!("/v1/listings?token_id={big}"),
        format!("/v1/royalties?sale_token_id={U256_PLUS_ONE}"),
        format!("/v1/royalties/totals?beneficiary_token_id={big}"),
        format!("/v1/memories?source_model={text}"),
        format!(
            "/v1/memories?cursor={}",
            alloy::hex::encode(format!("v1:memories:{big}"))
        ),
        format!(
            "/v1/sales?cursor={}",
            alloy::hex::encode("v1:sales:000000000000000001:0")
        ),
        // cursors are hex of either case
        format!(
            "/v1/sales?cursor={}",
            alloy::hex::encode_upper("v1:sales:5:0")
        ),
    ] {
        let (s, body) = get(&app, &u).await;
        assert_eq!(s, StatusCode::OK, "{u}: {body}");
        assert!(body["items"].is_array(), "{u}: {body}");
    }
    let (s, body) = get(
        &app,
        &format!("/v1/best?source_model={text}&target_model=x"),
    )
    .await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &"not_found".into())
    );
    // addresses and digests of either case
    let (s, _) = get(&app, &format!("/v1/sales?seller=0X{}", "AB".repeat(20))).await;
    assert_eq!(s, StatusCode::OK);
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn unknown_resources_are_404(pool: PgPool) {
    let app = scenario(&pool).await;
    for u in [
        "/v1/memories/12345".to_owned(),
        "/v1/memories/0".to_owned(),
        format!("/v1/memories/{}", "9".repeat(77)),
        "/v1/memories/12345/transfers".to_owned(),
        "/v1/memories/12345/transfers?limit=5".to_owned(),
        "/v1/memories/12345/certificates".to_owned(),
        "/v1/memories/12345/provenance".to_owned(),
        format!("/v1/certificates/{}", h(999)),
        format!("/v1/accounts/{}", a(crate::api::ALICE)),
        format!("/v1/accounts/{}/approvals", a(crate::api::ALICE)),
        format!("/v1/accounts/{}/approvals?live=true", a(crate::api::ALICE)),
        "/v1/best?source_model=nope&target_model=mistral-7b".to_owned(),
    ] {
        expect(&app, "GET", &u, StatusCode::NOT_FOUND, "not_found").await;
    }
    for u in [
        "/",
        "/v1",
        "/v2/memories",
        "/v1/memories/1/owners",
        "/v1/memories/1/transfers/extra",
        "/v1/nope?limit=1",
        "/v1/memories/",
    ] {
        expect(&app, "GET", u, StatusCode::NOT_FOUND, "route_not_found").await;
    }
    // a cursor of another listing, and a cursor past the end of an existing token's history
    let c = alloy::hex::encode("v1:sales:4:1");
    expect(
        &app,
        "GET",
        &format!("/v1/memories/1/transfers?cursor={c}"),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let c = alloy::hex::encode("v1:transfers:0:0");
    let (s, body) = get(&app, &format!("/v1/memories/1/transfers?cursor={c}")).await;
    assert_eq!(
        (s, body),
        (
            StatusCode::OK,
            serde_json::json!({"items": [], "next_cursor": null})
        )
    );
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn a_database_outage_is_503_not_a_leak(pool: PgPool) {
    let app = scenario(&pool).await;
    pool.close().await;
    for u in ["/v1/memories/1", "/v1/memories", "/v1/stats", "/v1/sales"] {
        expect(
            &app,
            "GET",
            u,
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        )
        .await;
    }
    let (s, _) = get(&app, "/ready").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(&app, "/health").await.0, StatusCode::OK);
}
