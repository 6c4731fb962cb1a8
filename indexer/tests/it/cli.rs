//! The `memory-indexer` binary's bad-input behaviour and `verify`'s exit code on a tampered
//! database (real anvil + PostgreSQL).

use std::process::Command;

use alloy::primitives::Address;
use memory_indexer::test_utils::{
    TestChain, database_url, database_url_named, init_tracing, test_db_url,
};
use memory_indexer::{Error, verify};
use sqlx::PgPool;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_memory-indexer"));
    c.env_remove("DATABASE_URL")
        .env_remove("INDEXER_DEPLOYMENT")
        .env("RUST_LOG", "off");
    c
}

/// Runs `memory-indexer ARGS` with (any) contract addresses, so that the configuration is complete.
fn with_contracts(args: &[&str]) -> std::process::Output {
    bin()
        .args(args)
        .args(["--nft", "0x5FbDB2315678afecb367f032d93F642f64180aa3"])
        .args(["--market", "0x5FbDB2315678afecb367f032d93F642f64180aa3"])
        .output()
        .expect("run memory-indexer")
}

#[test]
fn bad_input_is_one_readable_line_and_a_failure_exit() {
    let cases: [(&[&str], &str); 4] = [
        (&["verify"], "error: configuration: no MemoryNFT address"),
        (
            &["sync", "--deployment", "/nonexistent/31337.json"],
            "error: deployment file /nonexistent/31337.json",
        ),
        (
            &[
                "migrate",
                "--nft",
                "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                "--market",
                "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            ],
            "error: configuration: no database URL",
        ),
        (
            &["run", "--nft", "not-an-address"],
            "invalid value 'not-an-address'",
        ),
    ];
    // verify against a node that is not there: a bounded wait, then one line
    let t = std::time::Instant::now();
    let out = with_contracts(&[
        "verify",
        "--rpc-url",
        "http://127.0.0.1:9",
        "--database-url",
        &database_url(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: no answer from the RPC endpoint http://127.0.0.1:9"),
        "{stderr}"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(60));
    // a database that cannot be used: its real cause, once, on one line
    let out = with_contracts(&[
        "migrate",
        "--database-url",
        &database_url_named("no_such_database"),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: cannot connect to PostgreSQL: database: ")
            && stderr
                .matches(r#"database "no_such_database" does not exist"#)
                .count()
                == 1,
        "{stderr}"
    );
    for (args, expected) in cases {
        let out = bin().args(args).output().expect("run memory-indexer");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        if expected.starts_with("error:") {
            assert_eq!(
                stderr.trim().lines().count(),
                1,
                "{args:?}: one line, got {stderr}"
            );
        }
    }
}

#[sqlx::test(migrator = "memory_indexer::db::MIGRATOR")]
async fn verify_reports_a_tampered_database_and_exits_non_zero(pool: PgPool) -> Result<(), Error> {
    init_tracing();
    let chain = TestChain::spawn().await;
    let s = chain.scenario().await;
    let url = test_db_url(&pool);
    let verify_cli = || {
        bin()
            .args([
                "verify",
                "--finality-depth",
                "0",
                "--rpc-url",
                &chain.anvil.endpoint(),
            ])
            .arg("--deployment")
            .arg(&chain.deployment_file)
            .args(["--database-url", &url])
            .output()
            .expect("run verify")
    };
    let sync = bin()
        .args([
            "sync",
            "--finality-depth",
            "0",
            "--rpc-url",
            &chain.anvil.endpoint(),
        ])
        .arg("--deployment")
        .arg(&chain.deployment_file)
        .args(["--database-url", &url])
        .output()
        .expect("run sync");
    assert!(
        sync.status.success(),
        "{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    let ok = verify_cli();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains(", 0 mismatches"));

    // tamper: another owner, a lost account, a certificate shown as revoked, a lost listing
    let cid = chain.chain_id as i64;
    sqlx::query("UPDATE memories SET owner = $2 WHERE chain_id = $1 AND token_id = 1")
        .bind(cid)
        .bind(Address::repeat_byte(7).as_slice())
        .execute(&pool)
        .await?;
    sqlx::query("UPDATE memories SET account = NULL WHERE chain_id = $1 AND token_id = 2")
        .bind(cid)
        .execute(&pool)
        .await?;
    sqlx::query("UPDATE certificates SET revoked = true WHERE chain_id = $1 AND digest = $2")
        .bind(cid)
        .bind(s.certificate.as_slice())
        .execute(&pool)
        .await?;
    sqlx::query("DELETE FROM listings WHERE chain_id = $1 AND status = 'open'")
        .bind(cid)
        .execute(&pool)
        .await?;
    let settings = chain.settings(&url);
    let ix =
        memory_indexer::ingest::Indexer::new(settings.resolve()?, pool.clone(), Default::default())
            .await?;
    let report = verify::verify(&pool, ix.chain(), ix.chain_id()).await?;
    let mut what: Vec<&str> = report.mismatches.iter().map(|m| m.what.as_str()).collect();
    what.sort_unstable();
    let cert = format!("certificate {}", s.certificate);
    assert_eq!(
        what,
        [
            "account of token 2",
            cert.as_str(),
            "open listing of token 2",
            "owner of token 1"
        ]
    );
    let bad = verify_cli();
    assert_eq!(bad.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert!(
        stdout.contains("MISMATCH owner of token 1") && stdout.contains(", 4 mismatches"),
        "{stdout}"
    );
    Ok(())
}
