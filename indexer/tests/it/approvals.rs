//! Approvals granted by token-bound accounts on real anvil: ERC-20 `Approval` of another
//! contract, ERC-721 `Approval` and `ApprovalForAll` of the NFT, and what arbitrary contracts
//! emit, indexed in one batch with the accounts' creation (live follow) and in many small
//! pipelined batches (backfill) with the same rows; the API's live view; a reorg that takes an
//! approval back.

use std::sync::Arc;

use alloy::primitives::{Address, B256, U256, address};
use alloy::sol_types::{SolCall, SolEvent};
use memory_indexer::bindings::MemoryNFT;
use memory_indexer::ingest::Indexer;
use memory_indexer::metrics::Metrics;
use memory_indexer::test_utils::{TestChain, database_url_named, init_tracing, test_db_url};
use memory_indexer::{AppState, api, verify};
use serde_json::Value;
use sqlx::PgPool;

use crate::api::{a, ok};

const ERC20: Address = address!("00000000000000000000000000000000000e2c20");
const EMITTER: Address = address!("0000000000000000000000000000000000e1e1e1");
const S1: Address = address!("0000000000000000000000000000000000005001");
const S2: Address = address!("0000000000000000000000000000000000005002");
const OP: Address = address!("0000000000000000000000000000000000000a01");
const OP2: Address = address!("0000000000000000000000000000000000000a02");

/// Calldata of the log emitter: LOG3(topic0, topic1, topic2) with `data`.
fn emit(topic0: B256, owner: Address, spender: Address, data: &[u8]) -> Vec<u8> {
    let mut v = topic0.to_vec();
    v.extend_from_slice(owner.into_word().as_slice());
    v.extend_from_slice(spender.into_word().as_slice());
    v.extend_from_slice(data);
    v
}

fn word(v: u64) -> Vec<u8> {
    U256::from(v).to_be_bytes::<32>().to_vec()
}

/// What the chain of [`activity`] did.
struct Activity {
    acc1: Address,
    acc4: Address,
    t2: U256,
    t3: U256,
}

/// Mints, account creations and approvals (see the expected rows in the test).
async fn activity(chain: &TestChain) -> Activity {
    let (alice, bob) = (chain.accounts[2], chain.accounts[3]);
    let nft = chain.nft();
    chain.install_erc20(ERC20).await;
    chain.install_log3_emitter(EMITTER).await;
    let approval = MemoryNFT::Approval::SIGNATURE_HASH;
    let for_all = MemoryNFT::ApprovalForAll::SIGNATURE_HASH;
    // before token 1's account exists, an approval naming it: impossible for the account itself,
    // so not one of its approvals
    let acc1 = nft
        .accountOf(U256::from(1))
        .call()
        .await
        .expect("accountOf");
    chain
        .send_raw(alice, EMITTER, emit(approval, acc1, S1, &word(1)))
        .await;
    let t1 = chain.mint(alice, 1, &[], true).await;
    assert_eq!(t1, U256::from(1));
    let exec = |to: Address, data: Vec<u8>| chain.execute(alice, acc1, to, data);
    // ERC-20: S1 may spend 1000; S2 got 5, then 0
    exec(ERC20, TestChain::approve_erc20(S1, U256::from(1000))).await;
    exec(ERC20, TestChain::approve_erc20(S2, U256::from(5))).await;
    exec(ERC20, TestChain::approve_erc20(S2, U256::ZERO)).await;
    // ERC-721 of the NFT itself: the account holds tokens 2 and 3
    let t2 = chain.mint_to(alice, acc1, 2, &[], false).await;
    exec(
        chain.deployment.memory_nft,
        MemoryNFT::approveCall {
            to: S1,
            tokenId: t2,
        }
        .abi_encode(),
    )
    .await;
    exec(
        chain.deployment.memory_nft,
        MemoryNFT::setApprovalForAllCall {
            operator: OP,
            approved: true,
        }
        .abi_encode(),
    )
    .await;
    let t3 = chain.mint_to(alice, acc1, 3, &[], false).await;
    exec(
        chain.deployment.memory_nft,
        MemoryNFT::approveCall {
            to: S2,
            tokenId: t3,
        }
        .abi_encode(),
    )
    .await;
    // token 3 leaves the account: its approval is cleared (no event)
    exec(
        chain.deployment.memory_nft,
        MemoryNFT::transferFromCall {
            from: acc1,
            to: bob,
            tokenId: t3,
        }
        .abi_encode(),
    )
    .await;
    // an approval by an address that is no account: not followed
    chain
        .send_raw(bob, ERC20, TestChain::approve_erc20(S1, U256::from(1)))
        .await;
    // what an arbitrary contract emits about the account: a malformed Approval (skipped, the
    // indexer goes on) and a well-formed ApprovalForAll (indexed: events are all it knows)
    chain
        .send_raw(bob, EMITTER, emit(approval, acc1, S1, &[1, 2, 3, 4, 5]))
        .await;
    chain
        .send_raw(bob, EMITTER, emit(for_all, acc1, OP2, &word(1)))
        .await;
    // token 4's account: an approval before its creation does not count, one after does
    let acc4 = nft
        .accountOf(U256::from(4))
        .call()
        .await
        .expect("accountOf");
    chain
        .send_raw(bob, EMITTER, emit(approval, acc4, S1, &word(7)))
        .await;
    let t4 = chain.mint(bob, 4, &[], true).await;
    assert_eq!(t4, U256::from(4));
    chain
        .send_raw(bob, EMITTER, emit(approval, acc4, S1, &word(8)))
        .await;
    Activity { acc1, acc4, t2, t3 }
}

/// An approval row: owner, token contract, kind, spender, amount or token id, approved.
type Row = (String, String, String, String, String, bool);
/// The same as stored.
type RawRow = (Vec<u8>, Vec<u8>, String, Vec<u8>, Option<String>, bool);

/// Every approval row, in chain order.
async fn rows(pool: &PgPool, chain_id: u64) -> Vec<Row> {
    let rows: Vec<RawRow> = sqlx::query_as(
        "SELECT owner, token_contract, kind, spender, coalesce(amount, token_id)::text, approved
         FROM account_approvals WHERE chain_id = $1 ORDER BY block_number, log_index",
    )
    .bind(chain_id as i64)
    .fetch_all(pool)
    .await
    .unwrap_or_else(|e| panic!("rows: {e}"));
    rows.into_iter()
        .map(|(o, t, k, s, v, ok)| {
            (
                a(Address::from_slice(&o)),
                a(Address::from_slice(&t)),
                k,
                a(Address::from_slice(&s)),
                v.unwrap_or_else(|| "-".into()),
                ok,
            )
        })
        .collect()
}

async fn indexer(
    chain: &TestChain,
    url: &str,
    pool: &PgPool,
    finality: u64,
    metrics: Arc<Metrics>,
) -> Indexer {
    let mut s = chain.settings(url);
    s.finality_depth = Some(finality);
    if finality == 0 {
        // backfill in tiny batches: the accounts are known from earlier batches (or the
        // pipelined fetcher) when their approvals come
        s.batch_blocks = Some(1);
        s.max_batch_blocks = Some(2);
        s.batch_logs = Some(2);
    }
    Indexer::new(s.resolve().expect("settings"), pool.clone(), metrics)
        .await
        .expect("indexer")
}

/// (kind, spender, amount or token id) of the live approvals of a list.
fn live(items: &Value) -> Vec<(String, String, String)> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["live"] == true)
        .map(|i| {
            (
                i["kind"].as_str().unwrap_or("?").to_owned(),
                i["spender"].as_str().unwrap_or("?").to_owned(),
                i["amount"]
                    .as_str()
                    .or(i["token_id"].as_str())
                    .unwrap_or("-")
                    .to_owned(),
            )
        })
        .collect()
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn approvals_of_token_bound_accounts_are_indexed_from_any_contract(pool: PgPool) {
    init_tracing();
    let chain = TestChain::spawn().await;
    let act = activity(&chain).await;
    let nft = a(chain.deployment.memory_nft);
    let (acc1, acc4) = (a(act.acc1), a(act.acc4));
    let t = |v: U256| v.to_string();
    let row = |owner: &str, token: &str, kind: &str, spender: Address, v: &str, ok: bool| {
        (
            owner.to_owned(),
            token.to_owned(),
            kind.to_owned(),
            a(spender),
            v.to_owned(),
            ok,
        )
    };
    let want = vec![
        row(&acc1, &a(ERC20), "erc20", S1, "1000", true),
        row(&acc1, &a(ERC20), "erc20", S2, "5", true),
        row(&acc1, &a(ERC20), "erc20", S2, "0", false),
        row(&acc1, &nft, "erc721", S1, &t(act.t2), true),
        row(&acc1, &nft, "operator", OP, "-", true),
        row(&acc1, &nft, "erc721", S2, &t(act.t3), true),
        row(&acc1, &a(EMITTER), "operator", OP2, "-", true),
        row(&acc4, &a(EMITTER), "erc20", S1, "8", true),
    ];

    // live follow from scratch: one batch holds the accounts' creation and their approvals
    let url = test_db_url(&pool);
    let metrics = Arc::new(Metrics::default());
    let ix = indexer(&chain, &url, &pool, 64, metrics.clone()).await;
    let cp = ix.sync().await.expect("sync");
    let batches: i64 = sqlx::query_scalar("SELECT count(*) FROM blocks WHERE chain_id = $1")
        .bind(chain.chain_id as i64)
        .fetch_one(&pool)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(batches > 20, "live follow stores every header ({batches})");
    assert_eq!(rows(&pool, chain.chain_id).await, want);

    // backfill in batches of 1..2 blocks into another database: the same rows
    // (a short lower-case name: the test database's own is at PostgreSQL's 63-byte limit)
    let other = format!("memory_indexer_split_{}", chain.chain_id);
    for sql in [
        format!("DROP DATABASE IF EXISTS {other} WITH (FORCE)"),
        format!("CREATE DATABASE {other}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{other}: {e}"));
    }
    let other_url = database_url_named(&other);
    let split = memory_indexer::db::connect(&other_url, 4)
        .await
        .expect("connect");
    memory_indexer::db::migrate(&split).await.expect("migrate");
    let split_metrics = Arc::new(Metrics::default());
    let ix_split = indexer(&chain, &other_url, &split, 0, split_metrics.clone()).await;
    assert_eq!(ix_split.sync().await.expect("sync").block, cp.block);
    let n = split_metrics
        .batches_total
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(n >= 10, "backfilled in {n} batches");
    assert_eq!(rows(&split, chain.chain_id).await, want);
    let report = verify::verify(&split, ix_split.chain(), ix_split.chain_id())
        .await
        .expect("verify");
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
    split.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {other} WITH (FORCE)"
    )))
    .execute(&pool)
    .await
    .unwrap_or_else(|e| panic!("drop {other}: {e}"));

    // the API (sharing the indexer's metrics, as `memory-indexer run` does): live approvals of
    // token 1's account (newest first), also in the memory detail
    let app = api::app(AppState {
        pool: pool.clone(),
        chain_id: chain.chain_id,
        nft: chain.deployment.memory_nft,
        metrics,
    });
    let s = |v: &str| v.to_owned();
    let want_live = vec![
        (s("operator"), a(OP2), s("-")),
        (s("operator"), a(OP), s("-")),
        (s("erc721"), a(S1), t(act.t2)),
        (s("erc20"), a(S1), s("1000")),
    ];
    let page = ok(&app, &format!("/v1/accounts/{acc1}/approvals?live=true")).await;
    assert_eq!(live(&page["items"]), want_live);
    assert_eq!(
        ok(&app, "/v1/memories/1").await["account_approvals"],
        page["items"]
    );
    assert_eq!(
        live(&ok(&app, "/v1/memories/4").await["account_approvals"]),
        [(s("erc20"), a(S1), s("8"))]
    );
    // the tokens the account holds are memories like any other; token 3 left it
    assert_eq!(
        ok(&app, &format!("/v1/memories/{}", act.t3)).await["memory"]["owner"],
        a(chain.accounts[3])
    );

    // live follow: S1's allowance is set to 0, then that block is reorged away
    let runner = ix.clone();
    let follow = tokio::spawn(async move { runner.run().await });
    chain
        .execute(
            chain.accounts[2],
            act.acc1,
            ERC20,
            TestChain::approve_erc20(S1, U256::ZERO),
        )
        .await;
    chain.wait_indexed(&pool).await;
    let erc20 = format!("/v1/accounts/{acc1}/approvals?live=true&kind=erc20");
    assert_eq!(live(&ok(&app, &erc20).await["items"]), []);
    assert_eq!(rows(&pool, chain.chain_id).await.len(), want.len() + 1);
    chain.reorg(1).await;
    chain.wait_indexed(&pool).await;
    assert_eq!(
        live(&ok(&app, &erc20).await["items"]),
        [(s("erc20"), a(S1), s("1000"))]
    );
    assert_eq!(rows(&pool, chain.chain_id).await, want);
    assert_eq!(
        ok(&app, "/v1/memories/1").await["account_approvals"],
        page["items"],
        "the detail (cache included) is back too"
    );
    let report = verify::verify(&pool, ix.chain(), ix.chain_id())
        .await
        .expect("verify");
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
    assert!(!follow.is_finished(), "the indexer still runs");
    follow.abort();
}
