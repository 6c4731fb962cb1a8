//! Decoding of raw logs into the indexer's typed events.

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;

use crate::bindings::{ERC6551Registry, MemoryMarket, MemoryNFT};
use crate::error::{Error, Result};

/// Where an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Block number.
    pub block_number: u64,
    /// Block hash (to check that logs and headers agree).
    pub block_hash: B256,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Index of the log in its block.
    pub log_index: u64,
    /// Block timestamp, when the node reports it with the log.
    pub block_timestamp: Option<u64>,
}

/// The fields of an anchored certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Certificate {
    pub checksum: B256,
    /// The creator the certifier attributes the artifact to (the contract checks it is the
    /// token's creator).
    pub creator: Address,
    /// The signing certifier (the contract anchors under it: it is the event's `certifier`).
    pub certifier: Address,
    pub test_set_checksum: B256,
    pub epsilon_ppm: u32,
    pub rel_error_ppm: u32,
    pub cosine_ppm: i32,
    pub euclidean_ppm: u64,
    pub test_samples: u32,
    pub level: u8,
    pub issued_at: u64,
    pub expires_at: u64,
    pub nonce: U256,
}

/// A decoded event of one of the indexed contracts (fields as in the Solidity events).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Event {
    Transfer {
        from: Address,
        to: Address,
        token_id: U256,
    },
    Minted {
        token_id: U256,
        creator: Address,
        checksum: B256,
        kind: u8,
        source_model: String,
        target_model: String,
        version: String,
        uri: String,
        royalty_bps: u64,
        parents: Vec<U256>,
    },
    CertificateAnchored {
        token_id: U256,
        digest: B256,
        certifier: Address,
        cert: Box<Certificate>,
    },
    CertificateRevoked {
        token_id: U256,
        digest: B256,
        certifier: Address,
    },
    CertifierSet {
        certifier: Address,
        allowed: bool,
    },
    AccountCreated {
        account: Address,
        implementation: Address,
        salt: B256,
        chain_id: U256,
        token_contract: Address,
        token_id: U256,
    },
    Listed {
        token_id: U256,
        listing_id: U256,
        seller: Address,
        price: U256,
        expires_at: u64,
        transfer_count: u32,
        account_state: U256,
    },
    /// Cancelled by `holder`: the seller, or whoever holds the token after it moved.
    ListingCancelled {
        token_id: U256,
        listing_id: U256,
        holder: Address,
    },
    /// The token's open listing was bought (the event names no listing: the indexer derives it).
    Sold {
        token_id: U256,
        seller: Address,
        buyer: Address,
        price: U256,
    },
    RoyaltyPaid {
        sale_token_id: U256,
        beneficiary_token_id: U256,
        recipient: Address,
        amount: U256,
        credited: bool,
    },
    Credited {
        account: Address,
        amount: U256,
    },
    Withdrawn {
        account: Address,
        to: Address,
        amount: U256,
    },
    /// An approval granted by a token-bound account, emitted by any contract (see
    /// [`crate::approvals`]).
    Approval(Approval),
}

/// An approval whose owner is a token-bound account: ERC-20 `Approval`, ERC-721 `Approval` or
/// `ApprovalForAll`, as emitted by `token` (any contract of the chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The contract that emitted the event.
    pub token: Address,
    /// The approving owner (topic 1): a token-bound account.
    pub owner: Address,
    /// What was approved.
    pub grant: Grant,
}

/// What an approval grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// ERC-20 `Approval(owner, spender, value)` (3 topics): `spender` may move `amount`.
    Erc20 {
        /// The spender.
        spender: Address,
        /// The allowance set by the event.
        amount: U256,
    },
    /// ERC-721 `Approval(owner, approved, tokenId)` (4 topics): `approved` may move `token_id`
    /// (the zero address clears the approval).
    Erc721 {
        /// The approved address.
        approved: Address,
        /// The token.
        token_id: U256,
    },
    /// `ApprovalForAll(owner, operator, approved)`: `operator` may move every token of the
    /// owner in `token` while `approved`.
    Operator {
        /// The operator.
        operator: Address,
        /// Granted (`true`) or revoked.
        approved: bool,
    },
}

impl Grant {
    /// The stored kind: `erc20`, `erc721` or `operator`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Erc20 { .. } => "erc20",
            Self::Erc721 { .. } => "erc721",
            Self::Operator { .. } => "operator",
        }
    }

    /// The address the grant is for (spender, approved address or operator).
    pub fn spender(&self) -> Address {
        match self {
            Self::Erc20 { spender, .. } => *spender,
            Self::Erc721 { approved, .. } => *approved,
            Self::Operator { operator, .. } => *operator,
        }
    }

    /// Whether the event grants anything: a non-zero allowance, a non-zero approved address, an
    /// operator approval (as opposed to revoking one).
    pub fn grants(&self) -> bool {
        match self {
            Self::Erc20 { amount, .. } => !amount.is_zero(),
            Self::Erc721 { approved, .. } => !approved.is_zero(),
            Self::Operator { approved, .. } => *approved,
        }
    }
}

/// The addresses whose logs are decoded.
#[derive(Debug, Clone, Copy)]
pub struct Contracts {
    /// MemoryNFT.
    pub nft: Address,
    /// MemoryMarket.
    pub market: Address,
    /// ERC-6551 registry.
    pub registry: Address,
}

/// Where a log comes from; `None` for a pending log (no block yet).
pub fn meta(log: &Log) -> Option<Meta> {
    Some(Meta {
        block_number: log.block_number?,
        block_hash: log.block_hash?,
        tx_hash: log.transaction_hash?,
        log_index: log.log_index?,
        block_timestamp: log.block_timestamp,
    })
}

/// Decodes one log of the indexed contracts. Returns `Ok(None)` for logs the indexer does not
/// store here (approvals, which [`crate::approvals`] decodes from their own query, mint
/// commitments, role and market changes, registry events of other token contracts, pending
/// logs). A log of our own contracts that does not decode is an error: the ABI and the chain
/// disagree, and guessing would corrupt the data.
pub fn decode(log: &Log, contracts: &Contracts) -> Result<Option<(Meta, Event)>> {
    let Some(meta) = meta(log) else {
        return Ok(None);
    };
    let Some(topic0) = log.topic0().copied() else {
        return Ok(None);
    };
    let (tx_hash, log_index) = (meta.tx_hash, meta.log_index);
    let err = |e: alloy::sol_types::Error| Error::Decode {
        tx_hash,
        log_index,
        reason: e.to_string(),
    };
    let data = &log.inner.data;
    let address = log.inner.address;
    let event = if address == contracts.nft {
        match topic0 {
            MemoryNFT::Transfer::SIGNATURE_HASH => {
                // ERC-20 style Transfer (tokenId not indexed) cannot come from our ERC-721
                let e = MemoryNFT::Transfer::decode_log_data(data).map_err(err)?;
                Event::Transfer {
                    from: e.from,
                    to: e.to,
                    token_id: e.tokenId,
                }
            }
            MemoryNFT::MemoryMinted::SIGNATURE_HASH => {
                let e = MemoryNFT::MemoryMinted::decode_log_data(data).map_err(err)?;
                Event::Minted {
                    token_id: e.tokenId,
                    creator: e.creator,
                    checksum: e.checksum,
                    kind: e.kind,
                    source_model: e.sourceModel,
                    target_model: e.targetModel,
                    version: e.version,
                    uri: e.uri,
                    // capped by the contract (MAX_ROYALTY_BPS); saturate rather than panic
                    royalty_bps: e.royaltyBps.saturating_to::<u64>().min(i32::MAX as u64),
                    parents: e.parents,
                }
            }
            MemoryNFT::CertificateAnchored::SIGNATURE_HASH => {
                let e = MemoryNFT::CertificateAnchored::decode_log_data(data).map_err(err)?;
                let c = e.cert;
                Event::CertificateAnchored {
                    token_id: e.tokenId,
                    digest: e.digest,
                    certifier: e.certifier,
                    cert: Box::new(Certificate {
                        checksum: c.checksum,
                        creator: c.creator,
                        certifier: c.certifier,
                        test_set_checksum: c.testSetChecksum,
                        epsilon_ppm: c.epsilonPpm,
                        rel_error_ppm: c.relErrorPpm,
                        cosine_ppm: c.cosinePpm,
                        euclidean_ppm: c.euclideanPpm,
                        test_samples: c.testSamples,
                        level: c.level,
                        issued_at: c.issuedAt,
                        expires_at: c.expiresAt,
                        nonce: c.nonce,
                    }),
                }
            }
            MemoryNFT::CertificateRevoked::SIGNATURE_HASH => {
                let e = MemoryNFT::CertificateRevoked::decode_log_data(data).map_err(err)?;
                Event::CertificateRevoked {
                    token_id: e.tokenId,
                    digest: e.digest,
                    certifier: e.certifier,
                }
            }
            MemoryNFT::CertifierSet::SIGNATURE_HASH => {
                let e = MemoryNFT::CertifierSet::decode_log_data(data).map_err(err)?;
                Event::CertifierSet {
                    certifier: e.certifier,
                    allowed: e.allowed,
                }
            }
            _ => return Ok(None),
        }
    } else if address == contracts.market {
        match topic0 {
            MemoryMarket::Listed::SIGNATURE_HASH => {
                let e = MemoryMarket::Listed::decode_log_data(data).map_err(err)?;
                Event::Listed {
                    token_id: e.tokenId,
                    listing_id: e.listingId,
                    seller: e.seller,
                    price: e.price,
                    expires_at: e.expiresAt,
                    transfer_count: e.transferCount,
                    account_state: e.accountState,
                }
            }
            MemoryMarket::ListingCancelled::SIGNATURE_HASH => {
                let e = MemoryMarket::ListingCancelled::decode_log_data(data).map_err(err)?;
                Event::ListingCancelled {
                    token_id: e.tokenId,
                    listing_id: e.listingId,
                    holder: e.holder,
                }
            }
            MemoryMarket::Sold::SIGNATURE_HASH => {
                let e = MemoryMarket::Sold::decode_log_data(data).map_err(err)?;
                Event::Sold {
                    token_id: e.tokenId,
                    seller: e.seller,
                    buyer: e.buyer,
                    price: e.price,
                }
            }
            MemoryMarket::RoyaltyPaid::SIGNATURE_HASH => {
                let e = MemoryMarket::RoyaltyPaid::decode_log_data(data).map_err(err)?;
                Event::RoyaltyPaid {
                    sale_token_id: e.saleTokenId,
                    beneficiary_token_id: e.beneficiaryTokenId,
                    recipient: e.recipient,
                    amount: e.amount,
                    credited: e.credited,
                }
            }
            MemoryMarket::Credited::SIGNATURE_HASH => {
                let e = MemoryMarket::Credited::decode_log_data(data).map_err(err)?;
                Event::Credited {
                    account: e.account,
                    amount: e.amount,
                }
            }
            MemoryMarket::Withdrawn::SIGNATURE_HASH => {
                let e = MemoryMarket::Withdrawn::decode_log_data(data).map_err(err)?;
                Event::Withdrawn {
                    account: e.account,
                    to: e.to,
                    amount: e.amount,
                }
            }
            _ => return Ok(None),
        }
    } else if address == contracts.registry
        && topic0 == ERC6551Registry::ERC6551AccountCreated::SIGNATURE_HASH
    {
        let e = ERC6551Registry::ERC6551AccountCreated::decode_log_data(data).map_err(err)?;
        if e.tokenContract != contracts.nft {
            return Ok(None);
        }
        Event::AccountCreated {
            account: e.account,
            implementation: e.implementation,
            salt: e.salt,
            chain_id: e.chainId,
            token_contract: e.tokenContract,
            token_id: e.tokenId,
        }
    } else {
        return Ok(None);
    };
    Ok(Some((meta, event)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{LogData, address, b256};

    fn contracts() -> Contracts {
        Contracts {
            nft: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
            market: address!("e7f1725E7734CE288F8367e1Bb143E90bb3F0512"),
            registry: crate::config::CANONICAL_REGISTRY,
        }
    }

    fn log(address: Address, data: LogData) -> Log {
        Log {
            inner: alloy::primitives::Log { address, data },
            block_hash: Some(B256::repeat_byte(1)),
            block_number: Some(7),
            block_timestamp: Some(1_700_000_000),
            transaction_hash: Some(B256::repeat_byte(2)),
            transaction_index: Some(0),
            log_index: Some(3),
            removed: false,
        }
    }

    #[test]
    fn decodes_events_of_each_contract_and_skips_others() -> Result<()> {
        let c = contracts();
        let a = address!("00000000000000000000000000000000000000aa");
        let t = MemoryNFT::Transfer {
            from: Address::ZERO,
            to: a,
            tokenId: U256::from(5),
        };
        let (meta, ev) =
            decode(&log(c.nft, t.encode_log_data()), &c)?.ok_or(Error::Pipeline("none".into()))?;
        assert_eq!(meta.block_number, 7);
        assert_eq!(meta.log_index, 3);
        assert_eq!(
            ev,
            Event::Transfer {
                from: Address::ZERO,
                to: a,
                token_id: U256::from(5)
            }
        );

        let s = MemoryMarket::Sold {
            tokenId: U256::from(5),
            seller: a,
            buyer: c.nft,
            price: U256::from(9),
        };
        let (_, ev) = decode(&log(c.market, s.encode_log_data()), &c)?
            .ok_or(Error::Pipeline("none".into()))?;
        assert!(matches!(ev, Event::Sold { price, .. } if price == U256::from(9)));

        let l = MemoryMarket::Listed {
            tokenId: U256::from(5),
            listingId: U256::from(7),
            seller: a,
            price: U256::from(9),
            expiresAt: 1_800_000_000,
            transferCount: 3,
            accountState: U256::from(2),
        };
        let (_, ev) = decode(&log(c.market, l.encode_log_data()), &c)?
            .ok_or(Error::Pipeline("none".into()))?;
        assert_eq!(
            ev,
            Event::Listed {
                token_id: U256::from(5),
                listing_id: U256::from(7),
                seller: a,
                price: U256::from(9),
                expires_at: 1_800_000_000,
                transfer_count: 3,
                account_state: U256::from(2),
            }
        );
        let w = MemoryMarket::Withdrawn {
            account: a,
            to: c.nft,
            amount: U256::from(1),
        };
        assert!(matches!(
            decode(&log(c.market, w.encode_log_data()), &c)?,
            Some((_, Event::Withdrawn { to, .. })) if to == c.nft
        ));

        // events the indexer does not store are ignored, not errors: the mint commitment, the
        // market setting, approvals (decoded from their own query), ownership changes
        let ignored = [
            MemoryNFT::MintCommitted {
                commitment: B256::repeat_byte(9),
                committer: a,
            }
            .encode_log_data(),
            MemoryNFT::MarketSet { market: c.market }.encode_log_data(),
            MemoryNFT::ApprovalForAll {
                owner: a,
                operator: c.market,
                approved: true,
            }
            .encode_log_data(),
            MemoryNFT::Approval {
                owner: a,
                approved: c.market,
                tokenId: U256::from(5),
            }
            .encode_log_data(),
        ];
        for data in ignored {
            assert!(decode(&log(c.nft, data), &c)?.is_none());
        }

        // same event from an unrelated address: ignored
        assert!(decode(&log(a, t.encode_log_data()), &c)?.is_none());

        // a registry event for another token contract: ignored
        let created = ERC6551Registry::ERC6551AccountCreated {
            account: a,
            implementation: a,
            salt: b256!("0000000000000000000000000000000000000000000000000000000000000000"),
            chainId: U256::from(31337),
            tokenContract: a,
            tokenId: U256::from(1),
        };
        assert!(decode(&log(c.registry, created.encode_log_data()), &c)?.is_none());
        let ours = ERC6551Registry::ERC6551AccountCreated {
            tokenContract: c.nft,
            ..created
        };
        assert!(matches!(
            decode(&log(c.registry, ours.encode_log_data()), &c)?,
            Some((_, Event::AccountCreated { .. }))
        ));
        Ok(())
    }

    #[test]
    fn malformed_data_is_a_decode_error() {
        let c = contracts();
        let mut data = MemoryMarket::Credited {
            account: c.nft,
            amount: U256::from(1),
        }
        .encode_log_data();
        data = LogData::new_unchecked(
            data.topics().to_vec(),
            alloy::primitives::Bytes::from_static(&[1, 2, 3]),
        );
        assert!(matches!(
            decode(&log(c.market, data), &c),
            Err(Error::Decode { log_index: 3, .. })
        ));
    }
}
