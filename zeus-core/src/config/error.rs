//! Configuration errors that name the key, the bad value, the layer it came from and what is
//! allowed, so a typo in a file, an env var or a flag is found at once.

use std::fmt;

use figment::error::{Actual, Kind};
use figment::{Figment, Metadata, Source};

/// One refused configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path, e.g. `schedulers.web.max_processes`.
    pub key: String,
    /// The offending value as written, when there is one.
    pub value: Option<String>,
    /// Where it came from: `file /etc/zeus/zeus.toml`, `environment variable ZEUS_…`, ….
    pub layer: String,
    /// What is wrong.
    pub problem: String,
    /// What would be accepted, when that can be listed.
    pub allowed: Option<String>,
}

impl ConfigError {
    /// An error about `key`, its value and layer looked up in `figment`.
    pub fn at(figment: &Figment, key: &str, problem: impl Into<String>) -> Self {
        Self {
            key: key.to_string(),
            value: figment.find_value(key).ok().map(|v| render_value(&v)),
            layer: layer_of(figment, key),
            problem: problem.into(),
            allowed: None,
        }
    }

    /// Adds the list of accepted values.
    pub fn allowed(mut self, allowed: impl Into<String>) -> Self {
        self.allowed = Some(allowed.into());
        self
    }

    /// Converts figment's extraction errors (unknown keys, wrong types, missing keys…).
    pub fn from_figment(figment: &Figment, err: figment::Error, prefix: &str) -> Vec<Self> {
        err.into_iter()
            .map(|e| {
                let mut path: Vec<String> = Vec::new();
                if !prefix.is_empty() {
                    path.push(prefix.to_string());
                }
                path.extend(e.path.iter().cloned());
                let (problem, value, allowed, extra) = describe(&e.kind);
                // figment puts an unknown field at the end of the path, a missing one not.
                if let Some(field) = extra.filter(|f| path.last() != Some(f)) {
                    path.push(field);
                }
                let key = path.join(".");
                // A file replaces the embedded service set: a service it only tweaks (say the
                // default `zeus_httpd`'s port) lacks the rest of its definition.
                let problem =
                    if matches!(e.kind, Kind::MissingField(_)) && key.starts_with("services.") {
                        format!(
                            "{problem} (a configuration file replaces the embedded default \
                         services: define each service it names whole)"
                        )
                    } else {
                        problem
                    };
                let layer = match &e.metadata {
                    Some(md) => describe_layer(md, &key),
                    None => layer_of(figment, &key),
                };
                let value =
                    value.or_else(|| figment.find_value(&key).ok().map(|v| render_value(&v)));
                Self {
                    key,
                    value,
                    layer,
                    problem,
                    allowed,
                }
            })
            .collect()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.key)?;
        if let Some(v) = &self.value {
            write!(f, " = {v}")?;
        }
        write!(f, " (from {}): {}", self.layer, self.problem)?;
        if let Some(a) = &self.allowed {
            write!(f, "; allowed: {a}")?;
        }
        Ok(())
    }
}

/// Every error found in one pass, so a user fixes them all at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "configuration error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

/// The layer that supplied `key`, in words.
pub fn layer_of(figment: &Figment, key: &str) -> String {
    match figment.find_metadata(key) {
        Some(md) => describe_layer(md, key),
        None => "built-in default".to_string(),
    }
}

fn describe_layer(md: &Metadata, key: &str) -> String {
    if let Some(Source::File(path)) = &md.source {
        return format!("file {}", path.display());
    }
    if md.name.contains("environment") {
        return format!("environment variable {}", env_var_name(key));
    }
    md.name.to_string()
}

/// The `ZEUS_` variable that sets `key` (`a.b_c` → `ZEUS_A__B_C`).
pub fn env_var_name(key: &str) -> String {
    format!(
        "ZEUS_{}",
        key.split('.')
            .collect::<Vec<_>>()
            .join("__")
            .to_ascii_uppercase()
    )
}

/// Renders a figment value the way a user would write it in TOML.
pub fn render_value(v: &figment::value::Value) -> String {
    use figment::value::Value;
    match v {
        Value::Dict(_, d) => format!("{{{} keys}}", d.len()),
        Value::Array(_, a) => format!("[{} items]", a.len()),
        other => render_actual(&other.to_actual()),
    }
}

type Described = (String, Option<String>, Option<String>, Option<String>);

fn describe(kind: &Kind) -> Described {
    match kind {
        Kind::UnknownField(field, expected) => (
            "unknown key (a typo?)".into(),
            None,
            Some(expected.join(", ")),
            Some(field.clone()),
        ),
        Kind::MissingField(field) => (
            "missing required key".into(),
            None,
            None,
            Some(field.to_string()),
        ),
        Kind::UnknownVariant(v, expected) => (
            "unknown value".into(),
            Some(format!("{v:?}")),
            Some(expected.join(", ")),
            None,
        ),
        Kind::InvalidType(actual, expected) => (
            format!("wrong type: expected {expected}"),
            Some(render_actual(actual)),
            None,
            None,
        ),
        Kind::InvalidValue(actual, expected) => (
            format!("invalid value: expected {expected}"),
            Some(render_actual(actual)),
            None,
            None,
        ),
        other => (other.to_string(), None, None, None),
    }
}

fn render_actual(a: &Actual) -> String {
    match a {
        Actual::Str(s) => format!("{s:?}"),
        Actual::Char(c) => format!("{c:?}"),
        Actual::Bool(b) => b.to_string(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(f) => f.to_string(),
        other => other.to_string(),
    }
}
