//! One writer per chain and database (issue 9, item 6): the writer lock makes a second `run` or
//! `sync` wait or refuse, the waiting one takes over when the first stops, with no duplicate
//! and no missing row; a batch planned on another fork than the stored checkpoint is refused.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256, address};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use memory_indexer::bindings::MemoryNFT;
use memory_indexer::db;
use memory_indexer::events::Event;
use memory_indexer::ingest::Indexer;
use memory_indexer::metrics::Metrics;
use memory_indexer::test_utils::{TestChain, init_tracing, test_db_url};
use memory_indexer::{Error, verify};
use sqlx::PgPool;

use crate::fixtures::{batch_of, hash, header};

const NFT: Address = address!("0000000000000000000000000000000000002222");
const MARKET: Address = address!("0000000000000000000000000000000000003333");
const ALICE: Address = address!("00000000000000000000000000000000000a11ce");

/// An indexer of `chain` into the database of `url` with a pool and metrics of its own.
async fn writer(chain: &TestChain, url: &str, wait: bool) -> (Indexer, Arc<Metrics>) {
    let mut s = chain.settings(url);
    s.finality_depth = Some(3);
    s.batch_blocks = Some(2);
    s.max_batch_blocks = Some(4);
    s.wait_for_lock = Some(wait);
    let pool = db::connect(url, 4).await.expect("pool");
    let metrics = Arc::new(Metrics::default());
    let ix = Indexer::new(s.resolve().expect("settings"), pool, metrics.clone())
        .await
        .expect("indexer");
    (ix, metrics)
}

/// Mints `n` tokens and transfers every other one.
async fn activity(chain: &TestChain, seed: u64, n: u64) {
    let a = &chain.accounts;
    for i in 0..n {
        let id = chain.mint(a[6], seed * 100 + i, &[], i % 3 == 0).await;
        if i % 2 == 1 {
            chain
                .send(chain.nft().transferFrom(a[6], a[7], id).from(a[6]))
                .await;
        }
    }
}

/// The Transfer rows equal the chain's Transfer logs up to the checkpoint, each once; verify
/// finds no mismatch.
async fn assert_exactly_once(chain: &TestChain, pool: &PgPool) {
    let cp = db::checkpoint(pool, chain.chain_id)
        .await
        .expect("checkpoint");
    let filter = Filter::new()
        .address(chain.deployment.memory_nft)
        .event_signature(MemoryNFT::Transfer::SIGNATURE_HASH)
        .from_block(0)
        .to_block(cp.block as u64);
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
            .fetch_all(pool)
            .await
            .expect("transfers");
    let in_db: BTreeSet<(B256, u64)> = rows
        .iter()
        .map(|(t, i)| (B256::from_slice(t), *i as u64))
        .collect();
    assert_eq!(rows.len(), in_db.len(), "duplicate rows");
    assert_eq!(
        in_db, on_chain,
        "the database holds exactly the chain's transfers"
    );
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn a_second_writer_refuses_or_waits_and_takes_over_when_the_first_stops(
    pool: PgPool,
) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    chain.scenario().await;
    let url = test_db_url(&pool);
    let (first, first_metrics) = writer(&chain, &url, true).await;
    let runner = first.clone();
    let first_task = tokio::spawn(async move { runner.run().await });
    chain.wait_indexed(&pool).await;
    assert_eq!(first_metrics.writer_lock_held.load(Ordering::Relaxed), 1);

    // a writer told not to wait refuses at once, with one clear line, from sync and from run
    let (refusing, _) = writer(&chain, &url, false).await;
    let r = refusing.sync().await;
    assert!(
        matches!(&r, Err(Error::WriterLocked { chain_id, .. }) if *chain_id == chain.chain_id),
        "{r:?}"
    );
    let msg = r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.starts_with("another memory-indexer is writing chain") && !msg.contains('\n'),
        "{msg}"
    );
    let r = tokio::time::timeout(Duration::from_secs(10), refusing.run())
        .await
        .expect("run refuses without waiting");
    assert!(matches!(r, Err(Error::WriterLocked { .. })), "{r:?}");

    // a waiting writer writes nothing while the first runs
    let (second, second_metrics) = writer(&chain, &url, true).await;
    let runner = second.clone();
    let second_task = tokio::spawn(async move { runner.run().await });
    activity(&chain, 1, 4).await;
    chain.wait_indexed(&pool).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!second_task.is_finished(), "the second writer waits");
    assert_eq!(second_metrics.batches_total.load(Ordering::Relaxed), 0);
    assert_eq!(second_metrics.writer_lock_held.load(Ordering::Relaxed), 0);
    let first_batches = first_metrics.batches_total.load(Ordering::Relaxed);
    assert!(first_batches > 0);

    // the first stops (its lock connection closes); the second takes over
    first_task.abort();
    assert!(first_task.await.is_err_and(|e| e.is_cancelled()));
    activity(&chain, 2, 4).await;
    chain.wait_indexed(&pool).await;
    assert!(second_metrics.batches_total.load(Ordering::Relaxed) > 0);
    assert_eq!(second_metrics.writer_lock_held.load(Ordering::Relaxed), 1);
    assert_eq!(
        first_metrics.batches_total.load(Ordering::Relaxed),
        first_batches,
        "the stopped writer wrote nothing more"
    );
    assert!(!second_task.is_finished());
    second_task.abort();

    assert_exactly_once(&chain, &pool).await;
    let report = verify::verify(&pool, second.chain(), second.chain_id()).await?;
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
    assert_eq!(report.tokens, 3 + 8);
    Ok(())
}

fn start(chain: &TestChain, url: &str, wait: Option<&str>, log: Stdio) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_memory-indexer"));
    c.arg("run")
        .env("INDEXER_RPC_URL", chain.anvil.endpoint())
        .env("INDEXER_DEPLOYMENT", &chain.deployment_file)
        .env("DATABASE_URL", url)
        .env("INDEXER_API_ADDR", "127.0.0.1:0")
        .env("INDEXER_FINALITY_DEPTH", "3")
        .env("INDEXER_POLL_MS", "10")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(w) = wait {
        c.env("INDEXER_WAIT_FOR_LOCK", w);
    }
    c.spawn().expect("spawn memory-indexer")
}

/// Reads what `child` wrote to its piped stderr so far, without blocking on an open pipe: the
/// pipe is read by a thread that collects into a shared buffer.
fn collect_stderr(child: &mut Child) -> Arc<std::sync::Mutex<String>> {
    let buf = Arc::new(std::sync::Mutex::new(String::new()));
    let mut pipe = child.stderr.take().expect("piped stderr");
    let sink = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            if let Ok(mut b) = sink.lock() {
                b.push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        }
    });
    buf
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn a_second_run_process_refuses_or_waits_and_takes_over_after_a_kill_9(
    pool: PgPool,
) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    chain.scenario().await;
    let url = test_db_url(&pool);
    let mut first = start(&chain, &url, None, Stdio::inherit());
    chain.wait_indexed(&pool).await;

    // told not to wait: exit 1 with one line
    let out = Command::new(env!("CARGO_BIN_EXE_memory-indexer"))
        .arg("run")
        .env("INDEXER_RPC_URL", chain.anvil.endpoint())
        .env("INDEXER_DEPLOYMENT", &chain.deployment_file)
        .env("DATABASE_URL", &url)
        .env("INDEXER_API_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "off")
        .args(["--wait-for-lock", "false"])
        .output()
        .expect("run memory-indexer");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: indexing stopped: another memory-indexer is writing chain {} to this database (held by PostgreSQL backend",
            chain.chain_id
        )),
        "{stderr}"
    );

    // the default waits, saying so
    let mut second = start(&chain, &url, None, Stdio::piped());
    let log = collect_stderr(&mut second);
    let t = Instant::now();
    while !log
        .lock()
        .map(|l| l.contains("waiting for its writer lock"))
        .unwrap_or(false)
    {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no waiting line: {:?}",
            log.lock().map(|l| l.clone())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    activity(&chain, 1, 3).await;
    chain.wait_indexed(&pool).await;
    assert!(
        second.try_wait().expect("try_wait").is_none(),
        "still waiting"
    );

    // the first dies (kill -9): the second takes over
    first.kill().expect("kill -9");
    first.wait().expect("wait");
    activity(&chain, 2, 3).await;
    chain.wait_indexed(&pool).await;
    assert!(second.try_wait().expect("try_wait").is_none());
    second.kill().expect("kill");
    second.wait().expect("wait");
    let log = log.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(!log.contains("ERROR"), "{log}");

    assert_exactly_once(&chain, &pool).await;
    let verify = Command::new(env!("CARGO_BIN_EXE_memory-indexer"))
        .arg("verify")
        .env("INDEXER_RPC_URL", chain.anvil.endpoint())
        .env("INDEXER_DEPLOYMENT", &chain.deployment_file)
        .env("DATABASE_URL", &url)
        .env("INDEXER_FINALITY_DEPTH", "3")
        .env("RUST_LOG", "off")
        .output()
        .expect("run verify");
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{stdout}");
    assert!(
        stdout.contains(": 9 tokens") && stdout.contains(", 0 mismatches"),
        "{stdout}"
    );
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn a_batch_planned_on_another_fork_than_the_checkpoint_is_refused(
    pool: PgPool,
) -> Result<(), Error> {
    let write = |b| {
        let pool = pool.clone();
        async move { db::write_batch(&pool, 7, None, &b).await }
    };
    db::init_chain(&pool, 7, NFT, MARKET, 1).await?;
    write(batch_of(1, vec![])).await?;
    let cp = db::checkpoint(&pool, 7).await?;
    assert_eq!((cp.block, cp.hash), (1, Some(header(1).hash)));
    let transfer = Event::Transfer {
        from: ALICE,
        to: NFT,
        token_id: U256::from(1),
    };
    let count = || async {
        let t: i64 = sqlx::query_scalar("SELECT count(*) FROM transfers WHERE chain_id = 7")
            .fetch_one(&pool)
            .await
            .expect("count");
        let b: i64 = sqlx::query_scalar("SELECT count(*) FROM blocks WHERE chain_id = 7")
            .fetch_one(&pool)
            .await
            .expect("count");
        (t, b)
    };
    let before = count().await;

    // block 2 of another fork: its parent is not our block 1
    let mut other = batch_of(2, vec![transfer.clone()]);
    other.headers[0].parent_hash = hash(99);
    let r = write(other).await;
    assert!(
        matches!(
            r,
            Err(Error::ForkMismatch { from: 2, to: 2, parent_number: 1, planned, stored })
                if planned == hash(99) && stored == header(1).hash
        ),
        "{r:?}"
    );
    // a batch without the header of its first block cannot be checked: refused
    let mut headless = batch_of(2, vec![transfer.clone()]);
    headless.headers.clear();
    assert!(
        matches!(write(headless).await, Err(Error::Pipeline(m)) if m.contains("no header of block 2"))
    );
    assert_eq!(db::checkpoint(&pool, 7).await?, cp, "nothing written");
    assert_eq!(count().await, before);

    // the same block on our fork applies
    write(batch_of(2, vec![transfer])).await?;
    assert_eq!(db::checkpoint(&pool, 7).await?.hash, Some(header(2).hash));
    assert_eq!(count().await.0, before.0 + 1);
    Ok(())
}
