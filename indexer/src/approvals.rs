//! Approvals granted by token-bound accounts: which logs are fetched, which of them count, and
//! how they decode.
//!
//! A token-bound account can approve a spender on any token contract (ERC-20 `Approval`, ERC-721
//! `Approval`, `ApprovalForAll`); such an approval survives a sale of the bound NFT, so a buyer
//! needs to see it. The indexer follows these events from **every** contract of the chain, for
//! the accounts it knows: every account of the `accounts` table (ERC-6551 accounts created
//! through the registry for our token contract), plus those the range being indexed creates.
//!
//! - Fetch ([`crate::rpc::Chain::approval_logs`]): `eth_getLogs` without an address filter,
//!   topic 0 ∈ {`Approval`, `ApprovalForAll`}, topic 1 (the owner) ∈ a chunk of
//!   [`ACCOUNTS_PER_CALL`] known accounts. For a block range, the approvals of the accounts
//!   known before it are fetched concurrently with the contracts' logs; if the range creates
//!   accounts, their approvals are fetched once the contracts' logs are decoded.
//! - Selection ([`select`]): an approval counts if its owner was known before the range, or was
//!   created in the range *before* the approval (block, log index). An account has no code
//!   before its creation, so it cannot approve anything; the rule also makes the result
//!   independent of how blocks are split into batches.
//! - Decoding ([`decode`]): ERC-20 and ERC-721 `Approval` share topic 0 and differ by topic
//!   count (3 and 4). Any contract can emit anything, so a log that does not have the standard
//!   layout is skipped (logged at debug level), never an error that would stop the indexer.
//!
//! "Live" approvals are derived at query time (see `docs/indexer.md`, section "Approvals").

use std::collections::{BTreeSet, HashMap};

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;
use tracing::debug;

use crate::bindings::MemoryNFT;
use crate::events::{self, Approval, Event, Grant, Meta};

/// Topic 0 of ERC-20 and ERC-721 `Approval(address,address,uint256)`.
pub const APPROVAL: B256 = MemoryNFT::Approval::SIGNATURE_HASH;
/// Topic 0 of `ApprovalForAll(address,address,bool)`.
pub const APPROVAL_FOR_ALL: B256 = MemoryNFT::ApprovalForAll::SIGNATURE_HASH;

/// Owners (topic 1 values) per `eth_getLogs` call. Providers bound the size of topic OR-lists
/// and of requests; 256 addresses keep a request near 17 KB.
pub const ACCOUNTS_PER_CALL: usize = 256;

/// An address in a topic: 12 zero bytes, then the address.
fn topic_address(t: &B256) -> Option<Address> {
    t[..12]
        .iter()
        .all(|b| *b == 0)
        .then(|| Address::from_slice(&t[12..]))
}

/// Decodes an approval log of any contract; `None` (logged) for a pending log, another event or
/// a non-standard layout.
pub fn decode(log: &Log) -> Option<(Meta, Approval)> {
    let meta = events::meta(log)?;
    let topics = log.topics();
    let data = log.inner.data.data.as_ref();
    let word = |d: &[u8]| (d.len() == 32).then(|| U256::from_be_slice(d));
    let grant = match (topics.first(), topics.len()) {
        (Some(&APPROVAL), 3) => word(data)
            .zip(topic_address(&topics[2]))
            .map(|(amount, spender)| Grant::Erc20 { spender, amount }),
        (Some(&APPROVAL), 4) if data.is_empty() => {
            topic_address(&topics[2]).map(|approved| Grant::Erc721 {
                approved,
                token_id: U256::from_be_bytes(topics[3].0),
            })
        }
        (Some(&APPROVAL_FOR_ALL), 3) => match (word(data), topic_address(&topics[2])) {
            (Some(v), Some(operator)) if v <= U256::from(1) => Some(Grant::Operator {
                operator,
                approved: v == U256::from(1),
            }),
            _ => None,
        },
        _ => None,
    };
    let owner = topics.get(1).and_then(topic_address);
    match (owner, grant) {
        (Some(owner), Some(grant)) => Some((
            meta,
            Approval {
                token: log.inner.address,
                owner,
                grant,
            },
        )),
        _ => {
            debug!(
                target: "indexer::ingest",
                tx = %meta.tx_hash,
                log_index = meta.log_index,
                contract = %log.inner.address,
                "skipping an approval log with a non-standard layout"
            );
            None
        }
    }
}

/// The first creation (block, log index) of every account the events create, in the order
/// they are created, without the accounts already `known`.
pub fn created(
    events: &[(Meta, Event)],
    known: &BTreeSet<Address>,
) -> HashMap<Address, (u64, u64)> {
    let mut out = HashMap::new();
    for (m, e) in events {
        if let Event::AccountCreated { account, .. } = e
            && !known.contains(account)
        {
            out.entry(*account).or_insert((m.block_number, m.log_index));
        }
    }
    out
}

/// The approvals of a block range that count (see the module docs): the owner was known before
/// the range, or was created in it at an earlier position than the approval.
pub fn select(
    approvals: impl IntoIterator<Item = (Meta, Approval)>,
    known: &BTreeSet<Address>,
    created: &HashMap<Address, (u64, u64)>,
) -> Vec<(Meta, Event)> {
    approvals
        .into_iter()
        .filter(|(m, a)| {
            known.contains(&a.owner)
                || created
                    .get(&a.owner)
                    .is_some_and(|&at| at < (m.block_number, m.log_index))
        })
        .map(|(m, a)| (m, Event::Approval(a)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Bytes, LogData, address};

    const ACC: Address = address!("00000000000000000000000000000000000acc01");
    const SPENDER: Address = address!("000000000000000000000000000000000000beef");
    const TOKEN: Address = address!("00000000000000000000000000000000000000e2");

    fn log(topics: Vec<B256>, data: Vec<u8>, block: u64, index: u64) -> Log {
        Log {
            inner: alloy::primitives::Log {
                address: TOKEN,
                data: LogData::new_unchecked(topics, Bytes::from(data)),
            },
            block_hash: Some(B256::repeat_byte(1)),
            block_number: Some(block),
            block_timestamp: None,
            transaction_hash: Some(B256::repeat_byte(2)),
            transaction_index: Some(0),
            log_index: Some(index),
            removed: false,
        }
    }

    fn word(v: u64) -> Vec<u8> {
        U256::from(v).to_be_bytes::<32>().to_vec()
    }

    #[test]
    fn erc20_erc721_and_operator_approvals_decode_by_topic_count() {
        let (acc, sp) = (ACC.into_word(), SPENDER.into_word());
        let erc20 = decode(&log(vec![APPROVAL, acc, sp], word(1000), 5, 0)).map(|(_, a)| a);
        assert_eq!(
            erc20,
            Some(Approval {
                token: TOKEN,
                owner: ACC,
                grant: Grant::Erc20 {
                    spender: SPENDER,
                    amount: U256::from(1000)
                }
            })
        );
        let id = B256::from(U256::from(7).to_be_bytes::<32>());
        let erc721 = decode(&log(vec![APPROVAL, acc, sp, id], vec![], 5, 1)).map(|(_, a)| a.grant);
        assert_eq!(
            erc721,
            Some(Grant::Erc721 {
                approved: SPENDER,
                token_id: U256::from(7)
            })
        );
        let op = decode(&log(vec![APPROVAL_FOR_ALL, acc, sp], word(1), 5, 2)).map(|(_, a)| a.grant);
        assert_eq!(
            op,
            Some(Grant::Operator {
                operator: SPENDER,
                approved: true
            })
        );
        let revoked = decode(&log(vec![APPROVAL_FOR_ALL, acc, sp], word(0), 5, 3));
        assert!(revoked.is_some_and(|(_, a)| !a.grant.grants()));
    }

    #[test]
    fn non_standard_layouts_are_skipped_not_errors() {
        let (acc, sp) = (ACC.into_word(), SPENDER.into_word());
        let dirty = B256::repeat_byte(0xff);
        for bad in [
            log(vec![APPROVAL, acc, sp], vec![1, 2, 3], 1, 0), // short data
            log(vec![APPROVAL, acc, sp], word(1).repeat(2), 1, 0), // long data
            log(vec![APPROVAL, acc, sp, sp], word(1), 1, 0),   // ERC-721 with data
            log(vec![APPROVAL, acc], word(1), 1, 0),           // 2 topics
            log(vec![APPROVAL], word(1).repeat(3), 1, 0),      // CryptoKitties-style, unindexed
            log(vec![APPROVAL, dirty, sp], word(1), 1, 0),     // owner is not an address
            log(vec![APPROVAL, acc, dirty], word(1), 1, 0),    // spender is not an address
            log(vec![APPROVAL_FOR_ALL, acc, sp], word(2), 1, 0), // non-canonical bool
            log(vec![APPROVAL_FOR_ALL, acc, sp, sp], word(1), 1, 0),
            log(vec![B256::repeat_byte(3), acc, sp], word(1), 1, 0), // another event
        ] {
            assert_eq!(decode(&bad), None, "{bad:?}");
        }
        let mut pending = log(vec![APPROVAL, acc, sp], word(1), 1, 0);
        pending.block_number = None;
        assert_eq!(decode(&pending), None);
    }

    #[test]
    fn an_approval_counts_after_its_account_exists() {
        let other = address!("00000000000000000000000000000000000acc02");
        let approval = |owner: Address, block: u64, index: u64| {
            let (m, _) = decode(&log(
                vec![APPROVAL, owner.into_word(), SPENDER.into_word()],
                word(1),
                block,
                index,
            ))
            .unwrap_or_else(|| panic!("decodes"));
            (
                m,
                Approval {
                    token: TOKEN,
                    owner,
                    grant: Grant::Erc20 {
                        spender: SPENDER,
                        amount: U256::from(1),
                    },
                },
            )
        };
        let known: BTreeSet<Address> = [ACC].into();
        let created: HashMap<Address, (u64, u64)> = [(other, (5, 3))].into();
        let picked = select(
            [
                approval(ACC, 1, 0),   // known before the range
                approval(other, 5, 2), // before the account's creation: impossible, dropped
                approval(other, 5, 4), // after it
                approval(other, 6, 0),
                approval(SPENDER, 6, 1), // not an account
            ],
            &known,
            &created,
        );
        let at: Vec<(u64, u64)> = picked
            .iter()
            .map(|(m, _)| (m.block_number, m.log_index))
            .collect();
        assert_eq!(at, [(1, 0), (5, 4), (6, 0)]);
    }
}
