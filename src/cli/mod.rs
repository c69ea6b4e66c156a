//! The command line: one file per subcommand, each parsing flags into library options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use output::{ColorChoice, Printer, Verbosity};
use wasmctl::project::{PluginType, ProjectSelector};

mod build;
mod checked;
mod completions;
mod dev;
pub mod exit;
mod key_value;
mod login;
mod logout;
mod man;
mod manifest;
mod new;
pub mod output;
mod parse;
mod pull;
mod push;
mod reporter;
mod run;
mod serve;
mod test;
mod verify;
mod version;

pub use parse::{command, parse};

/// Build, run, push and deploy proxy-wasm plugins for Envoy and Istio.
#[derive(Debug, Parser)]
#[command(
    name = "wasmctl",
    version,
    long_version = version::long_version(),
    propagate_version = true,
    max_term_width = 100,
    after_help = exit::EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Print only results and errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (-vv also turns on debug logs)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// When to use colors
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto, value_name = "WHEN")]
    pub color: Color,
    /// Work afresh: neither read nor write the cache of compiled and wasm-opt-shrunk modules
    #[arg(long, global = true, env = "WASMCTL_NO_CACHE", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_cache: bool,
}

impl GlobalArgs {
    pub fn printer(&self, json: bool) -> Printer {
        let verbosity = if self.quiet {
            Verbosity::Quiet
        } else if self.verbose > 0 {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        let color = match self.color {
            Color::Auto => ColorChoice::Auto,
            Color::Always => ColorChoice::Always,
            Color::Never => ColorChoice::Never,
        };
        Printer::new(verbosity, color, json)
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    New(new::NewArgs),
    Build(build::BuildArgs),
    Run(run::RunArgs),
    Test(test::TestArgs),
    Serve(serve::ServeArgs),
    Dev(dev::DevArgs),
    Push(push::PushArgs),
    Manifest(Box<manifest::ManifestArgs>),
    Verify(verify::VerifyArgs),
    Pull(pull::PullArgs),
    Login(login::LoginArgs),
    Logout(logout::LogoutArgs),
    Completions(completions::CompletionsArgs),
    Man(man::ManArgs),
}

/// `--type` for the commands that run a plugin: which filter chain it joins.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TypeArg {
    Http,
    Network,
}

impl From<TypeArg> for PluginType {
    fn from(arg: TypeArg) -> PluginType {
        match arg {
            TypeArg::Http => PluginType::Http,
            TypeArg::Network => PluginType::Network,
        }
    }
}

/// Which project a command works on: `--manifest-path` and `-p/--package`, as cargo names them.
#[derive(Debug, Args, Clone, Default)]
pub struct ProjectArgs {
    /// Path to the project's Cargo.toml (or the directory holding it)
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
    /// Package to use, in a workspace
    #[arg(short, long, value_name = "SPEC")]
    package: Option<String>,
}

impl ProjectArgs {
    pub fn selector(&self) -> ProjectSelector {
        ProjectSelector {
            manifest_path: self.manifest_path.clone(),
            package: self.package.clone(),
        }
    }
}

/// `--json` for commands that have a result.
#[derive(Debug, Args, Clone, Copy)]
pub struct JsonArg {
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

impl Command {
    /// Whether the command was asked for a JSON result.
    pub fn json(&self) -> bool {
        match self {
            Command::New(args) => args.output.json,
            Command::Build(args) => args.output.json,
            Command::Manifest(args) => args.output.json,
            Command::Run(args) => args.output.json,
            Command::Test(args) => args.output.json,
            Command::Push(args) => args.output.json,
            Command::Verify(args) => args.output.json,
            Command::Pull(args) => args.output.json,
            Command::Login(_)
            | Command::Logout(_)
            | Command::Completions(_)
            | Command::Man(_)
            | Command::Serve(_)
            | Command::Dev(_) => false,
        }
    }
}

/// Runs the command; `Ok` carries success, or the failures it found.
pub fn run(cli: Cli, printer: &Printer) -> anyhow::Result<exit::ExitStatus> {
    let done = |()| exit::ExitStatus::Success;
    if cli.global.no_cache {
        wasmctl::cache::disable();
    }
    match cli.command {
        Command::New(args) => new::run(args, printer).map(done),
        Command::Build(args) => build::run(args, printer).map(done),
        Command::Manifest(args) => manifest::run(*args, printer).map(done),
        Command::Run(args) => run::run(args, printer).map(done),
        Command::Test(args) => test::run(args, printer),
        Command::Serve(args) => serve::run(args, printer).map(done),
        Command::Dev(args) => dev::run(args, printer).map(done),
        Command::Push(args) => push::run(args, printer).map(done),
        Command::Verify(args) => verify::run(args, printer),
        Command::Pull(args) => pull::run(args, printer).map(done),
        Command::Login(args) => login::run(args, printer).map(done),
        Command::Logout(args) => logout::run(args, printer).map(done),
        Command::Completions(args) => completions::run(args, printer).map(done),
        Command::Man(args) => man::run(args, printer).map(done),
    }
}

/// Sends `tracing` output to stderr, apart from user messages; RUST_LOG or WASMCTL_LOG pick the
/// level. Colored only where the Printer colors (`--color`, NO_COLOR, a terminal).
pub fn init_logging(global: &GlobalArgs, color: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if global.verbose > 1 {
        "wasmctl=debug"
    } else {
        "off"
    };
    let filter = std::env::var("WASMCTL_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .map(EnvFilter::new)
        .unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .try_init();
}
