//! The HTTP API over a database filled through the real write path (`db::write_batch`), called
//! with `tower::ServiceExt::oneshot`; answers are checked field by field, and every answer is
//! checked against the OpenAPI document (see `api_openapi`).

use std::sync::Arc;

use alloy::primitives::{Address, B256, U256, address};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use memory_indexer::AppState;
use memory_indexer::api;
use memory_indexer::db::{self, Batch};
use memory_indexer::events::{Approval, Certificate, Event, Grant, Meta};

use crate::fixtures::{batch_of, hash, header, meta, tx};
use memory_indexer::metrics::Metrics;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt as _;

pub(crate) const CHAIN: u64 = 31337;
pub(crate) const ALICE: Address = address!("00000000000000000000000000000000000a11ce");
pub(crate) const BOB: Address = address!("0000000000000000000000000000000000000b0b");
pub(crate) const CAROL: Address = address!("00000000000000000000000000000000000ca201");
pub(crate) const DAVE: Address = address!("000000000000000000000000000000000000da7e");
pub(crate) const ACC1: Address = address!("00000000000000000000000000000000000acc01");
pub(crate) const ACC2: Address = address!("00000000000000000000000000000000000acc02");
pub(crate) const ACC2B: Address = address!("00000000000000000000000000000000000acc99");
const IMPL: Address = address!("0000000000000000000000000000000000001111");
pub(crate) const NFT: Address = address!("0000000000000000000000000000000000002222");
/// Other token contracts the account of token 1 approves spenders on.
pub(crate) const E20: Address = address!("00000000000000000000000000000000000e2c20");
pub(crate) const E721: Address = address!("00000000000000000000000000000000000e2721");
const MARKET: Address = address!("0000000000000000000000000000000000003333");
const LLAMA: &str = "llama-3-8b";
const MISTRAL: &str = "mistral-7b";
const FAR: u64 = u64::MAX;

pub(crate) fn hex(b: &[u8]) -> String {
    format!("0x{}", alloy::hex::encode(b))
}

pub(crate) fn a(x: Address) -> String {
    hex(x.as_slice())
}

pub(crate) fn h(n: u64) -> String {
    hex(hash(n).as_slice())
}

fn minted(
    id: U256,
    creator: Address,
    kind: u8,
    models: (&str, &str),
    parents: &[u64],
) -> Vec<Event> {
    vec![
        Event::Transfer {
            from: Address::ZERO,
            to: creator,
            token_id: id,
        },
        Event::Minted {
            token_id: id,
            creator,
            checksum: hash(5000 + id.as_limbs()[0] % 1000),
            kind,
            source_model: models.0.into(),
            target_model: models.1.into(),
            version: "1.2.3".into(),
            uri: format!("ipfs://memory/{id}"),
            royalty_bps: 250,
            parents: parents.iter().map(|&p| U256::from(p)).collect(),
        },
    ]
}

fn mint(id: u64, creator: Address, kind: u8, models: (&str, &str), parents: &[u64]) -> Vec<Event> {
    minted(U256::from(id), creator, kind, models, parents)
}

fn account(id: u64, account: Address, salt: B256) -> Event {
    Event::AccountCreated {
        account,
        implementation: IMPL,
        salt,
        chain_id: U256::from(CHAIN),
        token_contract: NFT,
        token_id: U256::from(id),
    }
}

fn cert(id: u64, digest: u64, level: u8, epsilon_ppm: u32, expires_at: u64) -> Event {
    Event::CertificateAnchored {
        token_id: U256::from(id),
        digest: hash(digest),
        certifier: CAROL,
        cert: Box::new(Certificate {
            checksum: hash(5000 + id),
            creator: if id >= 3 { BOB } else { ALICE },
            certifier: CAROL,
            test_set_checksum: hash(6000),
            epsilon_ppm,
            rel_error_ppm: epsilon_ppm / 2,
            cosine_ppm: -5,
            euclidean_ppm: FAR,
            test_samples: 64,
            level,
            issued_at: 1_700_000_000,
            expires_at,
            nonce: U256::MAX,
        }),
    }
}

fn listed(id: u64, listing: u64, seller: Address, price: u64, state: u64) -> Event {
    Event::Listed {
        token_id: U256::from(id),
        listing_id: U256::from(listing),
        seller,
        price: U256::from(price),
        expires_at: FAR,
        transfer_count: 0,
        account_state: U256::from(state),
    }
}

/// An approval by the account of token 1.
fn approval(token: Address, grant: Grant) -> Event {
    Event::Approval(Approval {
        token,
        owner: ACC1,
        grant,
    })
}

fn erc20(spender: Address, amount: u64) -> Grant {
    Grant::Erc20 {
        spender,
        amount: U256::from(amount),
    }
}

fn erc721(approved: Address, token_id: u64) -> Grant {
    Grant::Erc721 {
        approved,
        token_id: U256::from(token_id),
    }
}

fn operator(operator: Address, approved: bool) -> Grant {
    Grant::Operator { operator, approved }
}

/// Digests of the scenario's certificates.
pub(crate) const D1: u64 = 71;
pub(crate) const D2: u64 = 72;
pub(crate) const D2_EXPIRED: u64 = 73;
pub(crate) const D4: u64 = 74;

/// The scenario, per block. Provenance: 2 <- 1; 3 <- {1, 2}; 4 <- 3; MAX has no parent.
/// Approvals of token 1's account (each block's last events); live at the end: the ERC-20
/// allowance of CAROL (2:9), the ERC-721 approval of token 3 to DAVE (3:5) and the operator
/// CAROL on the NFT (4:7).
fn block_events(block: u64) -> Vec<Event> {
    let pair = (LLAMA, MISTRAL);
    match block {
        1 => {
            let mut v = mint(1, ALICE, 0, pair, &[]);
            v.push(account(1, ACC1, B256::ZERO));
            v.extend(mint(2, ALICE, 0, pair, &[1]));
            v.push(Event::CertifierSet {
                certifier: CAROL,
                allowed: true,
            });
            v
        }
        2 => {
            let mut v = mint(3, BOB, 1, (LLAMA, LLAMA), &[1, 2]);
            v.extend(mint(4, BOB, 0, pair, &[3]));
            v.push(cert(1, D1, 2, 80_000, FAR));
            v.push(cert(2, D2, 3, 30_000, FAR));
            v.push(cert(4, D4, 4, 5_000, FAR));
            v.push(cert(2, D2_EXPIRED, 4, 1_000, 1_000));
            // 2:8 replaced by 5:6 (allowance 0); 2:9 stays
            v.push(approval(E20, erc20(BOB, 100)));
            v.push(approval(E20, erc20(CAROL, 7)));
            v
        }
        3 => vec![
            listed(2, 1, ALICE, 1000, 7),
            listed(1, 2, ALICE, 500, 0),
            account(2, ACC2, B256::ZERO),
            account(2, ACC2B, hash(1)),
            // cleared by the transfer of token 2 in block 4 (no event, but the NFT is indexed)
            approval(NFT, erc721(CAROL, 2)),
            approval(NFT, erc721(DAVE, 3)),
            // cleared by the approval of the zero address in block 5
            approval(E721, erc721(DAVE, 9)),
        ],
        4 => vec![
            Event::ListingCancelled {
                token_id: U256::from(1),
                listing_id: U256::from(2),
                holder: ALICE,
            },
            Event::Sold {
                token_id: U256::from(2),
                seller: ALICE,
                buyer: BOB,
                price: U256::from(1000),
            },
            Event::RoyaltyPaid {
                sale_token_id: U256::from(2),
                beneficiary_token_id: U256::from(2),
                recipient: ALICE,
                amount: U256::from(50),
                credited: false,
            },
            Event::RoyaltyPaid {
                sale_token_id: U256::from(2),
                beneficiary_token_id: U256::from(1),
                recipient: ACC1,
                amount: U256::from(20),
                credited: true,
            },
            Event::Credited {
                account: ACC1,
                amount: U256::from(20),
            },
            Event::Transfer {
                from: ALICE,
                to: BOB,
                token_id: U256::from(2),
            },
            Event::CertificateRevoked {
                token_id: U256::from(4),
                digest: hash(D4),
                certifier: CAROL,
            },
            approval(NFT, operator(CAROL, true)),
            approval(E721, operator(BOB, true)),
        ],
        5 => {
            let mut v = vec![
                Event::Withdrawn {
                    account: ACC1,
                    to: CAROL,
                    amount: U256::from(20),
                },
                Event::Transfer {
                    from: ALICE,
                    to: DAVE,
                    token_id: U256::from(1),
                },
                listed(4, 3, BOB, 2000, 1),
            ];
            v.extend(minted(U256::MAX, DAVE, 2, ("a", "b"), &[]));
            v.push(approval(E721, operator(BOB, false)));
            v.push(approval(E20, erc20(BOB, 0)));
            v.push(approval(E721, erc721(Address::ZERO, 9)));
            v
        }
        _ => vec![],
    }
}

fn batch(b: u64) -> Batch {
    let events = block_events(b)
        .into_iter()
        .enumerate()
        .map(|(i, e)| (meta(b, i as u64), e))
        .collect::<Vec<(Meta, Event)>>();
    Batch {
        from: b,
        to: b,
        to_header: header(b),
        events,
        headers: vec![header(b)],
        finalized: -1,
        head: b,
    }
}

/// Indexes the scenario (one batch per block, like live follow), plus a decoy memory with
/// token id 1 on another chain, and returns the router of chain [`CHAIN`].
pub(crate) async fn scenario(pool: &PgPool) -> Router {
    db::init_chain(pool, CHAIN, NFT, MARKET, 1)
        .await
        .unwrap_or_else(|e| panic!("init: {e}"));
    for b in 1..=5 {
        db::write_batch(pool, CHAIN, Some(IMPL), &batch(b))
            .await
            .unwrap_or_else(|e| panic!("batch {b}: {e}"));
    }
    db::set_head(pool, CHAIN, 5)
        .await
        .unwrap_or_else(|e| panic!("head: {e}"));
    db::init_chain(pool, 8, NFT, MARKET, 1)
        .await
        .unwrap_or_else(|e| panic!("init 8: {e}"));
    let other = Batch {
        from: 1,
        to: 1,
        to_header: header(1),
        events: mint(1, CAROL, 2, ("x", "y"), &[])
            .into_iter()
            .enumerate()
            .map(|(i, e)| (meta(1, i as u64), e))
            .collect(),
        headers: vec![header(1)],
        finalized: -1,
        head: 1,
    };
    db::write_batch(pool, 8, Some(IMPL), &other)
        .await
        .unwrap_or_else(|e| panic!("chain 8: {e}"));
    app(pool)
}

pub(crate) fn app(pool: &PgPool) -> Router {
    api::app(AppState {
        pool: pool.clone(),
        chain_id: CHAIN,
        nft: NFT,
        metrics: Arc::new(Metrics::default()),
    })
}

/// Sends one request; returns the status and the body (JSON, or a string for other types),
/// after checking the answer against the OpenAPI document.
pub(crate) async fn send(app: &Router, method: &str, uri: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{uri}: {e}"));
    let res = app
        .clone()
        .oneshot(req)
        .await
        .unwrap_or_else(|e| match e {});
    let status = res.status();
    let json = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap_or_else(|e| panic!("{uri}: body: {e}"));
    let body = if json {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{uri}: not JSON: {e}"))
    } else {
        Value::String(String::from_utf8_lossy(&bytes).into_owned())
    };
    crate::api_openapi::check_answer(method, uri, status, &body);
    (status, body)
}

pub(crate) async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    send(app, "GET", uri).await
}

/// GET that must answer 200; returns the body.
pub(crate) async fn ok(app: &Router, uri: &str) -> Value {
    let (status, body) = get(app, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

fn ids(page: &Value, key: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {page}"))
        .iter()
        .map(|i| i[key].as_str().unwrap_or("?").to_owned())
        .collect()
}

const MAX: &str = "115792089237316195423570985008687907853269984665640564039457584007913129639935";

fn memory_json(
    id: &str,
    creator: Address,
    owner: Address,
    account: Option<Address>,
    kind: &str,
    models: (&str, &str),
) -> Value {
    json!({
        "token_id": id,
        "creator": a(creator),
        "owner": a(owner),
        "account": account.map(a),
        "kind": kind,
        "source_model": models.0,
        "target_model": models.1,
        "version": "1.2.3",
        "uri": format!("ipfs://memory/{id}"),
        "royalty_bps": 250,
    })
}

/// Asserts that every field of `want` equals the one of `got` (`got` may have more).
fn assert_fields(got: &Value, want: &Value) {
    let want = want
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {want}"));
    for (k, v) in want {
        assert_eq!(&got[k], v, "field {k} of {got}");
    }
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn memory_detail_field_by_field(pool: PgPool) {
    let app = scenario(&pool).await;
    let d = ok(&app, "/v1/memories/2").await;
    let m = &d["memory"];
    assert_fields(
        m,
        &memory_json("2", ALICE, BOB, Some(ACC2), "w_matrix", (LLAMA, MISTRAL)),
    );
    assert_eq!(m["checksum"], h(5002));
    assert_eq!(m["parents"], json!(["1"]));
    assert_eq!(m["tier"], "gold");
    assert_eq!(
        (m["block_number"].as_i64(), m["log_index"].as_i64()),
        (Some(1), Some(4))
    );
    assert_eq!(m["tx_hash"], h(tx(1, 4)));
    assert_eq!(m["timestamp"], 1_700_000_001);
    // the token-bound account: the salt-0 one, not the second account of the token
    assert_eq!(
        d["account"],
        json!({
            "account": a(ACC2), "token_id": "2", "implementation": a(IMPL), "salt": h(0), "chain_id": "31337",
            "token_contract": a(NFT), "primary": true, "owner": a(BOB),
            "block_number": 3, "log_index": 2, "tx_hash": h(tx(3, 2)), "timestamp": 1_700_000_003,
        })
    );
    // the active certificate is D2: D2_EXPIRED is newer but expired
    let c = &d["certificate"];
    assert_eq!(
        *c,
        json!({
            "digest": h(D2), "token_id": "2", "certifier": a(CAROL), "creator": a(ALICE), "checksum": h(5002), "test_set_checksum": h(6000),
            "epsilon_ppm": 30_000, "rel_error_ppm": 15_000, "cosine_ppm": -5, "euclidean_ppm": u64::MAX.to_string(),
            "test_samples": 64, "level": 3, "tier": "gold", "issued_at": "1700000000", "expires_at": u64::MAX.to_string(),
            "nonce": MAX, "status": "valid", "revoked_block": null, "revoked_tx_hash": null,
            "block_number": 2, "log_index": 5, "tx_hash": h(tx(2, 5)), "timestamp": 1_700_000_002,
        })
    );
    // sold in block 4: no open listing; transferred once (the sale)
    assert_eq!(d["listing"], Value::Null);
    assert_eq!(d["memory"]["transfer_count"], 1);
    // no approvals from its account
    assert_eq!(
        (&d["account_approvals"], &d["account_approvals_truncated"]),
        (&json!([]), &json!(false))
    );

    // token 4: open listing, revoked certificate (none active), no account
    let d = ok(&app, "/v1/memories/4").await;
    assert_fields(
        &d["memory"],
        &memory_json("4", BOB, BOB, None, "w_matrix", (LLAMA, MISTRAL)),
    );
    assert_eq!(d["memory"]["tier"], Value::Null);
    assert_eq!(
        (&d["account"], &d["certificate"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(
        d["listing"],
        json!({
            "token_id": "4", "listing_id": "3", "seller": a(BOB), "price": "2000", "expires_at": FAR.to_string(),
            "transfer_count": 0, "account_state": "1", "status": "open", "live": true,
            "block_number": 5, "log_index": 2, "tx_hash": h(tx(5, 2)), "timestamp": 1_700_000_005,
            "closed_block": null, "closed_tx_hash": null,
        })
    );
    assert_eq!(d["account_approvals"], json!([]));
    // the largest token id round-trips; leading zeros are accepted
    let d = ok(&app, &format!("/v1/memories/{MAX}")).await;
    assert_fields(
        &d["memory"],
        &memory_json(MAX, DAVE, DAVE, None, "other", ("a", "b")),
    );
    let d = ok(&app, "/v1/memories/0001").await;
    // chain 8 also has a token 1, but the API serves chain 31337 only
    assert_fields(
        &d["memory"],
        &memory_json("1", ALICE, DAVE, Some(ACC1), "w_matrix", (LLAMA, MISTRAL)),
    );
    assert_eq!(d["memory"]["tier"], "silver");
    assert_eq!(d["memory"]["transfer_count"], 1);
    assert_eq!(d["certificate"]["digest"], h(D1));
    // the live approvals of its account, newest first (see `block_events`)
    let approval = |token: Address,
                    kind: &str,
                    spender: Address,
                    amount: Option<&str>,
                    token_id: Option<&str>,
                    b: u64,
                    l: u64| {
        json!({
            "token_contract": a(token), "owner": a(ACC1), "kind": kind, "spender": a(spender),
            "amount": amount, "token_id": token_id, "approved": true, "live": true,
            "block_number": b, "log_index": l, "tx_hash": h(tx(b, l)), "timestamp": 1_700_000_000 + b,
        })
    };
    assert_eq!(
        d["account_approvals"],
        json!([
            approval(NFT, "operator", CAROL, None, None, 4, 7),
            approval(NFT, "erc721", DAVE, None, Some("3"), 3, 5),
            approval(E20, "erc20", CAROL, Some("7"), None, 2, 9),
        ])
    );
    assert_eq!(d["account_approvals_truncated"], false);
    assert_eq!(
        d["listing"],
        Value::Null,
        "the listing of token 1 was cancelled"
    );
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn memories_filters_and_pagination(pool: PgPool) {
    let app = scenario(&pool).await;
    let cases: [(&str, &[&str]); 15] = [
        ("", &["1", "2", "3", "4", MAX]),
        (
            "?owner=0x0000000000000000000000000000000000000B0B",
            &["2", "3", "4"],
        ),
        (
            "?owner=0x000000000000000000000000000000000000da7e",
            &["1", MAX],
        ),
        (
            "?creator=0x00000000000000000000000000000000000a11ce",
            &["1", "2"],
        ),
        ("?kind=kv_cache", &["3"]),
        ("?kind=other", &[MAX]),
        (
            "?source_model=llama-3-8b&target_model=mistral-7b",
            &["1", "2", "4"],
        ),
        ("?target_model=llama-3-8b", &["3"]),
        ("?source_model=nope", &[]),
        ("?tier=gold", &["2"]),
        ("?tier=2", &["1"]),
        ("?min_tier=silver", &["1", "2"]),
        ("?min_tier=platinum", &[]),
        (
            "?owner=0x0000000000000000000000000000000000000b0b&kind=w_matrix&min_tier=bronze",
            &["2"],
        ),
        (
            "?creator=0x0000000000000000000000000000000000000b0b&source_model=llama-3-8b&target_model=llama-3-8b",
            &["3"],
        ),
    ];
    for (q, want) in cases {
        let uri = format!("/v1/memories{q}");
        let page = ok(&app, &uri).await;
        assert_eq!(ids(&page, "token_id"), want, "{uri}");
        assert_eq!(page["next_cursor"], Value::Null, "{uri}");
    }
    // one item per page: every token once, in order, then no cursor
    let mut seen = Vec::new();
    let mut uri = "/v1/memories?limit=1".to_owned();
    loop {
        let page = ok(&app, &uri).await;
        seen.extend(ids(&page, "token_id"));
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("/v1/memories?limit=1&cursor={c}"),
            None => break,
        }
        assert!(seen.len() <= 5, "pagination does not end");
    }
    assert_eq!(seen, ["1", "2", "3", "4", MAX]);
    // filters and cursors combine
    let p1 = ok(
        &app,
        "/v1/memories?owner=0x0000000000000000000000000000000000000b0b&limit=2",
    )
    .await;
    assert_eq!(ids(&p1, "token_id"), ["2", "3"]);
    let c = p1["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("no cursor: {p1}"));
    let p2 = ok(
        &app,
        &format!(
            "/v1/memories?owner=0x0000000000000000000000000000000000000b0b&limit=2&cursor={c}"
        ),
    )
    .await;
    assert_eq!(ids(&p2, "token_id"), ["4"]);
    assert_eq!(p2["next_cursor"], Value::Null);
    // list items are the same records as the detail's memory
    let d = ok(&app, "/v1/memories/3").await;
    let p = ok(&app, "/v1/memories?kind=kv_cache").await;
    assert_eq!(p["items"][0], d["memory"]);
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn transfers_certificates_and_provenance(pool: PgPool) {
    let app = scenario(&pool).await;
    let t = ok(&app, "/v1/memories/2/transfers").await;
    assert_eq!(
        t["items"],
        json!([
            {"token_id": "2", "from": a(ALICE), "to": a(BOB), "block_number": 4, "log_index": 5, "tx_hash": h(tx(4, 5)), "timestamp": 1_700_000_004},
            {"token_id": "2", "from": a(Address::ZERO), "to": a(ALICE), "block_number": 1, "log_index": 3, "tx_hash": h(tx(1, 3)), "timestamp": 1_700_000_001},
        ])
    );
    let p1 = ok(&app, "/v1/memories/2/transfers?limit=1").await;
    assert_eq!(p1["items"][0]["block_number"], 4);
    let c = p1["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("{p1}"))
        .to_owned();
    let p2 = ok(
        &app,
        &format!("/v1/memories/2/transfers?limit=1&cursor={c}"),
    )
    .await;
    assert_eq!(p2["items"][0]["block_number"], 1);
    assert_eq!(p2["next_cursor"], Value::Null);

    let c = ok(&app, "/v1/memories/2/certificates").await;
    let certs: Vec<(String, String)> = c["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["digest"].as_str().unwrap_or("").to_owned(),
                i["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        certs,
        [
            (h(D2_EXPIRED), "expired".to_owned()),
            (h(D2), "valid".to_owned())
        ]
    );
    let c4 = ok(&app, "/v1/memories/4/certificates").await;
    assert_eq!(c4["items"][0]["status"], "revoked");
    assert_eq!(c4["items"][0]["revoked_block"], 4);
    assert_eq!(c4["items"][0]["revoked_tx_hash"], h(tx(4, 6)));
    assert_eq!(
        ok(&app, "/v1/memories/3/certificates").await,
        json!({"items": [], "next_cursor": null})
    );

    let p = ok(&app, "/v1/memories/4/provenance").await;
    assert_eq!(
        p,
        json!({
            "token_id": "4", "max_depth": 8,
            "ancestors": [
                {"token_id": "3", "depth": 1, "parents": ["1", "2"]},
                {"token_id": "1", "depth": 2, "parents": []},
                {"token_id": "2", "depth": 2, "parents": ["1"]},
            ],
            "ancestors_truncated": false, "descendants": [], "descendants_truncated": false,
        })
    );
    let p = ok(&app, "/v1/memories/1/provenance?max_depth=1").await;
    assert_eq!(p["ancestors"], json!([]));
    assert_eq!(
        p["descendants"],
        json!([{"token_id": "2", "depth": 1, "parents": ["1"]}, {"token_id": "3", "depth": 1, "parents": ["1", "2"]}])
    );
    let p = ok(&app, "/v1/memories/1/provenance?limit=2").await;
    assert_eq!(
        ids(&json!({"items": p["descendants"]}), "token_id"),
        ["2", "3"]
    );
    assert_eq!(p["descendants_truncated"], true);
    let p = ok(&app, "/v1/memories/1/provenance?max_depth=64&limit=1000").await;
    assert_eq!(
        ids(&json!({"items": p["descendants"]}), "token_id"),
        ["2", "3", "4"]
    );
    assert_eq!(p["descendants"][2]["depth"], 2);
    assert_eq!(p["descendants_truncated"], false);
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn certificates_accounts_and_best(pool: PgPool) {
    let app = scenario(&pool).await;
    let cases: [(&str, &[u64]); 8] = [
        ("", &[D2_EXPIRED, D4, D2, D1]),
        ("?token_id=2", &[D2_EXPIRED, D2]),
        ("?status=valid", &[D2, D1]),
        ("?status=expired", &[D2_EXPIRED]),
        ("?status=revoked", &[D4]),
        ("?min_tier=gold&status=valid", &[D2]),
        ("?tier=platinum", &[D2_EXPIRED, D4]),
        (
            "?certifier=0x00000000000000000000000000000000000ca201&token_id=1",
            &[D1],
        ),
    ];
    for (q, want) in cases {
        let page = ok(&app, &format!("/v1/certificates{q}")).await;
        let want: Vec<String> = want.iter().map(|d| h(*d)).collect();
        assert_eq!(ids(&page, "digest"), want, "{q}");
    }
    assert_eq!(
        ids(
            &ok(
                &app,
                "/v1/certificates?certifier=0x0000000000000000000000000000000000000b0b"
            )
            .await,
            "digest"
        ),
        Vec::<String>::new()
    );
    let one = ok(
        &app,
        &format!(
            "/v1/certificates/{}",
            h(D4).to_uppercase().replace("0X", "0x")
        ),
    )
    .await;
    assert_eq!(
        (
            &one["digest"],
            &one["status"],
            &one["tier"],
            &one["epsilon_ppm"]
        ),
        (
            &json!(h(D4)),
            &json!("revoked"),
            &json!("platinum"),
            &json!(5000)
        )
    );

    let acc = ok(&app, &format!("/v1/accounts/{}", a(ACC2B))).await;
    assert_eq!(
        acc,
        json!({
            "account": a(ACC2B), "token_id": "2", "implementation": a(IMPL), "salt": h(1), "chain_id": "31337",
            "token_contract": a(NFT), "primary": false, "owner": a(BOB),
            "block_number": 3, "log_index": 3, "tx_hash": h(tx(3, 3)), "timestamp": 1_700_000_003,
        })
    );
    assert_eq!(
        ids(&ok(&app, "/v1/accounts").await, "account"),
        [a(ACC2B), a(ACC2), a(ACC1)]
    );
    assert_eq!(
        ids(&ok(&app, "/v1/accounts?token_id=2").await, "account"),
        [a(ACC2B), a(ACC2)]
    );
    assert_eq!(
        ids(
            &ok(&app, &format!("/v1/accounts?implementation={}", a(IMPL))).await,
            "account"
        )
        .len(),
        3
    );
    assert_eq!(
        ids(
            &ok(&app, &format!("/v1/accounts?implementation={}", a(NFT))).await,
            "account"
        )
        .len(),
        0
    );

    // D4 (platinum, 5000 ppm) is revoked and D2_EXPIRED (1000 ppm) expired: the best is D2
    let best = ok(
        &app,
        "/v1/best?source_model=llama-3-8b&target_model=mistral-7b",
    )
    .await;
    assert_eq!(best["memory"], ok(&app, "/v1/memories/2").await["memory"]);
    assert_eq!(
        (
            &best["certificate"]["digest"],
            &best["certificate"]["epsilon_ppm"]
        ),
        (&json!(h(D2)), &json!(30_000))
    );
    let best = ok(
        &app,
        "/v1/best?source_model=llama-3-8b&target_model=mistral-7b&min_tier=gold",
    )
    .await;
    assert_eq!(best["certificate"]["digest"], h(D2));
    let (s, e) = get(
        &app,
        "/v1/best?source_model=llama-3-8b&target_model=mistral-7b&min_tier=platinum",
    )
    .await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
    // token 3 is a KV-cache: never a best W-Matrix
    assert_eq!(
        get(
            &app,
            "/v1/best?source_model=llama-3-8b&target_model=llama-3-8b"
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn market_endpoints(pool: PgPool) {
    let app = scenario(&pool).await;
    let l = ok(&app, "/v1/listings").await;
    let got: Vec<(String, String)> = l["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["token_id"].as_str().unwrap_or("").to_owned(),
                i["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("4".into(), "open".into()),
            ("1".into(), "cancelled".into()),
            ("2".into(), "sold".into())
        ]
    );
    assert_eq!(l["items"][2]["closed_block"], 4);
    assert_eq!(l["items"][2]["closed_tx_hash"], h(tx(4, 1)));
    assert_eq!(
        ids(&ok(&app, "/v1/listings?status=open").await, "token_id"),
        ["4"]
    );
    assert_eq!(
        ids(&ok(&app, "/v1/listings?live=true").await, "token_id"),
        ["4"]
    );
    assert_eq!(
        ids(&ok(&app, "/v1/listings?live=false").await, "token_id"),
        ["1", "2"]
    );
    let live: Vec<&Value> = l["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| &i["live"])
        .collect();
    assert_eq!(live, [&json!(true), &json!(false), &json!(false)]);
    assert_eq!(
        ids(
            &ok(&app, &format!("/v1/listings?seller={}", a(ALICE))).await,
            "token_id"
        ),
        ["1", "2"]
    );
    assert_eq!(
        ids(
            &ok(&app, "/v1/listings?token_id=2&status=sold").await,
            "token_id"
        ),
        ["2"]
    );
    assert_eq!(
        ids(&ok(&app, "/v1/listings?status=replaced").await, "token_id"),
        Vec::<String>::new()
    );

    let s = ok(&app, "/v1/sales").await;
    assert_eq!(
        s,
        json!({"items": [{
            "token_id": "2", "seller": a(ALICE), "buyer": a(BOB), "price": "1000", "listing_id": "1",
            "block_number": 4, "log_index": 1, "tx_hash": h(tx(4, 1)), "timestamp": 1_700_000_004,
        }], "next_cursor": null})
    );
    assert_eq!(ok(&app, &format!("/v1/sales?buyer={}", a(BOB))).await, s);
    assert_eq!(
        ok(&app, &format!("/v1/sales?seller={}&token_id=2", a(ALICE))).await,
        s
    );
    assert_eq!(
        ids(
            &ok(&app, &format!("/v1/sales?seller={}", a(BOB))).await,
            "token_id"
        ),
        Vec::<String>::new()
    );

    let r = ok(&app, "/v1/royalties").await;
    assert_eq!(
        r["items"],
        json!([
            {"sale_token_id": "2", "beneficiary_token_id": "1", "recipient": a(ACC1), "amount": "20", "credited": true,
             "block_number": 4, "log_index": 3, "tx_hash": h(tx(4, 3)), "timestamp": 1_700_000_004},
            {"sale_token_id": "2", "beneficiary_token_id": "2", "recipient": a(ALICE), "amount": "50", "credited": false,
             "block_number": 4, "log_index": 2, "tx_hash": h(tx(4, 2)), "timestamp": 1_700_000_004},
        ])
    );
    assert_eq!(
        ids(
            &ok(&app, &format!("/v1/royalties?recipient={}", a(ALICE))).await,
            "amount"
        ),
        ["50"]
    );
    assert_eq!(
        ids(
            &ok(&app, "/v1/royalties?beneficiary_token_id=1").await,
            "amount"
        ),
        ["20"]
    );
    assert_eq!(
        ids(
            &ok(&app, "/v1/royalties?sale_token_id=2&limit=1").await,
            "amount"
        ),
        ["20"]
    );
    assert_eq!(
        ids(&ok(&app, "/v1/royalties?sale_token_id=1").await, "amount"),
        Vec::<String>::new()
    );

    let t = ok(&app, &format!("/v1/royalties/totals?recipient={}", a(ACC1))).await;
    assert_eq!(
        t,
        json!({"total": "20", "payments": 1, "pairs": 1, "items": [{"beneficiary_token_id": "1", "recipient": a(ACC1), "total": "20", "payments": 1}], "items_truncated": false})
    );
    let t = ok(&app, "/v1/royalties/totals?beneficiary_token_id=2").await;
    assert_eq!((&t["total"], &t["payments"]), (&json!("50"), &json!(1)));
    let t = ok(&app, "/v1/royalties/totals?beneficiary_token_id=3").await;
    assert_eq!(
        t,
        json!({"total": "0", "payments": 0, "pairs": 0, "items": [], "items_truncated": false})
    );
    // no filter: the whole chain; limit=1 lists the largest pair, the sums still cover both
    let t = ok(&app, "/v1/royalties/totals?limit=1").await;
    assert_eq!(
        (
            &t["total"],
            &t["payments"],
            &t["pairs"],
            &t["items_truncated"]
        ),
        (&json!("70"), &json!(2), &json!(2), &json!(true))
    );
    assert_eq!(ids(&t, "total"), ["50"]);

    let entry = |amount: &str, b: u64, l: u64| json!({"account": a(ACC1), "amount": amount, "block_number": b, "log_index": l, "tx_hash": h(tx(b, l)), "timestamp": 1_700_000_000 + b});
    assert_eq!(
        ok(&app, "/v1/credits").await["items"],
        json!([entry("20", 4, 4)])
    );
    let mut withdrawal = entry("20", 5, 0);
    withdrawal["to"] = json!(a(CAROL));
    assert_eq!(
        ok(&app, &format!("/v1/withdrawals?account={}", a(ACC1))).await["items"],
        json!([withdrawal])
    );
    assert_eq!(
        ok(&app, &format!("/v1/withdrawals?account={}", a(ALICE))).await["items"],
        json!([])
    );
}

/// `GET /v1/royalties/totals` sums every matching pair in SQL, exactly: 1 205 pairs (more than the
/// 1 000 an answer lists) of amounts around 10^30 wei, whose sum no float or u64 holds.
#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn royalty_totals_sum_every_pair_exactly(pool: PgPool) {
    const PAIRS: u64 = 1205;
    db::init_chain(&pool, CHAIN, NFT, MARKET, 1)
        .await
        .unwrap_or_else(|e| panic!("init: {e}"));
    let base = U256::from(10u64).pow(U256::from(30));
    let amount = |i: u64| base * U256::from(i + 1) + U256::from(i);
    let paid = |beneficiary: u64, recipient: Address, amount: U256| Event::RoyaltyPaid {
        sale_token_id: U256::from(1),
        beneficiary_token_id: U256::from(beneficiary),
        recipient,
        amount,
        credited: false,
    };
    // DAVE: one payment per beneficiary token; token 7 twice; BOB: one pair, not DAVE's
    let mut events: Vec<Event> = (0..PAIRS).map(|i| paid(i, DAVE, amount(i))).collect();
    events.push(paid(7, DAVE, U256::from(5)));
    events.push(paid(7, BOB, U256::MAX >> 8usize));
    db::write_batch(&pool, CHAIN, Some(IMPL), &batch_of(1, events))
        .await
        .unwrap_or_else(|e| panic!("batch: {e}"));
    let app = app(&pool);

    let mut want = U256::from(5);
    for i in 0..PAIRS {
        want += amount(i);
    }
    let t = ok(&app, &format!("/v1/royalties/totals?recipient={}", a(DAVE))).await;
    assert_eq!(t["total"], json!(want.to_string()));
    assert_eq!(
        (&t["payments"], &t["pairs"], &t["items_truncated"]),
        (&json!(PAIRS + 1), &json!(PAIRS), &json!(true))
    );
    let items = t["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1000);
    // largest first: the pair of the last token
    assert_eq!(items[0]["total"], json!(amount(PAIRS - 1).to_string()));
    assert_eq!(
        items[0]["beneficiary_token_id"],
        json!((PAIRS - 1).to_string())
    );
    // a smaller page: same sums
    let t2 = ok(
        &app,
        &format!("/v1/royalties/totals?recipient={}&limit=3", a(DAVE)),
    )
    .await;
    assert_eq!((&t2["total"], &t2["pairs"]), (&t["total"], &t["pairs"]));
    assert_eq!(t2["items"].as_array().map(Vec::len), Some(3));
    // both filters; one pair, complete
    let t = ok(
        &app,
        &format!(
            "/v1/royalties/totals?recipient={}&beneficiary_token_id=7",
            a(DAVE)
        ),
    )
    .await;
    assert_eq!(
        t,
        json!({"total": (amount(7) + U256::from(5)).to_string(), "payments": 2, "pairs": 1,
               "items": [{"beneficiary_token_id": "7", "recipient": a(DAVE), "total": (amount(7) + U256::from(5)).to_string(), "payments": 2}],
               "items_truncated": false})
    );
    // the whole chain: every pair of both recipients
    let t = ok(&app, "/v1/royalties/totals").await;
    assert_eq!(
        t["total"],
        json!((want + (U256::MAX >> 8usize)).to_string())
    );
    assert_eq!(
        (&t["payments"], &t["pairs"]),
        (&json!(PAIRS + 2), &json!(PAIRS + 1))
    );
    // the stats' sums agree
    let st = ok(&app, "/v1/stats").await;
    assert_eq!(
        (&st["royalties_paid"], &st["royalty_payments"]),
        (&t["total"], &t["payments"])
    );
}

/// The earliest creation record of an account is its record, however often the registry emitted
/// the creation again (more than a page of the event list).
#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn an_account_created_many_times_answers_its_first_creation(pool: PgPool) {
    db::init_chain(&pool, CHAIN, NFT, MARKET, 1)
        .await
        .unwrap_or_else(|e| panic!("init: {e}"));
    let mut events = mint(1, ALICE, 0, (LLAMA, MISTRAL), &[]);
    events.extend((0..15).map(|_| account(1, ACC1, B256::ZERO)));
    db::write_batch(&pool, CHAIN, Some(IMPL), &batch_of(1, events))
        .await
        .unwrap_or_else(|e| panic!("batch: {e}"));
    let app = app(&pool);
    let acc = ok(&app, &format!("/v1/accounts/{}", a(ACC1))).await;
    assert_eq!(
        (&acc["block_number"], &acc["log_index"], &acc["primary"]),
        (&json!(1), &json!(2), &json!(true))
    );
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn operations_endpoints(pool: PgPool) {
    // before the chain is initialised: alive, not ready, status unknown
    let empty = app(&pool);
    assert_eq!(ok(&empty, "/health").await, json!({"status": "ok"}));
    let (s, e) = get(&empty, "/ready").await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (StatusCode::SERVICE_UNAVAILABLE, &json!("not_found"))
    );
    assert_eq!(get(&empty, "/v1/status").await.0, StatusCode::NOT_FOUND);

    let app = scenario(&pool).await;
    let st = ok(&app, "/v1/status").await;
    assert_fields(
        &st,
        &json!({"chain_id": 31337, "nft": a(NFT), "market": a(MARKET), "start_block": 1, "indexed_block": 5,
                "indexed_hash": h(1005), "head_block": 5, "lag": 0, "ready": true}),
    );
    assert!(st["updated_at"].as_i64().is_some_and(|t| t > 1_700_000_000));
    assert_eq!(ok(&app, "/ready").await["ready"], true);
    // the head moves 4 blocks ahead: lagging, not ready
    db::set_head(&pool, CHAIN, 9)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (s, body) = get(&app, "/ready").await;
    assert_eq!(
        (s, &body["lag"], &body["ready"]),
        (StatusCode::SERVICE_UNAVAILABLE, &json!(4), &json!(false))
    );
    db::set_head(&pool, CHAIN, 7)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(get(&app, "/ready").await.0, StatusCode::OK);

    assert_eq!(
        ok(&app, "/v1/stats").await,
        json!({
            "memories": 5, "owners": 2, "creators": 3, "transfers": 7, "certificates": 4, "valid_certificates": 2,
            "revoked_certificates": 1, "accounts": 3, "open_listings": 1, "sales": 1, "sales_volume": "1000",
            "royalty_payments": 2, "royalties_paid": "70", "withdrawals": 1, "withdrawn": "20",
        })
    );

    let (s, text) = get(&app, "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    let text = text.as_str().unwrap_or_default();
    for line in [
        "indexer_events_total 0\n",
        "indexer_lag_blocks 0\n",
        "# TYPE indexer_reorgs_total counter\n",
        "indexer_http_requests_total{route=\"/v1/stats\",status=\"2xx\"} 1\n",
        "indexer_http_requests_total{route=\"/ready\",status=\"5xx\"} 1\n",
        "indexer_http_requests_total{route=\"/ready\",status=\"2xx\"} 2\n",
        "indexer_http_request_duration_seconds_count{route=\"/v1/status\"} 1\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("indexer_db_pool_connections "));
    let doc = ok(&app, "/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
}

async fn owner_of(app: &Router, id: u64) -> Value {
    ok(app, &format!("/v1/memories/{id}")).await["memory"]["owner"].clone()
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn detail_cache_answers_like_the_database(pool: PgPool) {
    let cached = scenario(&pool).await;
    let uncached = api::app_with(
        AppState {
            pool: pool.clone(),
            chain_id: CHAIN,
            nft: NFT,
            metrics: Arc::new(Metrics::default()),
        },
        api::Options {
            detail_cache: false,
        },
    );
    for id in ["1", "2", "3", "4", MAX] {
        let uri = format!("/v1/memories/{id}");
        let want = ok(&uncached, &uri).await;
        assert_eq!(ok(&cached, &uri).await, want, "{uri} (miss)");
        assert_eq!(ok(&cached, &uri).await, want, "{uri} (hit)");
    }
    assert_eq!(
        get(&cached, "/v1/memories/77").await.0,
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn detail_cache_never_serves_stale_answers(pool: PgPool) {
    let _ = scenario(&pool).await;
    let metrics = Arc::new(Metrics::default());
    let app = api::app(AppState {
        pool: pool.clone(),
        chain_id: CHAIN,
        nft: NFT,
        metrics: metrics.clone(),
    });
    // let the first checkpoint poll validate the cache, then fill it
    tokio::time::sleep(api::cache::POLL_INTERVAL * 3).await;
    assert_eq!(owner_of(&app, 1).await, a(DAVE));
    assert_eq!(owner_of(&app, 1).await, a(DAVE));

    // an in-process ingestion bumps the batch counter after its commit: visible at once
    let write = |b: u64, events: Vec<Event>| {
        let pool = pool.clone();
        async move {
            db::write_batch(&pool, CHAIN, Some(IMPL), &batch_of(b, events))
                .await
                .unwrap_or_else(|e| panic!("batch {b}: {e}"))
        }
    };
    write(
        6,
        vec![Event::Transfer {
            from: DAVE,
            to: CAROL,
            token_id: U256::from(1),
        }],
    )
    .await;
    metrics
        .batches_total
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(owner_of(&app, 1).await, a(CAROL));

    // a writer in another process: the checkpoint poll notices within a few intervals
    write(
        7,
        vec![Event::Transfer {
            from: CAROL,
            to: BOB,
            token_id: U256::from(1),
        }],
    )
    .await;
    let t = std::time::Instant::now();
    while owner_of(&app, 1).await != a(BOB) {
        assert!(
            t.elapsed() < api::cache::POLL_INTERVAL * 20,
            "stale answer after {:?}",
            t.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    // a reorg rollback bumps the reorg counter: visible at once
    assert_eq!(owner_of(&app, 1).await, a(BOB));
    db::rollback(&pool, CHAIN, 6, header(6).hash)
        .await
        .unwrap_or_else(|e| panic!("rollback: {e}"));
    metrics
        .reorgs_total
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(owner_of(&app, 1).await, a(CAROL));

    // a certificate that expires changes the answer without any event
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    write(7, vec![cert(3, 90, 1, 99_000, now + 2)]).await;
    metrics
        .batches_total
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = ok(&app, "/v1/memories/3").await;
    assert_eq!(
        (&d["memory"]["tier"], &d["certificate"]["digest"]),
        (&json!("bronze"), &json!(h(90)))
    );
    assert_eq!(ok(&app, "/v1/memories/3").await, d, "cached while valid");
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let d = ok(&app, "/v1/memories/3").await;
    assert_eq!(
        (&d["memory"]["tier"], &d["certificate"]),
        (&Value::Null, &Value::Null)
    );
}
