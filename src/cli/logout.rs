//! `wasmctl logout`: flags in, `oci::login::logout` out.

use crate::cli::output::Printer;
use clap::Args;
use wasmctl::oci::login;
use wasmctl::oci::reference::parse_registry_host;

/// Remove the stored credentials of a registry
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry host, e.g. ghcr.io or localhost:5000
    #[arg(value_name = "HOST")]
    host: String,
}

pub fn run(args: LogoutArgs, printer: &Printer) -> anyhow::Result<()> {
    let host = parse_registry_host(&args.host).map_err(wasmctl::Error::from)?;
    if login::logout(&host)? {
        printer.status("Logged out", format!("of {host}"));
    } else {
        printer.warn(format!("not logged in to {host}"));
    }
    Ok(())
}
