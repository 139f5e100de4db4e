//! Builds the figment from its layers and extracts `ZeusConfig`.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};

use super::error::{ConfigError, ConfigErrors};
use super::validate::{validate, Registries};
use super::ZeusConfig;

const DEFAULTS: &str = include_str!("defaults.toml");
const DEFAULT_SERVICES: &str = include_str!("services.toml");
const SYSTEM_FILE: &str = "/etc/zeus/zeus.toml";
const LOCAL_FILE: &str = "zeus.toml";

/// What the command line contributes: the file to read and flag overrides.
#[derive(Debug, Clone, Default)]
pub struct ConfigOptions {
    /// `--config FILE` (else `ZEUS_CONFIG`, else `./zeus.toml`).
    pub file: Option<PathBuf>,
    /// `--run-dir DIR`.
    pub run_dir: Option<PathBuf>,
    /// `--set KEY=VALUE`, in order.
    pub overrides: Vec<String>,
}

/// A configuration layer, as `zeus list` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// Compiled into the binary.
    Embedded,
    /// A TOML file.
    File(PathBuf),
    /// `ZEUS_` variables.
    Env,
    /// Command-line flags.
    Flags,
}

/// The extracted configuration and the figment it came from (for provenance).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// Typed, validated configuration.
    pub config: ZeusConfig,
    /// The merged layers, kept to say where each value came from.
    pub figment: Figment,
    /// The layers that took part, in order.
    pub layers: Vec<Layer>,
}

/// Loads, extracts and validates the configuration.
pub fn load(
    opts: &ConfigOptions,
    registries: &Registries,
    extra_defaults: &[&str],
) -> Result<LoadedConfig, ConfigErrors> {
    let (figment, layers) = build(opts, extra_defaults)?;
    let config: ZeusConfig = figment
        .extract()
        .map_err(|e| ConfigErrors(ConfigError::from_figment(&figment, e, "")))?;
    validate(&config, &figment, registries)?;
    Ok(LoadedConfig {
        config,
        figment,
        layers,
    })
}

/// Only `run_dir`, tolerating errors elsewhere in the configuration.
pub fn run_dir_only(opts: &ConfigOptions) -> Option<PathBuf> {
    let (figment, _) = build(opts, &[]).ok()?;
    figment.extract_inner::<PathBuf>("run_dir").ok()
}

/// The layers; `extra_defaults` (service sets of adapters registered by the binary) follow
/// the embedded service set, and like it apply only when no configuration file is found.
fn build(
    opts: &ConfigOptions,
    extra_defaults: &[&str],
) -> Result<(Figment, Vec<Layer>), ConfigErrors> {
    let mut files = Vec::new();
    if Path::new(SYSTEM_FILE).is_file() {
        files.push(PathBuf::from(SYSTEM_FILE));
    }
    let chosen = opts
        .file
        .clone()
        .map(|f| (f, "--config"))
        .or_else(|| std::env::var_os("ZEUS_CONFIG").map(|f| (PathBuf::from(f), "ZEUS_CONFIG")));
    match chosen {
        Some((file, origin)) => {
            if !file.is_file() {
                return Err(ConfigError {
                    key: "config".into(),
                    value: Some(format!("{:?}", file.display().to_string())),
                    layer: origin.into(),
                    problem: "no such file".into(),
                    allowed: None,
                }
                .into());
            }
            files.push(file);
        }
        None if Path::new(LOCAL_FILE).is_file() => files.push(PathBuf::from(LOCAL_FILE)),
        None => {}
    }

    let mut layers = vec![Layer::Embedded];
    let mut figment = Figment::from(Named::new(Toml::string(DEFAULTS), "embedded defaults"));
    if files.is_empty() {
        figment = figment.merge(Named::new(
            Toml::string(DEFAULT_SERVICES),
            "embedded defaults",
        ));
        for extra in extra_defaults {
            figment = figment.merge(Named::new(Toml::string(extra), "embedded defaults"));
        }
    }
    for f in files {
        let f = std::fs::canonicalize(&f).unwrap_or(f);
        figment = figment.merge(Toml::file_exact(&f));
        layers.push(Layer::File(f));
    }
    figment = figment.merge(Env::prefixed("ZEUS_").ignore(&["config"]).split("__"));
    layers.push(Layer::Env);
    let flags = flag_layer(opts)?;
    if !flags.is_empty() {
        for (key, value, label) in flags {
            figment = figment.merge(Named::new(Serialized::default(&key, value), label));
        }
        layers.push(Layer::Flags);
    }
    Ok((figment, layers))
}

/// (key, value, label) of every flag, in order.
fn flag_layer(opts: &ConfigOptions) -> Result<Vec<(String, toml::Value, String)>, ConfigErrors> {
    let mut out = Vec::new();
    if let Some(dir) = &opts.run_dir {
        let value = toml::Value::String(dir.display().to_string());
        out.push((
            "run_dir".to_string(),
            value,
            "command-line flag --run-dir".to_string(),
        ));
    }
    for item in &opts.overrides {
        let Some((key, raw)) = item.split_once('=') else {
            return Err(ConfigError {
                key: item.clone(),
                value: None,
                layer: "command-line flag --set".into(),
                problem: "expected KEY=VALUE".into(),
                allowed: None,
            }
            .into());
        };
        let key = key.trim().to_string();
        let label = format!("command-line flag --set {key}");
        out.push((key, parse_scalar(raw.trim()), label));
    }
    Ok(out)
}

/// A flag value is read as a TOML value when it is one (`8`, `true`, `[1, 2]`), else a string.
fn parse_scalar(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

/// A provider with a name of our choosing, so `zeus list` can say "embedded defaults".
struct Named<P> {
    inner: P,
    name: String,
}

impl<P> Named<P> {
    fn new(inner: P, name: impl Into<String>) -> Self {
        Self {
            inner,
            name: name.into(),
        }
    }
}

impl<P: Provider> Provider for Named<P> {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.inner.data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values_are_typed() {
        assert_eq!(parse_scalar("8"), toml::Value::Integer(8));
        assert_eq!(parse_scalar("true"), toml::Value::Boolean(true));
        assert_eq!(
            parse_scalar("127.0.0.1"),
            toml::Value::String("127.0.0.1".into())
        );
        assert_eq!(parse_scalar("\"x y\""), toml::Value::String("x y".into()));
    }
}
