//! Every SQL statement of the API, and the records they return (which are also the JSON the API
//! serves). Values are bound, never spliced: dynamic statements are built with
//! [`QueryBuilder`] from static fragments only.
//!
//! Rendering conventions (see docs/indexer.md, section "API"): addresses, hashes and digests are
//! `0x`-prefixed lower-case hex (done in SQL with `encode`), uint256 values (token ids, prices,
//! amounts, nonces) and uint64 values (expiries, issue times, `euclidean_ppm`) are decimal
//! strings; block numbers, log indexes, counts, uint32 ppm figures and block timestamps are JSON
//! integers, all below 2^53 (a test checks every answer of the suite for larger numbers).

use std::sync::LazyLock;

use serde::{Serialize, Serializer};
use sqlx::postgres::{PgRow, PgTypeInfo, PgValueRef};
use sqlx::{AssertSqlSafe, Decode, FromRow, PgPool, Postgres, QueryBuilder, Row, Type, ValueRef};

use super::params::Cursor;

/// A uint64 stored as `numeric(20,0)`, selected as text and served as a decimal JSON string:
/// a JSON number above 2^53 loses precision in most clients (JavaScript, `jq`), and these values
/// (expiries, `euclidean_ppm`) reach `u64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct U64(pub u64);

impl Serialize for U64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl Type<Postgres> for U64 {
    fn type_info() -> PgTypeInfo {
        <&str as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for U64 {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let s = <&str as Decode<Postgres>>::decode(value)?;
        Ok(Self(s.parse()?))
    }
}

/// Declares a record: a `Serialize` struct decodable from a row by column name
/// ([`FromRow`]) and from prefixed column names (`from_prefixed`, for the optional parts of a
/// joined row: `None` when the first column is NULL).
macro_rules! record {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        pub struct $name { $($(#[$fm])* pub $f: $t,)* }

        impl<'r> FromRow<'r, PgRow> for $name {
            fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
                Ok(Self { $($f: row.try_get(stringify!($f))?,)* })
            }
        }

        impl $name {
            #[allow(dead_code)]
            fn from_prefixed(row: &PgRow, prefix: &str) -> Result<Option<Self>, sqlx::Error> {
                let first = record!(@first $($f)*);
                if row.try_get_raw(format!("{prefix}{first}").as_str())?.is_null() {
                    return Ok(None);
                }
                Ok(Some(Self { $($f: row.try_get(format!("{prefix}{}", stringify!($f)).as_str())?,)* }))
            }
        }
    };
    (@first $f:ident $($rest:ident)*) => { stringify!($f) };
}

record! {
    /// A minted memory token with its current owner, account and tier.
    Memory {
        /// Token id (uint256, decimal).
        token_id: String,
        /// Minter-declared creator (receives the token's own royalty).
        creator: String,
        /// Current owner.
        owner: String,
        /// The token-bound (ERC-6551) account, once created.
        account: Option<String>,
        /// SHA-256 content checksum of the artifact.
        checksum: String,
        /// `w_matrix`, `kv_cache` or `other`.
        kind: String,
        /// Source model id.
        source_model: String,
        /// Target model id.
        target_model: String,
        /// Semver version of the artifact.
        version: String,
        /// Artifact URI.
        uri: String,
        /// Creator royalty in basis points.
        royalty_bps: i32,
        /// Parent token ids, in mint order.
        parents: Vec<String>,
        /// Transfers since the mint (the contract's `transferCountOf`).
        transfer_count: i64,
        /// Tier of the active certificate (`bronze` .. `platinum`), if any.
        tier: Option<String>,
        /// Block of the mint.
        block_number: i64,
        /// Log index of the MemoryMinted event.
        log_index: i32,
        /// Transaction of the mint.
        tx_hash: String,
        /// Unix time of the mint block.
        timestamp: Option<i64>,
    }
}

record! {
    /// An anchored certificate (the whole EIP-712 struct) and its state.
    Certificate {
        /// EIP-712 digest.
        digest: String,
        /// Certified token.
        token_id: String,
        /// Signer (holds the certifier role).
        certifier: String,
        /// The creator the certificate names (the token's creator).
        creator: String,
        /// Artifact checksum (equals the token's).
        checksum: String,
        /// Test set checksum.
        test_set_checksum: String,
        /// Centred relative error, ppm.
        epsilon_ppm: i64,
        /// Uncentred relative error, ppm.
        rel_error_ppm: i64,
        /// Mean row cosine similarity, ppm.
        cosine_ppm: i32,
        /// Mean row euclidean distance, ppm.
        euclidean_ppm: U64,
        /// Number of test samples.
        test_samples: i64,
        /// Level 1..=4.
        level: i16,
        /// `bronze`, `silver`, `gold` or `platinum`.
        tier: Option<String>,
        /// Issue time, unix seconds.
        issued_at: U64,
        /// Expiry, unix seconds.
        expires_at: U64,
        /// Certifier nonce (uint256, decimal).
        nonce: String,
        /// `valid`, `expired` or `revoked`.
        status: String,
        /// Block of the revocation.
        revoked_block: Option<i64>,
        /// Transaction of the revocation.
        revoked_tx_hash: Option<String>,
        /// Block of the anchoring.
        block_number: i64,
        /// Log index of CertificateAnchored.
        log_index: i32,
        /// Transaction of the anchoring.
        tx_hash: String,
        /// Unix time of the anchoring block.
        timestamp: Option<i64>,
    }
}

record! {
    /// A market listing (one Listed event) and its derived status.
    Listing {
        /// Listed token.
        token_id: String,
        /// The listing's id (what `buy` takes), decimal.
        listing_id: String,
        /// Seller.
        seller: String,
        /// Price in wei (decimal).
        price: String,
        /// Last unix time at which the listing can be bought.
        expires_at: U64,
        /// The token's transfer count at listing; any transfer since kills the listing.
        transfer_count: i64,
        /// The token-bound account's `state()` the listing commits to (decimal).
        account_state: String,
        /// `open`, `cancelled`, `sold` or `replaced`.
        status: String,
        /// Open, not expired at the latest indexed block's time, and no transfer since.
        live: bool,
        /// Block of the Listed event.
        block_number: i64,
        /// Log index of the Listed event.
        log_index: i32,
        /// Transaction of the Listed event.
        tx_hash: String,
        /// Unix time of the listing block.
        timestamp: Option<i64>,
        /// Block that closed the listing.
        closed_block: Option<i64>,
        /// Transaction that closed the listing.
        closed_tx_hash: Option<String>,
    }
}

record! {
    /// An ERC-6551 account created for one of our tokens.
    Account {
        /// Account address.
        account: String,
        /// Bound token.
        token_id: String,
        /// Account implementation.
        implementation: String,
        /// CREATE2 salt.
        salt: String,
        /// Chain id the account is bound to (decimal).
        chain_id: String,
        /// Token contract.
        token_contract: String,
        /// Whether this is the token's account (the MemoryNFT's `accountOf`).
        primary: bool,
        /// Current owner of the bound token (controls the account).
        owner: Option<String>,
        /// Block of the creation.
        block_number: i64,
        /// Log index of ERC6551AccountCreated.
        log_index: i32,
        /// Transaction of the creation.
        tx_hash: String,
        /// Unix time of the creation block.
        timestamp: Option<i64>,
    }
}

record! {
    /// An ERC-721 transfer (mint: `from` is the zero address).
    Transfer {
        /// Token.
        token_id: String,
        /// Previous owner.
        from: String,
        /// New owner.
        to: String,
        /// Block.
        block_number: i64,
        /// Log index.
        log_index: i32,
        /// Transaction.
        tx_hash: String,
        /// Unix time of the block.
        timestamp: Option<i64>,
    }
}

record! {
    /// A sale.
    Sale {
        /// Sold token.
        token_id: String,
        /// Seller.
        seller: String,
        /// Buyer.
        buyer: String,
        /// Price in wei (decimal).
        price: String,
        /// The listing bought (decimal): the token's open listing that the sale closed (the event
        /// names none); null if the indexer saw no open listing.
        listing_id: Option<String>,
        /// Block.
        block_number: i64,
        /// Log index.
        log_index: i32,
        /// Transaction.
        tx_hash: String,
        /// Unix time of the block.
        timestamp: Option<i64>,
    }
}

record! {
    /// A royalty payment of a sale.
    RoyaltyPayment {
        /// The sold token.
        sale_token_id: String,
        /// The token whose royalty share this is (the sold token itself, or an ancestor).
        beneficiary_token_id: String,
        /// Who was paid (the creator, or the ancestor's token-bound account).
        recipient: String,
        /// Amount in wei (decimal).
        amount: String,
        /// Whether the transfer failed and the amount went to the pull-payment ledger.
        credited: bool,
        /// Block.
        block_number: i64,
        /// Log index.
        log_index: i32,
        /// Transaction.
        tx_hash: String,
        /// Unix time of the block.
        timestamp: Option<i64>,
    }
}

record! {
    /// Royalty income of one (beneficiary token, recipient) pair.
    RoyaltyTotal {
        /// Beneficiary token.
        beneficiary_token_id: String,
        /// Recipient.
        recipient: String,
        /// Sum of the payments in wei (decimal).
        total: String,
        /// Number of payments.
        payments: i64,
    }
}

record! {
    /// A withdrawal from the pull-payment ledger.
    Withdrawal {
        /// Ledger account.
        account: String,
        /// Where the ETH went (the account itself, or the `withdrawTo` address).
        to: String,
        /// Amount in wei (decimal).
        amount: String,
        /// Block.
        block_number: i64,
        /// Log index.
        log_index: i32,
        /// Transaction.
        tx_hash: String,
        /// Unix time of the block.
        timestamp: Option<i64>,
    }
}

record! {
    /// An approval granted by a token-bound account (ERC-20 `Approval`, ERC-721 `Approval` or
    /// `ApprovalForAll`, from any contract).
    AccountApproval {
        /// The contract that emitted it.
        token_contract: String,
        /// The approving token-bound account.
        owner: String,
        /// `erc20`, `erc721` or `operator` (`ApprovalForAll`).
        kind: String,
        /// The spender, approved address or operator.
        spender: String,
        /// The ERC-20 allowance set (decimal); null for the other kinds.
        amount: Option<String>,
        /// The ERC-721 token approved (decimal); null for the other kinds.
        token_id: Option<String>,
        /// Whether the event grants something (allowance > 0, an approved address, an operator).
        approved: bool,
        /// Still in force as far as events tell: the latest event of its key, and it grants.
        /// An upper bound: ERC-20 `transferFrom` lowers allowances and ERC-721 transfers clear
        /// approvals without an event; read `allowance`/`getApproved` on chain before relying.
        live: bool,
        /// Block.
        block_number: i64,
        /// Log index.
        log_index: i32,
        /// Transaction.
        tx_hash: String,
        /// Unix time of the block.
        timestamp: Option<i64>,
    }
}

record! {
    /// A pull-payment ledger credit.
    LedgerEntry {
        /// Ledger account.
        account: String,
        /// Amount in wei (decimal).
        amount: String,
        /// Block.
        block_number: i64,
        /// Log index.
        log_index: i32,
        /// Transaction.
        tx_hash: String,
        /// Unix time of the block.
        timestamp: Option<i64>,
    }
}

record! {
    /// A node of a provenance walk.
    ProvenanceNode {
        /// Token id.
        token_id: String,
        /// Shortest distance from the start token (1 = direct parent or child).
        depth: i32,
        /// The node's own parents (to rebuild the edges).
        parents: Vec<String>,
    }
}

record! {
    /// The stored indexing status of the chain.
    ChainStatus {
        /// Chain id.
        chain_id: i64,
        /// MemoryNFT address.
        nft: String,
        /// MemoryMarket address.
        market: String,
        /// First indexed block.
        start_block: i64,
        /// Checkpoint: every block up to it is indexed.
        indexed_block: i64,
        /// Hash of the checkpoint block.
        indexed_hash: Option<String>,
        /// Latest chain head seen by the indexer.
        head_block: Option<i64>,
        /// When the head was seen, unix seconds.
        head_seen_at: Option<i64>,
        /// Last checkpoint update, unix seconds.
        updated_at: i64,
    }
}

record! {
    /// Totals over the indexed chain.
    Stats {
        /// Minted memories.
        memories: i64,
        /// Distinct current owners.
        owners: i64,
        /// Distinct creators.
        creators: i64,
        /// ERC-721 transfers (mints included).
        transfers: i64,
        /// Anchored certificates.
        certificates: i64,
        /// Certificates neither revoked nor expired.
        valid_certificates: i64,
        /// Revoked certificates.
        revoked_certificates: i64,
        /// ERC-6551 accounts created for our tokens.
        accounts: i64,
        /// Open listings.
        open_listings: i64,
        /// Sales.
        sales: i64,
        /// Sum of sale prices in wei (decimal).
        sales_volume: String,
        /// Royalty payments.
        royalty_payments: i64,
        /// Sum of royalty payments in wei (decimal).
        royalties_paid: String,
        /// Withdrawals from the pull-payment ledger.
        withdrawals: i64,
        /// Sum of withdrawals in wei (decimal).
        withdrawn: String,
    }
}

/// Most approvals of the token-bound account shown in a memory's detail.
pub const DETAIL_APPROVALS: i64 = 100;

/// A memory with its token-bound account, active certificate and open listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryDetail {
    /// The memory.
    pub memory: Memory,
    /// Creation record of its token-bound account, once created.
    pub account: Option<Account>,
    /// The live approvals granted by that account, newest first (at most
    /// [`DETAIL_APPROVALS`]).
    pub account_approvals: Vec<AccountApproval>,
    /// Whether the account has more live approvals than shown.
    pub account_approvals_truncated: bool,
    /// Its active certificate: the most recent one neither revoked nor expired.
    pub certificate: Option<Certificate>,
    /// Its open listing.
    pub listing: Option<Listing>,
}

/// The best certified W-Matrix of a model pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Best {
    /// The memory.
    pub memory: Memory,
    /// The certificate with the lowest epsilon.
    pub certificate: Certificate,
}

/// Position of a record in its listing, for the next page's cursor.
pub trait Keyed {
    /// The cursor pointing just past this record.
    fn cursor(&self) -> Cursor;
}

impl Keyed for Memory {
    fn cursor(&self) -> Cursor {
        Cursor::Token(self.token_id.clone())
    }
}

macro_rules! keyed_by_event {
    ($($t:ty),*) => {$(
        impl Keyed for $t {
            fn cursor(&self) -> Cursor {
                Cursor::Event(self.block_number, i64::from(self.log_index))
            }
        }
    )*};
}
keyed_by_event!(
    Certificate,
    Listing,
    Account,
    Transfer,
    Sale,
    RoyaltyPayment,
    LedgerEntry,
    Withdrawal,
    AccountApproval
);

// ------------------------------------------------------------------------------------------
// Column lists (alias `a`, output prefix `p`)
// ------------------------------------------------------------------------------------------

const NOW: &str = "extract(epoch FROM now())";

fn meta_cols(a: &str, p: &str) -> String {
    format!(
        "{a}.block_number AS {p}block_number, {a}.log_index AS {p}log_index, \
         '0x' || encode({a}.tx_hash, 'hex') AS {p}tx_hash, {a}.block_timestamp AS {p}timestamp"
    )
}

fn memory_cols(tier_level: &str) -> String {
    format!(
        "m.token_id::text AS token_id, '0x' || encode(m.creator, 'hex') AS creator, \
         '0x' || encode(m.owner, 'hex') AS owner, '0x' || encode(m.account, 'hex') AS account, \
         '0x' || encode(m.checksum, 'hex') AS checksum, \
         (ARRAY['w_matrix', 'kv_cache', 'other'])[m.kind + 1] AS kind, \
         m.source_model, m.target_model, m.version, m.uri, m.royalty_bps, \
         m.parents::text[] AS parents, m.transfer_count, \
         (ARRAY['bronze', 'silver', 'gold', 'platinum'])[{tier_level}] AS tier, {}",
        meta_cols("m", "")
    )
}

fn cert_cols(a: &str, p: &str) -> String {
    format!(
        "'0x' || encode({a}.digest, 'hex') AS {p}digest, {a}.token_id::text AS {p}token_id, \
         '0x' || encode({a}.certifier, 'hex') AS {p}certifier, \
         '0x' || encode({a}.creator, 'hex') AS {p}creator, \
         '0x' || encode({a}.checksum, 'hex') AS {p}checksum, \
         '0x' || encode({a}.test_set_checksum, 'hex') AS {p}test_set_checksum, \
         {a}.epsilon_ppm AS {p}epsilon_ppm, {a}.rel_error_ppm AS {p}rel_error_ppm, \
         {a}.cosine_ppm AS {p}cosine_ppm, {a}.euclidean_ppm::text AS {p}euclidean_ppm, \
         {a}.test_samples AS {p}test_samples, {a}.level AS {p}level, \
         (ARRAY['bronze', 'silver', 'gold', 'platinum'])[{a}.level] AS {p}tier, \
         {a}.issued_at::text AS {p}issued_at, {a}.expires_at::text AS {p}expires_at, \
         {a}.nonce::text AS {p}nonce, \
         CASE WHEN {a}.revoked THEN 'revoked' WHEN {a}.expires_at <= {NOW} THEN 'expired' ELSE 'valid' END \
           AS {p}status, \
         {a}.revoked_block AS {p}revoked_block, '0x' || encode({a}.revoked_tx_hash, 'hex') AS {p}revoked_tx_hash, {}",
        meta_cols(a, p)
    )
}

/// Whether the listing `a` is live: open, not expired at the checkpoint block's time (chain
/// state `s`, the contract's `block.timestamp <= expiresAt`), and its token (memory `m`) not
/// transferred since (the contract's transfer count check).
fn listing_live(a: &str, m: &str, s: &str) -> String {
    format!(
        "coalesce({a}.status = 'open' AND {a}.expires_at >= {s}.indexed_timestamp \
         AND {a}.transfer_count = {m}.transfer_count, false)"
    )
}

/// Listing columns; `m` is the token's memory row and `s` the chain state (LEFT JOINed).
fn listing_cols(a: &str, p: &str, m: &str, s: &str) -> String {
    format!(
        "{a}.token_id::text AS {p}token_id, {a}.listing_id::text AS {p}listing_id, \
         '0x' || encode({a}.seller, 'hex') AS {p}seller, {a}.price::text AS {p}price, \
         {a}.expires_at::text AS {p}expires_at, {a}.transfer_count AS {p}transfer_count, \
         {a}.account_state::text AS {p}account_state, {a}.status AS {p}status, {} AS {p}live, {}, \
         {a}.closed_block AS {p}closed_block, '0x' || encode({a}.closed_tx_hash, 'hex') AS {p}closed_tx_hash",
        listing_live(a, m, s),
        meta_cols(a, p)
    )
}

/// Whether the approval row `x` is live: it grants, no later row of its key exists (ERC-20 and
/// operator: token contract, owner, kind, spender; ERC-721: token contract and token id), and,
/// for a token of our own contract, whose transfers are indexed, no transfer came after it
/// (an ERC-721 transfer clears the approval without an event).
const APPROVAL_LIVE: &str = "(x.approved \
     AND NOT EXISTS (SELECT 1 FROM account_approvals y WHERE x.kind <> 'erc721' \
       AND y.chain_id = x.chain_id AND y.token_contract = x.token_contract AND y.owner = x.owner \
       AND y.spender = x.spender AND y.kind = x.kind \
       AND (y.block_number, y.log_index) > (x.block_number, x.log_index)) \
     AND NOT EXISTS (SELECT 1 FROM account_approvals y WHERE x.kind = 'erc721' \
       AND y.chain_id = x.chain_id AND y.token_contract = x.token_contract AND y.kind = 'erc721' \
       AND y.token_id = x.token_id AND (y.block_number, y.log_index) > (x.block_number, x.log_index)) \
     AND NOT EXISTS (SELECT 1 FROM transfers t JOIN chain_state s ON s.chain_id = t.chain_id \
       WHERE x.kind = 'erc721' AND s.nft_address = x.token_contract AND t.chain_id = x.chain_id \
       AND t.token_id = x.token_id AND (t.block_number, t.log_index) > (x.block_number, x.log_index)))";

/// The `live=` filter of approvals (alias `x`).
pub fn approvals_live(live: bool) -> Filter {
    static NOT_LIVE: LazyLock<String> = LazyLock::new(|| format!("NOT {APPROVAL_LIVE}"));
    Filter::Raw(if live {
        APPROVAL_LIVE
    } else {
        NOT_LIVE.as_str()
    })
}

/// The `live=` filter of listings (alias `x`, with its memory `lm` and the chain state `cs`).
pub fn listings_live(live: bool) -> Filter {
    static LIVE: LazyLock<String> = LazyLock::new(|| listing_live("x", "lm", "cs"));
    static NOT_LIVE: LazyLock<String> = LazyLock::new(|| format!("NOT {}", LIVE.as_str()));
    Filter::Raw(if live {
        LIVE.as_str()
    } else {
        NOT_LIVE.as_str()
    })
}

/// Kinds of approvals (alias `x`).
pub const APPROVAL_KINDS: [(&str, &str); 3] = [
    ("erc20", "x.kind = 'erc20'"),
    ("erc721", "x.kind = 'erc721'"),
    ("operator", "x.kind = 'operator'"),
];

/// Account columns; `m` must be the bound token's memory row (LEFT JOINed).
fn account_cols(a: &str, p: &str) -> String {
    format!(
        "'0x' || encode({a}.account, 'hex') AS {p}account, {a}.token_id::text AS {p}token_id, \
         '0x' || encode({a}.implementation, 'hex') AS {p}implementation, \
         '0x' || encode({a}.salt, 'hex') AS {p}salt, {a}.account_chain_id::text AS {p}chain_id, \
         '0x' || encode({a}.token_contract, 'hex') AS {p}token_contract, \
         coalesce({a}.account = m.account, false) AS {p}primary, \
         '0x' || encode(m.owner, 'hex') AS {p}owner, {}",
        meta_cols(a, p)
    )
}

/// The active certificate of the memory row `m`, as a LATERAL subquery.
fn active_cert(alias: &str) -> String {
    format!(
        "LEFT JOIN LATERAL (SELECT * FROM certificates c WHERE c.chain_id = m.chain_id AND c.token_id = m.token_id \
         AND NOT c.revoked AND c.expires_at > {NOW} ORDER BY c.block_number DESC, c.log_index DESC LIMIT 1) {alias} ON true"
    )
}

static MEMORY_DETAIL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {}, {}, {}, {} FROM memories m {} \
         LEFT JOIN chain_state cs ON cs.chain_id = m.chain_id \
         LEFT JOIN LATERAL (SELECT * FROM listings l WHERE l.chain_id = m.chain_id AND l.token_id = m.token_id \
           AND l.status = 'open' LIMIT 1) l ON true \
         LEFT JOIN LATERAL (SELECT * FROM accounts a WHERE a.chain_id = m.chain_id AND a.token_id = m.token_id \
           AND a.account = m.account ORDER BY a.block_number, a.log_index LIMIT 1) a ON true \
         WHERE m.chain_id = $1 AND m.token_id = $2::numeric",
        memory_cols("ac.level"),
        cert_cols("ac", "c_"),
        listing_cols("l", "l_", "m", "cs"),
        account_cols("a", "a_"),
        active_cert("ac"),
    )
});

static BEST: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {}, {} FROM certificates bc \
         JOIN memories m ON m.chain_id = bc.chain_id AND m.token_id = bc.token_id {} \
         WHERE bc.chain_id = $1 AND NOT bc.revoked AND bc.expires_at > {NOW} AND bc.level >= $4 \
           AND m.kind = 0 AND m.source_model = $2 AND m.target_model = $3 \
         ORDER BY bc.epsilon_ppm, bc.block_number, bc.log_index LIMIT 1",
        memory_cols("ac.level"),
        cert_cols("bc", "c_"),
        active_cert("ac"),
    )
});

/// One level of a provenance walk: the parents (`ancestors`) or children of `frontier` that are
/// not in `seen`, lowest ids first, at most `$4`.
const PROVENANCE_PARENTS: &str = "SELECT id::text FROM (SELECT DISTINCT p.parent_id AS id FROM memory_parents p \
     WHERE p.chain_id = $1 AND p.child_id = ANY($2::text[]::numeric[])) s \
     WHERE NOT (id = ANY($3::text[]::numeric[])) ORDER BY id LIMIT $4";
const PROVENANCE_CHILDREN: &str = "SELECT id::text FROM (SELECT DISTINCT p.child_id AS id FROM memory_parents p \
     WHERE p.chain_id = $1 AND p.parent_id = ANY($2::text[]::numeric[])) s \
     WHERE NOT (id = ANY($3::text[]::numeric[])) ORDER BY id LIMIT $4";
/// The parents of the walked nodes.
const PARENTS_OF: &str = "SELECT token_id::text AS token_id, parents::text[] AS parents FROM memories \
     WHERE chain_id = $1 AND token_id = ANY($2::text[]::numeric[])";

const STATUS: &str = "SELECT chain_id, '0x' || encode(nft_address, 'hex') AS nft, \
     '0x' || encode(market_address, 'hex') AS market, start_block, indexed_block, \
     '0x' || encode(indexed_hash, 'hex') AS indexed_hash, head_block, \
     extract(epoch FROM head_seen_at)::bigint AS head_seen_at, extract(epoch FROM updated_at)::bigint AS updated_at \
     FROM chain_state WHERE chain_id = $1";

const STATS: &str = "SELECT \
     (SELECT count(*) FROM memories WHERE chain_id = $1) AS memories, \
     (SELECT count(DISTINCT owner) FROM memories WHERE chain_id = $1) AS owners, \
     (SELECT count(DISTINCT creator) FROM memories WHERE chain_id = $1) AS creators, \
     (SELECT count(*) FROM transfers WHERE chain_id = $1) AS transfers, \
     (SELECT count(*) FROM certificates WHERE chain_id = $1) AS certificates, \
     (SELECT count(*) FROM certificates WHERE chain_id = $1 AND NOT revoked \
        AND expires_at > extract(epoch FROM now())) AS valid_certificates, \
     (SELECT count(*) FROM certificates WHERE chain_id = $1 AND revoked) AS revoked_certificates, \
     (SELECT count(*) FROM accounts WHERE chain_id = $1) AS accounts, \
     (SELECT count(*) FROM listings WHERE chain_id = $1 AND status = 'open') AS open_listings, \
     (SELECT count(*) FROM sales WHERE chain_id = $1) AS sales, \
     (SELECT coalesce(sum(price), 0)::text FROM sales WHERE chain_id = $1) AS sales_volume, \
     (SELECT count(*) FROM royalty_payments WHERE chain_id = $1) AS royalty_payments, \
     (SELECT coalesce(sum(amount), 0)::text FROM royalty_payments WHERE chain_id = $1) AS royalties_paid, \
     (SELECT count(*) FROM withdrawals WHERE chain_id = $1) AS withdrawals, \
     (SELECT coalesce(sum(amount), 0)::text FROM withdrawals WHERE chain_id = $1) AS withdrawn";

const MEMORY_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM memories WHERE chain_id = $1 AND token_id = $2::numeric)";

// ------------------------------------------------------------------------------------------
// Dynamic list statements
// ------------------------------------------------------------------------------------------

/// One filter of a list statement: `<column> <op> <bound value>` or a static condition.
#[derive(Debug, Clone)]
pub enum Filter {
    /// `column = $n` on a `bytea` column (addresses, digests).
    Bytes(&'static str, Vec<u8>),
    /// `column = $n::numeric` on a uint256 column, value in decimal.
    Numeric(&'static str, String),
    /// `column = $n` on a `smallint` column.
    Eq16(&'static str, i16),
    /// `column >= $n` on a `smallint` column.
    Ge16(&'static str, i16),
    /// `column = $n` on a `text` column.
    Text(&'static str, String),
    /// A static condition.
    Raw(&'static str),
}

impl Filter {
    fn push(self, q: &mut QueryBuilder<Postgres>) {
        q.push(" AND ");
        match self {
            Self::Bytes(c, v) => q.push(c).push(" = ").push_bind(v),
            Self::Numeric(c, v) => q.push(c).push(" = ").push_bind(v).push("::numeric"),
            Self::Eq16(c, v) => q.push(c).push(" = ").push_bind(v),
            Self::Ge16(c, v) => q.push(c).push(" >= ").push_bind(v),
            Self::Text(c, v) => q.push(c).push(" = ").push_bind(v),
            Self::Raw(cond) => q.push(cond),
        };
    }
}

/// Status conditions of certificates (alias `x`).
pub const CERT_STATUS: [(&str, &str); 3] = [
    (
        "valid",
        "NOT x.revoked AND x.expires_at > extract(epoch FROM now())",
    ),
    (
        "expired",
        "NOT x.revoked AND x.expires_at <= extract(epoch FROM now())",
    ),
    ("revoked", "x.revoked"),
];

/// Status conditions of listings (alias `x`).
pub const LISTING_STATUS: [(&str, &str); 4] = [
    ("open", "x.status = 'open'"),
    ("cancelled", "x.status = 'cancelled'"),
    ("sold", "x.status = 'sold'"),
    ("replaced", "x.status = 'replaced'"),
];

/// An event list: `SELECT <cols> FROM <from> WHERE x.chain_id = $1 AND <filters>`, newest
/// first, keyset-paginated on `(block_number, log_index)` of alias `x`.
#[derive(Debug, Clone, Copy)]
pub enum EventList {
    /// Certificates.
    Certificates,
    /// Listings.
    Listings,
    /// ERC-6551 accounts.
    Accounts,
    /// Transfers.
    Transfers,
    /// Sales.
    Sales,
    /// Royalty payments.
    Royalties,
    /// Pull-payment credits.
    Credits,
    /// Pull-payment withdrawals.
    Withdrawals,
    /// Approvals granted by token-bound accounts.
    Approvals,
}

static SELECTS: LazyLock<[String; 9]> = LazyLock::new(|| {
    let meta = meta_cols("x", "");
    [
        format!("SELECT {} FROM certificates x", cert_cols("x", "")),
        format!(
            "SELECT {} FROM listings x \
             LEFT JOIN memories lm ON lm.chain_id = x.chain_id AND lm.token_id = x.token_id \
             LEFT JOIN chain_state cs ON cs.chain_id = x.chain_id",
            listing_cols("x", "", "lm", "cs")
        ),
        format!(
            "SELECT {} FROM accounts x LEFT JOIN memories m ON m.chain_id = x.chain_id AND m.token_id = x.token_id",
            account_cols("x", "")
        ),
        format!(
            "SELECT x.token_id::text AS token_id, '0x' || encode(x.from_address, 'hex') AS \"from\", \
             '0x' || encode(x.to_address, 'hex') AS \"to\", {meta} FROM transfers x"
        ),
        format!(
            "SELECT x.token_id::text AS token_id, '0x' || encode(x.seller, 'hex') AS seller, \
             '0x' || encode(x.buyer, 'hex') AS buyer, x.price::text AS price, \
             x.listing_id::text AS listing_id, {meta} FROM sales x"
        ),
        format!(
            "SELECT x.sale_token_id::text AS sale_token_id, x.beneficiary_token_id::text AS beneficiary_token_id, \
             '0x' || encode(x.recipient, 'hex') AS recipient, x.amount::text AS amount, x.credited, {meta} \
             FROM royalty_payments x"
        ),
        format!(
            "SELECT '0x' || encode(x.account, 'hex') AS account, x.amount::text AS amount, {meta} FROM credits x"
        ),
        format!(
            "SELECT '0x' || encode(x.account, 'hex') AS account, '0x' || encode(x.to_address, 'hex') AS \"to\", \
             x.amount::text AS amount, {meta} FROM withdrawals x"
        ),
        format!(
            "SELECT '0x' || encode(x.token_contract, 'hex') AS token_contract, \
             '0x' || encode(x.owner, 'hex') AS owner, x.kind, '0x' || encode(x.spender, 'hex') AS spender, \
             x.amount::text AS amount, x.token_id::text AS token_id, x.approved, {APPROVAL_LIVE} AS live, \
             {meta} FROM account_approvals x"
        ),
    ]
});

impl EventList {
    /// The cursor scope of the listing.
    pub fn scope(self) -> &'static str {
        match self {
            Self::Certificates => "certificates",
            Self::Listings => "listings",
            Self::Accounts => "accounts",
            Self::Transfers => "transfers",
            Self::Sales => "sales",
            Self::Royalties => "royalties",
            Self::Credits => "credits",
            Self::Withdrawals => "withdrawals",
            Self::Approvals => "approvals",
        }
    }

    fn select(self) -> &'static str {
        let i = self as usize;
        SELECTS.get(i).map_or("", String::as_str)
    }
}

/// One page of an event list: at most `limit + 1` rows (the extra row tells that there is a
/// next page), newest first, strictly before `before` when given.
pub async fn events<T>(
    pool: &PgPool,
    list: EventList,
    chain_id: i64,
    filters: Vec<Filter>,
    before: Option<(i64, i64)>,
    limit: i64,
) -> sqlx::Result<Vec<T>>
where
    T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let mut q = QueryBuilder::<Postgres>::new(list.select());
    q.push(" WHERE x.chain_id = ").push_bind(chain_id);
    for f in filters {
        f.push(&mut q);
    }
    if let Some((b, l)) = before {
        q.push(" AND (x.block_number, x.log_index) < (")
            .push_bind(b)
            .push(", ")
            .push_bind(l)
            .push(")");
    }
    q.push(" ORDER BY x.block_number DESC, x.log_index DESC LIMIT ")
        .push_bind(limit + 1);
    q.build_query_as::<T>().fetch_all(pool).await
}

/// One page of memories in token id order: at most `limit + 1` rows after `after`. Filters use
/// alias `m` (memory) and `ac` (its active certificate).
pub async fn memories(
    pool: &PgPool,
    chain_id: i64,
    filters: Vec<Filter>,
    after: Option<String>,
    limit: i64,
) -> sqlx::Result<Vec<Memory>> {
    static SELECT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {} FROM memories m {}",
            memory_cols("ac.level"),
            active_cert("ac")
        )
    });
    let mut q = QueryBuilder::<Postgres>::new(SELECT.as_str());
    q.push(" WHERE m.chain_id = ").push_bind(chain_id);
    for f in filters {
        f.push(&mut q);
    }
    if let Some(id) = after {
        q.push(" AND m.token_id > ").push_bind(id).push("::numeric");
    }
    q.push(" ORDER BY m.token_id LIMIT ").push_bind(limit + 1);
    q.build_query_as::<Memory>().fetch_all(pool).await
}

// ------------------------------------------------------------------------------------------
// Static statements
// ------------------------------------------------------------------------------------------

/// One memory with its account, active certificate and open listing (one statement).
pub async fn memory_detail(
    pool: &PgPool,
    chain_id: i64,
    token_id: &str,
) -> sqlx::Result<Option<MemoryDetail>> {
    let row = sqlx::query(AssertSqlSafe(MEMORY_DETAIL.as_str()))
        .bind(chain_id)
        .bind(token_id)
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let memory = Memory::from_row(&row)?;
    let mut account_approvals = Vec::new();
    if let Some(account) = memory.account.as_deref() {
        let owner = account
            .strip_prefix("0x")
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| sqlx::Error::Decode(format!("account {account}").into()))?;
        account_approvals = events(
            pool,
            EventList::Approvals,
            chain_id,
            vec![Filter::Bytes("x.owner", owner), Filter::Raw(APPROVAL_LIVE)],
            None,
            DETAIL_APPROVALS,
        )
        .await?;
    }
    let cap = usize::try_from(DETAIL_APPROVALS).unwrap_or(usize::MAX);
    let account_approvals_truncated = account_approvals.len() > cap;
    account_approvals.truncate(cap);
    Ok(Some(MemoryDetail {
        account: Account::from_prefixed(&row, "a_")?,
        account_approvals,
        account_approvals_truncated,
        certificate: Certificate::from_prefixed(&row, "c_")?,
        listing: Listing::from_prefixed(&row, "l_")?,
        memory,
    }))
}

/// Whether the memory exists.
pub async fn memory_exists(pool: &PgPool, chain_id: i64, token_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(MEMORY_EXISTS)
        .bind(chain_id)
        .bind(token_id)
        .fetch_one(pool)
        .await
}

/// Ancestors (`true`) or descendants (`false`) of a token within `max_depth` edges, shortest
/// depth first (then token id), at most `limit` nodes.
///
/// A breadth-first walk, one statement per level, that stops as soon as `limit` nodes are
/// found: the work is bounded by `limit` and `max_depth` whatever the shape of the graph
/// (a recursive CTE would enumerate every (node, depth) pair before the limit applies).
pub async fn provenance_walk(
    pool: &PgPool,
    chain_id: i64,
    token_id: &str,
    ancestors: bool,
    max_depth: i32,
    limit: i64,
) -> sqlx::Result<Vec<ProvenanceNode>> {
    let sql = if ancestors {
        PROVENANCE_PARENTS
    } else {
        PROVENANCE_CHILDREN
    };
    let mut seen: Vec<String> = vec![token_id.to_owned()];
    let mut nodes: Vec<(String, i32)> = Vec::new();
    let mut frontier: Vec<String> = seen.clone();
    let mut depth = 0;
    while depth < max_depth && !frontier.is_empty() && (nodes.len() as i64) < limit {
        depth += 1;
        let level: Vec<String> = sqlx::query_scalar(sql)
            .bind(chain_id)
            .bind(&frontier)
            .bind(&seen)
            .bind(limit - nodes.len() as i64)
            .fetch_all(pool)
            .await?;
        seen.extend(level.iter().cloned());
        nodes.extend(level.iter().map(|id| (id.clone(), depth)));
        frontier = level;
    }
    let ids: Vec<&str> = nodes.iter().map(|(id, _)| id.as_str()).collect();
    let parents: std::collections::HashMap<String, Vec<String>> = sqlx::query_as(PARENTS_OF)
        .bind(chain_id)
        .bind(&ids)
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();
    Ok(nodes
        .into_iter()
        .map(|(token_id, depth)| {
            let parents = parents.get(&token_id).cloned().unwrap_or_default();
            ProvenanceNode {
                token_id,
                depth,
                parents,
            }
        })
        .collect())
}

/// The W-Matrix of the model pair with the lowest epsilon among valid certificates of at least
/// `min_level`.
pub async fn best(
    pool: &PgPool,
    chain_id: i64,
    source_model: &str,
    target_model: &str,
    min_level: i16,
) -> sqlx::Result<Option<Best>> {
    let row = sqlx::query(AssertSqlSafe(BEST.as_str()))
        .bind(chain_id)
        .bind(source_model)
        .bind(target_model)
        .bind(min_level)
        .fetch_optional(pool)
        .await?;
    row.map(|row| {
        let certificate = Certificate::from_prefixed(&row, "c_")?
            .ok_or_else(|| sqlx::Error::Decode("best: certificate columns missing".into()))?;
        Ok(Best {
            memory: Memory::from_row(&row)?,
            certificate,
        })
    })
    .transpose()
}

/// One certificate by digest.
pub async fn certificate(
    pool: &PgPool,
    chain_id: i64,
    digest: &[u8],
) -> sqlx::Result<Option<Certificate>> {
    let mut rows: Vec<Certificate> = events(
        pool,
        EventList::Certificates,
        chain_id,
        vec![Filter::Bytes("x.digest", digest.to_vec())],
        None,
        1,
    )
    .await?;
    Ok(if rows.is_empty() {
        None
    } else {
        Some(rows.swap_remove(0))
    })
}

/// The earliest ERC-6551 account record created at `account` (empty when none): the registry
/// emits a creation again when asked to create an existing account, and the first one is the
/// account's creation.
pub async fn accounts_at(
    pool: &PgPool,
    chain_id: i64,
    account: &[u8],
) -> sqlx::Result<Vec<Account>> {
    static SELECT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{} WHERE x.chain_id = $1 AND x.account = $2 \
             ORDER BY x.block_number, x.log_index LIMIT 1",
            EventList::Accounts.select()
        )
    });
    sqlx::query_as(AssertSqlSafe(SELECT.as_str()))
        .bind(chain_id)
        .bind(account)
        .fetch_all(pool)
        .await
}

/// The sums over every (beneficiary token, recipient) pair matching the filters, however many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoyaltySums {
    /// Sum of the pairs' totals in wei (exact: `numeric`, rendered as text).
    pub total: String,
    /// Sum of the pairs' payment counts.
    pub payments: i64,
    /// Number of pairs.
    pub pairs: i64,
}

/// Royalty totals per (beneficiary token, recipient) matching the filters (alias `x`), largest
/// first, at most `limit`, and the sums over **every** matching pair. One statement (so one
/// snapshot): the sums are window aggregates, evaluated over all the matching rows before the
/// `LIMIT` applies.
pub async fn royalty_totals(
    pool: &PgPool,
    chain_id: i64,
    filters: Vec<Filter>,
    limit: i64,
) -> sqlx::Result<(RoyaltySums, Vec<RoyaltyTotal>)> {
    let mut q = QueryBuilder::<Postgres>::new(
        "SELECT x.beneficiary_token_id::text AS beneficiary_token_id, '0x' || encode(x.recipient, 'hex') AS recipient, \
         x.total::text AS total, x.payments, (sum(x.total) OVER ())::text AS all_total, \
         (sum(x.payments) OVER ())::bigint AS all_payments, count(*) OVER () AS all_pairs \
         FROM royalty_totals x",
    );
    q.push(" WHERE x.chain_id = ").push_bind(chain_id);
    for f in filters {
        f.push(&mut q);
    }
    q.push(" ORDER BY x.total DESC, x.beneficiary_token_id, x.recipient LIMIT ")
        .push_bind(limit);
    let rows = q.build().fetch_all(pool).await?;
    let sums = match rows.first() {
        Some(r) => RoyaltySums {
            total: r.try_get("all_total")?,
            payments: r.try_get("all_payments")?,
            pairs: r.try_get("all_pairs")?,
        },
        None => RoyaltySums {
            total: "0".to_owned(),
            payments: 0,
            pairs: 0,
        },
    };
    let items = rows
        .iter()
        .map(RoyaltyTotal::from_row)
        .collect::<sqlx::Result<_>>()?;
    Ok((sums, items))
}

/// The stored indexing status of the chain, if the indexer has initialised it.
pub async fn status(pool: &PgPool, chain_id: i64) -> sqlx::Result<Option<ChainStatus>> {
    sqlx::query_as(STATUS)
        .bind(chain_id)
        .fetch_optional(pool)
        .await
}

/// Totals over the chain.
pub async fn stats(pool: &PgPool, chain_id: i64) -> sqlx::Result<Stats> {
    sqlx::query_as(STATS).bind(chain_id).fetch_one(pool).await
}
