//! Whether the logs of live blocks are complete (issue 9, item 1): `eth_getLogs` by number may
//! reach a backend that is a block behind and answer `[]` or a shorter list without an error.
//! The logs are checked against the headers fetched for the same blocks: every log must carry
//! its header's block hash and be in the header's `logsBloom`, and a bloom that contains one of
//! our filters while no log of that filter came back is doubt. Doubtful blocks are fetched
//! again by block hash ([`crate::rpc::Scope::Block`]), which a backend without the block
//! fails instead of answering short. Pure: unit-tested without a chain.

use std::collections::BTreeSet;

use alloy::primitives::{Address, B256, Bloom, BloomInput};
use alloy::rpc::types::Log;

use crate::approvals;
use crate::bindings::ERC6551Registry;
use crate::events::Contracts;
use crate::rpc::Block;
use alloy::sol_types::SolEvent;

/// What the filters of one fetch ask for, as blooms: a bloom that contains one of them may hold
/// a log the filter matches.
#[derive(Debug)]
pub(super) struct Expected {
    nft: Address,
    market: Address,
    registry: Address,
    nft_bloom: Bloom,
    market_bloom: Bloom,
    /// Registry address, `ERC6551AccountCreated`, our token contract as topic 2.
    registry_bloom: Bloom,
    approval: Bloom,
    approval_for_all: Bloom,
    /// One bloom per account whose approvals are followed.
    accounts: Vec<Bloom>,
}

fn bloom_of(items: &[&[u8]]) -> Bloom {
    let mut b = Bloom::default();
    for i in items {
        b.accrue(BloomInput::Raw(i));
    }
    b
}

impl Expected {
    /// The filters of [`super::fetch_range`] for `contracts` and the followed `accounts`.
    pub(super) fn new<'a>(
        contracts: &Contracts,
        accounts: impl IntoIterator<Item = &'a Address>,
    ) -> Self {
        Self {
            nft: contracts.nft,
            market: contracts.market,
            registry: contracts.registry,
            nft_bloom: bloom_of(&[contracts.nft.as_slice()]),
            market_bloom: bloom_of(&[contracts.market.as_slice()]),
            registry_bloom: bloom_of(&[
                contracts.registry.as_slice(),
                ERC6551Registry::ERC6551AccountCreated::SIGNATURE_HASH.as_slice(),
                contracts.nft.into_word().as_slice(),
            ]),
            approval: bloom_of(&[approvals::APPROVAL.as_slice()]),
            approval_for_all: bloom_of(&[approvals::APPROVAL_FOR_ALL.as_slice()]),
            accounts: accounts
                .into_iter()
                .map(|a| bloom_of(&[a.into_word().as_slice()]))
                .collect(),
        }
    }
}

/// Why a block's logs are in doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Doubt {
    /// A log carries another block hash than the header (a reorg between the two calls).
    OtherFork,
    /// A log is not in the header's bloom.
    NotInBloom,
    /// The bloom contains a filter of ours but no log of it came back.
    Missing,
}

/// The blocks (by index in `blocks`) whose `logs` are in doubt, with the first reason found.
/// `logs` are every raw log fetched for the blocks' range (contracts, registry, approvals).
pub(super) fn doubtful(blocks: &[Block], logs: &[Log], expected: &Expected) -> Vec<(usize, Doubt)> {
    let mut out = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let number = b.header.number;
        let mine = logs.iter().filter(|l| l.block_number == Some(number));
        let (mut nft, mut market, mut registry, mut approval) = (false, false, false, false);
        let mut doubt = None;
        for l in mine {
            if l.block_hash != Some(b.header.hash) {
                doubt = Some(Doubt::OtherFork);
                break;
            }
            if !b.bloom.contains_raw_log(l.address(), l.topics()) {
                doubt = Some(Doubt::NotInBloom);
                break;
            }
            let a = l.address();
            nft |= a == expected.nft;
            market |= a == expected.market;
            registry |= a == expected.registry;
            approval |= a != expected.nft
                && a != expected.market
                && matches!(l.topic0(), Some(t) if *t == approvals::APPROVAL || *t == approvals::APPROVAL_FOR_ALL);
        }
        let bloom = &b.bloom;
        let missing = (!nft && bloom.contains(&expected.nft_bloom))
            || (!market && bloom.contains(&expected.market_bloom))
            || (!registry && bloom.contains(&expected.registry_bloom))
            || (!approval
                && (bloom.contains(&expected.approval)
                    || bloom.contains(&expected.approval_for_all))
                && expected.accounts.iter().any(|a| bloom.contains(a)));
        if let Some(d) = doubt.or(missing.then_some(Doubt::Missing)) {
            out.push((i, d));
        }
    }
    out
}

/// The distinct blocks of `doubts`: (number, hash) of each.
pub(super) fn blocks_of(blocks: &[Block], doubts: &[(usize, Doubt)]) -> BTreeSet<(u64, B256)> {
    doubts
        .iter()
        .map(|&(i, _)| (blocks[i].header.number, blocks[i].header.hash))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Header;
    use alloy::primitives::{Bytes, LogData, address, b256};

    const NFT: Address = address!("0x00000000000000000000000000000000000000a1");
    const MARKET: Address = address!("0x00000000000000000000000000000000000000a2");
    const REGISTRY: Address = address!("0x00000000000000000000000000000000000000a3");
    const OTHER: Address = address!("0x00000000000000000000000000000000000000ff");

    fn contracts() -> Contracts {
        Contracts {
            nft: NFT,
            market: MARKET,
            registry: REGISTRY,
        }
    }

    fn hash(n: u64) -> B256 {
        B256::with_last_byte(n as u8)
    }

    fn log(n: u64, address: Address, topics: Vec<B256>) -> Log {
        Log {
            inner: alloy::primitives::Log {
                address,
                data: LogData::new_unchecked(topics, Bytes::new()),
            },
            block_hash: Some(hash(n)),
            block_number: Some(n),
            log_index: Some(0),
            transaction_hash: Some(B256::ZERO),
            ..Log::default()
        }
    }

    fn block(n: u64, logs: &[&Log]) -> Block {
        let mut bloom = Bloom::default();
        for l in logs {
            bloom.accrue_raw_log(l.address(), l.topics());
        }
        Block {
            header: Header {
                number: n,
                hash: hash(n),
                parent_hash: hash(n - 1),
                timestamp: n,
            },
            bloom,
        }
    }

    const TOPIC: B256 = b256!("0x1111111111111111111111111111111111111111111111111111111111111111");

    #[test]
    fn complete_logs_are_not_in_doubt() {
        let e = Expected::new(&contracts(), &[]);
        let (a, b) = (log(1, NFT, vec![TOPIC]), log(2, MARKET, vec![TOPIC]));
        let other = log(3, OTHER, vec![TOPIC]);
        let blocks = [block(1, &[&a]), block(2, &[&b]), block(3, &[&other])];
        assert_eq!(doubtful(&blocks, &[a, b], &e), vec![]);
    }

    #[test]
    fn a_block_whose_bloom_has_our_contract_but_no_log_is_in_doubt() {
        let e = Expected::new(&contracts(), &[]);
        let (a, b) = (log(1, NFT, vec![TOPIC]), log(2, MARKET, vec![TOPIC]));
        let blocks = [block(1, &[&a]), block(2, &[&b])];
        // the last block's logs dropped (a backend one block behind)
        assert_eq!(doubtful(&blocks, &[a], &e), vec![(1, Doubt::Missing)]);
    }

    #[test]
    fn a_log_of_another_fork_or_outside_the_bloom_is_in_doubt() {
        let e = Expected::new(&contracts(), &[]);
        let a = log(1, NFT, vec![TOPIC]);
        let mut forked = a.clone();
        forked.block_hash = Some(B256::repeat_byte(9));
        assert_eq!(
            doubtful(&[block(1, &[&a])], &[forked], &e),
            vec![(0, Doubt::OtherFork)]
        );
        let b = log(1, MARKET, vec![TOPIC]);
        assert_eq!(
            doubtful(&[block(1, &[&a])], &[a.clone(), b], &e),
            vec![(0, Doubt::NotInBloom)]
        );
    }

    #[test]
    fn registry_and_approval_filters_are_checked() {
        let account = address!("0x00000000000000000000000000000000000000cc");
        let e = Expected::new(&contracts(), &[account]);
        let created = log(
            1,
            REGISTRY,
            vec![
                ERC6551Registry::ERC6551AccountCreated::SIGNATURE_HASH,
                B256::ZERO,
                NFT.into_word(),
            ],
        );
        let approval = log(
            2,
            OTHER,
            vec![approvals::APPROVAL, account.into_word(), TOPIC],
        );
        // another token's account creation and another owner's approval: not ours
        let foreign = log(
            3,
            REGISTRY,
            vec![
                ERC6551Registry::ERC6551AccountCreated::SIGNATURE_HASH,
                B256::ZERO,
                OTHER.into_word(),
            ],
        );
        let blocks = [
            block(1, &[&created]),
            block(2, &[&approval]),
            block(3, &[&foreign]),
        ];
        assert_eq!(
            doubtful(&blocks, &[], &e),
            vec![(0, Doubt::Missing), (1, Doubt::Missing)]
        );
        assert_eq!(doubtful(&blocks, &[created, approval], &e), vec![]);
    }
}
