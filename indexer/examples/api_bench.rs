//! The server side of `scripts/bench-api`: fills a fresh database with `--memories` minted
//! memories through the indexer's real write path (`db::write_batch`: mints with parents,
//! token-bound accounts, certificates, listings), then serves the API on `--addr` for at most
//! `--serve-secs` seconds.
//!
//! ```text
//! cargo run --release -p memory-indexer --example api_bench -- --memories 10000
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256, address};
use anyhow::Context as _;
use clap::Parser;
use memory_indexer::db::{self, Batch, Header};
use memory_indexer::events::{Certificate, Event, Meta};
use memory_indexer::metrics::Metrics;
use memory_indexer::{AppState, api};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[derive(Debug, Parser)]
struct Args {
    /// Server to create the benchmark database on.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Name of the benchmark database (dropped and created again).
    #[arg(long, default_value = "memory_api_bench")]
    database: String,
    /// Memories to mint.
    #[arg(long, default_value_t = 10_000)]
    memories: u64,
    /// API address.
    #[arg(long, default_value = "127.0.0.1:18080")]
    addr: SocketAddr,
    /// Connections of the API's pool.
    #[arg(long, default_value_t = 8)]
    db_connections: u32,
    /// Serve without the detail cache (every request queries PostgreSQL).
    #[arg(long)]
    no_cache: bool,
    /// Stop serving after this many seconds.
    #[arg(long, default_value_t = 900)]
    serve_secs: u64,
}

const CHAIN: u64 = 31337;
const NFT: Address = address!("00000000000000000000000000000000000000f1");
const MARKET: Address = address!("00000000000000000000000000000000000000f2");
const IMPL: Address = address!("00000000000000000000000000000000000000f3");
const PER_BLOCK: u64 = 500;

fn word(tag: u64, n: u64) -> B256 {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&tag.to_be_bytes());
    b[24..].copy_from_slice(&n.to_be_bytes());
    B256::from(b)
}

fn addr(tag: u64, n: u64) -> Address {
    let mut b = [0u8; 20];
    b[..8].copy_from_slice(&tag.to_be_bytes());
    b[12..].copy_from_slice(&n.to_be_bytes());
    Address::from(b)
}

/// The events of one memory: mint (2 parents from earlier ids), account, and for some a
/// certificate and a listing.
fn memory_events(id: u64) -> Vec<Event> {
    let owner = addr(1, id % 997);
    let token = U256::from(id);
    let parents: Vec<U256> = [id / 2, id.saturating_sub(1)]
        .into_iter()
        .filter(|p| *p >= 1 && *p < id)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(U256::from)
        .collect();
    let mut v = vec![
        Event::Transfer {
            from: Address::ZERO,
            to: owner,
            token_id: token,
        },
        Event::Minted {
            token_id: token,
            creator: owner,
            checksum: word(2, id),
            kind: (id % 3) as u8,
            source_model: format!("model-{}", id % 7),
            target_model: format!("model-{}", (id + 1) % 7),
            version: "1.0.0".into(),
            uri: format!("ipfs://bench/{id}"),
            royalty_bps: 250,
            parents,
        },
        Event::AccountCreated {
            account: addr(3, id),
            implementation: IMPL,
            salt: B256::ZERO,
            chain_id: U256::from(CHAIN),
            token_contract: NFT,
            token_id: token,
        },
    ];
    if id.is_multiple_of(2) {
        v.push(Event::CertificateAnchored {
            token_id: token,
            digest: word(4, id),
            certifier: addr(5, 1),
            cert: Box::new(Certificate {
                checksum: word(2, id),
                creator: owner,
                certifier: addr(5, 1),
                test_set_checksum: word(6, 1),
                epsilon_ppm: (id % 200_000) as u32,
                rel_error_ppm: 1000,
                cosine_ppm: 990_000,
                euclidean_ppm: 12_345,
                test_samples: 256,
                level: (1 + id % 4) as u8,
                issued_at: 1_700_000_000,
                expires_at: u64::MAX,
                nonce: U256::from(id),
            }),
        });
    }
    if id.is_multiple_of(5) {
        v.push(Event::Listed {
            token_id: token,
            listing_id: U256::from(id),
            seller: owner,
            price: U256::from(id * 1000),
            expires_at: u64::MAX,
            transfer_count: 0,
            account_state: U256::from(1),
        });
    }
    v
}

fn header(n: u64) -> Header {
    Header {
        number: n,
        hash: word(7, n),
        parent_hash: word(7, n - 1),
        timestamp: 1_700_000_000 + n,
    }
}

async fn seed(pool: &sqlx::PgPool, memories: u64) -> anyhow::Result<u64> {
    db::init_chain(pool, CHAIN, NFT, MARKET, 1).await?;
    let blocks = memories.div_ceil(PER_BLOCK);
    let mut events = 0;
    for b in 1..=blocks {
        let ids = ((b - 1) * PER_BLOCK + 1)..=(b * PER_BLOCK).min(memories);
        let evs: Vec<(Meta, Event)> = ids
            .flat_map(memory_events)
            .enumerate()
            .map(|(i, e)| {
                let meta = Meta {
                    block_number: b,
                    block_hash: word(7, b),
                    tx_hash: word(8, b * 100_000 + i as u64),
                    log_index: i as u64,
                    block_timestamp: Some(1_700_000_000 + b),
                };
                (meta, e)
            })
            .collect();
        let batch = Batch {
            from: b,
            to: b,
            to_header: header(b),
            events: evs,
            headers: vec![header(b)],
            finalized: b as i64,
            head: blocks,
        };
        events += db::write_batch(pool, CHAIN, Some(IMPL), &batch).await? as u64;
    }
    db::set_head(pool, CHAIN, blocks).await?;
    Ok(events)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let admin: PgConnectOptions = args.database_url.parse().context("DATABASE_URL")?;
    let admin_pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(admin.clone())
        .await?;
    let name = &args.database;
    anyhow::ensure!(
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "bad database name {name}"
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&admin_pool)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin_pool)
        .await?;
    admin_pool.close().await;

    let opts = admin.database(name);
    let pool = PgPoolOptions::new()
        .max_connections(args.db_connections)
        .connect_with(opts)
        .await?;
    db::migrate(&pool).await?;
    let t = Instant::now();
    let events = seed(&pool, args.memories).await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    eprintln!(
        "seeded {} memories ({events} events) in {:.1}s",
        args.memories,
        t.elapsed().as_secs_f64()
    );

    let state = AppState {
        pool,
        chain_id: CHAIN,
        nft: NFT,
        metrics: Arc::new(Metrics::default()),
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("bind {}", args.addr))?;
    eprintln!("serving on http://{}", args.addr);
    let app = api::app_with(
        state,
        api::Options {
            detail_cache: !args.no_cache,
        },
    );
    let server = axum::serve(listener, app).into_future();
    tokio::select! {
        r = server => r?,
        _ = tokio::time::sleep(Duration::from_secs(args.serve_secs)) => eprintln!("serve time over"),
    }
    Ok(())
}
