//! Crash safety of the real `memory-indexer` binary: repeated kill -9 during backfill and live
//! follow leaves no duplicate and no gap; a PostgreSQL restart and an anvil restart from a
//! state dump mid-run are survived.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use memory_indexer::bindings::MemoryNFT;
use memory_indexer::test_utils::{TestChain, init_tracing, test_db_url};
use memory_indexer::{Error, db, verify};
use sqlx::PgPool;

fn start(chain: &TestChain, url: &str) -> Child {
    start_with(chain, url, "3")
}

fn start_with(chain: &TestChain, url: &str, finality: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_memory-indexer"))
        .arg("run")
        .env("INDEXER_RPC_URL", chain.anvil.endpoint())
        .env("INDEXER_DEPLOYMENT", &chain.deployment_file)
        .env("DATABASE_URL", url)
        .env("INDEXER_API_ADDR", "127.0.0.1:0")
        .env("INDEXER_FINALITY_DEPTH", finality)
        .env("INDEXER_BATCH_BLOCKS", "2")
        .env("INDEXER_MAX_BATCH_BLOCKS", "4")
        .env("INDEXER_BATCH_LOGS", "4")
        .env("INDEXER_POLL_MS", "10")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        // warnings and errors land in the test's captured output
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn memory-indexer")
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn kill_9_during_backfill_and_live_loses_and_duplicates_nothing(
    pool: PgPool,
) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    chain.scenario().await;
    let a = chain.accounts.clone();
    // enough blocks with events that the first kills land in the backfill
    for i in 0..60u64 {
        let id = chain.mint(a[6], 1000 + i, &[], i % 7 == 0).await;
        chain
            .send(chain.nft().transferFrom(a[6], a[7], id).from(a[6]))
            .await;
    }
    let url = test_db_url(&pool);
    let mut kills = 0;
    let mut progress = Vec::new();
    for round in 0..12u64 {
        let mut child = start(&chain, &url);
        // kill at a different moment each time: 60..460 ms after start
        tokio::time::sleep(Duration::from_millis(60 + (round * 67) % 400)).await;
        child.kill().expect("kill -9");
        child.wait().expect("wait");
        kills += 1;
        if let Ok(cp) = db::checkpoint(&pool, chain.chain_id).await {
            progress.push(cp.block);
        }
        // live activity between kills
        if round >= 6 {
            let id = chain.mint(a[8], 5000 + round, &[], false).await;
            chain
                .send(chain.nft().transferFrom(a[8], a[9], id).from(a[8]))
                .await;
        }
    }
    assert!(kills >= 10);
    // a last run to the head
    let mut child = start(&chain, &url);
    let t = Instant::now();
    let latest = loop {
        let latest = chain
            .provider
            .get_block_by_number(Default::default())
            .await
            .expect("rpc")
            .expect("block");
        let cp = db::checkpoint(&pool, chain.chain_id)
            .await
            .expect("checkpoint");
        if cp.hash == Some(latest.header.hash) {
            break latest.header.number;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "did not catch up: {cp:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().expect("kill");
    child.wait().expect("wait");
    eprintln!("checkpoints after each kill: {progress:?} (head {latest})");
    // several kills landed while blocks were being indexed, at different checkpoints
    let mut distinct = progress.clone();
    distinct.dedup();
    assert!(
        distinct.len() >= 3,
        "the killed runs made progress: {progress:?}"
    );

    // no gap and no duplicate: the Transfer rows are exactly the chain's Transfer logs
    let filter = Filter::new()
        .address(chain.deployment.memory_nft)
        .event_signature(MemoryNFT::Transfer::SIGNATURE_HASH)
        .from_block(0)
        .to_block(latest);
    let on_chain: BTreeSet<(B256, u64)> = chain
        .provider
        .get_logs(&filter)
        .await
        .expect("logs")
        .iter()
        .map(|l| (l.transaction_hash.expect("tx"), l.log_index.expect("index")))
        .collect();
    let rows: Vec<(Vec<u8>, i32)> =
        sqlx::query_as("SELECT tx_hash, log_index FROM transfers WHERE chain_id = $1")
            .bind(chain.chain_id as i64)
            .fetch_all(&pool)
            .await?;
    let in_db: BTreeSet<(B256, u64)> = rows
        .iter()
        .map(|(t, i)| (B256::from_slice(t), *i as u64))
        .collect();
    assert_eq!(rows.len(), in_db.len(), "duplicate rows");
    assert_eq!(
        in_db, on_chain,
        "the database holds exactly the chain's transfers"
    );
    let s = chain.settings(&url);
    let ix = memory_indexer::ingest::Indexer::new(s.resolve()?, pool.clone(), Default::default())
        .await?;
    let report = verify::verify(&pool, ix.chain(), ix.chain_id()).await?;
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
    assert!(report.tokens > 60);
    Ok(())
}

/// A private PostgreSQL cluster (scripts/pg with MEMORY_PG_DIR), so the test can restart it
/// without disturbing other tests.
struct PrivatePg {
    dir: std::path::PathBuf,
    port: u16,
}

impl PrivatePg {
    fn pg(&self, cmd: &str) -> String {
        let out = Command::new(memory_indexer::test_utils::repo_root().join("scripts/pg"))
            .arg(cmd)
            .env("MEMORY_PG_DIR", &self.dir)
            .env("PGPORT", self.port.to_string())
            .stderr(Stdio::inherit())
            .output()
            .expect("scripts/pg");
        assert!(out.status.success(), "scripts/pg {cmd} failed");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = Command::new(memory_indexer::test_utils::repo_root().join("scripts/pg"))
            .arg("stop")
            .env("MEMORY_PG_DIR", &self.dir)
            .env("PGPORT", self.port.to_string())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("anvil-state.json"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_and_anvil_restart_from_a_dump_are_survived() -> Result<(), Error> {
    init_tracing();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let pg = PrivatePg {
        dir: std::env::temp_dir().join(format!("memory-indexer-pg-{port}")),
        port,
    };
    pg.pg("start");
    let url = pg.pg("url");
    let pool = memory_indexer::db::connect(&url, 4).await?;
    memory_indexer::db::migrate(&pool).await?;
    let dump = pg.dir.with_extension("anvil-state.json");
    let mut chain =
        TestChain::spawn_with(&["--dump-state", dump.to_str().expect("utf-8 path")]).await;
    chain.scenario().await;
    let a = chain.accounts.clone();
    let mut child = start_with(&chain, &url, "64");
    chain.wait_indexed(&pool).await;

    // PostgreSQL goes away while blocks keep coming, then comes back
    pg.pg("stop");
    for i in 0..3u64 {
        chain.mint(a[6], 7000 + i, &[], false).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the indexer survives the outage"
    );
    pg.pg("start");
    chain.wait_indexed(&pool).await;

    // anvil is stopped (SIGTERM: it dumps its state) and restarted on the same port from the dump
    let anvil_port = chain.anvil.port();
    let pid = chain.anvil.child().id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let t = Instant::now();
    while std::fs::metadata(&dump).map(|m| m.len()).unwrap_or(0) == 0
        || chain.anvil.child_mut().try_wait().expect("wait").is_none()
    {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "anvil did not dump its state"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    chain.anvil = alloy::node_bindings::Anvil::at(
        memory_indexer::test_utils::repo_root().join("node_modules/.bin/anvil"),
    )
    .chain_id(chain.chain_id)
    .port(anvil_port)
    .args(["--load-state".to_string(), dump.display().to_string()])
    .spawn();
    for i in 0..3u64 {
        chain.mint(a[6], 8000 + i, &[], true).await;
    }
    chain.wait_indexed(&pool).await;
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the indexer survives the RPC outage"
    );
    child.kill().expect("kill");
    child.wait().expect("wait");

    let s = chain.settings(&url);
    let ix = memory_indexer::ingest::Indexer::new(s.resolve()?, pool.clone(), Default::default())
        .await?;
    let report = verify::verify(&pool, ix.chain(), ix.chain_id()).await?;
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
    assert_eq!(report.tokens, 9);
    pool.close().await;
    Ok(())
}
