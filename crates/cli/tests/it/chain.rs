//! The chain commands of `memory` against a real anvil with the contracts deployed by
//! `scripts/deploy`: a journey without the indexer (`show` falls back to the chain, `verify
//! --no-indexer`), and one readable `error:` line for every kind of bad input of every chain
//! command — wrong file, wrong key or password, wrong chain, and reverts with the decoded
//! custom error and its arguments. The journey with the indexer is `scripts/e2e`.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use alloy::node_bindings::{Anvil, AnvilInstance};
use memory_protocol::artifact::npy_bytes_f64;
use serde_json::Value;
use tempfile::TempDir;

use super::random;

const CERTIFIER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const CERTIFIER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const ZERO: &str = "0x0000000000000000000000000000000000000000";
const ALICE_KEY: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
const ALICE: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const BOB_KEY: &str = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
const BOB: &str = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
const CAROL: &str = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65";
const CAROL_KEY: &str = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a";
/// A key no anvil account has: no ETH.
const POOR_KEY: &str = "0x00000000000000000000000000000000000000000000000000000000000000aa";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh anvil (native binary from npm, instant mining) with the contracts deployed (account
/// 1 as certifier), and a working directory with three W-Matrices and their test set.
struct TestChain {
    anvil: AnvilInstance,
    dir: TempDir,
}

impl TestChain {
    fn spawn() -> Self {
        let out = Command::new(root().join("scripts/foundry-bin"))
            .arg("anvil")
            .output()
            .unwrap();
        assert!(out.status.success(), "no anvil: run scripts/install");
        let bin = String::from_utf8(out.stdout).unwrap();
        let anvil = Anvil::at(bin.trim()).spawn();
        let dir = tempfile::tempdir().unwrap();
        // forge builds into the shared out/ and cache/: one deployment at a time
        let st = Command::new("flock")
            .arg(std::env::temp_dir().join("memory-indexer-deploy.lock"))
            .arg(root().join("scripts/deploy"))
            .env("RPC_URL", anvil.endpoint())
            .env("CERTIFIER", CERTIFIER)
            .env("DEPLOYMENT_FILE", dir.path().join("deployment.json"))
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "scripts/deploy failed: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        let c = Self { anvil, dir };
        c.artifacts();
        c
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// w1, w2, w3 (.safetensors, versions 1.0.0 / 1.1.0 / 2.0.0 of a -> b) and test.safetensors.
    fn artifacts(&self) {
        let x = random(160, 6, 11);
        let w = random(5, 6, 12);
        let y = x.dot(&w.t()) + random(160, 5, 13) * 0.05;
        let write = |name: &str, a: &ndarray::Array2<f64>| {
            std::fs::write(self.path().join(name), npy_bytes_f64(a)).unwrap();
        };
        write("x.npy", &x.slice(ndarray::s![..120, ..]).to_owned());
        write("y.npy", &y.slice(ndarray::s![..120, ..]).to_owned());
        write("xt.npy", &x.slice(ndarray::s![120.., ..]).to_owned());
        write("yt.npy", &y.slice(ndarray::s![120.., ..]).to_owned());
        self.ok(&[
            "pack",
            "-o",
            "test.safetensors",
            "--tensor",
            "x=xt.npy",
            "--tensor",
            "y=yt.npy",
        ]);
        for (i, (lambda, version)) in [("0.01", "1.0.0"), ("0.1", "1.1.0"), ("1", "2.0.0")]
            .iter()
            .enumerate()
        {
            let out = format!("w{}.safetensors", i + 1);
            let v = format!("version={version}");
            self.ok(&[
                "fit",
                "--x",
                "x.npy",
                "--y",
                "y.npy",
                "--lambda",
                lambda,
                "-o",
                &out,
                "--meta",
                "source_model=test/a",
                "--meta",
                "target_model=test/b",
                "--meta",
                &v,
                "--meta",
                "kind=w-matrix",
            ]);
        }
    }

    /// Runs `memory` against this chain; no indexer (the API URL points at a closed port).
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_memory"))
            .args(args)
            .current_dir(self.path())
            .env("MEMORY_RPC_URL", self.anvil.endpoint())
            .env("MEMORY_DEPLOYMENT", self.path().join("deployment.json"))
            .env("MEMORY_API_URL", "http://127.0.0.1:9")
            .env_remove("MEMORY_CHAIN_ID")
            .env_remove("MEMORY_NFT_ADDRESS")
            .env_remove("MEMORY_MARKET_ADDRESS")
            .env_remove("MEMORY_PRIVATE_KEY")
            .env_remove("MEMORY_KEYSTORE")
            .env_remove("MEMORY_KEYSTORE_PASSWORD")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "memory {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// The command fails with exit code 1 and exactly one `error: ...` line containing `needle`.
    fn fails(&self, args: &[&str], needle: &str) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "memory {args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "one line expected from {args:?}, got: {stderr}"
        );
        assert!(lines[0].starts_with("error: "), "{stderr}");
        assert!(lines[0].contains(needle), "`{needle}` not in: {stderr}");
    }

    /// Certifies `matrix` for the creator `creator` (the address that will mint it).
    fn certify(&self, matrix: &str, out: &str, key: &str, creator: &str) {
        let nft = self.deployment()["memoryNFT"].as_str().unwrap().to_owned();
        self.ok(&[
            "certify",
            "--matrix",
            matrix,
            "--test",
            "test.safetensors",
            "--contract",
            &nft,
            "--creator",
            creator,
            "-o",
            out,
            "--private-key",
            key,
        ]);
    }

    fn deployment(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.path().join("deployment.json")).unwrap())
            .unwrap()
    }
}

fn wei(v: &Value) -> u128 {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn mint_trade_withdraw_verify_without_indexer() {
    let c = TestChain::spawn();
    c.certify("w1.safetensors", "w1.cert.json", CERTIFIER_KEY, ALICE);
    c.certify("w3.safetensors", "w3.cert.json", CERTIFIER_KEY, CAROL);

    // originals 1 (alice, certified, with account) and 2 (bob, account created later)
    let m1 = c.json(&[
        "mint",
        "w1.safetensors",
        "--cert",
        "w1.cert.json",
        "--create-account",
        "--private-key",
        ALICE_KEY,
    ]);
    assert_eq!(m1["tokenId"], "1");
    assert_eq!(m1["owner"], ALICE);
    assert_eq!(m1["version"], "1.0.0", "version defaults from the metadata");
    let txs = m1["transactions"].as_array().unwrap();
    let what: Vec<&str> = txs.iter().map(|t| t["what"].as_str().unwrap()).collect();
    assert_eq!(
        what,
        ["commit", "mint", "anchor"],
        "commit-reveal, then anchor"
    );
    assert!(txs[1]["block"].as_u64() > txs[0]["block"].as_u64());
    for t in txs {
        assert!(t["hash"].as_str().unwrap().starts_with("0x"));
        assert!(t["block"].as_u64().unwrap() > 0 && t["gasUsed"].as_u64().unwrap() > 21_000);
    }
    let m2 = c.json(&[
        "mint",
        "w2.safetensors",
        "--royalty-bps",
        "0",
        "--source-model",
        "test/override",
        "--private-key",
        BOB_KEY,
    ]);
    assert_eq!(m2["tokenId"], "2");
    assert_eq!(m2["sourceModel"], "test/override");
    let a2 = c.json(&["account", "2"]);
    assert_eq!(a2["deployed"], false);
    let a2 = c.json(&["account", "2", "--create", "--private-key", BOB_KEY]);
    assert_eq!(a2["deployed"], true);
    assert_eq!(a2["transactions"].as_array().unwrap().len(), 1);

    // derived 3 (carol): parents 1 and 2, certificate anchored in the same flow
    let m3 = c.json(&[
        "mint",
        "w3.safetensors",
        "--parent",
        "1",
        "--parent",
        "2",
        "--cert",
        "w3.cert.json",
        "--private-key",
        CAROL_KEY,
    ]);
    assert_eq!(m3["tokenId"], "3");

    // human output prints hash, block and gas of every transaction
    let listed = c.ok(&[
        "list",
        "3",
        "--price",
        "2",
        "--approve",
        "--private-key",
        CAROL_KEY,
    ]);
    assert!(
        listed.contains("approve: tx 0x") && listed.contains(" block ") && listed.contains(" gas ")
    );
    c.ok(&["cancel", "3", "--private-key", CAROL_KEY]);
    c.ok(&["list", "3", "--price", "1ether", "--private-key", CAROL_KEY]);
    let buy = c.json(&["buy", "3", "--private-key", BOB_KEY]);
    assert_eq!(buy["priceWei"], "1000000000000000000");
    let royalties = buy["royalties"].as_array().unwrap();
    // creator 5% + 1% to each parent's account
    let to_parent = |t: &str| {
        royalties
            .iter()
            .find(|r| r["beneficiaryTokenId"] == t)
            .map(|r| wei(&r["amountWei"]))
    };
    assert_eq!(to_parent("3"), Some(50_000_000_000_000_000));
    assert_eq!(to_parent("1"), Some(10_000_000_000_000_000));
    assert_eq!(to_parent("2"), Some(10_000_000_000_000_000));
    assert_eq!(
        wei(&c.json(&["account", "1"])["balanceWei"]),
        10_000_000_000_000_000
    );

    // show falls back to the chain (no indexer here)
    let show = c.json(&["show", "3"]);
    assert_eq!(show["source"], "chain");
    assert_eq!(show["view"]["memory"]["owner"], BOB);
    assert_eq!(
        show["view"]["memory"]["parents"],
        serde_json::json!(["1", "2"])
    );
    assert_eq!(show["view"]["royalty_table"].as_array().unwrap().len(), 2);

    // withdraw part, then the rest, of token 1's royalties to alice
    let w = c.json(&[
        "withdraw",
        "--account",
        "1",
        "--amount",
        "4000000gwei",
        "--private-key",
        ALICE_KEY,
    ]);
    assert_eq!(w["amountWei"], "4000000000000000");
    assert_eq!(w["to"], ALICE);
    c.json(&["withdraw", "--account", "1", "--private-key", ALICE_KEY]);
    assert_eq!(wei(&c.json(&["account", "1"])["balanceWei"]), 0);

    // verify: every item matches, with the metrics recomputed
    for (t, f) in [("1", "w1"), ("3", "w3")] {
        let v = c.json(&[
            "verify",
            t,
            "--matrix",
            &format!("{f}.safetensors"),
            "--test",
            "test.safetensors",
            "--no-indexer",
        ]);
        assert_eq!(v["match"], true, "{v}");
        let items = v["items"].as_array().unwrap();
        let cert = items
            .iter()
            .find(|i| i["item"].as_str().unwrap().starts_with("certificate "))
            .unwrap();
        assert_eq!(cert["result"], "match");
        assert!(
            cert["detail"].as_str().unwrap().contains("signature ok"),
            "{cert}"
        );
    }
    let v3 = c.json(&["verify", "3", "--matrix", "w3.safetensors", "--no-indexer"]);
    let table = v3["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "royalty table")
        .unwrap();
    assert_eq!(table["detail"], "1:100bps 2:100bps");
    // token 2's on-chain source model was overridden: its artifact's metadata disagrees
    c.fails(
        &["verify", "2", "--matrix", "w2.safetensors", "--no-indexer"],
        "does not verify: mismatch in metadata",
    );
    // the wrong artifact for a token
    c.fails(
        &["verify", "3", "--matrix", "w1.safetensors", "--no-indexer"],
        "mismatch in checksum",
    );
    // the indexer is part of verify unless skipped: unreachable is a mismatch
    c.fails(
        &[
            "verify",
            "1",
            "--matrix",
            "w1.safetensors",
            "--indexer-wait",
            "1",
        ],
        "mismatch in indexer",
    );

    // a revoked certificate no longer verifies
    let digest = c.json(&[
        "verify-cert",
        "w1.cert.json",
        "--matrix",
        "w1.safetensors",
        "--test",
        "test.safetensors",
    ])["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    c.ok(&["revoke", &digest, "--private-key", CERTIFIER_KEY]);
    let out = c.run(&["verify", "1", "--matrix", "w1.safetensors", "--no-indexer"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.starts_with("certificate ")
            && l.contains("MISMATCH")
            && l.contains("revoked")),
        "{stdout}"
    );
}

#[test]
fn chain_commands_reject_bad_input_with_one_line() {
    let c = TestChain::spawn();
    c.certify("w1.safetensors", "w1.cert.json", CERTIFIER_KEY, ALICE);
    // alice is not a certifier: her signature is valid EIP-712 but the contract refuses it
    c.certify("w2.safetensors", "w2.alice.cert.json", ALICE_KEY, BOB);
    c.ok(&["mint", "w1.safetensors", "--private-key", ALICE_KEY]);
    let checksum1 = c.json(&["checksum", "w1.safetensors"])["checksum"]
        .as_str()
        .unwrap()
        .to_owned();

    // --- wrong files
    c.fails(
        &["mint", "absent.safetensors", "--private-key", ALICE_KEY],
        "cannot read the artifact absent.safetensors",
    );
    c.fails(
        &["mint", "x.npy", "--private-key", ALICE_KEY],
        "cannot read the artifact x.npy",
    );
    c.fails(
        &["mint", "test.safetensors", "--private-key", ALICE_KEY],
        "has no `source_model` metadata: pass --source-model",
    );
    c.fails(
        &[
            "mint",
            "w2.safetensors",
            "--version",
            "one",
            "--private-key",
            ALICE_KEY,
        ],
        "invalid version `one`",
    );
    c.fails(
        &[
            "anchor",
            "1",
            "--cert",
            "absent.json",
            "--private-key",
            ALICE_KEY,
        ],
        "cannot read the certificate absent.json",
    );
    c.fails(
        &[
            "anchor",
            "1",
            "--cert",
            "w1.safetensors",
            "--private-key",
            ALICE_KEY,
        ],
        "cannot read the certificate w1.safetensors",
    );
    c.fails(
        &[
            "mint",
            "w2.safetensors",
            "--cert",
            "w1.cert.json",
            "--private-key",
            ALICE_KEY,
        ],
        &format!("is for checksum {checksum1}"),
    );
    c.fails(
        &["verify", "1", "--matrix", "absent.safetensors"],
        "cannot read the artifact absent.safetensors",
    );
    c.fails(
        &[
            "verify",
            "1",
            "--matrix",
            "w1.safetensors",
            "--test",
            "w2.safetensors",
            "--no-indexer",
        ],
        "cannot load the test set w2.safetensors: missing tensor `x`",
    );
    c.fails(
        &[
            "mint",
            "w2.safetensors",
            "--deployment",
            "absent.json",
            "--private-key",
            ALICE_KEY,
        ],
        "cannot read the deployment record absent.json",
    );

    // --- wrong keys and passwords
    c.fails(&["mint", "w2.safetensors"], "no signing key");
    c.fails(&["list", "1", "--price", "1"], "no signing key");
    c.fails(&["account", "1", "--create"], "no signing key");
    c.fails(
        &["buy", "1", "--private-key", "0x1234"],
        "not a valid 32-byte hex key",
    );
    let cast = root().join("node_modules/.bin/cast");
    let st = Command::new(cast)
        .args([
            "wallet",
            "import",
            "alice",
            "--private-key",
            ALICE_KEY,
            "--unsafe-password",
            "s3cret",
            "--keystore-dir",
        ])
        .arg(c.path())
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    std::fs::write(c.path().join("pw"), "s3cret\n").unwrap();
    std::fs::write(c.path().join("wrong"), "guess\n").unwrap();
    c.fails(
        &[
            "withdraw",
            "--keystore",
            "alice",
            "--password-file",
            "wrong",
        ],
        "wrong password",
    );
    c.fails(
        &[
            "cancel",
            "1",
            "--keystore",
            "absent",
            "--password-file",
            "pw",
        ],
        "keystore absent does not exist",
    );
    let some_digest = format!("0x{}", "01".repeat(32));
    c.fails(
        &["revoke", &some_digest, "--keystore", "alice"],
        "no keystore password",
    );
    // the right password signs: alice, from her keystore, lists token 1 (then cancels)
    c.ok(&[
        "list",
        "1",
        "--price",
        "1",
        "--approve",
        "--keystore",
        "alice",
        "--password-file",
        "pw",
    ]);
    c.ok(&[
        "cancel",
        "1",
        "--keystore",
        "alice",
        "--password-file",
        "pw",
    ]);

    // --- wrong chain, wrong endpoint
    c.fails(
        &[
            "mint",
            "w2.safetensors",
            "--chain-id",
            "1",
            "--private-key",
            ALICE_KEY,
        ],
        "wrong chain: the node at",
    );
    c.fails(
        &["show", "1", "--chain-id", "5"],
        "is chain 31337, not chain 5",
    );
    let mut other = c.deployment();
    other["chainId"] = 10.into();
    std::fs::write(c.path().join("other.json"), other.to_string()).unwrap();
    c.fails(
        &["account", "1", "--deployment", "other.json"],
        "wrong chain: the deployment record other.json is for chain 10",
    );
    c.fails(
        &["account", "1", "--rpc-url", "http://127.0.0.1:9"],
        "cannot reach the chain at http://127.0.0.1:9",
    );
    c.fails(
        &[
            "account",
            "1",
            "--nft",
            "0x000000000000000000000000000000000000dEaD",
            "--market",
            "0x000000000000000000000000000000000000dEaD",
        ],
        "no MemoryNFT contract at 0x000000000000000000000000000000000000dEaD",
    );

    // every chain command checks the chain id before anything else is sent
    for cmd in [
        vec!["mint", "w2.safetensors", "--private-key", ALICE_KEY],
        vec![
            "anchor",
            "1",
            "--cert",
            "w1.cert.json",
            "--private-key",
            ALICE_KEY,
        ],
        vec!["revoke", &some_digest, "--private-key", CERTIFIER_KEY],
        vec!["account", "1"],
        vec!["list", "1", "--price", "1", "--private-key", ALICE_KEY],
        vec!["cancel", "1", "--private-key", ALICE_KEY],
        vec!["buy", "1", "--private-key", BOB_KEY],
        vec!["withdraw", "--private-key", ALICE_KEY],
        vec!["show", "1"],
        vec!["verify", "1", "--matrix", "w1.safetensors"],
    ] {
        let mut args = cmd.clone();
        args.extend(["--chain-id", "8453"]);
        c.fails(&args, "is chain 31337, not chain 8453 (--chain-id)");
    }
    // certificates for another chain, another contract, or edited after signing
    let nft = c.deployment()["memoryNFT"].as_str().unwrap().to_owned();
    c.ok(&[
        "certify",
        "--matrix",
        "w1.safetensors",
        "--test",
        "test.safetensors",
        "--contract",
        &nft,
        "--chain-id",
        "1",
        "--creator",
        ALICE,
        "-o",
        "mainnet.cert.json",
        "--private-key",
        CERTIFIER_KEY,
    ]);
    c.fails(
        &[
            "anchor",
            "1",
            "--cert",
            "mainnet.cert.json",
            "--private-key",
            ALICE_KEY,
        ],
        "is for chain 1, the node is chain 31337",
    );
    c.ok(&[
        "certify",
        "--matrix",
        "w1.safetensors",
        "--test",
        "test.safetensors",
        "--contract",
        "0x000000000000000000000000000000000000dEaD",
        "--creator",
        ALICE,
        "-o",
        "other.cert.json",
        "--private-key",
        CERTIFIER_KEY,
    ]);
    c.fails(
        &[
            "anchor",
            "1",
            "--cert",
            "other.cert.json",
            "--private-key",
            ALICE_KEY,
        ],
        "is for the MemoryNFT at 0x000000000000000000000000000000000000dEaD",
    );
    let mut edited: Value =
        serde_json::from_str(&std::fs::read_to_string(c.path().join("w1.cert.json")).unwrap())
            .unwrap();
    edited["certificate"]["epsilonPpm"] = 1.into();
    std::fs::write(c.path().join("edited.cert.json"), edited.to_string()).unwrap();
    c.fails(
        &[
            "anchor",
            "1",
            "--cert",
            "edited.cert.json",
            "--private-key",
            ALICE_KEY,
        ],
        "invalid certificate signature in edited.cert.json",
    );
    c.fails(&["anchor", "1", "--cert", "w1.cert.json"], "no signing key");

    // --- reverts: the contracts' custom errors, decoded with their arguments
    c.fails(
        &["mint", "w1.safetensors", "--private-key", BOB_KEY],
        &format!("mint reverted: ChecksumAlreadyMinted(checksum: {checksum1}, tokenId: 1)"),
    );
    c.fails(
        &[
            "mint",
            "w2.safetensors",
            "--parent",
            "7",
            "--private-key",
            BOB_KEY,
        ],
        "mint reverted: UnknownParent(parentId: 7)",
    );
    c.fails(
        &[
            "mint",
            "w2.safetensors",
            "--parent",
            "1",
            "--parent",
            "1",
            "--private-key",
            BOB_KEY,
        ],
        "mint reverted: DuplicateParent(parentId: 1)",
    );
    c.fails(
        &[
            "mint",
            "w2.safetensors",
            "--royalty-bps",
            "1500",
            "--private-key",
            BOB_KEY,
        ],
        "mint reverted: RoyaltyTooHigh(royaltyBps: 1500, maxBps: 1000)",
    );
    c.fails(
        &[
            "anchor",
            "9",
            "--cert",
            "w1.cert.json",
            "--private-key",
            BOB_KEY,
        ],
        "NonexistentToken(tokenId: 9)",
    );
    c.ok(&["mint", "w2.safetensors", "--private-key", BOB_KEY]); // token 2
    c.fails(
        &["anchor", "2", "--cert", "w2.alice.cert.json", "--private-key", BOB_KEY],
        &format!("anchor reverted: NotCertifier(signer: {ALICE}) (the signer of the certificate is not a certifier)"),
    );
    c.fails(
        &[
            "anchor",
            "2",
            "--cert",
            "w1.cert.json",
            "--private-key",
            BOB_KEY,
        ],
        "anchor reverted: CertificateChecksumMismatch(certChecksum: ",
    );
    let anchored = c.json(&[
        "anchor",
        "1",
        "--cert",
        "w1.cert.json",
        "--private-key",
        BOB_KEY,
    ]);
    let digest = anchored["digest"].as_str().unwrap().to_owned();
    c.fails(
        &[
            "anchor",
            "1",
            "--cert",
            "w1.cert.json",
            "--private-key",
            BOB_KEY,
        ],
        &format!("anchor reverted: CertificateAlreadyAnchored(digest: {digest})"),
    );
    c.fails(
        &["revoke", &digest, "--private-key", BOB_KEY],
        &format!("revoke reverted: NotCertificateCertifier(caller: {BOB}, certifier: {CERTIFIER})"),
    );
    let unknown = format!("0x{}", "ab".repeat(32));
    c.fails(
        &["revoke", &unknown, "--private-key", CERTIFIER_KEY],
        &format!("revoke reverted: UnknownCertificate(digest: {unknown})"),
    );
    c.ok(&[
        "revoke",
        "--cert",
        "w1.cert.json",
        "--private-key",
        CERTIFIER_KEY,
    ]);
    c.fails(
        &["revoke", &digest, "--private-key", CERTIFIER_KEY],
        "CertificateAlreadyRevoked",
    );

    c.fails(
        &["list", "2", "--price", "1", "--private-key", BOB_KEY],
        "list reverted: MarketNotApproved(tokenId: 2) (the market is not approved for this token: use `memory list --approve`)",
    );
    c.fails(
        &["list", "2", "--price", "1", "--private-key", ALICE_KEY],
        &format!("list reverted: NotTokenOwner(caller: {ALICE}, owner: {BOB})"),
    );
    c.fails(
        &[
            "list",
            "2",
            "--price",
            "0",
            "--approve",
            "--private-key",
            BOB_KEY,
        ],
        "list reverted: ZeroPrice()",
    );
    c.fails(
        &["list", "9", "--price", "1", "--private-key", BOB_KEY],
        "NonexistentToken(tokenId: 9)",
    );
    let out = c.run(&["list", "2", "--price", "lots", "--private-key", BOB_KEY]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap rejects an unparsable price"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("`lots` is not an amount"));
    c.fails(
        &["cancel", "2", "--private-key", BOB_KEY],
        "cancel reverted: NotListed(tokenId: 2)",
    );
    c.fails(
        &["buy", "2", "--private-key", ALICE_KEY],
        "token 2 is not listed",
    );
    c.ok(&[
        "list",
        "2",
        "--price",
        "1",
        "--approve",
        "--private-key",
        BOB_KEY,
    ]);
    c.fails(
        &["buy", "2", "--private-key", BOB_KEY],
        "buy reverted: BuyerIsSeller()",
    );
    // the seller revokes the market's approval after listing: the buyer learns why
    let nft = c.deployment()["memoryNFT"].as_str().unwrap().to_owned();
    let revoke = Command::new(root().join("node_modules/.bin/cast"))
        .args(["send", &nft, "approve(address,uint256)", ZERO, "2"])
        .args(["--private-key", BOB_KEY, "--rpc-url", &c.anvil.endpoint()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&revoke.stdout).contains("status               1"),
        "cast send approve: {}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    c.fails(
        &["buy", "2", "--private-key", ALICE_KEY],
        "buy reverted: MarketNotApproved(tokenId: 2) (the seller revoked the market's approval after listing)",
    );
    c.ok(&[
        "list",
        "2",
        "--price",
        "1",
        "--approve",
        "--private-key",
        BOB_KEY,
    ]);
    c.fails(
        &["cancel", "2", "--private-key", ALICE_KEY],
        &format!("cancel reverted: NotTokenOwner(caller: {ALICE}, owner: {BOB})"),
    );
    c.fails(
        &["buy", "2", "--private-key", POOR_KEY],
        "buy: insufficient funds: 0x",
    );
    c.fails(
        &["withdraw", "--private-key", ALICE_KEY],
        "withdraw reverted: NothingToWithdraw()",
    );
    c.fails(
        &["withdraw", "--account", "1", "--private-key", ALICE_KEY],
        "holds no ETH to withdraw",
    );
    // royalties sit in token 1's account after a sale of a child; only its owner can move them
    c.ok(&[
        "mint",
        "w3.safetensors",
        "--parent",
        "1",
        "--private-key",
        CAROL_KEY,
    ]); // token 3
    c.ok(&[
        "list",
        "3",
        "--price",
        "1",
        "--approve",
        "--private-key",
        CAROL_KEY,
    ]);
    c.ok(&["buy", "3", "--private-key", BOB_KEY]);
    c.fails(
        &[
            "withdraw",
            "--account",
            "1",
            "--amount",
            "1",
            "--private-key",
            ALICE_KEY,
        ],
        "holds 0.010000000000000000 ETH, less than 1.000000000000000000 ETH",
    );
    c.fails(
        &["withdraw", "--account", "1", "--private-key", BOB_KEY],
        &format!("{BOB} does not own token 1 (its owner {ALICE} controls the account)"),
    );
    c.ok(&["account", "1", "--create", "--private-key", BOB_KEY]);
    c.fails(
        &["withdraw", "--account", "1", "--private-key", BOB_KEY],
        &format!("withdraw reverted: NotAuthorized(caller: {BOB})"),
    );
    c.fails(&["show", "9"], "NonexistentToken(tokenId: 9)");
    c.fails(&["account", "9"], "NonexistentToken(tokenId: 9)");
    c.fails(
        &["verify", "9", "--matrix", "w1.safetensors"],
        "NonexistentToken(tokenId: 9)",
    );
}

/// The buyer's side of issue 8: `buy` commits to the listing it saw, a mint is commit-reveal
/// (`--commit-only` then `--salt`), a certificate names its creator, a listed token's account is
/// locked, a buy of a token whose account exists refuses when its approvals cannot be checked
/// (no indexer here) unless the buyer accepts them, and the ledger withdraws to another address.
#[test]
fn buy_commits_to_the_listing_and_mint_commits_first() {
    let c = TestChain::spawn();
    c.certify("w1.safetensors", "w1.cert.json", CERTIFIER_KEY, ALICE);

    // a certificate that names alice cannot be used by bob, and nothing is sent
    c.fails(
        &[
            "mint",
            "w1.safetensors",
            "--cert",
            "w1.cert.json",
            "--private-key",
            BOB_KEY,
        ],
        &format!("the certificate names {ALICE} as the creator"),
    );
    // commit only, then reveal with the printed salt
    let committed = c.json(&[
        "mint",
        "w1.safetensors",
        "--commit-only",
        "--private-key",
        ALICE_KEY,
    ]);
    assert_eq!(committed["transactions"].as_array().unwrap().len(), 1);
    let salt = committed["salt"].as_str().unwrap().to_owned();
    // bob cannot reveal alice's commitment with her salt: it binds the creator
    c.fails(
        &[
            "mint",
            "w1.safetensors",
            "--salt",
            &salt,
            "--private-key",
            BOB_KEY,
        ],
        "mint reverted: UnknownCommitment(commitment: ",
    );
    let m1 = c.json(&[
        "mint",
        "w1.safetensors",
        "--salt",
        &salt,
        "--cert",
        "w1.cert.json",
        "--create-account",
        "--private-key",
        ALICE_KEY,
    ]);
    assert_eq!(m1["tokenId"], "1");
    let what: Vec<&str> = m1["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["what"].as_str().unwrap())
        .collect();
    assert_eq!(what, ["mint", "anchor"], "no second commit");
    // the same salt cannot be revealed twice
    c.fails(
        &[
            "mint",
            "w2.safetensors",
            "--salt",
            &salt,
            "--private-key",
            ALICE_KEY,
        ],
        "mint reverted: UnknownCommitment(commitment: ",
    );

    // list, then cancel and re-list: a buyer holding the old id is refused before anything is sent
    let first = c.json(&[
        "list",
        "1",
        "--price",
        "1",
        "--approve",
        "--expires-in",
        "2d",
        "--private-key",
        ALICE_KEY,
    ]);
    let first_id = first["listingId"].as_str().unwrap().to_owned();
    assert!(first["expiresAt"].as_u64().unwrap() > 0);
    c.ok(&["cancel", "1", "--private-key", ALICE_KEY]);
    let second = c.json(&["list", "1", "--price", "1", "--private-key", ALICE_KEY]);
    let second_id = second["listingId"].as_str().unwrap().to_owned();
    assert_ne!(first_id, second_id, "listing ids never repeat");
    c.fails(
        &["buy", "1", "--listing", &first_id, "--private-key", BOB_KEY],
        &format!("token 1 is now listing {second_id} (you asked for listing {first_id})"),
    );
    c.fails(
        &[
            "buy",
            "1",
            "--listing",
            &second_id,
            "--price",
            "0.5",
            "--private-key",
            BOB_KEY,
        ],
        "asks 1.000000000000000000 ETH, not the 0.500000000000000000 ETH you expected",
    );
    // the account exists: without an indexer its approvals cannot be checked
    c.fails(
        &[
            "buy",
            "1",
            "--listing",
            &second_id,
            "--private-key",
            BOB_KEY,
        ],
        "pass --accept-approvals to buy without the check",
    );
    let buy = c.json(&[
        "buy",
        "1",
        "--listing",
        &second_id,
        "--accept-approvals",
        "--private-key",
        BOB_KEY,
    ]);
    assert_eq!(buy["listingId"], second_id.as_str());
    assert_eq!(buy["buyer"], BOB);
    // bought: the old listing is gone
    c.fails(
        &["buy", "1", "--private-key", CAROL_KEY],
        "token 1 is not listed",
    );
    // the ledger withdraws to another address through withdrawTo (nothing owed here)
    c.fails(
        &["withdraw", "--to", BOB, "--private-key", ALICE_KEY],
        "withdrawTo reverted: NothingToWithdraw",
    );
    let too_long = c.run(&[
        "list",
        "1",
        "--price",
        "1",
        "--expires-in",
        "181d",
        "--private-key",
        BOB_KEY,
    ]);
    assert_eq!(too_long.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("a listing runs at most 180 days"));
}
