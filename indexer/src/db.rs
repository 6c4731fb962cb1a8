//! Database side of ingestion: migrations, the checkpoint, the writer lock, batch writes (rows,
//! derived state, journal and checkpoint in one transaction) and reorg rollbacks.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool, Row};
use tracing::{debug, info, instrument, warn};

use crate::copy::CopyRows;
use crate::error::{Error, Result};
use crate::events::{Event, Grant, Meta};

/// The embedded migrations of `indexer/migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Every table of event rows (rows keyed by `block_number` that a reorg removes). The rollback
/// deletes from each of them above the fork; a test checks that every table of the schema with
/// a `block_number` column is here (or is the journal).
pub const EVENT_TABLES: [&str; 14] = [
    "memories",
    "memory_parents",
    "transfers",
    "certificates",
    "certificate_revocations",
    "certifier_changes",
    "accounts",
    "listings",
    "listing_cancellations",
    "sales",
    "royalty_payments",
    "credits",
    "withdrawals",
    "account_approvals",
];

/// How long [`connect`] keeps trying to reach a database that is starting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects a pool to `url`. One connection is opened first, so that a database that cannot be
/// used fails with its real cause (connection refused, authentication, unknown database) instead
/// of the pool's "timed out"; a server that is not listening yet gets [`CONNECT_TIMEOUT`] to start.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool> {
    let opts: PgConnectOptions = url.parse()?;
    let deadline = std::time::Instant::now() + CONNECT_TIMEOUT;
    loop {
        match opts.connect().await {
            Ok(conn) => {
                // best effort: the pool opens its own connections
                let _ = conn.close().await;
                break;
            }
            // the server is not up (yet): retry until the deadline
            Err(sqlx::Error::Io(e)) if std::time::Instant::now() < deadline => {
                debug!(target: "indexer::db", error = %e, "database not reachable yet, retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            // refused by the server (authentication, unknown database, ...) or out of time
            Err(e) => return Err(e.into()),
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(opts)
        .await?;
    Ok(pool)
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// A block header as the reorg detector keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Parent hash.
    pub parent_hash: B256,
    /// Unix timestamp.
    pub timestamp: u64,
}

/// The checkpoint: every block up to `block` is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Last indexed block (`start_block - 1` before the first batch, so possibly -1).
    pub block: i64,
    /// Its hash, once known.
    pub hash: Option<B256>,
}

/// One unit of ingestion: the decoded events of blocks `from..=to`, written atomically.
#[derive(Debug, Clone)]
pub struct Batch {
    /// First block of the range.
    pub from: u64,
    /// Last block of the range.
    pub to: u64,
    /// Header of `to` (its hash becomes the checkpoint hash).
    pub to_header: Header,
    /// Events in chain order.
    pub events: Vec<(Meta, Event)>,
    /// Headers to keep for reorg detection, ascending: the first is block `from` (its parent
    /// hash is what the batch was planned on, checked against the stored checkpoint), then the
    /// unfinalized blocks of the range, and `to`.
    pub headers: Vec<Header>,
    /// Highest finalized block when the batch was fetched (head - finality depth); blocks at or
    /// below it get no journal entries. Negative when nothing is final yet.
    pub finalized: i64,
    /// Chain head when the batch was fetched.
    pub head: u64,
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn b256(v: &[u8]) -> Result<B256> {
    B256::try_from(v).map_err(|_| Error::Pipeline(format!("stored hash of {} bytes", v.len())))
}

fn address(v: &[u8]) -> Result<Address> {
    Address::try_from(v)
        .map_err(|_| Error::Pipeline(format!("stored address of {} bytes", v.len())))
}

/// Creates the chain's status row on first use and returns the checkpoint. Refuses a database
/// that already indexes this chain with other contract addresses.
pub async fn init_chain(
    pool: &PgPool,
    chain_id: u64,
    nft: Address,
    market: Address,
    start_block: u64,
) -> Result<Checkpoint> {
    let cid = i64_of(chain_id);
    sqlx::query(
        "INSERT INTO chain_state (chain_id, nft_address, market_address, start_block, indexed_block)
         VALUES ($1, $2, $3, $4, $4 - 1) ON CONFLICT (chain_id) DO NOTHING",
    )
    .bind(cid)
    .bind(nft.as_slice())
    .bind(market.as_slice())
    .bind(i64_of(start_block))
    .execute(pool)
    .await?;
    let row = sqlx::query("SELECT nft_address, market_address, indexed_block, indexed_hash FROM chain_state WHERE chain_id = $1")
        .bind(cid)
        .fetch_one(pool)
        .await?;
    let stored_nft = address(row.get::<&[u8], _>(0))?;
    let stored_market = address(row.get::<&[u8], _>(1))?;
    if stored_nft != nft || stored_market != market {
        return Err(Error::ContractMismatch {
            chain_id,
            stored: format!("nft {stored_nft}, market {stored_market}"),
        });
    }
    Ok(Checkpoint {
        block: row.get(2),
        hash: row.get::<Option<&[u8]>, _>(3).map(b256).transpose()?,
    })
}

/// Every ERC-6551 account indexed for `chain_id` (each once): the accounts whose approvals are
/// followed (see [`crate::approvals`]).
pub async fn account_addresses(pool: &PgPool, chain_id: u64) -> Result<Vec<Address>> {
    let rows: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT DISTINCT account FROM accounts WHERE chain_id = $1 ORDER BY account",
    )
    .bind(i64_of(chain_id))
    .fetch_all(pool)
    .await?;
    rows.iter().map(|a| address(a)).collect()
}

/// The current checkpoint of `chain_id`.
pub async fn checkpoint(pool: &PgPool, chain_id: u64) -> Result<Checkpoint> {
    let row =
        sqlx::query("SELECT indexed_block, indexed_hash FROM chain_state WHERE chain_id = $1")
            .bind(i64_of(chain_id))
            .fetch_one(pool)
            .await?;
    Ok(Checkpoint {
        block: row.get(0),
        hash: row.get::<Option<&[u8]>, _>(1).map(b256).transpose()?,
    })
}

/// Records the latest chain head seen (for the status API and lag).
pub async fn set_head(pool: &PgPool, chain_id: u64, head: u64) -> Result<()> {
    sqlx::query("UPDATE chain_state SET head_block = $2, head_seen_at = now() WHERE chain_id = $1")
        .bind(i64_of(chain_id))
        .bind(i64_of(head))
        .execute(pool)
        .await?;
    Ok(())
}

/// Stored headers of the unfinalized window, newest first.
pub async fn stored_headers(pool: &PgPool, chain_id: u64) -> Result<Vec<Header>> {
    let rows = sqlx::query("SELECT number, hash, parent_hash, timestamp FROM blocks WHERE chain_id = $1 ORDER BY number DESC")
        .bind(i64_of(chain_id))
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Header {
                number: r.get::<i64, _>(0) as u64,
                hash: b256(r.get::<&[u8], _>(1))?,
                parent_hash: b256(r.get::<&[u8], _>(2))?,
                timestamp: r.get::<i64, _>(3) as u64,
            })
        })
        .collect()
}

/// The stored header of block `number`, if it is in the unfinalized window.
pub async fn stored_header(pool: &PgPool, chain_id: u64, number: u64) -> Result<Option<Header>> {
    let row = sqlx::query(
        "SELECT hash, parent_hash, timestamp FROM blocks WHERE chain_id = $1 AND number = $2",
    )
    .bind(i64_of(chain_id))
    .bind(i64_of(number))
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok(Header {
            number,
            hash: b256(r.get::<&[u8], _>(0))?,
            parent_hash: b256(r.get::<&[u8], _>(1))?,
            timestamp: r.get::<i64, _>(2) as u64,
        })
    })
    .transpose()
}

/// How often a writer waiting for the lock tries again.
const LOCK_RETRY: Duration = Duration::from_millis(500);
/// How often a waiting writer says so.
const LOCK_LOG_EVERY: Duration = Duration::from_secs(5);
/// How often the holder checks the connection that holds the lock.
const LOCK_PING: Duration = Duration::from_secs(1);

/// The PostgreSQL advisory lock key of the writer of `chain_id`: the first 8 bytes of
/// `keccak256("memory-indexer writer" ‖ chain id as 8 big-endian bytes)`, as a bigint.
pub fn writer_lock_key(chain_id: u64) -> i64 {
    let mut pre = b"memory-indexer writer".to_vec();
    pre.extend_from_slice(&chain_id.to_be_bytes());
    let h = alloy::primitives::keccak256(pre);
    let mut k = [0u8; 8];
    k.copy_from_slice(&h[..8]);
    i64::from_be_bytes(k)
}

/// The writer lock of one chain: a session-level advisory lock (`pg_try_advisory_lock`) on a
/// connection of its own, held open for as long as this value lives, so that one process at a
/// time writes a chain to a database (a rolling deploy or a second `run`/`sync` waits or
/// refuses). A task pings the connection every second; if it is lost (a PostgreSQL restart),
/// [`WriterLock::is_held`] turns false until the lock is taken again on a new connection, and
/// the writer writes nothing meanwhile. Dropping the value closes the connection, which
/// releases the lock. The per-batch checkpoint guard of [`write_batch`] stays the last line of
/// defence (for the second between a lost connection and its detection).
#[derive(Debug)]
pub struct WriterLock {
    chain_id: u64,
    held: Arc<AtomicBool>,
    keeper: tokio::task::JoinHandle<()>,
}

impl WriterLock {
    /// Takes the writer lock of `chain_id` on a new connection with `pool`'s options. If another
    /// session holds it: with `wait`, tries again every 500 ms and logs who holds it every 5 s;
    /// without, fails with [`Error::WriterLocked`]. Database errors are returned (retryable).
    pub async fn acquire(pool: &PgPool, chain_id: u64, wait: bool) -> Result<WriterLock> {
        let opts = pool
            .connect_options()
            .as_ref()
            .clone()
            .application_name(&format!("memory-indexer writer pid {}", std::process::id()));
        let key = writer_lock_key(chain_id);
        let mut conn = opts.connect().await?;
        let mut logged: Option<std::time::Instant> = None;
        while !try_lock(&mut conn, key).await? {
            let holder = lock_holder(&mut conn, key).await;
            if !wait {
                return Err(Error::WriterLocked { chain_id, holder });
            }
            if logged.is_none_or(|t| t.elapsed() >= LOCK_LOG_EVERY) {
                warn!(target: "indexer::db", chain_id, holder = %holder,
                    "another memory-indexer is writing this chain to the database: waiting for its writer lock");
                logged = Some(std::time::Instant::now());
            }
            tokio::time::sleep(LOCK_RETRY).await;
        }
        info!(target: "indexer::db", chain_id, "writer lock taken");
        let held = Arc::new(AtomicBool::new(true));
        let keeper = tokio::spawn(keep_lock(conn, opts, key, chain_id, held.clone()));
        Ok(WriterLock {
            chain_id,
            held,
            keeper,
        })
    }

    /// Whether the lock is held right now (false while its connection is being replaced).
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    /// `Ok` while the lock is held, else [`Error::WriterLockLost`] (retryable).
    pub fn ensure_held(&self) -> Result<()> {
        if self.is_held() {
            Ok(())
        } else {
            Err(Error::WriterLockLost {
                chain_id: self.chain_id,
            })
        }
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // the task owns the connection: aborting it closes the connection, which releases the lock
        self.keeper.abort();
    }
}

async fn try_lock(conn: &mut sqlx::PgConnection, key: i64) -> Result<bool> {
    Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(conn)
        .await?)
}

/// Who holds the advisory lock `key`, for the log line (a bigint key is classid = high 32
/// bits, objid = low 32 bits, objsubid = 1 in `pg_locks`).
async fn lock_holder(conn: &mut sqlx::PgConnection, key: i64) -> String {
    // backend pid, application name, client address
    type Holder = (i32, Option<String>, Option<String>);
    let row: Result<Option<Holder>, _> = sqlx::query_as(
        "SELECT l.pid, a.application_name, a.client_addr::text
         FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND l.classid = (($1 >> 32) & 4294967295)::oid AND l.objid = ($1 & 4294967295)::oid",
    )
    .bind(key)
    .fetch_optional(conn)
    .await;
    match row {
        Ok(Some((pid, app, addr))) => format!(
            "held by PostgreSQL backend {pid}, application {:?}, client {}",
            app.unwrap_or_default(),
            addr.unwrap_or_else(|| "local socket".into())
        ),
        Ok(None) => "released meanwhile".into(),
        Err(e) => format!("holder unknown: {e}"),
    }
}

/// Keeps the lock: pings its connection every [`LOCK_PING`]; when the connection is lost,
/// marks the lock lost and takes it again on a new connection (retrying for ever).
async fn keep_lock(
    mut conn: sqlx::PgConnection,
    opts: PgConnectOptions,
    key: i64,
    chain_id: u64,
    held: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(LOCK_PING).await;
        let Err(e) = sqlx::query("SELECT 1").execute(&mut conn).await else {
            continue;
        };
        held.store(false, Ordering::Release);
        warn!(target: "indexer::db", chain_id, error = %e, "writer lock connection lost: not writing until the lock is taken again");
        let mut logged: Option<std::time::Instant> = None;
        conn = loop {
            tokio::time::sleep(LOCK_RETRY).await;
            let Ok(mut c) = opts.connect().await else {
                continue;
            };
            match try_lock(&mut c, key).await {
                Ok(true) => break c,
                Ok(false) if logged.is_none_or(|t| t.elapsed() >= LOCK_LOG_EVERY) => {
                    let holder = lock_holder(&mut c, key).await;
                    warn!(target: "indexer::db", chain_id, holder = %holder, "another memory-indexer took the writer lock: waiting for it");
                    logged = Some(std::time::Instant::now());
                }
                Ok(false) | Err(_) => {}
            }
        };
        held.store(true, Ordering::Release);
        info!(target: "indexer::db", chain_id, "writer lock taken again");
    }
}

/// Current state of an existing token, as far as a batch can change it.
#[derive(Debug, Clone)]
struct TokenState {
    owner: Address,
    account: Option<Address>,
    /// Owner as stored before this batch (only rows that change are written back).
    stored_owner: Address,
    /// Block of the mint; `None` = minted before this batch (the row is in the database).
    minted_in_batch: Option<u64>,
    /// The token's memory row exists (in the database or from this batch).
    known: bool,
    owner_dirty: bool,
    account_dirty: bool,
    owner_journaled_at: Option<u64>,
    account_journaled_at: Option<u64>,
    /// Transfers of the batch that are not mints (what `memories.transfer_count` gains).
    transfers: i64,
}

/// Where an open listing of a token is, while a batch is built.
#[derive(Debug, Clone, Copy)]
enum OpenListing {
    /// In this batch's listing rows, at this index.
    Batch(usize),
    /// Closed (no open listing).
    None,
}

struct ListingRow {
    meta: Meta,
    token_id: U256,
    listing_id: U256,
    seller: Address,
    price: U256,
    expires_at: u64,
    transfer_count: u32,
    account_state: U256,
    status: &'static str,
    closed: Option<(u64, B256)>,
}

struct CertRow<'a> {
    meta: &'a Meta,
    token_id: U256,
    digest: B256,
    certifier: Address,
    cert: &'a crate::events::Certificate,
    revoked: Option<(u64, B256)>,
}

fn meta_cols(r: &mut CopyRows, chain_id: i64, m: &Meta) {
    r.int(chain_id)
        .int(i64_of(m.block_number))
        .int(i64_of(m.log_index))
        .bytes(m.tx_hash.as_slice())
        .opt(m.block_timestamp, |r, t| r.int(i64_of(t)));
}

const META: [&str; 5] = [
    "chain_id",
    "block_number",
    "log_index",
    "tx_hash",
    "block_timestamp",
];

fn cols(extra: &[&'static str]) -> Vec<&'static str> {
    META.iter().chain(extra).copied().collect()
}

/// The guard of [`write_batch`]: the batch applies only on top of the block it was planned on,
/// the stored checkpoint `(current, current_hash)`: its number must be `from - 1` and its hash
/// the parent hash of the batch's first block (carried in `batch.headers`, which must start with
/// block `from`). The initial checkpoint (`start_block - 1`) has no hash and takes any parent.
fn check_parent(batch: &Batch, current: i64, current_hash: Option<B256>) -> Result<()> {
    if current != i64_of(batch.from) - 1 {
        return Err(Error::Pipeline(format!(
            "batch {}..={} does not follow the checkpoint {current} (another writer?)",
            batch.from, batch.to
        )));
    }
    let first = batch
        .headers
        .first()
        .filter(|h| h.number == batch.from)
        .ok_or_else(|| {
            Error::Pipeline(format!(
                "batch {}..={} carries no header of block {}",
                batch.from, batch.to, batch.from
            ))
        })?;
    match current_hash {
        Some(stored) if stored != first.parent_hash => Err(Error::ForkMismatch {
            from: batch.from,
            to: batch.to,
            parent_number: current,
            planned: first.parent_hash,
            stored,
        }),
        _ => Ok(()),
    }
}

/// Writes one batch in one transaction: event rows (COPY), derived state (owners, accounts,
/// revocations, listing status, royalty totals), journal entries for unfinalized blocks,
/// headers, pruning of the window below the finalized block, and the checkpoint. Applies only
/// on top of the block it was planned on (checkpoint number `from - 1` and hash the parent hash
/// of block `from`, see [`check_parent`]), so a batch can never be applied twice nor on another
/// fork.
/// Returns the number of events written.
#[instrument(target = "indexer::db", skip_all, fields(from = batch.from, to = batch.to, events = batch.events.len()))]
pub async fn write_batch(
    pool: &PgPool,
    chain_id: u64,
    account_implementation: Option<Address>,
    batch: &Batch,
) -> Result<usize> {
    let cid = i64_of(chain_id);
    let mut tx = pool.begin().await?;
    if i64_of(batch.to) <= batch.finalized {
        // Final blocks only: the commit need not wait for the WAL flush. A server crash can lose
        // the last such commits, but never part of one: the checkpoint goes back with its rows
        // and the blocks are fetched again.
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
    }
    let (current, current_hash): (i64, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT indexed_block, indexed_hash FROM chain_state WHERE chain_id = $1 FOR UPDATE",
    )
    .bind(cid)
    .fetch_one(&mut *tx)
    .await?;
    check_parent(
        batch,
        current,
        current_hash.as_deref().map(b256).transpose()?,
    )?;

    // Tokens whose existing state the batch may change: load owner and account.
    let mut minted_here: HashMap<U256, ()> = HashMap::new();
    let mut touched: Vec<String> = Vec::new();
    for (_, e) in &batch.events {
        match e {
            Event::Minted { token_id, .. } => {
                minted_here.insert(*token_id, ());
            }
            Event::Transfer { token_id, .. } | Event::AccountCreated { token_id, .. }
                if !minted_here.contains_key(token_id) =>
            {
                touched.push(token_id.to_string());
            }
            _ => {}
        }
    }
    touched.sort_unstable();
    touched.dedup();
    let mut tokens: HashMap<U256, TokenState> = HashMap::new();
    if !touched.is_empty() {
        let rows = sqlx::query(
            "SELECT token_id::text, owner, account FROM memories
             WHERE chain_id = $1 AND token_id = ANY($2::text[]::numeric[])",
        )
        .bind(cid)
        .bind(&touched)
        .fetch_all(&mut *tx)
        .await?;
        for r in rows {
            let id: String = r.get(0);
            let id = U256::from_str_radix(&id, 10)
                .map_err(|e| Error::Pipeline(format!("token id {id}: {e}")))?;
            tokens.insert(
                id,
                TokenState {
                    owner: address(r.get::<&[u8], _>(1))?,
                    stored_owner: address(r.get::<&[u8], _>(1))?,
                    account: r.get::<Option<&[u8]>, _>(2).map(address).transpose()?,
                    minted_in_batch: None,
                    known: true,
                    owner_dirty: false,
                    account_dirty: false,
                    owner_journaled_at: None,
                    account_journaled_at: None,
                    transfers: 0,
                },
            );
        }
    }

    // Listing ids of the open listings that the batch's sales close (a Sold names none).
    let mut sold: Vec<String> = batch
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Sold { token_id, .. } => Some(token_id.to_string()),
            _ => None,
        })
        .collect();
    sold.sort_unstable();
    sold.dedup();
    let mut db_open: HashMap<U256, U256> = HashMap::new();
    if !sold.is_empty() {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT token_id::text, listing_id::text FROM listings
             WHERE chain_id = $1 AND status = 'open' AND token_id = ANY($2::text[]::numeric[])",
        )
        .bind(cid)
        .bind(&sold)
        .fetch_all(&mut *tx)
        .await?;
        for (t, l) in rows {
            let num = |v: &str| {
                U256::from_str_radix(v, 10)
                    .map_err(|e| Error::Pipeline(format!("stored number {v}: {e}")))
            };
            db_open.insert(num(&t)?, num(&l)?);
        }
    }

    let journaled = |block: u64| i64_of(block) > batch.finalized;
    let new_state = |block: u64| TokenState {
        owner: Address::ZERO,
        stored_owner: Address::ZERO,
        account: None,
        minted_in_batch: Some(block),
        known: false,
        owner_dirty: false,
        account_dirty: false,
        owner_journaled_at: None,
        account_journaled_at: None,
        transfers: 0,
    };
    // existed before `block`: its state at the start of `block` must be restorable
    let existed_before =
        |s: &TokenState, block: u64| s.minted_in_batch.is_none_or(|m| m < block) && s.known;

    let mut journal = CopyRows::new(
        "journal",
        &["chain_id", "block_number", "entity", "key", "old_value"],
    );
    let mut memories = Vec::new();
    let mut parents = CopyRows::new(
        "memory_parents",
        &[
            "chain_id",
            "child_id",
            "parent_id",
            "position",
            "block_number",
        ],
    );
    let mut transfers = CopyRows::new(
        "transfers",
        &cols(&["token_id", "from_address", "to_address"]),
    );
    let mut certs: Vec<CertRow<'_>> = Vec::new();
    let mut cert_index: HashMap<B256, usize> = HashMap::new();
    let mut db_revokes: Vec<(B256, u64, B256)> = Vec::new();
    let mut revocations = CopyRows::new(
        "certificate_revocations",
        &cols(&["token_id", "digest", "certifier"]),
    );
    let mut certifiers = CopyRows::new("certifier_changes", &cols(&["certifier", "allowed"]));
    let mut accounts = CopyRows::new(
        "accounts",
        &cols(&[
            "account",
            "implementation",
            "salt",
            "account_chain_id",
            "token_contract",
            "token_id",
        ]),
    );
    let mut listings: Vec<ListingRow> = Vec::new();
    let mut open: HashMap<U256, OpenListing> = HashMap::new();
    let mut db_closes: Vec<(U256, &'static str, u64, B256)> = Vec::new();
    let mut cancels = CopyRows::new(
        "listing_cancellations",
        &cols(&["token_id", "listing_id", "holder"]),
    );
    let mut sales = CopyRows::new(
        "sales",
        &cols(&["token_id", "seller", "buyer", "price", "listing_id"]),
    );
    let mut royalties = CopyRows::new(
        "royalty_payments",
        &cols(&[
            "sale_token_id",
            "beneficiary_token_id",
            "recipient",
            "amount",
            "credited",
        ]),
    );
    let mut totals: HashMap<(U256, Address), (U256, i64)> = HashMap::new();
    let mut credits = CopyRows::new("credits", &cols(&["account", "amount"]));
    let mut withdrawals = CopyRows::new("withdrawals", &cols(&["account", "to_address", "amount"]));
    let mut approvals = CopyRows::new(
        "account_approvals",
        &cols(&[
            "token_contract",
            "owner",
            "kind",
            "spender",
            "amount",
            "token_id",
            "approved",
        ]),
    );

    fn close(
        open: &mut HashMap<U256, OpenListing>,
        listings: &mut [ListingRow],
        db_closes: &mut Vec<(U256, &'static str, u64, B256)>,
        token: U256,
        status: &'static str,
        m: &Meta,
    ) {
        match open.insert(token, OpenListing::None) {
            Some(OpenListing::Batch(i)) => {
                if let Some(l) = listings.get_mut(i) {
                    l.status = status;
                    l.closed = Some((m.block_number, m.tx_hash));
                }
            }
            Some(OpenListing::None) => {}
            None => db_closes.push((token, status, m.block_number, m.tx_hash)),
        }
    }

    for (m, e) in &batch.events {
        let b = m.block_number;
        match e {
            Event::Transfer { from, to, token_id } => {
                meta_cols(&mut transfers, cid, m);
                transfers
                    .u256(token_id)
                    .bytes(from.as_slice())
                    .bytes(to.as_slice())
                    .end_row();
                let s = tokens.entry(*token_id).or_insert_with(|| new_state(b));
                if journaled(b) && existed_before(s, b) && s.owner_journaled_at != Some(b) {
                    journal
                        .int(cid)
                        .int(i64_of(b))
                        .text("owner")
                        .text(&token_id.to_string())
                        .bytes(s.owner.as_slice());
                    journal.end_row();
                    s.owner_journaled_at = Some(b);
                }
                s.owner = *to;
                s.owner_dirty = true;
                if !from.is_zero() {
                    s.transfers += 1;
                }
            }
            Event::Minted {
                token_id,
                parents: ps,
                ..
            } => {
                let s = tokens.entry(*token_id).or_insert_with(|| new_state(b));
                s.known = true;
                s.minted_in_batch = Some(b);
                for (i, p) in ps.iter().enumerate() {
                    parents
                        .int(cid)
                        .u256(token_id)
                        .u256(p)
                        .int(i16::try_from(i).unwrap_or(i16::MAX))
                        .int(i64_of(b));
                    parents.end_row();
                }
                memories.push((m, e));
            }
            Event::AccountCreated {
                account,
                implementation,
                salt,
                chain_id: acid,
                token_contract,
                token_id,
            } => {
                meta_cols(&mut accounts, cid, m);
                accounts
                    .bytes(account.as_slice())
                    .bytes(implementation.as_slice())
                    .bytes(salt.as_slice())
                    .u256(acid)
                    .bytes(token_contract.as_slice())
                    .u256(token_id)
                    .end_row();
                // the token's account is the contract's `accountOf`: salt 0, this chain, the
                // configured implementation
                let ours = account_implementation.is_none_or(|i| i == *implementation)
                    && salt.is_zero()
                    && *acid == U256::from(chain_id);
                let s = tokens.entry(*token_id).or_insert_with(|| new_state(b));
                if ours && s.account.is_none() {
                    if journaled(b) && existed_before(s, b) && s.account_journaled_at != Some(b) {
                        journal
                            .int(cid)
                            .int(i64_of(b))
                            .text("account")
                            .text(&token_id.to_string())
                            .opt(None::<&[u8]>, |r, v| r.bytes(v));
                        journal.end_row();
                        s.account_journaled_at = Some(b);
                    }
                    s.account = Some(*account);
                    s.account_dirty = true;
                }
            }
            Event::CertificateAnchored {
                token_id,
                digest,
                certifier,
                cert,
            } => {
                cert_index.insert(*digest, certs.len());
                certs.push(CertRow {
                    meta: m,
                    token_id: *token_id,
                    digest: *digest,
                    certifier: *certifier,
                    cert,
                    revoked: None,
                });
            }
            Event::CertificateRevoked {
                token_id,
                digest,
                certifier,
            } => {
                meta_cols(&mut revocations, cid, m);
                revocations
                    .u256(token_id)
                    .bytes(digest.as_slice())
                    .bytes(certifier.as_slice())
                    .end_row();
                match cert_index.get(digest).and_then(|&i| certs.get_mut(i)) {
                    Some(c) => c.revoked = Some((b, m.tx_hash)),
                    None => db_revokes.push((*digest, b, m.tx_hash)),
                }
            }
            Event::CertifierSet { certifier, allowed } => {
                meta_cols(&mut certifiers, cid, m);
                certifiers
                    .bytes(certifier.as_slice())
                    .bool(*allowed)
                    .end_row();
            }
            Event::Listed {
                token_id,
                listing_id,
                seller,
                price,
                expires_at,
                transfer_count,
                account_state,
            } => {
                close(
                    &mut open,
                    &mut listings,
                    &mut db_closes,
                    *token_id,
                    "replaced",
                    m,
                );
                open.insert(*token_id, OpenListing::Batch(listings.len()));
                listings.push(ListingRow {
                    meta: *m,
                    token_id: *token_id,
                    listing_id: *listing_id,
                    seller: *seller,
                    price: *price,
                    expires_at: *expires_at,
                    transfer_count: *transfer_count,
                    account_state: *account_state,
                    status: "open",
                    closed: None,
                });
            }
            Event::ListingCancelled {
                token_id,
                listing_id,
                holder,
            } => {
                close(
                    &mut open,
                    &mut listings,
                    &mut db_closes,
                    *token_id,
                    "cancelled",
                    m,
                );
                meta_cols(&mut cancels, cid, m);
                cancels
                    .u256(token_id)
                    .u256(listing_id)
                    .bytes(holder.as_slice())
                    .end_row();
            }
            Event::Sold {
                token_id,
                seller,
                buyer,
                price,
            } => {
                // the listing bought: the token's open one, from this batch or the database
                let listing_id = match open.get(token_id) {
                    Some(OpenListing::Batch(i)) => listings.get(*i).map(|l| l.listing_id),
                    Some(OpenListing::None) => None,
                    None => db_open.get(token_id).copied(),
                };
                close(
                    &mut open,
                    &mut listings,
                    &mut db_closes,
                    *token_id,
                    "sold",
                    m,
                );
                meta_cols(&mut sales, cid, m);
                sales
                    .u256(token_id)
                    .bytes(seller.as_slice())
                    .bytes(buyer.as_slice())
                    .u256(price)
                    .opt(listing_id.as_ref(), |r, v| r.u256(v))
                    .end_row();
            }
            Event::RoyaltyPaid {
                sale_token_id,
                beneficiary_token_id,
                recipient,
                amount,
                credited,
            } => {
                meta_cols(&mut royalties, cid, m);
                royalties
                    .u256(sale_token_id)
                    .u256(beneficiary_token_id)
                    .bytes(recipient.as_slice())
                    .u256(amount)
                    .bool(*credited)
                    .end_row();
                let t = totals
                    .entry((*beneficiary_token_id, *recipient))
                    .or_insert((U256::ZERO, 0));
                t.0 = t.0.saturating_add(*amount);
                t.1 += 1;
            }
            Event::Credited { account, amount } => {
                meta_cols(&mut credits, cid, m);
                credits.bytes(account.as_slice()).u256(amount).end_row();
            }
            Event::Withdrawn {
                account,
                to,
                amount,
            } => {
                meta_cols(&mut withdrawals, cid, m);
                withdrawals
                    .bytes(account.as_slice())
                    .bytes(to.as_slice())
                    .u256(amount)
                    .end_row();
            }
            Event::Approval(a) => {
                meta_cols(&mut approvals, cid, m);
                approvals
                    .bytes(a.token.as_slice())
                    .bytes(a.owner.as_slice())
                    .text(a.grant.kind())
                    .bytes(a.grant.spender().as_slice());
                // amount (ERC-20) or token id (ERC-721); an operator approval has neither
                match &a.grant {
                    Grant::Erc20 { amount, .. } => approvals.u256(amount).null(),
                    Grant::Erc721 { token_id, .. } => approvals.null().u256(token_id),
                    Grant::Operator { .. } => approvals.null().null(),
                };
                approvals.bool(a.grant.grants()).end_row();
            }
        }
    }

    // Listing closures of rows already in the database come first (one open listing per token).
    if !db_closes.is_empty() {
        let ids: Vec<String> = db_closes.iter().map(|c| c.0.to_string()).collect();
        let status: Vec<&str> = db_closes.iter().map(|c| c.1).collect();
        let blocks: Vec<i64> = db_closes.iter().map(|c| i64_of(c.2)).collect();
        let txs: Vec<&[u8]> = db_closes.iter().map(|c| c.3.as_slice()).collect();
        sqlx::query(
            "UPDATE listings l SET status = u.status, closed_block = u.block, closed_tx_hash = u.tx
             FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bytea[]) AS u(token_id, status, block, tx)
             WHERE l.chain_id = $1 AND l.token_id = u.token_id::numeric AND l.status = 'open'",
        )
        .bind(cid)
        .bind(&ids)
        .bind(&status)
        .bind(&blocks)
        .bind(&txs)
        .execute(&mut *tx)
        .await?;
    }

    let mut mem = CopyRows::new(
        "memories",
        &cols(&[
            "token_id",
            "creator",
            "checksum",
            "kind",
            "source_model",
            "target_model",
            "version",
            "uri",
            "royalty_bps",
            "parents",
            "owner",
            "account",
            "transfer_count",
        ]),
    );
    for (m, e) in &memories {
        if let Event::Minted {
            token_id,
            creator,
            checksum,
            kind,
            source_model,
            target_model,
            version,
            uri,
            royalty_bps,
            parents,
        } = e
        {
            let s = tokens.get(token_id);
            meta_cols(&mut mem, cid, m);
            mem.u256(token_id)
                .bytes(creator.as_slice())
                .bytes(checksum.as_slice())
                .int(*kind)
                .text(source_model)
                .text(target_model)
                .text(version)
                .text(uri)
                .int(*royalty_bps)
                .u256_array(parents)
                .bytes(s.map_or(Address::ZERO, |s| s.owner).as_slice())
                .opt(s.and_then(|s| s.account), |r, a| r.bytes(a.as_slice()))
                .int(s.map_or(0, |s| s.transfers))
                .end_row();
        }
    }
    let mut certs_rows = CopyRows::new(
        "certificates",
        &cols(&[
            "digest",
            "token_id",
            "certifier",
            "creator",
            "checksum",
            "test_set_checksum",
            "epsilon_ppm",
            "rel_error_ppm",
            "cosine_ppm",
            "euclidean_ppm",
            "test_samples",
            "level",
            "issued_at",
            "expires_at",
            "nonce",
            "revoked",
            "revoked_block",
            "revoked_tx_hash",
        ]),
    );
    for c in &certs {
        meta_cols(&mut certs_rows, cid, c.meta);
        let k = c.cert;
        certs_rows
            .bytes(c.digest.as_slice())
            .u256(&c.token_id)
            .bytes(c.certifier.as_slice())
            .bytes(k.creator.as_slice())
            .bytes(k.checksum.as_slice())
            .bytes(k.test_set_checksum.as_slice())
            .int(k.epsilon_ppm)
            .int(k.rel_error_ppm)
            .int(k.cosine_ppm)
            .int(k.euclidean_ppm)
            .int(k.test_samples)
            .int(k.level)
            .int(k.issued_at)
            .int(k.expires_at)
            .u256(&k.nonce)
            .bool(c.revoked.is_some())
            .opt(c.revoked, |r, (b, _)| r.int(i64_of(b)))
            .opt(c.revoked, |r, (_, t)| r.bytes(t.as_slice()))
            .end_row();
    }
    let mut list_rows = CopyRows::new(
        "listings",
        &cols(&[
            "token_id",
            "listing_id",
            "seller",
            "price",
            "expires_at",
            "transfer_count",
            "account_state",
            "status",
            "closed_block",
            "closed_tx_hash",
        ]),
    );
    for l in &listings {
        meta_cols(&mut list_rows, cid, &l.meta);
        list_rows
            .u256(&l.token_id)
            .u256(&l.listing_id)
            .bytes(l.seller.as_slice())
            .u256(&l.price)
            .int(l.expires_at)
            .int(l.transfer_count)
            .u256(&l.account_state)
            .text(l.status)
            .opt(l.closed, |r, (b, _)| r.int(i64_of(b)))
            .opt(l.closed, |r, (_, t)| r.bytes(t.as_slice()))
            .end_row();
    }

    let mut written = 0u64;
    for rows in [
        mem,
        parents,
        transfers,
        certs_rows,
        revocations,
        certifiers,
        accounts,
        list_rows,
        cancels,
        sales,
        royalties,
        credits,
        withdrawals,
        approvals,
        journal,
    ] {
        written += rows.send(&mut tx).await?;
    }

    // Anyone can create a token's ERC-6551 account before the token is minted (the address is
    // counterfactual): link such an account, indexed in an earlier batch, to the new memory row.
    // It lies in a block at or before the mint, so a rollback that removes it removes the row too.
    let minted_without_account: Vec<String> = tokens
        .iter()
        .filter(|(_, s)| s.minted_in_batch.is_some() && s.known && s.account.is_none())
        .map(|(id, _)| id.to_string())
        .collect();
    if !minted_without_account.is_empty() {
        sqlx::query(
            "UPDATE memories m SET account = a.account
             FROM (SELECT DISTINCT ON (token_id) token_id, account FROM accounts
                   WHERE chain_id = $1 AND token_id = ANY($2::text[]::numeric[])
                     AND salt = $3 AND account_chain_id = $4::text::numeric
                     AND ($5::bytea IS NULL OR implementation = $5)
                   ORDER BY token_id, block_number, log_index) a
             WHERE m.chain_id = $1 AND m.token_id = a.token_id AND m.account IS NULL",
        )
        .bind(cid)
        .bind(&minted_without_account)
        .bind(B256::ZERO.as_slice())
        .bind(chain_id.to_string())
        .bind(account_implementation.as_ref().map(|a| a.as_slice()))
        .execute(&mut *tx)
        .await?;
    }

    // Derived state of tokens minted before this batch.
    let (mut o_ids, mut o_vals, mut o_counts) = (vec![], vec![], vec![]);
    let (mut a_ids, mut a_vals) = (vec![], vec![]);
    for (id, s) in &tokens {
        if s.minted_in_batch.is_none() {
            // a token that comes back to its owner within the batch still counts its transfers
            if s.owner_dirty && (s.owner != s.stored_owner || s.transfers != 0) {
                o_ids.push(id.to_string());
                o_vals.push(s.owner.as_slice());
                o_counts.push(s.transfers);
            }
            if s.account_dirty
                && let Some(a) = &s.account
            {
                a_ids.push(id.to_string());
                a_vals.push(a.as_slice());
            }
        }
    }
    if !o_ids.is_empty() {
        sqlx::query(
            "UPDATE memories m SET owner = u.owner, transfer_count = m.transfer_count + u.n
             FROM UNNEST($2::text[], $3::bytea[], $4::bigint[]) AS u(token_id, owner, n)
             WHERE m.chain_id = $1 AND m.token_id = u.token_id::numeric",
        )
        .bind(cid)
        .bind(&o_ids)
        .bind(&o_vals)
        .bind(&o_counts)
        .execute(&mut *tx)
        .await?;
    }
    if !a_ids.is_empty() {
        sqlx::query(
            "UPDATE memories m SET account = u.account FROM UNNEST($2::text[], $3::bytea[]) AS u(token_id, account)
             WHERE m.chain_id = $1 AND m.token_id = u.token_id::numeric",
        )
        .bind(cid)
        .bind(&a_ids)
        .bind(&a_vals)
        .execute(&mut *tx)
        .await?;
    }
    if !db_revokes.is_empty() {
        let digests: Vec<&[u8]> = db_revokes.iter().map(|r| r.0.as_slice()).collect();
        let blocks: Vec<i64> = db_revokes.iter().map(|r| i64_of(r.1)).collect();
        let txs: Vec<&[u8]> = db_revokes.iter().map(|r| r.2.as_slice()).collect();
        sqlx::query(
            "UPDATE certificates c SET revoked = true, revoked_block = u.block, revoked_tx_hash = u.tx
             FROM UNNEST($2::bytea[], $3::bigint[], $4::bytea[]) AS u(digest, block, tx)
             WHERE c.chain_id = $1 AND c.digest = u.digest AND NOT c.revoked",
        )
        .bind(cid)
        .bind(&digests)
        .bind(&blocks)
        .bind(&txs)
        .execute(&mut *tx)
        .await?;
    }
    if !totals.is_empty() {
        let mut t_ids = vec![];
        let mut t_rec = vec![];
        let mut t_amt = vec![];
        let mut t_n = vec![];
        for ((id, rec), (amt, n)) in &totals {
            t_ids.push(id.to_string());
            t_rec.push(rec.as_slice());
            t_amt.push(amt.to_string());
            t_n.push(*n);
        }
        sqlx::query(
            "INSERT INTO royalty_totals (chain_id, beneficiary_token_id, recipient, total, payments)
             SELECT $1, u.id::numeric, u.rec, u.amt::numeric, u.n
             FROM UNNEST($2::text[], $3::bytea[], $4::text[], $5::bigint[]) AS u(id, rec, amt, n)
             ON CONFLICT (chain_id, beneficiary_token_id, recipient) DO UPDATE
             SET total = royalty_totals.total + excluded.total, payments = royalty_totals.payments + excluded.payments",
        )
        .bind(cid)
        .bind(&t_ids)
        .bind(&t_rec)
        .bind(&t_amt)
        .bind(&t_n)
        .execute(&mut *tx)
        .await?;
    }

    // Headers of the window, pruning below the finalized block, checkpoint.
    if !batch.headers.is_empty() {
        let n: Vec<i64> = batch.headers.iter().map(|h| i64_of(h.number)).collect();
        let h: Vec<&[u8]> = batch.headers.iter().map(|h| h.hash.as_slice()).collect();
        let p: Vec<&[u8]> = batch
            .headers
            .iter()
            .map(|h| h.parent_hash.as_slice())
            .collect();
        let t: Vec<i64> = batch.headers.iter().map(|h| i64_of(h.timestamp)).collect();
        sqlx::query(
            "INSERT INTO blocks (chain_id, number, hash, parent_hash, timestamp)
             SELECT $1, * FROM UNNEST($2::bigint[], $3::bytea[], $4::bytea[], $5::bigint[])",
        )
        .bind(cid)
        .bind(&n)
        .bind(&h)
        .bind(&p)
        .bind(&t)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM blocks WHERE chain_id = $1 AND number < LEAST($2, $3)")
        .bind(cid)
        .bind(batch.finalized)
        .bind(i64_of(batch.to))
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM journal WHERE chain_id = $1 AND block_number <= $2")
        .bind(cid)
        .bind(batch.finalized)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE chain_state SET indexed_block = $2, indexed_hash = $3, indexed_timestamp = $5,
         head_block = GREATEST(head_block, $4), updated_at = now() WHERE chain_id = $1",
    )
    .bind(cid)
    .bind(i64_of(batch.to))
    .bind(batch.to_header.hash.as_slice())
    .bind(i64_of(batch.head))
    .bind(i64_of(batch.to_header.timestamp))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    debug!(target: "indexer::db", rows = written, "batch committed");
    Ok(batch.events.len())
}

/// Rolls the database back to `fork` (the last block both chains share): deletes event rows
/// above it, restores derived state (journal, block-stamped transitions, royalty totals) and
/// moves the checkpoint to `fork`. One transaction. Returns the number of blocks removed.
#[instrument(target = "indexer::reorg", skip(pool))]
pub async fn rollback(pool: &PgPool, chain_id: u64, fork: u64, fork_hash: B256) -> Result<u64> {
    let cid = i64_of(chain_id);
    let f = i64_of(fork);
    let mut tx = pool.begin().await?;
    let current: i64 =
        sqlx::query_scalar("SELECT indexed_block FROM chain_state WHERE chain_id = $1 FOR UPDATE")
            .bind(cid)
            .fetch_one(&mut *tx)
            .await?;
    if current <= f {
        return Ok(0);
    }
    // royalty totals: subtract the payments that are rolled back
    sqlx::query(
        "WITH d AS (DELETE FROM royalty_payments WHERE chain_id = $1 AND block_number > $2
                    RETURNING beneficiary_token_id, recipient, amount),
              s AS (SELECT beneficiary_token_id, recipient, sum(amount) AS amt, count(*) AS n FROM d GROUP BY 1, 2)
         UPDATE royalty_totals t SET total = t.total - s.amt, payments = t.payments - s.n FROM s
         WHERE t.chain_id = $1 AND t.beneficiary_token_id = s.beneficiary_token_id AND t.recipient = s.recipient",
    )
    .bind(cid)
    .bind(f)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM royalty_totals WHERE chain_id = $1 AND payments <= 0")
        .bind(cid)
        .execute(&mut *tx)
        .await?;
    // journal: for every key, the value before its earliest change above the fork
    for (entity, column) in [("owner", "owner"), ("account", "account")] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH j AS (SELECT DISTINCT ON (key) key, old_value FROM journal
                        WHERE chain_id = $1 AND block_number > $2 AND entity = $3
                        ORDER BY key, block_number, seq)
             UPDATE memories m SET {column} = j.old_value FROM j
             WHERE m.chain_id = $1 AND m.token_id = j.key::numeric"
        )))
        .bind(cid)
        .bind(f)
        .bind(entity)
        .execute(&mut *tx)
        .await?;
    }
    // listings: drop the new ones first, then reopen those closed above the fork
    sqlx::query("DELETE FROM listings WHERE chain_id = $1 AND block_number > $2")
        .bind(cid)
        .bind(f)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE listings SET status = 'open', closed_block = NULL, closed_tx_hash = NULL
         WHERE chain_id = $1 AND closed_block > $2",
    )
    .bind(cid)
    .bind(f)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM certificates WHERE chain_id = $1 AND block_number > $2")
        .bind(cid)
        .bind(f)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE certificates SET revoked = false, revoked_block = NULL, revoked_tx_hash = NULL
         WHERE chain_id = $1 AND revoked_block > $2",
    )
    .bind(cid)
    .bind(f)
    .execute(&mut *tx)
    .await?;
    // transfer counts: recounted from the transfers that stay, for the tokens that lose some
    sqlx::query(
        "UPDATE memories m SET transfer_count = (SELECT count(*) FROM transfers t
           WHERE t.chain_id = m.chain_id AND t.token_id = m.token_id AND t.block_number <= $2
             AND t.from_address <> $3)
         WHERE m.chain_id = $1
           AND m.token_id IN (SELECT token_id FROM transfers WHERE chain_id = $1 AND block_number > $2)",
    )
    .bind(cid)
    .bind(f)
    .bind(Address::ZERO.as_slice())
    .execute(&mut *tx)
    .await?;
    // every event row above the fork (the tables handled above are already empty there)
    for table in EVENT_TABLES.iter().chain(&["journal"]) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE chain_id = $1 AND block_number > $2"
        )))
        .bind(cid)
        .bind(f)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM blocks WHERE chain_id = $1 AND number > $2")
        .bind(cid)
        .bind(f)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE chain_state SET indexed_block = $2, indexed_hash = $3, updated_at = now(),
         indexed_timestamp = (SELECT timestamp FROM blocks WHERE chain_id = $1 AND number = $2)
         WHERE chain_id = $1",
    )
    .bind(cid)
    .bind(f)
    .bind(fork_hash.as_slice())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((current - f) as u64)
}
