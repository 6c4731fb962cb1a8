//! The API's own pool (issue 9): API load never takes the writer's connections, a slow API
//! statement is cut by the statement timeout with `503 query_timeout`, and `/v1/stats` is
//! served from a cache at most `max_age` behind the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use axum::Router;
use axum::http::StatusCode;
use memory_indexer::api::error::ApiError;
use memory_indexer::api::queries;
use memory_indexer::db;
use memory_indexer::events::Event;
use memory_indexer::metrics::Metrics;
use memory_indexer::{AppState, api};
use serde_json::Value;
use sqlx::PgPool;

use crate::api::{ALICE, CHAIN, NFT, get, ok, scenario};
use crate::fixtures::{batch_of, hash};

const IMPL: Address = alloy::primitives::address!("0000000000000000000000000000000000001111");

/// An API pool of `size` connections with `timeout`, on the test's database.
fn api_pool(pool: &PgPool, size: u32, timeout: Duration) -> PgPool {
    api::connect((*pool.connect_options()).clone(), size, timeout)
}

/// The API over `api_pool`, without the detail cache, stats at most `stats_max_age` old.
fn app(api_pool: &PgPool, stats_max_age: Duration) -> Router {
    api::app_with_stats_max_age(
        AppState {
            pool: api_pool.clone(),
            chain_id: CHAIN,
            nft: NFT,
            metrics: Arc::new(Metrics::default()),
        },
        api::Options {
            detail_cache: false,
        },
        stats_max_age,
    )
}

/// Indexes the scenario of `api` (its router, over the writer's pool, is not used).
async fn indexed(pool: &PgPool) {
    drop(scenario(pool).await);
}

/// A mint of token `id` to ALICE.
fn mint(id: u64) -> Vec<Event> {
    let token_id = U256::from(id);
    vec![
        Event::Transfer {
            from: Address::ZERO,
            to: ALICE,
            token_id,
        },
        Event::Minted {
            token_id,
            creator: ALICE,
            checksum: hash(9000 + id),
            kind: 1,
            source_model: "a".into(),
            target_model: "b".into(),
            version: "1".into(),
            uri: format!("ipfs://pool/{id}"),
            royalty_bps: 0,
            parents: vec![],
        },
    ]
}

/// Writes block `block` (a mint of token `100 + block`) through the writer's pool.
async fn write_mint(pool: &PgPool, block: u64) {
    db::write_batch(pool, CHAIN, Some(IMPL), &batch_of(block, mint(100 + block)))
        .await
        .unwrap_or_else(|e| panic!("batch {block}: {e}"));
}

fn memories(stats: &Value) -> i64 {
    stats["memories"]
        .as_i64()
        .unwrap_or_else(|| panic!("no memories count in {stats}"))
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn the_writer_keeps_writing_while_the_api_pool_is_exhausted(pool: PgPool) {
    indexed(&pool).await;
    let api_pool = api_pool(&pool, 2, Duration::from_secs(1));
    let app = app(&api_pool, Duration::ZERO);
    let before = memories(&ok(&app, "/v1/stats").await);

    // hold every API connection with back-to-back pg_sleep statements (each shorter than the
    // statement timeout) until told to stop
    let stop = Arc::new(AtomicBool::new(false));
    let mut holders = Vec::new();
    for _ in 0..2 {
        let (api_pool, stop) = (api_pool.clone(), stop.clone());
        holders.push(tokio::spawn(async move {
            let mut conn = api_pool
                .acquire()
                .await
                .unwrap_or_else(|e| panic!("acquire: {e}"));
            while !stop.load(Ordering::Acquire) {
                sqlx::query("SELECT pg_sleep(0.2)")
                    .execute(&mut *conn)
                    .await
                    .unwrap_or_else(|e| panic!("pg_sleep: {e}"));
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (sleeping,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap_or_else(|e| panic!("pg_stat_activity: {e}"));
        if sleeping == 2 && api_pool.num_idle() == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the holders never got both connections"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // the API has no connection to give: the request waits its acquire timeout, then 503
    let (status, body) = get(&app, "/v1/memories").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");

    // meanwhile the writer, on its own pool, commits batches
    for block in 6..=8 {
        write_mint(&pool, block).await;
    }
    let (_, indexed): (i64, i64) =
        sqlx::query_as("SELECT chain_id, indexed_block FROM chain_state WHERE chain_id = $1")
            .bind(i64::try_from(CHAIN).unwrap_or(i64::MAX))
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("checkpoint: {e}"));
    assert_eq!(indexed, 8);
    assert!(
        holders.iter().all(|h| !h.is_finished()) && api_pool.num_idle() == 0,
        "the batches were written while the API pool was still exhausted"
    );

    stop.store(true, Ordering::Release);
    for h in holders {
        h.await.unwrap_or_else(|e| panic!("holder: {e}"));
    }
    assert_eq!(memories(&ok(&app, "/v1/stats").await), before + 3);
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn a_slow_api_query_is_cut_by_the_statement_timeout(pool: PgPool) {
    indexed(&pool).await;
    let api_pool = api_pool(&pool, 4, Duration::from_millis(300));
    let (timeout,): (String,) = sqlx::query_as("SHOW statement_timeout")
        .fetch_one(&api_pool)
        .await
        .unwrap_or_else(|e| panic!("show: {e}"));
    assert_eq!(timeout, "300ms", "every API connection has the timeout");
    let (writer_timeout,): (String,) = sqlx::query_as("SHOW statement_timeout")
        .fetch_one(&pool)
        .await
        .unwrap_or_else(|e| panic!("show: {e}"));
    assert_eq!(writer_timeout, "0", "the writer's pool has none");

    // a statement that runs too long
    let start = Instant::now();
    let e = sqlx::query("SELECT pg_sleep(5)")
        .execute(&api_pool)
        .await
        .err()
        .unwrap_or_else(|| panic!("pg_sleep(5) was not cut"));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "cut by the timeout"
    );
    let e = ApiError::from(e);
    assert_eq!(
        (e.status(), e.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "query_timeout")
    );

    // a request whose statements wait behind a lock longer than the timeout
    let app = app(&api_pool, Duration::ZERO);
    let mut locker = pool.begin().await.unwrap_or_else(|e| panic!("begin: {e}"));
    sqlx::query("LOCK TABLE memories IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locker)
        .await
        .unwrap_or_else(|e| panic!("lock: {e}"));
    for uri in ["/v1/stats", "/v1/memories", "/v1/memories/1"] {
        let (status, body) = crate::api::get(&app, uri).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {body}");
        assert_eq!(body["error"]["code"], "query_timeout", "{uri}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("canceling") && !message.contains("memories"),
            "{uri}: no SQL text in {message}"
        );
    }
    locker
        .rollback()
        .await
        .unwrap_or_else(|e| panic!("rollback: {e}"));
    ok(&app, "/v1/stats").await;
    ok(&app, "/v1/memories/1").await;
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn stats_follow_new_events_within_their_max_age(pool: PgPool) {
    const MAX_AGE: Duration = Duration::from_millis(400);
    indexed(&pool).await;
    let api_pool = api_pool(&pool, 4, Duration::from_secs(5));
    let cached = app(&api_pool, MAX_AGE);
    let fresh = app(&api_pool, Duration::ZERO);
    let chain = i64::try_from(CHAIN).unwrap_or(i64::MAX);

    let first_at = Instant::now();
    let first = ok(&cached, "/v1/stats").await;
    let db_now = queries::stats(&pool, chain)
        .await
        .unwrap_or_else(|e| panic!("stats: {e}"));
    assert_eq!(
        first,
        serde_json::to_value(&db_now).unwrap_or_default(),
        "a fresh cache answers the database's totals"
    );

    write_mint(&pool, 6).await;
    let second = ok(&cached, "/v1/stats").await;
    if first_at.elapsed() < MAX_AGE {
        assert_eq!(second, first, "within max_age the cached totals are served");
    }
    assert_eq!(
        memories(&ok(&fresh, "/v1/stats").await),
        memories(&first) + 1,
        "max_age zero: every answer is the database's"
    );

    tokio::time::sleep(MAX_AGE + Duration::from_millis(50)).await;
    let third = ok(&cached, "/v1/stats").await;
    let db_now = queries::stats(&pool, chain)
        .await
        .unwrap_or_else(|e| panic!("stats: {e}"));
    assert_eq!(memories(&third), memories(&first) + 1);
    assert_eq!(third, serde_json::to_value(&db_now).unwrap_or_default());
}
