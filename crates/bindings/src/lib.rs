//! # memory-bindings
//!
//! Rust bindings of the Memory Asset Layer contracts, generated with alloy's `sol!` from the
//! committed ABIs in `contracts/abi/` (regenerated from forge's output by `scripts/abi`, which
//! also checks that they do not drift), plus the two things every client of the contracts
//! needs next to them:
//!
//! - [`Deployment`]: the deployment record `scripts/deploy` writes
//!   (`anvil/deployments/<chainId>.json`);
//! - [`decode_revert`]: revert data → the custom error's name and named arguments, decoded
//!   against the errors of every contract ABI (and Solidity's `Error(string)`/`Panic(uint256)`).
//!
//! ```
//! use alloy::{primitives::{B256, U256}, sol_types::SolError};
//! use memory_bindings::{MemoryNFT, decode_revert};
//!
//! let data = MemoryNFT::ChecksumAlreadyMinted { checksum: B256::repeat_byte(0xab), tokenId: U256::from(7) }
//!     .abi_encode();
//! let revert = decode_revert(&data).expect("a MemoryNFT error");
//! assert_eq!(revert.name, "ChecksumAlreadyMinted");
//! assert_eq!(revert.to_string(), format!("ChecksumAlreadyMinted(checksum: {}, tokenId: 7)", B256::repeat_byte(0xab)));
//! ```

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use alloy::{
    dyn_abi::{DynSolValue, JsonAbiExt},
    json_abi::JsonAbi,
    primitives::{Address, Selector},
    sol_types::{Panic, Revert, SolError},
};
use serde::Deserialize;

#[allow(missing_docs, clippy::too_many_arguments)]
mod generated {
    alloy::sol!(
        #[sol(rpc, all_derives)]
        MemoryNFT,
        "../../contracts/abi/MemoryNFT.json"
    );
    alloy::sol!(
        #[sol(rpc, all_derives)]
        MemoryMarket,
        "../../contracts/abi/MemoryMarket.json"
    );
    alloy::sol!(
        #[sol(rpc, all_derives)]
        MemoryAccount,
        "../../contracts/abi/MemoryAccount.json"
    );
    alloy::sol!(
        #[sol(rpc, all_derives)]
        ERC6551Registry,
        "../../contracts/abi/ERC6551Registry.json"
    );
}

pub use generated::{ERC6551Registry, IMemoryNFT, MemoryAccount, MemoryMarket, MemoryNFT};

/// The ABIs the bindings come from, as JSON text (name, ABI).
pub const ABIS: [(&str, &str); 4] = [
    (
        "MemoryNFT",
        include_str!("../../../contracts/abi/MemoryNFT.json"),
    ),
    (
        "MemoryMarket",
        include_str!("../../../contracts/abi/MemoryMarket.json"),
    ),
    (
        "MemoryAccount",
        include_str!("../../../contracts/abi/MemoryAccount.json"),
    ),
    (
        "ERC6551Registry",
        include_str!("../../../contracts/abi/ERC6551Registry.json"),
    ),
];

/// Address of the canonical ERC-6551 registry (the same on every chain).
pub const CANONICAL_REGISTRY: Address =
    alloy::primitives::address!("000000006551c19487814612e58FE06813775758");

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The deployment record could not be read.
    #[error("cannot read the deployment record {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The deployment record is not valid JSON of the expected shape.
    #[error("invalid deployment record {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The deployment record written by `scripts/deploy` (see `anvil/README.md`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Chain the contracts are deployed on.
    pub chain_id: u64,
    /// MemoryNFT address.
    #[serde(rename = "memoryNFT")]
    pub memory_nft: Address,
    /// MemoryMarket address.
    pub memory_market: Address,
    /// MemoryAccount implementation (ERC-6551 accounts of the tokens).
    pub memory_account: Address,
    /// ERC-6551 registry.
    #[serde(default = "canonical_registry")]
    pub erc6551_registry: Address,
    /// Certifier allowed at deployment, if any.
    #[serde(default)]
    pub certifier: Option<Address>,
    /// First block that can hold the deployment (a lower bound for log queries).
    #[serde(default)]
    pub deploy_block: u64,
}

fn canonical_registry() -> Address {
    CANONICAL_REGISTRY
}

impl Deployment {
    /// Reads a deployment record.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| Error::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }
}

/// A decoded revert: the error's name and its arguments (name, value), in ABI order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedRevert {
    /// Error name, e.g. `ChecksumAlreadyMinted`, `Error` (a `require` message) or `Panic`.
    pub name: String,
    /// Arguments as (parameter name, value) pairs, values formatted for people.
    pub args: Vec<(String, String)>,
}

impl fmt::Display for DecodedRevert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        for (i, (name, value)) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if name.is_empty() {
                write!(f, "{value}")?;
            } else {
                write!(f, "{name}: {value}")?;
            }
        }
        f.write_str(")")
    }
}

/// Every custom error of the contract ABIs, by selector (first definition wins).
fn errors() -> &'static Vec<(Selector, alloy::json_abi::Error)> {
    static ERRORS: OnceLock<Vec<(Selector, alloy::json_abi::Error)>> = OnceLock::new();
    ERRORS.get_or_init(|| {
        let mut out: Vec<(Selector, alloy::json_abi::Error)> = Vec::new();
        for (_, text) in ABIS {
            // The ABIs are compiled in and checked by the tests below; a broken one is skipped.
            let Ok(abi) = serde_json::from_str::<JsonAbi>(text) else {
                continue;
            };
            for e in abi.errors() {
                let sel = e.selector();
                if !out.iter().any(|(s, _)| *s == sel) {
                    out.push((sel, e.clone()));
                }
            }
        }
        out
    })
}

/// Decodes revert data against the custom errors of every contract ABI, Solidity's
/// `Error(string)` and `Panic(uint256)`. `None` for empty or unknown data.
pub fn decode_revert(data: &[u8]) -> Option<DecodedRevert> {
    if data.len() < 4 {
        return None;
    }
    if let Ok(r) = Revert::abi_decode(data) {
        return Some(DecodedRevert {
            name: "Error".into(),
            args: vec![(String::new(), format!("{:?}", r.reason))],
        });
    }
    if let Ok(p) = Panic::abi_decode(data) {
        let code = p.code.to_string();
        return Some(DecodedRevert {
            name: "Panic".into(),
            args: vec![(String::new(), code)],
        });
    }
    let sel = Selector::from_slice(&data[..4]);
    let (_, error) = errors().iter().find(|(s, _)| *s == sel)?;
    let values = error.abi_decode_input(&data[4..]).ok()?;
    let args = error
        .inputs
        .iter()
        .zip(values.iter())
        .map(|(p, v)| (p.name.clone(), format_value(v)))
        .collect();
    Some(DecodedRevert {
        name: error.name.clone(),
        args,
    })
}

/// A dynamic ABI value the way a person reads it: decimal integers, checksummed addresses,
/// `0x` hex bytes, quoted strings.
pub fn format_value(v: &DynSolValue) -> String {
    match v {
        DynSolValue::Bool(b) => b.to_string(),
        DynSolValue::Int(i, _) => i.to_string(),
        DynSolValue::Uint(u, _) => u.to_string(),
        DynSolValue::FixedBytes(w, size) => {
            format!("0x{}", alloy::hex::encode(&w.as_slice()[..*size]))
        }
        DynSolValue::Address(a) => a.to_checksum(None),
        DynSolValue::Function(f) => f.to_string(),
        DynSolValue::Bytes(b) => format!("0x{}", alloy::hex::encode(b)),
        DynSolValue::String(s) => format!("{s:?}"),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            let inner: Vec<String> = items.iter().map(format_value).collect();
            format!("[{}]", inner.join(", "))
        }
        #[allow(unreachable_patterns)]
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use alloy::primitives::{U256, address};

    use super::*;

    #[test]
    fn every_abi_parses_and_every_custom_error_decodes() {
        for (name, text) in ABIS {
            let abi: JsonAbi = serde_json::from_str(text).unwrap();
            assert!(!abi.is_empty(), "{name} ABI is empty");
        }
        // every error of every ABI is reachable by its selector
        for (sel, e) in errors() {
            let values: Vec<DynSolValue> = e
                .inputs
                .iter()
                .map(|p| match p.ty.as_str() {
                    "address" => DynSolValue::Address(Address::repeat_byte(1)),
                    "bool" => DynSolValue::Bool(true),
                    "string" => DynSolValue::String("x".into()),
                    "bytes32" => DynSolValue::FixedBytes(alloy::primitives::B256::ZERO, 32),
                    t if t.starts_with("uint") => {
                        DynSolValue::Uint(U256::from(3), t[4..].parse().unwrap_or(256))
                    }
                    t if t.starts_with("int") => DynSolValue::Int(
                        alloy::primitives::I256::try_from(3).unwrap(),
                        t[3..].parse().unwrap_or(256),
                    ),
                    t => panic!("test does not cover ABI type {t} of {}", e.name),
                })
                .collect();
            let data = e.abi_encode_input(&values).unwrap();
            assert_eq!(&data[..4], sel.as_slice());
            let decoded = decode_revert(&data).unwrap();
            assert_eq!(decoded.name, e.name);
            assert_eq!(decoded.args.len(), e.inputs.len());
        }
    }

    #[test]
    fn typed_and_dynamic_decoding_agree() {
        let data = MemoryMarket::WrongValue {
            sent: U256::from(1),
            price: U256::from(2),
        }
        .abi_encode();
        assert_eq!(
            decode_revert(&data).unwrap().to_string(),
            "WrongValue(sent: 1, price: 2)"
        );
        let data = MemoryMarket::NotTokenOwner {
            caller: address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            owner: Address::ZERO,
        }
        .abi_encode();
        assert_eq!(
            decode_revert(&data).unwrap().to_string(),
            "NotTokenOwner(caller: 0x70997970C51812dc3A010C7d01b50e0d17dc79C8, owner: 0x0000000000000000000000000000000000000000)"
        );
    }

    #[test]
    fn require_messages_panics_and_unknown_data() {
        let data = Revert::from("nope").abi_encode();
        assert_eq!(decode_revert(&data).unwrap().to_string(), "Error(\"nope\")");
        let data = Panic::from(0x11u64).abi_encode();
        assert_eq!(decode_revert(&data).unwrap().to_string(), "Panic(17)");
        assert!(decode_revert(&[0xde, 0xad, 0xbe, 0xef]).is_none());
        assert!(decode_revert(&[1, 2]).is_none());
    }

    #[test]
    fn reads_the_committed_deployment_record() {
        let d = Deployment::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../anvil/deployments/31337.json"
        ))
        .unwrap();
        assert_eq!(d.chain_id, 31337);
        assert_eq!(d.erc6551_registry, CANONICAL_REGISTRY);
        let err = Deployment::read("/nonexistent/deployment.json").unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot read the deployment record")
        );
    }
}
