//! Batch writes, rollbacks and exactly-once guards on synthetic batches (real PostgreSQL).

use alloy::primitives::{Address, B256, U256, address};
use memory_indexer::Error;
use memory_indexer::db::{self, Batch};
use memory_indexer::events::{Approval, Certificate, Event, Grant};

use crate::fixtures::{batch_of, hash, header, meta};
use sqlx::PgPool;

const ALICE: Address = address!("00000000000000000000000000000000000a11ce");
const BOB: Address = address!("0000000000000000000000000000000000000b0b");
const CAROL: Address = address!("00000000000000000000000000000000000ca201");
const IMPL: Address = address!("0000000000000000000000000000000000001111");
const NFT: Address = address!("0000000000000000000000000000000000002222");
const MARKET: Address = address!("0000000000000000000000000000000000003333");
const ACC1: Address = address!("00000000000000000000000000000000000acc01");
const ERC20: Address = address!("00000000000000000000000000000000000e2c20");

fn approval(token: Address, grant: Grant) -> Event {
    Event::Approval(Approval {
        token,
        owner: ACC1,
        grant,
    })
}

fn listed(id: u64, listing: u64, seller: Address, price: u64, transfers: u32) -> Event {
    Event::Listed {
        token_id: U256::from(id),
        listing_id: U256::from(listing),
        seller,
        price: U256::from(price),
        expires_at: 1_700_000_000 + 100 * listing,
        transfer_count: transfers,
        account_state: U256::from(listing % 3),
    }
}

fn mint(id: u64, to: Address, parents: &[u64]) -> Vec<Event> {
    vec![
        Event::Transfer {
            from: Address::ZERO,
            to,
            token_id: U256::from(id),
        },
        Event::Minted {
            token_id: U256::from(id),
            creator: to,
            checksum: hash(5000 + id),
            kind: 0,
            source_model: "model-a\twith tab".into(),
            target_model: "model-b".into(),
            version: "1.0.0".into(),
            uri: String::new(),
            royalty_bps: 250,
            parents: parents.iter().map(|&p| U256::from(p)).collect(),
        },
    ]
}

fn account(id: u64, account: Address, salt: B256) -> Event {
    Event::AccountCreated {
        account,
        implementation: IMPL,
        salt,
        chain_id: U256::from(CHAIN_ID_OF_ACCOUNTS),
        token_contract: NFT,
        token_id: U256::from(id),
    }
}

/// Accounts are bound to this chain id (both test chains index "the same" chain's events).
const CHAIN_ID_OF_ACCOUNTS: u64 = 7;

fn cert(id: u64, digest: u64) -> Event {
    Event::CertificateAnchored {
        token_id: U256::from(id),
        digest: hash(digest),
        certifier: CAROL,
        cert: Box::new(Certificate {
            checksum: hash(5000 + id),
            creator: ALICE,
            certifier: CAROL,
            test_set_checksum: hash(6000),
            epsilon_ppm: 12_345,
            rel_error_ppm: 2_000,
            cosine_ppm: -5,
            euclidean_ppm: u64::MAX,
            test_samples: 64,
            level: 3,
            issued_at: 1,
            expires_at: u64::MAX,
            nonce: U256::MAX,
        }),
    }
}

/// The events of the test chain, per block.
fn block_events(block: u64) -> Vec<Event> {
    match block {
        1 => {
            let mut v = mint(1, ALICE, &[]);
            v.push(account(1, ACC1, B256::ZERO));
            v.extend(mint(2, ALICE, &[1]));
            v.push(Event::CertifierSet {
                certifier: CAROL,
                allowed: true,
            });
            v
        }
        2 => vec![
            cert(2, 77),
            listed(2, 1, ALICE, 1000, 0),
            Event::Transfer {
                from: ALICE,
                to: BOB,
                token_id: U256::from(1),
            },
            approval(
                ERC20,
                Grant::Erc20 {
                    spender: BOB,
                    amount: U256::from(100),
                },
            ),
            approval(
                NFT,
                Grant::Erc721 {
                    approved: CAROL,
                    token_id: U256::from(2),
                },
            ),
        ],
        3 => vec![
            // account for token 2 (a second one, with another salt, is ignored)
            account(
                2,
                address!("00000000000000000000000000000000000acc02"),
                B256::ZERO,
            ),
            account(
                2,
                address!("00000000000000000000000000000000000acc99"),
                hash(1),
            ),
            Event::Sold {
                token_id: U256::from(2),
                seller: ALICE,
                buyer: BOB,
                price: U256::from(1000),
            },
            Event::RoyaltyPaid {
                sale_token_id: U256::from(2),
                beneficiary_token_id: U256::from(2),
                recipient: ALICE,
                amount: U256::from(25),
                credited: false,
            },
            Event::RoyaltyPaid {
                sale_token_id: U256::from(2),
                beneficiary_token_id: U256::from(1),
                recipient: address!("00000000000000000000000000000000000acc01"),
                amount: U256::from(10),
                credited: true,
            },
            Event::Credited {
                account: address!("00000000000000000000000000000000000acc01"),
                amount: U256::from(10),
            },
            Event::Transfer {
                from: ALICE,
                to: BOB,
                token_id: U256::from(2),
            },
            Event::CertificateRevoked {
                token_id: U256::from(2),
                digest: hash(77),
                certifier: CAROL,
            },
            approval(
                NFT,
                Grant::Operator {
                    operator: CAROL,
                    approved: true,
                },
            ),
        ],
        4 => vec![
            Event::Transfer {
                from: BOB,
                to: CAROL,
                token_id: U256::from(1),
            },
            listed(1, 2, CAROL, 5, 2),
            Event::Withdrawn {
                account: ACC1,
                to: CAROL,
                amount: U256::from(10),
            },
            cert(1, 78),
            approval(
                ERC20,
                Grant::Erc20 {
                    spender: BOB,
                    amount: U256::ZERO,
                },
            ),
        ],
        5 => {
            let mut v = vec![
                listed(1, 3, CAROL, 6, 2),
                Event::ListingCancelled {
                    token_id: U256::from(1),
                    listing_id: U256::from(3),
                    holder: CAROL,
                },
                Event::Transfer {
                    from: CAROL,
                    to: ALICE,
                    token_id: U256::from(1),
                },
                Event::CertificateRevoked {
                    token_id: U256::from(1),
                    digest: hash(78),
                    certifier: CAROL,
                },
                Event::RoyaltyPaid {
                    sale_token_id: U256::from(2),
                    beneficiary_token_id: U256::from(2),
                    recipient: ALICE,
                    amount: U256::from(5),
                    credited: false,
                },
                approval(
                    NFT,
                    Grant::Operator {
                        operator: CAROL,
                        approved: false,
                    },
                ),
            ];
            v.extend(mint(3, BOB, &[1, 2]));
            v
        }
        _ => vec![],
    }
}

fn batch(from: u64, to: u64, finalized: i64) -> Batch {
    let mut events = Vec::new();
    for b in from..=to {
        for (i, e) in block_events(b).into_iter().enumerate() {
            events.push((meta(b, i as u64), e));
        }
    }
    Batch {
        from,
        to,
        to_header: header(to),
        events,
        headers: (from..=to).map(header).collect(),
        finalized,
        head: to,
    }
}

/// Every table with rows of a chain: the event tables, the derived ones, the window.
fn tables() -> Vec<&'static str> {
    let mut t = db::EVENT_TABLES.to_vec();
    t.extend(["royalty_totals", "blocks", "journal"]);
    t
}

/// Every row of `chain_id` as sorted JSON text (without chain id and journal sequence).
async fn dump(pool: &PgPool, chain_id: i64, with_journal: bool) -> Vec<String> {
    let mut out = Vec::new();
    for t in tables() {
        if t == "journal" && !with_journal {
            continue;
        }
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT '{t} ' || (to_jsonb(x) - 'chain_id' - 'seq')::text AS j FROM {t} x WHERE chain_id = $1 ORDER BY j"
        )))
        .bind(chain_id)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("dump {t}: {e}"));
        out.extend(rows);
    }
    let cp: String = sqlx::query_scalar(
        "SELECT indexed_block::text || ' ' || coalesce(encode(indexed_hash, 'hex'), '-') || ' '
                || coalesce(indexed_timestamp::text, '-')
         FROM chain_state WHERE chain_id = $1",
    )
    .bind(chain_id)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("checkpoint: {e}"));
    out.push(cp);
    out
}

async fn write(pool: &PgPool, chain: u64, b: &Batch) -> Result<usize, Error> {
    db::write_batch(pool, chain, Some(IMPL), b).await
}

async fn init(pool: &PgPool, chain: u64) -> Result<(), Error> {
    db::init_chain(pool, chain, NFT, MARKET, 1).await?;
    Ok(())
}

/// The state of chain 7 after indexing blocks `1..=upto` in one batch (computed on a scratch
/// copy of chain 7 that is removed again; accounts in the events are bound to chain id 7).
async fn reference(pool: &PgPool, upto: u64) -> Vec<String> {
    reset(pool, 7).await;
    init(pool, 7).await.unwrap_or_else(|e| panic!("init: {e}"));
    if upto >= 1 {
        write(pool, 7, &batch(1, upto, -1))
            .await
            .unwrap_or_else(|e| panic!("reference batch: {e}"));
    }
    let d = dump(pool, 7, false).await;
    reset(pool, 7).await;
    d
}

async fn reset(pool: &PgPool, chain_id: i64) {
    for t in tables().iter().chain(&["chain_state"]) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {t} WHERE chain_id = $1"
        )))
        .bind(chain_id)
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("reset {t}: {e}"));
    }
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn derived_state_after_a_scenario(pool: PgPool) -> Result<(), Error> {
    init(&pool, 7).await?;
    let n = write(&pool, 7, &batch(1, 5, -1)).await?;
    assert_eq!(n, (1..=5).map(|b| block_events(b).len()).sum::<usize>());
    let owners: Vec<(String, Vec<u8>, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT token_id::text, owner, account FROM memories WHERE chain_id = 7 ORDER BY token_id",
    )
    .fetch_all(&pool)
    .await?;
    let expect = [
        (
            "1",
            ALICE,
            Some(address!("00000000000000000000000000000000000acc01")),
        ),
        (
            "2",
            BOB,
            Some(address!("00000000000000000000000000000000000acc02")),
        ),
        ("3", BOB, None),
    ];
    assert_eq!(owners.len(), 3);
    for ((id, owner, acct), (eid, eowner, eacct)) in owners.iter().zip(expect) {
        assert_eq!(id, eid);
        assert_eq!(owner.as_slice(), eowner.as_slice());
        assert_eq!(acct.as_deref(), eacct.as_ref().map(|a| a.as_slice()));
    }
    let listings: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT token_id::text, price::text, status FROM listings WHERE chain_id = 7 ORDER BY block_number, log_index",
    )
    .fetch_all(&pool)
    .await?;
    let listings: Vec<(&str, &str, &str)> = listings
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        listings,
        [
            ("2", "1000", "sold"),
            ("1", "5", "replaced"),
            ("1", "6", "cancelled")
        ]
    );
    let revoked: Vec<bool> = sqlx::query_scalar(
        "SELECT revoked FROM certificates WHERE chain_id = 7 ORDER BY block_number",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(revoked, [true, true]);
    let totals: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT beneficiary_token_id::text, total::text, payments FROM royalty_totals WHERE chain_id = 7 ORDER BY 1",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        totals,
        [("1".into(), "10".into(), 1), ("2".into(), "30".into(), 2)]
    );
    // transfer counts: token 1 moved in blocks 2, 4 and 5, token 2 in block 3 (the sale)
    let counts: Vec<i64> = sqlx::query_scalar(
        "SELECT transfer_count FROM memories WHERE chain_id = 7 ORDER BY token_id",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(counts, [3, 1, 0]);
    let terms: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT listing_id::text, expires_at::text, transfer_count FROM listings WHERE chain_id = 7
         ORDER BY block_number, log_index",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        terms,
        [
            ("1".into(), "1700000100".into(), 0),
            ("2".into(), "1700000200".into(), 2),
            ("3".into(), "1700000300".into(), 2)
        ]
    );
    // the sale names no listing: it is the open one it closed (the rollback test covers it
    // coming from the same batch and from the database)
    let sold: Option<String> =
        sqlx::query_scalar("SELECT listing_id::text FROM sales WHERE chain_id = 7")
            .fetch_one(&pool)
            .await?;
    assert_eq!(sold.as_deref(), Some("1"));
    let to: Vec<u8> = sqlx::query_scalar("SELECT to_address FROM withdrawals WHERE chain_id = 7")
        .fetch_one(&pool)
        .await?;
    assert_eq!(to, CAROL.as_slice());
    let approvals: Vec<(String, Option<String>, Option<String>, bool)> = sqlx::query_as(
        "SELECT kind, amount::text, token_id::text, approved FROM account_approvals WHERE chain_id = 7
         ORDER BY block_number, log_index",
    )
    .fetch_all(&pool)
    .await?;
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        approvals,
        [
            ("erc20".into(), s("100"), None, true),
            ("erc721".into(), None, s("2"), true),
            ("operator".into(), None, None, true),
            ("erc20".into(), s("0"), None, false),
            ("operator".into(), None, None, false)
        ]
    );
    let model: String = sqlx::query_scalar("SELECT source_model FROM memories WHERE token_id = 1")
        .fetch_one(&pool)
        .await?;
    assert_eq!(model, "model-a\twith tab");
    let parents: Vec<String> = sqlx::query_scalar(
        "SELECT parent_id::text FROM memory_parents WHERE child_id = 3 ORDER BY position",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(parents, ["1", "2"]);
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn rollback_restores_the_state_of_the_fork_block(pool: PgPool) -> Result<(), Error> {
    // every split of 1..=5 into batches, rolled back to every fork point, must equal the state
    // of indexing only up to the fork point
    let splits: [&[(u64, u64)]; 3] = [
        &[(1, 5)],
        &[(1, 1), (2, 3), (4, 5)],
        &[(1, 2), (3, 3), (4, 4), (5, 5)],
    ];
    for fork in 0..5u64 {
        let want = reference(&pool, fork).await;
        for split in splits {
            init(&pool, 7).await?;
            for &(from, to) in split {
                write(&pool, 7, &batch(from, to, -1)).await?;
            }
            let fork_hash = if fork == 0 {
                B256::ZERO
            } else {
                header(fork).hash
            };
            let removed = db::rollback(&pool, 7, fork, fork_hash).await?;
            assert_eq!(removed, 5 - fork);
            let mut got = dump(&pool, 7, false).await;
            let mut want = want.clone();
            if fork == 0 {
                // the reference never wrote a checkpoint hash
                got.pop();
                want.pop();
            }
            assert_eq!(got, want, "fork {fork}, split {split:?}");
            let journal: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM journal WHERE chain_id = 7 AND block_number > $1",
            )
            .bind(fork as i64)
            .fetch_one(&pool)
            .await?;
            assert_eq!(journal, 0);
            // and indexing the rest again gives the full state
            if fork >= 1 {
                write(&pool, 7, &batch(fork + 1, 5, -1)).await?;
                let full = dump(&pool, 7, false).await;
                reset(&pool, 7).await;
                assert_eq!(
                    full,
                    reference(&pool, 5).await,
                    "re-index after fork {fork}, split {split:?}"
                );
            }
            reset(&pool, 7).await;
        }
    }
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn a_batch_applies_exactly_once(pool: PgPool) -> Result<(), Error> {
    init(&pool, 7).await?;
    let b = batch(1, 2, -1);
    write(&pool, 7, &b).await?;
    let before = dump(&pool, 7, true).await;
    // the same batch again, and a batch that skips a block: refused, nothing written
    assert!(matches!(write(&pool, 7, &b).await, Err(Error::Pipeline(_))));
    assert!(matches!(
        write(&pool, 7, &batch(4, 4, -1)).await,
        Err(Error::Pipeline(_))
    ));
    assert_eq!(dump(&pool, 7, true).await, before);
    // the database itself refuses a duplicate event row
    let dup = sqlx::query(
        "INSERT INTO transfers (chain_id, block_number, log_index, tx_hash, token_id, from_address, to_address)
         SELECT chain_id, block_number, log_index, tx_hash, token_id, from_address, to_address FROM transfers LIMIT 1",
    )
    .execute(&pool)
    .await;
    assert!(dup.is_err());
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn an_account_created_before_the_mint_is_linked_at_the_mint(
    pool: PgPool,
) -> Result<(), Error> {
    // ERC-6551 addresses are counterfactual: anyone can create token 1's account (and accounts
    // with other salts) before token 1 exists.
    init(&pool, 7).await?;
    let other_salt = address!("00000000000000000000000000000000000000a1");
    let canonical = address!("00000000000000000000000000000000000000a2");
    write(
        &pool,
        7,
        &batch_of(
            1,
            vec![
                account(1, other_salt, hash(1)),
                account(1, canonical, B256::ZERO),
            ],
        ),
    )
    .await?;
    write(&pool, 7, &batch_of(2, mint(1, ALICE, &[]))).await?;
    let linked: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT account FROM memories WHERE chain_id = 7 AND token_id = 1")
            .fetch_one(&pool)
            .await?;
    assert_eq!(linked.as_deref(), Some(canonical.as_slice()));
    // rolling back the mint leaves the account row and no memory; re-minting links again
    db::rollback(&pool, 7, 1, header(1).hash).await?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM memories WHERE chain_id = 7")
        .fetch_one(&pool)
        .await?;
    assert_eq!(rows, 0);
    write(&pool, 7, &batch_of(2, mint(1, ALICE, &[]))).await?;
    let linked: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT account FROM memories WHERE chain_id = 7 AND token_id = 1")
            .fetch_one(&pool)
            .await?;
    assert_eq!(linked.as_deref(), Some(canonical.as_slice()));
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn journal_and_window_are_pruned_below_finality(pool: PgPool) -> Result<(), Error> {
    init(&pool, 7).await?;
    // blocks 1..=3 final, 4..=5 not
    write(&pool, 7, &batch(1, 3, 3)).await?;
    write(&pool, 7, &batch(4, 5, 3)).await?;
    let blocks: Vec<i64> =
        sqlx::query_scalar("SELECT number FROM blocks WHERE chain_id = 7 ORDER BY number")
            .fetch_all(&pool)
            .await?;
    assert_eq!(blocks, [3, 4, 5]);
    let journal: Vec<(i64, String)> = sqlx::query_as(
        "SELECT block_number, entity FROM journal WHERE chain_id = 7 ORDER BY block_number, seq",
    )
    .fetch_all(&pool)
    .await?;
    // owner changes of existing tokens in blocks 4 and 5 only
    assert_eq!(journal, [(4, "owner".into()), (5, "owner".into())]);
    // a refused init with other contracts
    let other = db::init_chain(&pool, 7, MARKET, NFT, 1).await;
    assert!(matches!(other, Err(Error::ContractMismatch { .. })));
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn copy_text_round_trips_arbitrary_strings_bytes_and_numbers(
    pool: PgPool,
) -> Result<(), Error> {
    use memory_indexer::copy::CopyRows;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    sqlx::query("CREATE TABLE rt (i serial, s text, b bytea, n numeric(78,0), a numeric(78,0)[])")
        .execute(&pool)
        .await?;
    let strategy = (
        prop_oneof![
            any::<String>(),
            "[\\\\\\t\\n\\r\\\\N x]{0,12}".prop_map(|s| s)
        ],
        proptest::collection::vec(any::<u8>(), 0..40),
        any::<[u8; 32]>(),
        proptest::collection::vec(any::<u64>(), 0..4),
    );
    let mut runner = TestRunner::deterministic();
    let mut cases = Vec::new();
    for _ in 0..256 {
        cases.push(strategy.new_tree(&mut runner).expect("value").current());
    }
    let mut rows = CopyRows::new("rt", &["s", "b", "n", "a"]);
    for (s, b, n, a) in &cases {
        let a: Vec<U256> = a.iter().map(|&x| U256::from(x)).collect();
        rows.text(s)
            .bytes(b)
            .u256(&U256::from_be_bytes(*n))
            .u256_array(&a);
        rows.end_row();
    }
    let mut conn = pool.acquire().await?;
    assert_eq!(rows.send(&mut conn).await?, cases.len() as u64);
    let back: Vec<(String, Vec<u8>, String, String)> =
        sqlx::query_as("SELECT s, b, n::text, a::text FROM rt ORDER BY i")
            .fetch_all(&mut *conn)
            .await?;
    for ((s, b, n, a), (s2, b2, n2, a2)) in cases.iter().zip(&back) {
        assert_eq!(&s.replace('\0', "\u{FFFD}"), s2);
        assert_eq!(b, b2);
        assert_eq!(&U256::from_be_bytes(*n).to_string(), n2);
        let a: Vec<String> = a.iter().map(u64::to_string).collect();
        assert_eq!(&format!("{{{}}}", a.join(",")), a2);
    }
    Ok(())
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn every_table_with_block_numbers_is_rolled_back(pool: PgPool) -> Result<(), Error> {
    // a table of event rows that the rollback does not know would keep orphaned rows of a
    // reorged chain: every table with a `block_number` column must be in db::EVENT_TABLES
    let mut with_blocks: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND column_name = 'block_number'
           AND table_name IN (SELECT table_name FROM information_schema.tables
                              WHERE table_schema = current_schema() AND table_type = 'BASE TABLE')
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await?;
    with_blocks.retain(|t| t != "journal");
    let mut known: Vec<&str> = db::EVENT_TABLES.to_vec();
    known.sort_unstable();
    assert_eq!(with_blocks, known);
    // and each is unique on (chain_id, tx_hash, log_index), except the provenance edges, which
    // are keyed by (child, parent) and belong to the mint's row
    for t in db::EVENT_TABLES {
        let unique: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE tablename = $1
               AND indexdef LIKE '%UNIQUE%(chain_id, tx_hash, log_index)%')",
        )
        .bind(t)
        .fetch_one(&pool)
        .await?;
        assert!(unique || t == "memory_parents", "{t} is not unique per log");
    }
    Ok(())
}
