//! A head behind the checkpoint (issue 9, item 2): a lagging RPC backend (the test's proxy pins
//! the head below the checkpoint) is waited for, never rolled back; a start block ahead of the
//! chain waits, then indexes; an RPC of another chain is one clear error line.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alloy::providers::Provider;
use memory_indexer::db;
use memory_indexer::ingest::Indexer;
use memory_indexer::metrics::Metrics;
use memory_indexer::test_utils::proxy::{Faults, RpcProxy};
use memory_indexer::test_utils::{TestChain, init_tracing, test_db_url};
use memory_indexer::{Error, verify};
use sqlx::PgPool;

async fn head(chain: &TestChain) -> u64 {
    chain.provider.get_block_number().await.expect("head")
}

async fn rows(pool: &PgPool, chain: &TestChain) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM memories WHERE chain_id = $1),
                (SELECT count(*) FROM transfers WHERE chain_id = $1)",
    )
    .bind(chain.chain_id as i64)
    .fetch_one(pool)
    .await
    .expect("counts")
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn a_head_behind_the_checkpoint_is_waited_for_not_rolled_back(
    pool: PgPool,
) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    chain.scenario().await;
    let proxy = RpcProxy::spawn(&chain.anvil.endpoint()).await;
    let mut s = chain.settings(&test_db_url(&pool));
    s.rpc_url = Some(proxy.url());
    s.finality_depth = Some(8);
    let metrics = Arc::new(Metrics::default());
    let ix = Indexer::new(s.resolve()?, pool.clone(), metrics.clone()).await?;
    let runner = ix.clone();
    let live = tokio::spawn(async move { runner.run().await });
    chain.wait_indexed(&pool).await;
    let cp = db::checkpoint(&pool, chain.chain_id).await?;
    let before = rows(&pool, &chain).await;

    // the backend lags 5 blocks behind our checkpoint (inside the stored window), while the
    // chain itself goes on
    proxy.set_faults(Faults {
        head: Some(cp.block as u64 - 5),
        ..Faults::default()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = chain.accounts.clone();
    let t = chain.mint(a[6], 77, &[], true).await;
    chain
        .send(chain.nft().transferFrom(a[6], a[7], t).from(a[6]))
        .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(metrics.head_behind_total.load(Ordering::Relaxed) > 0);
    assert_eq!(
        metrics.reorgs_total.load(Ordering::Relaxed),
        0,
        "no rollback"
    );
    assert_eq!(db::checkpoint(&pool, chain.chain_id).await?, cp);
    assert_eq!(rows(&pool, &chain).await, before, "no row disappeared");
    assert!(!live.is_finished());

    // the backend catches up: indexing resumes where it was
    proxy.set_faults(Faults::default());
    chain.wait_indexed(&pool).await;
    assert_eq!(metrics.reorgs_total.load(Ordering::Relaxed), 0);
    let after = rows(&pool, &chain).await;
    assert_eq!(after, (before.0 + 1, before.1 + 2));
    assert!(proxy.calls("eth_getBlockByNumber") > 0);
    let report = verify::verify(&pool, ix.chain(), ix.chain_id()).await?;
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
    live.abort();
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn a_start_block_ahead_of_the_head_waits_then_indexes(pool: PgPool) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    chain.scenario().await;
    let url = test_db_url(&pool);
    let h = head(&chain).await;
    let start = h + 5;
    let indexer = |start_block: u64| {
        let mut s = chain.settings(&url);
        s.start_block = Some(start_block);
        s.finality_depth = Some(2);
        let pool = pool.clone();
        async move {
            let metrics = Arc::new(Metrics::default());
            let ix = Indexer::new(s.resolve()?, pool, metrics.clone()).await?;
            Ok::<_, Error>((ix, metrics))
        }
    };

    // run: waits (no fatal "reorg deeper than the finality depth"), then indexes from the
    // start block only
    let (ix, metrics) = indexer(start).await?;
    let runner = ix.clone();
    let live = tokio::spawn(async move { runner.run().await });
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!live.is_finished(), "waits for the chain");
    assert!(metrics.head_behind_total.load(Ordering::Relaxed) > 0);
    assert_eq!(
        db::checkpoint(&pool, chain.chain_id).await?.block,
        start as i64 - 1
    );
    chain.mine(4).await; // head = start - 1: still nothing to index
    let a = chain.accounts.clone();
    chain.mint(a[6], 901, &[], false).await;
    chain.mint(a[6], 902, &[], false).await;
    chain.wait_indexed(&pool).await;
    assert_eq!(metrics.reorgs_total.load(Ordering::Relaxed), 0);
    let (memories, _) = rows(&pool, &chain).await;
    assert_eq!(memories, 2, "only the mints from the start block on");
    assert!(!live.is_finished());
    live.abort();

    // from scratch again (the chain's rows removed): a sync whose start block is ahead waits
    // as well, then returns at the head
    sqlx::query("DELETE FROM chain_state WHERE chain_id = $1")
        .bind(chain.chain_id as i64)
        .execute(&pool)
        .await?;
    for t in memory_indexer::db::EVENT_TABLES
        .iter()
        .chain(&["blocks", "journal"])
    {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {t} WHERE chain_id = $1"
        )))
        .bind(chain.chain_id as i64)
        .execute(&pool)
        .await?;
    }
    let start = head(&chain).await + 3;
    let (ix, metrics) = indexer(start).await?;
    let sync = tokio::spawn(async move { ix.sync().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!sync.is_finished(), "sync waits for the chain");
    chain.mine(10).await;
    let cp = tokio::time::timeout(Duration::from_secs(30), sync)
        .await
        .expect("sync returns")
        .expect("join")?;
    assert_eq!(cp.block as u64, head(&chain).await);
    assert!(metrics.head_behind_total.load(Ordering::Relaxed) > 0);
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn an_rpc_of_another_chain_is_one_error_line(pool: PgPool) {
    let chain = TestChain::spawn().await;
    let out = Command::new(env!("CARGO_BIN_EXE_memory-indexer"))
        .args([
            "sync",
            "--rpc-url",
            &chain.anvil.endpoint(),
            "--chain-id",
            "1",
        ])
        .args(["--nft", &chain.deployment.memory_nft.to_string()])
        .args(["--market", &chain.deployment.memory_market.to_string()])
        .args(["--database-url", &test_db_url(&pool)])
        .env_remove("INDEXER_DEPLOYMENT")
        .env("RUST_LOG", "off")
        .output()
        .expect("run memory-indexer");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: chain id mismatch: the RPC endpoint serves chain {}, the configuration says 1",
            chain.chain_id
        )),
        "{stderr}"
    );
}
