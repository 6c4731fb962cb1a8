//! `memory`: the command-line tool of the Memory Asset Layer.
//!
//! Offline commands (this crate today): `checksum`, `pack`, `fit`, `evaluate`, `certify`,
//! `verify-cert`. Each lives in its own module under `cmd/`; chain commands plug in the same
//! way. Errors print as one `error: ...` line on stderr with a non-zero exit code.

mod cmd;
mod output;
mod wallet;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cmd::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // Usage errors are one line too (clap's first paragraph: the message and, e.g.,
            // the missing arguments), exit code 2.
            let text = e.render().to_string();
            let first: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let first = first.join(" ");
            let first = first.strip_prefix("error: ").unwrap_or(&first);
            eprintln!("error: {first} (see `memory --help`)");
            return ExitCode::from(2);
        }
    };
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined with ": " on one line. A cause whose text the message already
/// ends with is left out: library errors such as `Io { path, source }` show their source in their
/// own message too, and `{:#}` would print it twice.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.ends_with(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg.replace('\n', " ")
}
