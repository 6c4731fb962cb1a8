//! Loading the signer: a Web3 secret-storage keystore (password from a file, the
//! environment or a prompt) or, for development, a raw private key.
//!
//! Shared by every command that signs (`certify` today, the chain commands later).

use std::{io::IsTerminal, path::PathBuf};

use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, Result, bail};

/// Key flags: `--keystore` (wins when both are given) or `--private-key`.
#[derive(clap::Args, Debug, Clone)]
pub struct KeyArgs {
    /// Web3 secret-storage (V3) keystore file of the signer.
    #[arg(long, env = "MEMORY_KEYSTORE", value_name = "FILE")]
    pub keystore: Option<PathBuf>,
    /// File holding the keystore password (first line). Otherwise MEMORY_KEYSTORE_PASSWORD,
    /// otherwise a prompt on the terminal.
    #[arg(long, value_name = "FILE", requires = "keystore")]
    pub password_file: Option<PathBuf>,
    /// Raw hex private key, for development only (prefer a keystore).
    #[arg(
        long,
        env = "MEMORY_PRIVATE_KEY",
        hide_env_values = true,
        value_name = "HEX"
    )]
    pub private_key: Option<String>,
}

/// Environment variable holding the keystore password.
pub const PASSWORD_ENV: &str = "MEMORY_KEYSTORE_PASSWORD";

impl KeyArgs {
    /// The signer these flags describe.
    pub fn signer(&self) -> Result<PrivateKeySigner> {
        match (&self.keystore, &self.private_key) {
            (Some(path), _) => {
                if !path.is_file() {
                    bail!("keystore {} does not exist", path.display());
                }
                let password = self.password()?;
                PrivateKeySigner::decrypt_keystore(path, password.trim_end_matches(['\r', '\n']))
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot decrypt keystore {}: wrong password or not a keystore ({e})",
                            path.display()
                        )
                    })
            }
            (None, Some(key)) => key
                .trim()
                .parse::<PrivateKeySigner>()
                .map_err(|_| anyhow::anyhow!("the private key is not a valid 32-byte hex key")),
            (None, None) => bail!(
                "no signing key: pass --keystore FILE (or MEMORY_KEYSTORE) or, for development, \
                 --private-key / MEMORY_PRIVATE_KEY"
            ),
        }
    }

    fn password(&self) -> Result<String> {
        if let Some(file) = &self.password_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read password file {}", file.display()))?;
            return Ok(text.lines().next().unwrap_or_default().to_owned());
        }
        if let Ok(pw) = std::env::var(PASSWORD_ENV) {
            return Ok(pw);
        }
        if std::io::stdin().is_terminal() {
            return rpassword::prompt_password("keystore password: ")
                .context("cannot read the password from the terminal");
        }
        bail!(
            "no keystore password: use --password-file FILE or {PASSWORD_ENV} (no terminal to prompt on)"
        )
    }
}
