//! End to end through the API: the real-anvil scenario of `TestChain::scenario` indexed by the
//! real indexer, then every resource asserted field by field through the router; and a reorg
//! during live follow, after which the API (detail cache included) shows only canonical data.

use std::sync::Arc;

use alloy::primitives::{Address, U256, keccak256};
use axum::Router;
use axum::http::StatusCode;
use memory_indexer::ingest::Indexer;
use memory_indexer::metrics::Metrics;
use memory_indexer::test_utils::{TestChain, database_url, init_tracing};
use memory_indexer::{AppState, api};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::api::{a, get, ok};

async fn indexer(chain: &TestChain, pool: &PgPool, metrics: Arc<Metrics>) -> Indexer {
    let s = chain.settings(&database_url());
    Indexer::new(s.resolve().expect("settings"), pool.clone(), metrics)
        .await
        .expect("indexer")
}

/// The API of the indexed chain, sharing the indexer's metrics (as `memory-indexer run` does).
fn app_of(ix: &Indexer, pool: &PgPool, metrics: Arc<Metrics>) -> Router {
    api::app(AppState {
        pool: pool.clone(),
        chain_id: ix.chain_id(),
        nft: ix.chain().contracts().nft,
        metrics,
    })
}

fn b32(v: alloy::primitives::B256) -> String {
    format!("0x{}", alloy::hex::encode(v))
}

async fn account_of(chain: &TestChain, id: u64) -> Address {
    chain
        .nft()
        .accountOf(U256::from(id))
        .call()
        .await
        .expect("accountOf")
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn the_api_answers_the_scenario_field_by_field(pool: PgPool) {
    init_tracing();
    let chain = TestChain::spawn().await;
    let s = chain.scenario().await;
    let metrics = Arc::new(Metrics::default());
    let ix = indexer(&chain, &pool, metrics.clone()).await;
    let cp = ix.sync().await.expect("sync");
    let app = app_of(&ix, &pool, metrics);
    let (acc1, acc2) = (account_of(&chain, 1).await, account_of(&chain, 2).await);

    // memories: creators, owners after the transfer and the sale, accounts, parents, fields
    let list = ok(&app, "/v1/memories").await;
    assert_eq!(list["next_cursor"], Value::Null);
    let want = [
        ("1", s.alice, s.dave, Some(acc1), "model-1", vec![]),
        ("2", s.bob, s.bob, Some(acc2), "model-2", vec!["1"]),
        ("3", s.carol, s.bob, None, "model-0", vec!["1", "2"]),
    ];
    assert_eq!(items(&list).len(), 3);
    for (m, (id, creator, owner, account, source, parents)) in items(&list).iter().zip(want) {
        let seed: u64 = id.parse().expect("id");
        let fields = json!({
            "token_id": id, "creator": a(creator), "owner": a(owner), "account": account.map(a),
            "checksum": b32(keccak256(seed.to_be_bytes())), "kind": "w_matrix", "source_model": source,
            "target_model": "model-t", "version": "1.0.0", "uri": "", "royalty_bps": 500, "parents": parents,
        });
        for (k, v) in fields.as_object().into_iter().flatten() {
            assert_eq!(&m[k], v, "memory {id} field {k}");
        }
        assert!(
            m["block_number"]
                .as_i64()
                .is_some_and(|b| b > 0 && b <= cp.block)
        );
        // the detail's memory is the same record
        assert_eq!(ok(&app, &format!("/v1/memories/{id}")).await["memory"], *m);
    }

    // token 2: the active certificate and the open listing
    let d2 = ok(&app, "/v1/memories/2").await;
    assert_eq!(d2["memory"]["tier"], "gold");
    let c = &d2["certificate"];
    let cert_fields = json!({
        "digest": b32(s.certificate), "token_id": "2", "certifier": a(chain.accounts[1]), "creator": a(s.bob),
        "checksum": b32(keccak256(2u64.to_be_bytes())), "test_set_checksum": b32(keccak256(b"test set")),
        "epsilon_ppm": 12_345, "rel_error_ppm": 20_000, "cosine_ppm": 990_000, "euclidean_ppm": "1234",
        "test_samples": 128, "level": 3, "tier": "gold", "issued_at": "1", "expires_at": u64::MAX.to_string(), "nonce": "1",
        "status": "valid", "revoked_block": null, "revoked_tx_hash": null,
    });
    for (k, v) in cert_fields.as_object().into_iter().flatten() {
        assert_eq!(&c[k], v, "certificate field {k}");
    }
    let l = &d2["listing"];
    assert_eq!(
        (
            &l["seller"],
            &l["price"],
            &l["status"],
            &l["listing_id"],
            &l["live"]
        ),
        (
            &json!(a(s.bob)),
            &json!("5000"),
            &json!("open"),
            &json!("3"),
            &json!(true)
        )
    );
    // listed for a day from the block before the listing's
    let left = l["expires_at"]
        .as_str()
        .and_then(|e| e.parse::<i64>().ok())
        .zip(l["timestamp"].as_i64())
        .map(|(e, t)| e - t);
    assert!(left.is_some_and(|s| s > 80_000 && s <= 86_400), "{l}");
    assert_eq!(d2["account"]["account"], a(acc2));
    assert_eq!(
        (&d2["account"]["primary"], &d2["account"]["owner"]),
        (&json!(true), &json!(a(s.bob)))
    );
    assert_eq!(
        ok(&app, &format!("/v1/certificates/{}", b32(s.certificate))).await,
        *c
    );

    // token 3: revoked certificate (none active), sold (no open listing)
    let d3 = ok(&app, "/v1/memories/3").await;
    assert_eq!(
        (
            &d3["memory"]["tier"],
            &d3["certificate"],
            &d3["listing"],
            &d3["account"]
        ),
        (&Value::Null, &Value::Null, &Value::Null, &Value::Null)
    );
    let c3 = items(&ok(&app, "/v1/memories/3/certificates").await);
    assert_eq!(c3.len(), 1);
    assert_eq!(
        (&c3[0]["digest"], &c3[0]["status"], &c3[0]["epsilon_ppm"]),
        (&json!(b32(s.revoked)), &json!("revoked"), &json!(99_000))
    );
    assert!(
        c3[0]["revoked_block"]
            .as_i64()
            .is_some_and(|r| r >= c3[0]["block_number"].as_i64().unwrap_or(i64::MAX))
    );

    // transfers of token 1, newest first: alice -> dave, then the mint
    let t1 = items(&ok(&app, "/v1/memories/1/transfers").await);
    let pairs: Vec<(Value, Value)> = t1
        .iter()
        .map(|t| (t["from"].clone(), t["to"].clone()))
        .collect();
    assert_eq!(
        pairs,
        [
            (json!(a(s.alice)), json!(a(s.dave))),
            (json!(a(Address::ZERO)), json!(a(s.alice)))
        ]
    );

    // provenance
    let p = ok(&app, "/v1/memories/3/provenance").await;
    assert_eq!(
        p["ancestors"],
        json!([{"token_id": "1", "depth": 1, "parents": []}, {"token_id": "2", "depth": 1, "parents": ["1"]}])
    );
    let p = ok(&app, "/v1/memories/1/provenance").await;
    assert_eq!(
        p["descendants"],
        json!([{"token_id": "2", "depth": 1, "parents": ["1"]}, {"token_id": "3", "depth": 1, "parents": ["1", "2"]}])
    );

    // the market: listings of token 3 (newest first), the sale, royalties, the ledger
    let l3 = items(&ok(&app, "/v1/listings?token_id=3").await);
    let l3: Vec<Value> = l3
        .iter()
        .map(|l| {
            json!([
                l["price"],
                l["status"],
                l["seller"],
                l["listing_id"],
                l["transfer_count"],
                l["live"]
            ])
        })
        .collect();
    assert_eq!(
        l3,
        [
            json!(["2000000", "sold", a(s.erin), "2", 1, false]),
            json!(["1000000", "cancelled", a(s.carol), "1", 0, false])
        ]
    );
    let sales = items(&ok(&app, "/v1/sales").await);
    assert_eq!(sales.len(), 1);
    let sale = &sales[0];
    assert_eq!(
        (
            &sale["token_id"],
            &sale["seller"],
            &sale["buyer"],
            &sale["price"]
        ),
        (
            &json!("3"),
            &json!(a(s.erin)),
            &json!(a(s.bob)),
            &json!("2000000")
        )
    );
    assert_eq!(sale["listing_id"], "2");
    let mut pays = items(&ok(&app, "/v1/royalties?sale_token_id=3&limit=100").await);
    pays.reverse();
    assert!(pays.len() >= 2, "{pays:?}");
    assert_eq!(
        (
            &pays[0]["beneficiary_token_id"],
            &pays[0]["recipient"],
            &pays[0]["amount"],
            &pays[0]["credited"]
        ),
        (
            &json!("3"),
            &json!(a(s.carol)),
            &json!("100000"),
            &json!(true)
        )
    );
    for p in &pays[1..] {
        let id: u64 = p["beneficiary_token_id"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .expect("beneficiary");
        assert_eq!(p["recipient"], a(account_of(&chain, id).await));
        assert_eq!(p["credited"], false);
        assert_eq!(
            p["tx_hash"], sale["tx_hash"],
            "paid in the sale's transaction"
        );
        let totals = ok(
            &app,
            &format!("/v1/royalties/totals?beneficiary_token_id={id}"),
        )
        .await;
        assert_eq!(totals["total"], p["amount"]);
    }
    let carol_totals = ok(
        &app,
        &format!("/v1/royalties/totals?recipient={}", a(s.carol)),
    )
    .await;
    assert_eq!(
        (&carol_totals["total"], &carol_totals["payments"]),
        (&json!("100000"), &json!(1))
    );
    let credits: Vec<u128> = items(&ok(&app, &format!("/v1/credits?account={}", a(s.carol))).await)
        .iter()
        .filter_map(|c| c["amount"].as_str().and_then(|v| v.parse().ok()))
        .collect();
    let withdrawn = items(&ok(&app, &format!("/v1/withdrawals?account={}", a(s.carol))).await);
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(
        withdrawn[0]["amount"],
        credits.iter().sum::<u128>().to_string(),
        "carol withdrew all her credits"
    );
    assert_eq!(withdrawn[0]["to"], a(s.carol), "to herself");

    // accounts, best, status, stats, metrics
    let acc = ok(&app, &format!("/v1/accounts/{}", a(acc1))).await;
    assert_eq!(
        (&acc["token_id"], &acc["primary"], &acc["owner"]),
        (&json!("1"), &json!(true), &json!(a(s.dave)))
    );
    assert_eq!(acc["token_contract"], a(ix.chain().contracts().nft));
    assert_eq!(acc["chain_id"], chain.chain_id.to_string());
    let best = ok(&app, "/v1/best?source_model=model-2&target_model=model-t").await;
    assert_eq!(
        (&best["memory"]["token_id"], &best["certificate"]["digest"]),
        (&json!("2"), &json!(b32(s.certificate)))
    );
    assert_eq!(
        get(&app, "/v1/best?source_model=model-0&target_model=model-t")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let st = ok(&app, "/v1/status").await;
    assert_eq!(
        (&st["indexed_block"], &st["ready"], &st["chain_id"]),
        (&json!(cp.block), &json!(true), &json!(chain.chain_id))
    );
    let stats = ok(&app, "/v1/stats").await;
    assert_eq!(
        (
            &stats["memories"],
            &stats["sales"],
            &stats["transfers"],
            &stats["revoked_certificates"]
        ),
        (&json!(3), &json!(1), &json!(6), &json!(1))
    );
    let (_, text) = get(&app, "/metrics").await;
    assert!(
        !text
            .as_str()
            .unwrap_or_default()
            .contains("indexer_events_total 0\n"),
        "the indexer's metrics are served"
    );
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn after_a_reorg_the_api_shows_only_canonical_data(pool: PgPool) {
    init_tracing();
    let chain = TestChain::spawn().await;
    chain.scenario().await;
    let metrics = Arc::new(Metrics::default());
    let ix = indexer(&chain, &pool, metrics.clone()).await;
    let runner = ix.clone();
    let live = tokio::spawn(async move { runner.run().await });
    let app = app_of(&ix, &pool, metrics);
    chain.wait_indexed(&pool).await;
    // a new token 4 transferred from alice to dave, then 3 empty blocks; read through the API
    // (which fills the detail cache)
    let a4 = chain.accounts[6];
    let t4 = chain.mint(a4, 44, &[U256::from(1)], true).await;
    assert_eq!(t4, U256::from(4));
    chain
        .send(chain.nft().transferFrom(a4, chain.accounts[7], t4).from(a4))
        .await;
    chain.mine(3).await;
    chain.wait_indexed(&pool).await;
    let d4 = ok(&app, "/v1/memories/4").await;
    assert_eq!(d4["memory"]["owner"], a(chain.accounts[7]));
    assert_eq!(
        ok(&app, "/v1/memories/1/provenance").await["descendants"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    // the two transactions are reorged away
    chain.reorg(5).await;
    chain.wait_indexed(&pool).await;
    let (status, body) = get(&app, "/v1/memories/4").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
    assert_eq!(items(&ok(&app, "/v1/memories").await).len(), 3);
    assert_eq!(items(&ok(&app, "/v1/memories/1/transfers").await).len(), 2);
    assert_eq!(
        ok(&app, "/v1/memories/1/provenance").await["descendants"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        ok(
            &app,
            &format!("/v1/memories?owner={}", a(chain.accounts[7]))
        )
        .await["items"],
        json!([])
    );
    assert!(ok(&app, "/ready").await["ready"] == true);
    assert!(!live.is_finished(), "the indexer still runs");
    live.abort();
}
