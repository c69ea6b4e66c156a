//! `wasmctl new`: flags and prompts in, `scaffold::generate` out.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::cli::output::Printer;
use clap::Args;
use wasmctl::error::Hint;
use wasmctl::key_value::KeyValue;
use wasmctl::manifest::ManifestError;
use wasmctl::scaffold::{
    self, NewOptions, PluginName, ScaffoldError, check_namespace, check_repository,
};

use super::JsonArg;
use super::key_value::KeyValueParser;

/// Create a proxy-wasm plugin project from a template
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  wasmctl new demo --yes\n  wasmctl new auth --template http-auth --repository ghcr.io/acme/auth"
)]
pub struct NewArgs {
    /// Project name: a cargo package name and a Kubernetes DNS-1123 label (names the WasmPlugin)
    #[arg(required_unless_present = "list", allow_hyphen_values = true)]
    name: Option<String>,
    /// Template to start from (see --list)
    #[arg(short, long, value_name = "ID")]
    template: Option<String>,
    /// List the templates and exit
    #[arg(long)]
    list: bool,
    /// Directory to create [default: ./NAME]
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
    /// Image repository `wasmctl push` uses [default: localhost:5000/NAME]
    #[arg(long, value_name = "REPO")]
    repository: Option<String>,
    /// Namespace of the WasmPlugin [default: default]
    #[arg(short, long)]
    namespace: Option<String>,
    /// Workload selector label, repeatable [default: app=NAME]
    #[arg(long, value_name = "KEY=VALUE", value_parser = KeyValueParser::new("--selector"))]
    selector: Vec<KeyValue>,
    /// Replace an existing non-empty directory
    #[arg(long)]
    force: bool,
    /// Accept defaults for everything not given by a flag; never prompt
    #[arg(short, long)]
    yes: bool,
    #[command(flatten)]
    pub output: JsonArg,
}

pub fn run(args: NewArgs, printer: &Printer) -> anyhow::Result<()> {
    if args.list {
        return list(printer);
    }
    let raw = args.name.as_deref().unwrap_or_default();
    let name = PluginName::parse(raw)
        .map_err(|reason| ScaffoldError::BadName {
            name: raw.to_string(),
            reason,
        })
        .map_err(wasmctl::Error::from)?;
    let unset = Unset {
        template: args.template.is_none(),
        repository: args.repository.is_none(),
        namespace: args.namespace.is_none(),
        selector: args.selector.is_empty(),
    };
    let ask = !args.yes && printer.interactive();
    let mut options = from_flags(args, name).map_err(wasmctl::Error::from)?;
    if ask {
        // A prompt hides the cursor while it draws: Ctrl-C (which the prompt turns back into
        // SIGINT once the terminal is restored) must give it back before the process ends.
        let _ = ctrlc::set_handler(|| {
            let _ = console::Term::stderr().show_cursor();
            std::process::exit(130);
        });
        prompt(&mut options, &unset)?;
    }

    let out = scaffold::generate(&options)?;
    for note in &out.notes {
        printer.warn(note);
    }
    if !out.replaced.is_empty() {
        printer.warn(format_args!(
            "replaced what was in {}: {}",
            out.path.display(),
            out.replaced.join(", ")
        ));
    }
    printer.status(
        "Created",
        format!(
            "`{}` from template `{}` at {}",
            out.name,
            out.template,
            out.path.display()
        ),
    );
    if printer.json() {
        printer.result_json(&out)?;
    } else {
        printer.result(out.path.display());
    }
    Ok(())
}

/// The options the flags give, each checked before anything is asked or written.
fn from_flags(args: NewArgs, name: PluginName) -> Result<NewOptions, ScaffoldError> {
    let mut options = NewOptions::with_defaults(name);
    if let Some(dir) = args.dir {
        options.dir = dir;
    }
    options.force = args.force;
    if let Some(template) = args.template {
        scaffold::find(&template)
            .ok_or_else(|| ScaffoldError::UnknownTemplate(template.clone()))?;
        options.template = template;
    }
    if let Some(repository) = args.repository {
        check_repository(&repository)?;
        options.repository = repository;
    }
    if let Some(namespace) = args.namespace {
        check_namespace(&namespace)?;
        options.namespace = namespace;
    }
    if !args.selector.is_empty() {
        options.selector = scaffold::parse_selector(&args.selector)?;
    }
    scaffold::check_destination(&options.dir, options.force)?;
    Ok(options)
}

fn list(printer: &Printer) -> anyhow::Result<()> {
    let templates = scaffold::templates();
    if printer.json() {
        let rows: Vec<_> = templates
            .iter()
            .map(|t| serde_json::json!({"id": t.id, "type": t.plugin_type.as_str(), "description": t.description}))
            .collect();
        return printer.result_json(&rows);
    }
    let width = templates.iter().map(|t| t.id.len()).max().unwrap_or(0);
    for t in templates {
        printer.result(format!("{:width$}  {}", t.id, t.description));
    }
    Ok(())
}

/// Which settings no flag gave, so a prompt may ask for them.
struct Unset {
    template: bool,
    repository: bool,
    namespace: bool,
    selector: bool,
}

/// Asks for what no flag settled; each question names the flag that answers it, and a bad answer
/// is refused with the reason and asked again.
fn prompt(options: &mut NewOptions, unset: &Unset) -> anyhow::Result<()> {
    use dialoguer::Select;
    let theme = dialoguer::theme::SimpleTheme;
    if unset.template {
        let all = scaffold::templates();
        let items: Vec<String> = all
            .iter()
            .map(|t| format!("{:14} {}", t.id, t.description))
            .collect();
        let pick = Select::with_theme(&theme)
            .with_prompt("Template (--template)")
            .items(&items)
            .default(0)
            .interact()?;
        options.template = all[pick].id.to_string();
    }
    if unset.repository {
        ask(
            "Image repository (--repository)",
            &mut options.repository,
            check_repository,
        )?;
    }
    if unset.namespace {
        ask(
            "Namespace (--namespace)",
            &mut options.namespace,
            check_namespace,
        )?;
    }
    if unset.selector {
        let mut text = options
            .selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        ask("Workload selector (--selector)", &mut text, |text| {
            selector_from_text(text).map(drop)
        })?;
        options.selector = selector_from_text(&text)?;
    }
    Ok(())
}

/// One line of text in place of `answer`, which is the default when the user just presses enter;
/// an answer `check` refuses is shown with the reason and asked again.
fn ask(
    prompt: &str,
    answer: &mut String,
    check: impl Fn(&str) -> Result<(), ScaffoldError>,
) -> anyhow::Result<()> {
    *answer = dialoguer::Input::with_theme(&dialoguer::theme::SimpleTheme)
        .with_prompt(prompt)
        .default(answer.clone())
        .validate_with(|text: &String| check(text).map_err(reason))
        .interact_text()?;
    Ok(())
}

/// `KEY=VALUE,KEY=VALUE` as typed at the prompt, checked as `--selector` is.
fn selector_from_text(text: &str) -> Result<BTreeMap<String, String>, ScaffoldError> {
    let pairs = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            pair.parse::<KeyValue>()
                .map_err(|why| ManifestError::BadArgument {
                    flag: "--selector",
                    item: pair.to_string(),
                    message: why.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    scaffold::parse_selector(&pairs)
}

/// What a prompt shows under a refused answer: the error and what to do about it.
fn reason(err: ScaffoldError) -> String {
    let hints = err.hints();
    match hints.first() {
        Some(hint) => format!("{err} ({hint})"),
        None => err.to_string(),
    }
}
