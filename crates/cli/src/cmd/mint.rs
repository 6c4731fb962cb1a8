//! `memory mint`: mint an artifact as a memory token (checksum computed locally), optionally
//! creating its token-bound account and anchoring a certificate in the same flow.
//!
//! Minting is commit-reveal (MemoryNFT): step 1 sends `commitMint(keccak256(checksum, creator,
//! salt))`, which hides the checksum; step 2, in a later block, reveals it with `mint`. Someone who
//! sees the reveal in the mempool cannot mint the checksum first: they would need a commitment of
//! their own from an earlier block. `--commit-only` stops after step 1 and prints the salt;
//! `--salt` reveals such a commitment later.

use std::path::PathBuf;

use alloy::{
    primitives::{Address, B256, U256, Uint, keccak256},
    sol_types::SolValue,
};
use anyhow::{Context, Result, bail};
use memory_bindings::{IMemoryNFT, MemoryNFT};
use memory_protocol::{
    artifact::meta, checksum::content_checksum_file_with_header, version::parse_version,
};
use serde_json::json;

use super::{
    anchor::{anchor, load_for},
    chain::{ChainArgs, block_on, print_json},
};
use crate::{output::Output, wallet::KeyArgs};

/// What kind of memory a token is (`MemoryKind` in the contract).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A W-Matrix (linear map between two models' hidden spaces).
    WMatrix,
    /// A KV-cache.
    KvCache,
    /// Anything else.
    Other,
}

impl Kind {
    /// The contract's enum value.
    pub fn code(self) -> u8 {
        match self {
            Self::WMatrix => 0,
            Self::KvCache => 1,
            Self::Other => 2,
        }
    }

    /// From the artifact's `kind` metadata (`w-matrix`, `kv-cache`, ...).
    fn from_meta(s: &str) -> Self {
        match s.to_lowercase().replace('_', "-").as_str() {
            "w-matrix" | "wmatrix" => Self::WMatrix,
            "kv-cache" | "kvcache" => Self::KvCache,
            _ => Self::Other,
        }
    }
}

/// Arguments of `memory mint`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The artifact (safetensors file) to mint.
    pub artifact: PathBuf,
    /// Receiver of the token [default: the signer].
    #[arg(long, value_name = "ADDRESS")]
    pub to: Option<Address>,
    /// Parent token this memory was derived from (repeatable).
    #[arg(long = "parent", value_name = "TOKEN", value_parser = crate::cmd::chain::parse_token)]
    pub parents: Vec<U256>,
    /// The creator's royalty on sales, in basis points (at most 1000 = 10%).
    #[arg(long, default_value_t = 500)]
    pub royalty_bps: u16,
    /// Off-chain metadata URI (empty: tokenURI renders the on-chain fields).
    #[arg(long, default_value = "")]
    pub uri: String,
    /// Kind of memory [default: the artifact's `kind` metadata, else w-matrix].
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// Source model [default: the artifact's `source_model` metadata].
    #[arg(long)]
    pub source_model: Option<String>,
    /// Target model [default: the artifact's `target_model` metadata].
    #[arg(long)]
    pub target_model: Option<String>,
    /// Semantic version [default: the artifact's `version` metadata].
    #[arg(long)]
    pub version: Option<String>,
    /// Certificate JSON file to anchor right after the mint.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Also create the token's ERC-6551 account in the mint transaction.
    #[arg(long)]
    pub create_account: bool,
    /// Reveal the commitment made earlier with this salt (printed by `--commit-only`) instead of
    /// committing now.
    #[arg(long, value_name = "HEX32", conflicts_with = "commit_only")]
    pub salt: Option<B256>,
    /// Only commit (step 1): prints the salt to pass to `memory mint --salt` from the next block on
    /// and within a day.
    #[arg(long)]
    pub commit_only: bool,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub key: KeyArgs,
}

/// Runs the command.
pub fn run(args: Args, out: Output) -> Result<()> {
    // Everything local first: a bad file fails before any key or network access.
    let (header, checksum) = content_checksum_file_with_header(&args.artifact)
        .with_context(|| format!("cannot read the artifact {}", args.artifact.display()))?;
    let m = |key: &str| header.metadata.get(key).cloned();
    let need = |flag: Option<String>, key: &str, name: &str| -> Result<String> {
        flag.or_else(|| m(key)).with_context(|| {
            format!(
                "the artifact has no `{key}` metadata: pass --{name}",
                name = name
            )
        })
    };
    let source_model = need(
        args.source_model.clone(),
        meta::SOURCE_MODEL,
        "source-model",
    )?;
    let target_model = need(
        args.target_model.clone(),
        meta::TARGET_MODEL,
        "target-model",
    )?;
    let version = need(args.version.clone(), meta::VERSION, "version")?;
    parse_version(&version).with_context(|| format!("invalid version `{version}`"))?;
    let kind = args
        .kind
        .or_else(|| m(meta::KIND).map(|k| Kind::from_meta(&k)))
        .unwrap_or(Kind::WMatrix);

    block_on(async move {
        let chain = args.chain.connect_signing(&args.key).await?;
        let signed = match &args.cert {
            Some(path) => {
                let s = load_for(&chain, path)?;
                if s.certificate.checksum != checksum {
                    bail!(
                        "the certificate {} is for checksum {}, the artifact's checksum is {checksum}",
                        path.display(),
                        s.certificate.checksum
                    );
                }
                Some(s)
            }
            None => None,
        };
        let me = chain.sender()?;
        if let Some(s) = &signed
            && s.certificate.creator != me
        {
            bail!(
                "the certificate names {} as the creator, but this mint's creator is the signer {}: certificates anchor only on their creator's token",
                s.certificate.creator.to_checksum(None),
                me.to_checksum(None)
            );
        }
        let to = args.to.unwrap_or(me);
        let nft = chain.nft();
        let mut txs = Vec::new();
        let salt = match args.salt {
            Some(salt) => salt,
            None => {
                let salt = B256::from(rand::random::<[u8; 32]>());
                let commitment = mint_commitment(checksum, me, salt);
                out.progress_line(&format!(
                    "mint 1/2: committing to the checksum (commitment {commitment}, salt {salt})"
                ));
                txs.push(
                    chain
                        .send("commit", nft.commitMint(commitment), out)
                        .await?,
                );
                if args.commit_only {
                    if out.json {
                        print_json(
                            out,
                            json!({
                                "checksum": checksum.to_string(),
                                "commitment": commitment.to_string(),
                                "salt": salt.to_string(),
                            }),
                            &txs,
                        );
                    } else {
                        println!("committed {commitment}");
                        println!(
                            "reveal from the next block on, within a day: memory mint {} --salt {salt}",
                            args.artifact.display()
                        );
                    }
                    return Ok(());
                }
                salt
            }
        };
        // The commit's receipt means its block exists: any transaction sent now lands in a later one.
        out.progress_line(&format!("mint 2/2: revealing the checksum {checksum}"));
        let params = IMemoryNFT::MintParams {
            to,
            checksum,
            kind: kind.code(),
            sourceModel: source_model.clone(),
            targetModel: target_model.clone(),
            version: version.clone(),
            uri: args.uri.clone(),
            royaltyBps: Uint::<96, 2>::from(args.royalty_bps),
            parents: args.parents.clone(),
            createAccount: args.create_account,
            salt,
        };
        let revealed = chain.send("mint", nft.mint(params), out).await.map_err(|e| {
            let text = format!("{e:#}");
            if text.contains(" reverted") {
                return e; // the contract said why: retrying the same reveal would not help
            }
            anyhow::anyhow!(
                "{text} (the commitment stays valid for a day: retry the reveal with `memory mint {} --salt {salt}`)",
                args.artifact.display()
            )
        })?;
        txs.push(revealed);
        let minted = txs[txs.len() - 1].events::<MemoryNFT::MemoryMinted>();
        let token = minted
            .first()
            .map(|e| e.tokenId)
            .context("the mint transaction emitted no MemoryMinted event")?;
        let account =
            if args.create_account {
                Some(nft.accountOf(token).call().await.map_err(|e| {
                    anyhow::anyhow!("cannot read the account of token {token}: {e}")
                })?)
            } else {
                None
            };
        if let Some(s) = &signed {
            txs.push(anchor(&chain, token, s, out).await?);
        }
        if out.json {
            print_json(
                out,
                json!({
                    "tokenId": token.to_string(),
                    "checksum": checksum.to_string(),
                    "owner": to.to_checksum(None),
                    "kind": format!("{kind:?}"),
                    "sourceModel": source_model,
                    "targetModel": target_model,
                    "version": version,
                    "royaltyBps": args.royalty_bps,
                    "parents": args.parents.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "account": account.map(|a| a.to_checksum(None)),
                    "certificate": signed.as_ref().map(|s| s.digest.to_string()),
                }),
                &txs,
            );
        } else {
            println!("minted token {token} to {}", to.to_checksum(None));
            println!("checksum  {checksum}");
            println!("models    {source_model} -> {target_model} v{version}");
            if !args.parents.is_empty() {
                let p: Vec<String> = args.parents.iter().map(ToString::to_string).collect();
                println!("parents   {}", p.join(", "));
            }
            if let Some(a) = account {
                println!("account   {}", a.to_checksum(None));
            }
            if let Some(s) = &signed {
                println!("certificate {} anchored", s.digest);
            }
        }
        Ok(())
    })?
}

/// `MemoryNFT.mintCommitment`: `keccak256(abi.encode(checksum, creator, salt))`.
pub fn mint_commitment(checksum: B256, creator: Address, salt: B256) -> B256 {
    keccak256((checksum, creator, salt).abi_encode_params())
}
