//! Rendering a template's files with the project's name, repository and settings.

use std::path::{Path, PathBuf};

use super::{NewOptions, ScaffoldError, Template};
use crate::project::Settings;

pub(super) fn render_into(
    template: &Template,
    options: &NewOptions,
    root: &Path,
) -> Result<Vec<PathBuf>, ScaffoldError> {
    let settings = Settings {
        template: Some(template.id.to_string()),
        plugin_type: Some(template.plugin_type),
        repository: Some(options.repository.clone()),
        namespace: Some(options.namespace.clone()),
        selector: options.selector.clone(),
        config: template.config.as_ref().map(PathBuf::from),
        config_schema: None,
    };
    let vars = [
        ("{{name}}", options.name.to_string()),
        ("{{crate_name}}", options.name.crate_name()),
        ("{{repository}}", options.repository.clone()),
        ("{{namespace}}", options.namespace.clone()),
        (
            "{{wasmctl_metadata}}",
            settings.to_toml_table().trim_end().to_string(),
        ),
    ];
    let mut written = Vec::new();
    let mut stack = vec![template.files];
    while let Some(dir) = stack.pop() {
        stack.extend(dir.dirs());
        for file in dir.files() {
            let relative = file
                .path()
                .strip_prefix(template.files.path())
                .expect("files live under the template's files/");
            let relative = match relative.file_name().and_then(|n| n.to_str()) {
                Some("_gitignore") => relative.with_file_name(".gitignore"),
                _ => relative.to_path_buf(),
            };
            let contents = match file.contents_utf8() {
                Some(text) => vars
                    .iter()
                    .fold(text.to_string(), |acc, (k, v)| acc.replace(k, v))
                    .into_bytes(),
                None => file.contents().to_vec(),
            };
            let path = root.join(&relative);
            let write_err = |source| ScaffoldError::Write {
                path: path.clone(),
                source,
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(write_err)?;
            }
            std::fs::write(&path, contents).map_err(write_err)?;
            written.push(relative);
        }
    }
    written.sort();
    Ok(written)
}
