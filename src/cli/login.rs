//! `wasmctl login`: check credentials against a registry, then store them for push and pull.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use clap::Args;
use wasmctl::oci::ImageRef;
use wasmctl::oci::auth::{self, Credential};
use wasmctl::oci::registry::Registry;
use wasmctl::output::Printer;

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

/// `https://ghcr.io/` -> `ghcr.io`; the host is validated by the reference grammar.
pub fn parse_host(text: &str) -> anyhow::Result<String> {
    let host = text
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let probe = ImageRef::parse(&format!("{host}/wasmctl-login"))?;
    if probe.registry != host {
        bail!("invalid registry host `{text}`");
    }
    Ok(host.to_string())
}

pub fn run(args: LoginArgs, printer: &Printer) -> anyhow::Result<()> {
    let host = parse_host(&args.host)?;
    let password = if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("failed to read the password from stdin")?;
        text.trim_end_matches(['\n', '\r']).to_string()
    } else if printer.interactive() {
        let term = console::Term::stderr();
        term.write_str(&format!("Password for {} at {host}: ", args.username))?;
        term.read_secure_line()
            .context("failed to read the password")?
    } else {
        bail!("no password: pass --password-stdin and pipe the password in");
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let probe = ImageRef::parse(&format!("{host}/wasmctl-login"))?;
    let credential = Credential::Basic {
        username: args.username.clone(),
        password: password.clone(),
    };
    let mut registry = Registry::new(&probe, &args.registry.transport(), Some(credential), false)?;
    wasmctl::oci::block_on(registry.check_password(&args.username, &password))?;
    let stored_in = auth::store(&host, &args.username, &password)?;
    printer.status(
        "Logged in",
        format!("to {host} as {} (stored in {stored_in})", args.username),
    );
    Ok(())
}
