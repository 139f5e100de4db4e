//! Shared by the configuration tests: a `zeus.toml` of their own, removed with its directory
//! when the test is done (also when it fails).

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use zeus_core::config::ConfigOptions;

/// Options naming a configuration file written for one test; see the module docs.
pub struct ConfigFile {
    pub opts: ConfigOptions,
    dir: PathBuf,
}

impl ConfigFile {
    /// Writes `body` to `<temp>/zeus-core-<tag>-<pid>-<n>/zeus.toml`, with `--set` overrides.
    pub fn new(tag: &str, body: &str, overrides: &[&str]) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "zeus-core-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("zeus.toml");
        std::fs::write(&path, body).unwrap();
        Self {
            opts: ConfigOptions {
                file: Some(path),
                run_dir: None,
                overrides: overrides.iter().map(|s| s.to_string()).collect(),
            },
            dir,
        }
    }

    /// The file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join("zeus.toml")
    }
}

impl Deref for ConfigFile {
    type Target = ConfigOptions;

    fn deref(&self) -> &ConfigOptions {
        &self.opts
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
