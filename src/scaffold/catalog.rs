//! The templates `wasmctl new` knows, embedded from templates/ when wasmctl is compiled.
//!
//! Each template is a directory `templates/<id>/` holding `template.toml` (description, plugin type,
//! example config file) and `files/`, the project as it will be written.

use include_dir::{Dir, include_dir};

use crate::project::PluginType;

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The template `wasmctl new` uses unless told otherwise.
pub const DEFAULT_TEMPLATE: &str = "http-headers";

/// One embedded template.
#[derive(Debug, Clone)]
pub struct Template {
    pub id: &'static str,
    pub description: String,
    pub plugin_type: PluginType,
    /// The example pluginConfig file, relative to the project root.
    pub config: Option<String>,
    pub(super) files: &'static Dir<'static>,
}

/// Every embedded template, the default first, then by id.
pub fn templates() -> Vec<Template> {
    let mut all: Vec<Template> = TEMPLATES
        .dirs()
        .filter_map(|dir| {
            let id = dir.path().file_name()?.to_str()?;
            let meta = dir.get_file(dir.path().join("template.toml"))?;
            let files = dir.get_dir(dir.path().join("files"))?;
            let doc: toml_edit::DocumentMut = meta.contents_utf8()?.parse().ok()?;
            let text = |key: &str| doc.get(key).and_then(|v| v.as_str()).map(str::to_string);
            let plugin_type: PluginType = text("type")
                .and_then(|t| t.parse().ok())
                .unwrap_or_default();
            Some(Template {
                id,
                description: text("description").unwrap_or_default(),
                plugin_type,
                config: text("config"),
                files,
            })
        })
        .collect();
    all.sort_by_key(|t| (t.id != DEFAULT_TEMPLATE, t.id));
    all
}

/// The template with this id.
pub fn find(id: &str) -> Option<Template> {
    templates().into_iter().find(|t| t.id == id)
}

/// The template id closest to `id`, when one is close enough to be what was meant (clap's rule
/// for suggesting a subcommand: Jaro similarity above 0.7), or contains it (`auth`).
pub(super) fn closest(id: &str) -> Option<&'static str> {
    let all = templates();
    if let Some(t) = all.iter().find(|t| t.id.contains(id) && !id.is_empty()) {
        return Some(t.id);
    }
    all.iter()
        .map(|t| (strsim::jaro(id, t.id), t.id))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_id() {
        let cases = [
            ("http-header", Some("http-headers")),
            ("htp-auth", Some("http-auth")),
            ("auth", Some("http-auth")),
            ("netwrok", Some("network")),
            ("grpc", None),
        ];
        for (typed, suggested) in cases {
            assert_eq!(closest(typed), suggested, "{typed}");
        }
    }

    #[test]
    fn every_template_has_metadata_and_a_cargo_toml() {
        let all = templates();
        assert!(
            all.len() >= 4,
            "templates: {:?}",
            all.iter().map(|t| t.id).collect::<Vec<_>>()
        );
        assert_eq!(all[0].id, DEFAULT_TEMPLATE);
        for t in &all {
            assert!(!t.description.is_empty(), "{} has no description", t.id);
            let cargo = t.files.get_file(t.files.path().join("Cargo.toml"));
            let cargo = cargo.and_then(|f| f.contents_utf8()).unwrap_or_default();
            assert!(
                cargo.contains("{{wasmctl_metadata}}"),
                "{}: Cargo.toml lacks the metadata line",
                t.id
            );
            if let Some(config) = &t.config {
                assert!(
                    t.files.get_file(t.files.path().join(config)).is_some(),
                    "{}: no {config}",
                    t.id
                );
            }
        }
    }
}
