//! `wasmctl new`: flags and prompts in, `scaffold::generate` out.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use wasmctl::output::Printer;
use wasmctl::scaffold::{self, NewOptions, PluginName, ScaffoldError};

use super::JsonArg;

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
    #[arg(long, value_name = "KEY=VALUE")]
    selector: Vec<String>,
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
    let name = PluginName::parse(raw).map_err(|reason| ScaffoldError::BadName {
        name: raw.to_string(),
        reason,
    })?;
    let mut options = NewOptions::with_defaults(name.clone());
    if let Some(dir) = args.dir {
        options.dir = dir;
    }
    options.force = args.force;
    // Fail on a bad template or destination before asking anything.
    if let Some(template) = &args.template {
        scaffold::find(template).ok_or_else(|| ScaffoldError::UnknownTemplate(template.clone()))?;
        options.template = template.clone();
    }
    scaffold::check_destination(&options.dir, options.force)?;
    if let Some(repository) = args.repository {
        options.repository = repository;
    }
    if let Some(namespace) = args.namespace {
        options.namespace = namespace;
    }
    if !args.selector.is_empty() {
        options.selector = parse_selector(&args.selector)?;
    }

    if !args.yes && printer.interactive() {
        prompt(
            &mut options,
            &args.template.is_some(),
            &args.selector.is_empty(),
        )?;
    }

    let out = scaffold::generate(&options)?;
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

fn parse_selector(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("invalid selector `{pair}`: expected KEY=VALUE"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Asks for what no flag settled; each question has the flag named in its prompt.
fn prompt(
    options: &mut NewOptions,
    template_given: &bool,
    selector_default: &bool,
) -> anyhow::Result<()> {
    use dialoguer::{Input, Select};
    let theme = dialoguer::theme::SimpleTheme;
    if !template_given {
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
    options.repository = Input::with_theme(&theme)
        .with_prompt("Image repository (--repository)")
        .default(options.repository.clone())
        .interact_text()?;
    options.namespace = Input::with_theme(&theme)
        .with_prompt("Namespace (--namespace)")
        .default(options.namespace.clone())
        .interact_text()?;
    if *selector_default {
        let current = options
            .selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let answer: String = Input::with_theme(&theme)
            .with_prompt("Workload selector (--selector)")
            .default(current)
            .interact_text()?;
        let pairs: Vec<String> = answer
            .split(',')
            .map(str::to_string)
            .filter(|s| !s.is_empty())
            .collect();
        options.selector = parse_selector(&pairs)?;
    }
    Ok(())
}
