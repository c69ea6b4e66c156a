//! `wasmctl login`: flags and the password in, `oci::login::login` out.

use std::io::Read as _;

use crate::cli::output::Printer;
use anyhow::{Context as _, bail};
use clap::Args;
use wasmctl::oci::login::{self, LoginOptions};
use wasmctl::oci::reference::parse_registry_host;

use super::push::RegistryArgs;

/// Log in to a registry; the credentials are checked, then stored in the docker config
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry host, e.g. ghcr.io or localhost:5000
    #[arg(value_name = "HOST")]
    host: String,
    /// User name
    #[arg(short, long, value_name = "USER")]
    username: String,
    /// Read the password (or token) from stdin; passwords are never taken as arguments
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: LoginArgs, printer: &Printer) -> anyhow::Result<()> {
    let host = parse_registry_host(&args.host).map_err(wasmctl::Error::from)?;
    let password = read_password(&args, &host, printer)?;
    let options = LoginOptions {
        host,
        username: args.username,
        password,
        transport: args.registry.transport(),
    };
    let stored_in = login::login(&options)?;
    printer.status(
        "Logged in",
        format!(
            "to {} as {} (stored in {stored_in})",
            options.host, options.username
        ),
    );
    Ok(())
}

/// The password from stdin with `--password-stdin`, else asked for on a terminal.
fn read_password(args: &LoginArgs, host: &str, printer: &Printer) -> anyhow::Result<String> {
    if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("failed to read the password from stdin")?;
        Ok(text.trim_end_matches(['\n', '\r']).to_string())
    } else if printer.interactive() {
        let term = console::Term::stderr();
        term.write_str(&format!("Password for {} at {host}: ", args.username))?;
        term.read_secure_line()
            .context("failed to read the password")
    } else {
        bail!("no password: pass --password-stdin and pipe the password in");
    }
}
