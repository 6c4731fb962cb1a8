//! What the API calls live, over the synthetic scenario of `api` and further batches written
//! through the real write path: listings (expiry at the indexed block's time, transfers since
//! the listing) and the approvals of token-bound accounts (the latest event of each key, an
//! ERC-721 approval cleared by a transfer of our token), before and after reorg rollbacks.

use std::sync::Arc;

use alloy::primitives::{Address, U256};
use axum::Router;
use axum::http::StatusCode;
use memory_indexer::db;
use memory_indexer::events::{Approval, Event, Grant};
use memory_indexer::metrics::Metrics;
use memory_indexer::{AppState, api};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::api::{
    ACC1, ACC2, ALICE, BOB, CAROL, CHAIN, DAVE, E20, E721, NFT, a, get, ok, scenario,
};
use crate::fixtures::{batch_of, header};

const IMPL: Address = alloy::primitives::address!("0000000000000000000000000000000000001111");

/// The API without the detail cache (each answer is the database's at that moment).
fn uncached(pool: &PgPool) -> Router {
    api::app_with(
        AppState {
            pool: pool.clone(),
            chain_id: CHAIN,
            nft: NFT,
            metrics: Arc::new(Metrics::default()),
        },
        api::Options {
            detail_cache: false,
        },
    )
}

async fn write(pool: &PgPool, block: u64, events: Vec<Event>) {
    db::write_batch(pool, CHAIN, Some(IMPL), &batch_of(block, events))
        .await
        .unwrap_or_else(|e| panic!("batch {block}: {e}"));
}

async fn rollback(pool: &PgPool, fork: u64) {
    db::rollback(pool, CHAIN, fork, header(fork).hash)
        .await
        .unwrap_or_else(|e| panic!("rollback to {fork}: {e}"));
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

/// (kind, spender, amount or token id, live) of each approval of a page.
fn approvals(page: &Value) -> Vec<(String, String, String, bool)> {
    items(page)
        .iter()
        .map(|i| {
            let value = i["amount"]
                .as_str()
                .or(i["token_id"].as_str())
                .unwrap_or("-");
            (
                i["kind"].as_str().unwrap_or("?").to_owned(),
                i["spender"].as_str().unwrap_or("?").to_owned(),
                value.to_owned(),
                i["live"] == true,
            )
        })
        .collect()
}

fn row(kind: &str, spender: Address, value: &str, live: bool) -> (String, String, String, bool) {
    (kind.to_owned(), a(spender), value.to_owned(), live)
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn account_approvals_filters_liveness_and_pagination(pool: PgPool) {
    let _cached = scenario(&pool).await;
    let app = uncached(&pool);
    let base = format!("/v1/accounts/{}/approvals", a(ACC1));
    // every approval of the account, newest first (see api::block_events)
    let all = ok(&app, &base).await;
    assert_eq!(
        approvals(&all),
        [
            row("erc721", Address::ZERO, "9", false),
            row("erc20", BOB, "0", false),
            row("operator", BOB, "-", false),
            row("operator", BOB, "-", false),
            row("operator", CAROL, "-", true),
            row("erc721", DAVE, "9", false),
            row("erc721", DAVE, "3", true),
            row("erc721", CAROL, "2", false),
            row("erc20", CAROL, "7", true),
            row("erc20", BOB, "100", false),
        ]
    );
    assert_eq!(all["next_cursor"], Value::Null);
    let first = &items(&all)[0];
    assert_eq!(
        (
            &first["token_contract"],
            &first["owner"],
            &first["approved"],
            &first["amount"]
        ),
        (
            &json!(a(E721)),
            &json!(a(ACC1)),
            &json!(false),
            &Value::Null
        )
    );
    let live = ok(&app, &format!("{base}?live=true")).await;
    assert_eq!(
        approvals(&live),
        [
            row("operator", CAROL, "-", true),
            row("erc721", DAVE, "3", true),
            row("erc20", CAROL, "7", true),
        ]
    );
    // the detail of the account's memory lists the same live approvals
    let d = ok(&app, "/v1/memories/1").await;
    assert_eq!(d["account_approvals"], live["items"]);
    assert_eq!(
        approvals(&ok(&app, &format!("{base}?live=false")).await).len(),
        7
    );
    let cases: [(String, usize); 6] = [
        ("kind=erc20".into(), 3),
        ("kind=erc20&live=true".into(), 1),
        ("kind=operator".into(), 3),
        (format!("token_contract={}", a(E721)), 4),
        (format!("spender={}&live=false", a(BOB)), 4),
        (format!("token_contract={}&kind=erc721", a(NFT)), 2),
    ];
    for (q, n) in cases {
        assert_eq!(
            items(&ok(&app, &format!("{base}?{q}")).await).len(),
            n,
            "{q}"
        );
    }
    // pages of 3, then none
    let mut seen = Vec::new();
    let mut uri = format!("{base}?limit=3");
    loop {
        let page = ok(&app, &uri).await;
        seen.extend(approvals(&page));
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("{base}?limit=3&cursor={c}"),
            None => break,
        }
        assert!(seen.len() <= 10, "pagination does not end");
    }
    assert_eq!(seen, approvals(&all));
    // an account without approvals, an address that is no account of ours
    assert_eq!(
        ok(&app, &format!("/v1/accounts/{}/approvals", a(ACC2))).await,
        json!({"items": [], "next_cursor": null})
    );
    let (s, e) = get(&app, &format!("/v1/accounts/{}/approvals", a(ALICE))).await;
    assert_eq!(
        (s, &e["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn approvals_follow_new_events_transfers_and_rollbacks(pool: PgPool) {
    let _cached = scenario(&pool).await;
    let app = uncached(&pool);
    let live = format!("/v1/accounts/{}/approvals?live=true", a(ACC1));
    let before = approvals(&ok(&app, &live).await);
    // block 6: token 3 (approved to DAVE by the account) moves: the approval is cleared
    // without an event, and the indexer sees the transfer of its own token
    write(
        &pool,
        6,
        vec![Event::Transfer {
            from: BOB,
            to: CAROL,
            token_id: U256::from(3),
        }],
    )
    .await;
    let after_transfer = approvals(&ok(&app, &live).await);
    assert_eq!(
        after_transfer,
        [
            row("operator", CAROL, "-", true),
            row("erc20", CAROL, "7", true)
        ]
    );
    // block 7: the allowance of CAROL is raised, then the operator revoked in the same block
    let approval = |token, grant| {
        Event::Approval(Approval {
            token,
            owner: ACC1,
            grant,
        })
    };
    write(
        &pool,
        7,
        vec![
            approval(
                E20,
                Grant::Erc20 {
                    spender: CAROL,
                    amount: U256::MAX,
                },
            ),
            approval(
                NFT,
                Grant::Operator {
                    operator: CAROL,
                    approved: false,
                },
            ),
        ],
    )
    .await;
    let page = ok(&app, &live).await;
    assert_eq!(
        approvals(&page),
        [row("erc20", CAROL, &U256::MAX.to_string(), true)]
    );
    assert_eq!(
        ok(&app, "/v1/memories/1").await["account_approvals"],
        page["items"]
    );
    // a reorg back to block 6 restores the earlier answer, to block 5 the one before
    rollback(&pool, 6).await;
    assert_eq!(approvals(&ok(&app, &live).await), after_transfer);
    rollback(&pool, 5).await;
    assert_eq!(approvals(&ok(&app, &live).await), before);
    // and the rolled back rows are gone, not only hidden
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM account_approvals WHERE chain_id = $1 AND block_number > 5",
    )
    .bind(CHAIN as i64)
    .fetch_one(&pool)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n, 0);
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn listings_are_live_until_expiry_or_a_transfer(pool: PgPool) {
    let _cached = scenario(&pool).await;
    let app = uncached(&pool);
    // block 6 (time 1_700_000_006): token 3 listed until 1_700_000_007
    write(
        &pool,
        6,
        vec![Event::Listed {
            token_id: U256::from(3),
            listing_id: U256::from(10),
            seller: BOB,
            price: U256::from(9),
            expires_at: 1_700_000_007,
            transfer_count: 0,
            account_state: U256::ZERO,
        }],
    )
    .await;
    let listing = |app: Router, id: u64| async move {
        ok(&app, &format!("/v1/memories/{id}")).await["listing"].clone()
    };
    let live = |v: &Value| (v["status"].clone(), v["live"].clone());
    assert_eq!(
        live(&listing(app.clone(), 3).await),
        (json!("open"), json!(true))
    );
    // block 7 (time ..007): the last second it can be bought
    write(&pool, 7, vec![]).await;
    assert_eq!(
        live(&listing(app.clone(), 3).await),
        (json!("open"), json!(true))
    );
    // block 8: expired (still open: the contract keeps it until cancelled or replaced)
    write(&pool, 8, vec![]).await;
    assert_eq!(
        live(&listing(app.clone(), 3).await),
        (json!("open"), json!(false))
    );
    // block 9: token 4 (listed, live) is transferred: its listing is stale
    assert_eq!(
        live(&listing(app.clone(), 4).await),
        (json!("open"), json!(true))
    );
    write(
        &pool,
        9,
        vec![Event::Transfer {
            from: BOB,
            to: DAVE,
            token_id: U256::from(4),
        }],
    )
    .await;
    let l4 = listing(app.clone(), 4).await;
    assert_eq!(live(&l4), (json!("open"), json!(false)));
    assert_eq!(
        ok(&app, "/v1/memories/4").await["memory"]["transfer_count"],
        1
    );
    assert_eq!(
        items(&ok(&app, "/v1/listings?live=true").await),
        Vec::<Value>::new()
    );
    assert_eq!(
        items(&ok(&app, "/v1/listings?status=open&live=false").await).len(),
        2
    );
    // rollbacks: to block 8 the transfer is gone (token 4 live again), to block 7 the expiry
    rollback(&pool, 8).await;
    assert_eq!(
        live(&listing(app.clone(), 4).await),
        (json!("open"), json!(true))
    );
    assert_eq!(
        ok(&app, "/v1/memories/4").await["memory"]["transfer_count"],
        0
    );
    rollback(&pool, 7).await;
    assert_eq!(
        live(&listing(app.clone(), 3).await),
        (json!("open"), json!(true))
    );
    let live_ids: Vec<Value> = items(&ok(&app, "/v1/listings?live=true").await)
        .iter()
        .map(|l| l["listing_id"].clone())
        .collect();
    assert_eq!(live_ids, [json!("10"), json!("3")]);
}
