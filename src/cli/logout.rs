//! `wasmctl logout`: forget the stored credentials of a registry.

use clap::Args;
use wasmctl::oci::auth;
use wasmctl::output::Printer;

use super::login::parse_host;

/// Remove the stored credentials of a registry
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry host, e.g. ghcr.io or localhost:5000
    #[arg(value_name = "HOST")]
    host: String,
}

pub fn run(args: LogoutArgs, printer: &Printer) -> anyhow::Result<()> {
    let host = parse_host(&args.host)?;
    if auth::remove(&host)? {
        printer.status("Logged out", format!("of {host}"));
    } else {
        printer.warn(format!("not logged in to {host}"));
    }
    Ok(())
}
