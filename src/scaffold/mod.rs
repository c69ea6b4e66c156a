//! `wasmctl new`: write a plugin project from an embedded template, all at once or not at all.

mod catalog;
mod name;
mod render;
mod settings;
mod staging;
mod workspace;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use catalog::{DEFAULT_TEMPLATE, Template, find, templates};
pub use name::{NameError, PluginName};

use crate::error::Hint;
use crate::manifest::ManifestError;
use crate::oci::ReferenceError;
pub use settings::{check_namespace, check_repository, parse_selector};
pub use staging::check_destination;
use workspace::Enclosing;

/// The repository a new project pushes to unless told otherwise: a registry on the local machine,
/// as kind and k3d clusters use.
pub const DEFAULT_REGISTRY: &str = "localhost:5000";
/// The namespace of a new project's WasmPlugin unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("invalid plugin name `{name}`: {reason}")]
    BadName { name: String, reason: NameError },
    #[error("unknown template `{0}`")]
    UnknownTemplate(String),
    #[error("destination `{}` already exists and is not empty", .0.display())]
    NotEmpty(PathBuf),
    #[error("destination `{}` exists and is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("destination `{}` is not valid UTF-8", .0.display())]
    NotUtf8(PathBuf),
    #[error("--force does not replace `{}`: {why}", .dir.display())]
    Irreplaceable { dir: PathBuf, why: &'static str },
    #[error("failed to write the project to `{}`", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A namespace or selector the manifest would refuse.
    #[error(transparent)]
    BadSetting(#[from] ManifestError),
    /// A repository push would refuse.
    #[error(transparent)]
    BadRepository(#[from] ReferenceError),
}

impl Hint for ScaffoldError {
    fn hints(&self) -> Vec<String> {
        match self {
            ScaffoldError::BadName { name, reason } => {
                let rule = match reason {
                    NameError::Reserved(_) => {
                        "pick another name; this one clashes with Rust or a plugin dependency"
                    }
                    _ => {
                        "a plugin name is a cargo package name and a Kubernetes DNS-1123 label: lowercase letters, digits and '-', starting with a letter, at most 63 characters"
                    }
                };
                let suggestion = PluginName::suggest(name).map(|s| format!("try `{s}`"));
                std::iter::once(rule.to_string())
                    .chain(suggestion)
                    .collect()
            }
            ScaffoldError::UnknownTemplate(id) => {
                let mut hints: Vec<String> = catalog::closest(id)
                    .map(|close| format!("did you mean `{close}`?"))
                    .into_iter()
                    .collect();
                hints.push(format!(
                    "available templates: {} (see `wasmctl new --list`)",
                    templates()
                        .iter()
                        .map(|t| t.id)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                hints
            }
            ScaffoldError::NotEmpty(_) => {
                vec!["pass --force to replace it, or choose another directory with --dir".into()]
            }
            ScaffoldError::NotUtf8(_) => {
                vec!["cargo needs a path that is text: choose another directory with --dir".into()]
            }
            ScaffoldError::Irreplaceable { .. } => vec![
                "remove what is there yourself if it should go, or choose another directory with --dir"
                    .into(),
            ],
            ScaffoldError::BadSetting(e) => e.hints(),
            ScaffoldError::BadRepository(e) => e.hints(),
            ScaffoldError::NotADirectory(_) | ScaffoldError::Write { .. } => Vec::new(),
        }
    }
}

/// What to generate, after prompts and flags are settled.
#[derive(Debug, Clone)]
pub struct NewOptions {
    pub name: PluginName,
    pub template: String,
    /// The directory to create (default: ./NAME).
    pub dir: PathBuf,
    /// Replace an existing non-empty directory.
    pub force: bool,
    /// Image repository for `wasmctl push` (default: localhost:5000/NAME).
    pub repository: String,
    pub namespace: String,
    pub selector: BTreeMap<String, String>,
}

impl NewOptions {
    /// Defaults for everything but the name.
    pub fn with_defaults(name: PluginName) -> NewOptions {
        NewOptions {
            template: DEFAULT_TEMPLATE.to_string(),
            dir: PathBuf::from(name.as_str()),
            repository: format!("{DEFAULT_REGISTRY}/{name}"),
            namespace: DEFAULT_NAMESPACE.to_string(),
            selector: BTreeMap::from([("app".to_string(), name.to_string())]),
            force: false,
            name,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewOutput {
    pub path: PathBuf,
    pub name: String,
    pub template: String,
    pub files: Vec<PathBuf>,
    /// What was in the destination before and is gone now (with --force): its top-level entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<String>,
    /// What the user should know about where the project landed (a cargo workspace above it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Writes the project into a temporary directory beside the destination, then renames it into place.
/// Every value is checked first, so a bad one writes nothing.
pub fn generate(options: &NewOptions) -> crate::Result<NewOutput> {
    let template = find(&options.template)
        .ok_or_else(|| ScaffoldError::UnknownTemplate(options.template.clone()))?;
    options.validate()?;
    check_destination(&options.dir, options.force)?;
    let replaced = staging::entries(&options.dir);

    let dest = staging::absolute(&options.dir);
    let enclosing = workspace::enclosing(&dest);
    let parent = dest.parent().unwrap_or(Path::new("/")).to_path_buf();
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Write { path, source }
    };
    // Remember the first directory we create, so a failure can take it away again.
    let first_created = parent
        .ancestors()
        .take_while(|a| !a.exists())
        .last()
        .map(Path::to_path_buf);
    let result = (|| {
        std::fs::create_dir_all(&parent).map_err(write_err(&parent))?;
        let staging = tempfile::Builder::new()
            .prefix(".wasmctl-new-")
            .tempdir_in(&parent)
            .map_err(write_err(&parent))?;
        let files = render::render_into(&template, options, staging.path())?;
        if let Enclosing::Outside { .. } = &enclosing {
            own_workspace(staging.path())?;
        }
        staging::replace_dir(staging, &dest)?;
        Ok(files)
    })();
    let files = match result {
        Ok(files) => files,
        Err(err) => {
            if let Some(created) = first_created {
                let _ = std::fs::remove_dir_all(created);
            }
            return Err(err);
        }
    };
    let notes = match enclosing {
        Enclosing::None => Vec::new(),
        Enclosing::Outside { root } => vec![format!(
            "the cargo workspace at {} does not list this project, so it is a workspace of its \
             own (an empty [workspace] table in its Cargo.toml); to build it with the others, \
             list it in that workspace's members and remove the table",
            root.display()
        )],
        Enclosing::Member { root } => vec![format!(
            "the cargo workspace at {} lists this project: cargo builds it with that workspace's \
             [profile.release], not the one in its own Cargo.toml that keeps the module small; \
             copy that profile to {}",
            root.display(),
            root.join("Cargo.toml").display()
        )],
    };
    Ok(NewOutput {
        path: dest,
        name: options.name.to_string(),
        template: template.id.to_string(),
        files,
        replaced,
        notes,
    })
}

/// Makes the staged project a workspace of its own, so that it builds inside a workspace that
/// does not list it.
fn own_workspace(staged: &Path) -> Result<(), ScaffoldError> {
    let manifest = staged.join("Cargo.toml");
    let err = |source| ScaffoldError::Write {
        path: manifest.clone(),
        source,
    };
    let mut text = std::fs::read_to_string(&manifest).map_err(err)?;
    text.push_str(
        "\n# A workspace of its own: the cargo workspace above does not list it.\n[workspace]\n",
    );
    std::fs::write(&manifest, text).map_err(err)
}
