//! Answers of a JSON-RPC provider that are wrong without an error (issue 9, items 1, 3 and 5),
//! injected by the test proxy ([`Faults`]): logs of a backend one block behind, an answer
//! dropped, a log returned twice, logs without `blockTimestamp`; and a database that rejects a
//! batch's data on every attempt. After each: `verify` finds nothing, no rollback happened, the
//! stored rows are the chain's logs, and the metrics count what was done about it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use memory_indexer::bindings::MemoryNFT;
use memory_indexer::ingest::Indexer;
use memory_indexer::metrics::Metrics;
use memory_indexer::test_utils::proxy::{Faults, RpcProxy};
use memory_indexer::test_utils::{TestChain, init_tracing, test_db_url};
use memory_indexer::{Error, db, verify};
use sqlx::PgPool;

/// An indexer of `chain` through `proxy`, finality depth `finality`.
async fn indexer(
    pool: &PgPool,
    chain: &TestChain,
    proxy: &RpcProxy,
    finality: u64,
) -> Result<(Indexer, Arc<Metrics>), Error> {
    let mut s = chain.settings(&test_db_url(pool));
    s.rpc_url = Some(proxy.url());
    s.finality_depth = Some(finality);
    let metrics = Arc::new(Metrics::default());
    let ix = Indexer::new(s.resolve()?, pool.clone(), metrics.clone()).await?;
    Ok((ix, metrics))
}

/// `verify` finds nothing, and the stored transfers are the token contract's Transfer logs
/// (count and per-block), so a block written without its events is seen even where the state
/// would hide it.
async fn assert_complete(pool: &PgPool, chain: &TestChain, ix: &Indexer) -> Result<(), Error> {
    let report = verify::verify(pool, ix.chain(), ix.chain_id()).await?;
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
    let logs = chain
        .provider
        .get_logs(
            &Filter::new()
                .address(chain.deployment.memory_nft)
                .event_signature(MemoryNFT::Transfer::SIGNATURE_HASH)
                .from_block(0),
        )
        .await
        .expect("logs");
    let mut expected: HashMap<i64, i64> = HashMap::new();
    for l in &logs {
        *expected
            .entry(l.block_number.expect("mined") as i64)
            .or_default() += 1;
    }
    let stored: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT block_number, count(*) FROM transfers WHERE chain_id = $1 GROUP BY block_number",
    )
    .bind(chain.chain_id as i64)
    .fetch_all(pool)
    .await?;
    let stored: HashMap<i64, i64> = stored.into_iter().collect();
    assert_eq!(stored, expected, "transfers per block");
    Ok(())
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < Duration::from_secs(60), "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn logs_of_a_backend_one_block_behind_are_fetched_again_not_lost(
    pool: PgPool,
) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    let proxy = RpcProxy::spawn(&chain.anvil.endpoint()).await;
    let (ix, metrics) = indexer(&pool, &chain, &proxy, 64).await?;
    let runner = ix.clone();
    let live = tokio::spawn(async move { runner.run().await });
    chain.wait_indexed(&pool).await;

    // every eth_getLogs misses the logs of the latest block, while the header is there
    proxy.set_faults(Faults {
        logs_behind: true,
        ..Faults::default()
    });
    let s = chain.scenario().await;
    let a = chain.accounts.clone();
    chain
        .send(
            chain
                .nft()
                .transferFrom(s.dave, a[7], s.tokens[0])
                .from(s.dave),
        )
        .await;
    // the indexer follows up to the block before the head (whose logs it cannot get)
    let head = chain.provider.get_block_number().await.expect("head");
    let t = Instant::now();
    while db::checkpoint(&pool, chain.chain_id).await?.block < head as i64 - 1 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no progress under the fault"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        db::checkpoint(&pool, chain.chain_id).await?.block,
        head as i64 - 1,
        "the head block is not written without its logs"
    );
    assert!(proxy.hits("logs_behind") > 0);

    proxy.set_faults(Faults::default());
    chain.wait_indexed(&pool).await;
    assert_complete(&pool, &chain, &ix).await?;
    assert_eq!(
        metrics.reorgs_total.load(Ordering::Relaxed),
        0,
        "no rollback"
    );
    assert!(metrics.logs_refetched_total.load(Ordering::Relaxed) > 0);
    assert!(metrics.render().contains("indexer_logs_refetched_total "));
    assert!(!live.is_finished());
    live.abort();
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn a_dropped_logs_answer_is_fetched_again(pool: PgPool) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    let proxy = RpcProxy::spawn(&chain.anvil.endpoint()).await;
    let (ix, metrics) = indexer(&pool, &chain, &proxy, 64).await?;
    let runner = ix.clone();
    let live = tokio::spawn(async move { runner.run().await });
    chain.wait_indexed(&pool).await;
    let a = chain.accounts.clone();
    for seed in 0..3u64 {
        // one non-empty eth_getLogs answer comes back empty
        proxy.set_faults(Faults {
            drop_logs: 1,
            ..Faults::default()
        });
        let t = chain.mint(a[6], 500 + seed, &[], seed == 0).await;
        chain
            .send(chain.nft().transferFrom(a[6], a[7], t).from(a[6]))
            .await;
        chain.wait_indexed(&pool).await;
        assert_eq!(proxy.faults().drop_logs, 0, "the fault was used");
    }
    assert_eq!(proxy.hits("drop_logs"), 3);
    assert_complete(&pool, &chain, &ix).await?;
    assert_eq!(
        metrics.reorgs_total.load(Ordering::Relaxed),
        0,
        "no rollback"
    );
    assert!(metrics.logs_refetched_total.load(Ordering::Relaxed) >= 3);
    live.abort();
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn a_log_returned_twice_is_written_once(pool: PgPool) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    chain.scenario().await;
    chain.mine(10).await;
    let proxy = RpcProxy::spawn(&chain.anvil.endpoint()).await;
    // backfill (finality 4) and then live follow, each with duplicated logs
    proxy.set_faults(Faults {
        duplicate_log: 3,
        ..Faults::default()
    });
    let (ix, metrics) = indexer(&pool, &chain, &proxy, 4).await?;
    let runner = ix.clone();
    let live = tokio::spawn(async move { runner.run().await });
    chain.wait_indexed(&pool).await;
    assert_eq!(proxy.faults().duplicate_log, 0);
    proxy.set_faults(Faults {
        duplicate_log: 2,
        ..Faults::default()
    });
    let a = chain.accounts.clone();
    let t = chain.mint(a[6], 77, &[], true).await;
    chain
        .send(chain.nft().transferFrom(a[6], a[7], t).from(a[6]))
        .await;
    chain.wait_indexed(&pool).await;
    wait_for("the duplicates used", || proxy.faults().duplicate_log == 0).await;
    chain.mine(1).await;
    chain.wait_indexed(&pool).await;
    assert_eq!(proxy.hits("duplicate_log"), 5);
    assert!(metrics.logs_duplicate_total.load(Ordering::Relaxed) >= 5);
    assert_eq!(metrics.db_errors_total.load(Ordering::Relaxed), 0);
    assert_complete(&pool, &chain, &ix).await?;
    assert_eq!(metrics.reorgs_total.load(Ordering::Relaxed), 0);
    assert!(!live.is_finished());
    live.abort();
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn rows_get_their_blocks_timestamp_when_logs_carry_none(pool: PgPool) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    chain.scenario().await;
    chain.mine(3).await;
    let proxy = RpcProxy::spawn(&chain.anvil.endpoint()).await;
    proxy.set_faults(Faults {
        strip_timestamps: true,
        ..Faults::default()
    });
    // finality 2: nearly everything is backfilled, the tip followed live; small ranges so that
    // the backfill has many batches
    let mut s = chain.settings(&test_db_url(&pool));
    s.rpc_url = Some(proxy.url());
    s.finality_depth = Some(2);
    s.batch_blocks = Some(3);
    s.max_batch_blocks = Some(4);
    let metrics = Arc::new(Metrics::default());
    let ix = Indexer::new(s.resolve()?, pool.clone(), metrics.clone()).await?;
    ix.sync().await?;
    let a = chain.accounts.clone();
    chain.mint(a[6], 78, &[], false).await;
    ix.sync().await?;
    assert!(
        proxy.hits("strip_timestamps") > 0,
        "the logs had timestamps to strip"
    );
    assert!(metrics.headers_fetched_total.load(Ordering::Relaxed) > 0);

    let mut rows = 0;
    for t in db::EVENT_TABLES {
        let (has,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns
                            WHERE table_name = $1 AND column_name = 'block_timestamp')",
        )
        .bind(t)
        .fetch_one(&pool)
        .await?;
        if !has {
            continue; // rows derived from another event's (a mint's parents)
        }
        let stored: Vec<(i64, Option<i64>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT block_number, block_timestamp FROM {t} WHERE chain_id = $1"
        )))
        .bind(chain.chain_id as i64)
        .fetch_all(&pool)
        .await?;
        for (n, ts) in stored {
            let block = chain
                .provider
                .get_block_by_number((n as u64).into())
                .await
                .expect("block")
                .expect("a block");
            assert_eq!(
                ts,
                Some(block.header.timestamp as i64),
                "{t} row of block {n}"
            );
            rows += 1;
        }
    }
    assert!(rows > 20, "{rows} rows checked");
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn data_the_database_always_rejects_stops_the_indexer_with_a_clear_error(
    pool: PgPool,
) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    chain.scenario().await;
    let proxy = RpcProxy::spawn(&chain.anvil.endpoint()).await;
    // every transfer row violates a constraint (SQLSTATE 23514): not transient
    sqlx::query("ALTER TABLE transfers ADD CONSTRAINT test_reject CHECK (block_number < 0)")
        .execute(&pool)
        .await?;
    let (ix, metrics) = indexer(&pool, &chain, &proxy, 64).await?;
    let r = tokio::time::timeout(Duration::from_secs(30), ix.run())
        .await
        .expect("run stops");
    let e = r.expect_err("fatal");
    assert!(e.is_fatal());
    assert!(
        matches!(&e, Error::BatchRejected { sqlstate, .. } if sqlstate == "23514"),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("rejects batch") && msg.contains("test_reject"),
        "{msg}"
    );
    assert_eq!(
        metrics.db_errors_total.load(Ordering::Relaxed),
        u64::from(memory_indexer::ingest::DATA_ERROR_ATTEMPTS)
    );
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn ready_is_503_with_a_reason_when_ingestion_is_stuck(pool: PgPool) -> Result<(), Error> {
    use axum::http::StatusCode;
    use memory_indexer::metrics::now_ms;

    init_tracing();
    let chain = TestChain::spawn().await;
    chain.scenario().await;
    let proxy = RpcProxy::spawn(&chain.anvil.endpoint()).await;
    let (ix, metrics) = indexer(&pool, &chain, &proxy, 64).await?;
    let cp = ix.sync().await?;
    let app = memory_indexer::api::app(memory_indexer::AppState {
        pool: pool.clone(),
        chain_id: chain.chain_id,
        nft: chain.deployment.memory_nft,
        metrics: metrics.clone(),
    });
    let (s, body) = crate::api::get(&app, "/ready").await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // no head read for two minutes (the RPC is down, every step fails)
    let fresh = metrics.head_seen_at_ms.load(Ordering::Relaxed);
    metrics
        .head_seen_at_ms
        .store(now_ms() - 120_000, Ordering::Relaxed);
    let (s, body) = crate::api::get(&app, "/ready").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|r| r.contains("no chain head")),
        "{body}"
    );

    // the head moves on, the checkpoint has not moved for two minutes (every batch fails),
    // although the stored lag is within READY_MAX_LAG
    metrics
        .head_seen_at_ms
        .store(fresh.max(now_ms()), Ordering::Relaxed);
    metrics.set_head(cp.block + 1);
    metrics
        .behind_since_ms
        .store(now_ms() - 120_000, Ordering::Relaxed);
    metrics
        .checkpoint_moved_at_ms
        .store(now_ms() - 120_000, Ordering::Relaxed);
    let (s, body) = crate::api::get(&app, "/ready").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|r| r.contains("has not moved")),
        "{body}"
    );
    assert_eq!(body["error"]["code"], "unavailable");

    // it moves again: ready
    metrics.set_indexed(cp.block + 1);
    let (s, body) = crate::api::get(&app, "/ready").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    Ok(())
}
