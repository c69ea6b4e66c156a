//! The VM's environment: `--env NAME=VALUE` and `--env-from-host NAME`.

use super::types::{EnvValueSource, EnvVar, VmConfig};
use super::{ManifestError, PluginOptions};

pub(super) fn vm_config(options: &PluginOptions) -> Result<Option<VmConfig>, ManifestError> {
    let mut env: Vec<EnvVar> = options
        .env
        .iter()
        .map(|item| EnvVar {
            name: item.key.clone(),
            value: Some(item.value.clone()),
            value_from: None,
        })
        .collect();
    for name in &options.env_from_host {
        if name.contains('=') {
            return Err(ManifestError::BadArgument {
                flag: "--env-from-host",
                item: name.clone(),
                message: "takes only a NAME: the value comes from the proxy's environment".into(),
            });
        }
        env.push(EnvVar {
            name: name.clone(),
            value: None,
            value_from: Some(EnvValueSource::Host),
        });
    }
    Ok((!env.is_empty()).then_some(VmConfig { env }))
}
