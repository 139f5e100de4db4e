//! `drop_privileges` (`user`, and `group`, which defaults to the user's primary group): the
//! workers give up root after the listeners are bound (the manager binds them before any
//! fork), so a service may listen on port 80 and still never serve a task as root.
//!
//! Names are resolved when the configuration is prepared: an unknown user or group, an
//! unknown option, a switch that needs root while zeus is not root, or the plugin in
//! `manager.plugins` refuses the start (exit 2) naming the key. Switching to the ids zeus
//! already runs as is a no-op.
//!
//! The switch (`sys::creds::switch`: groups, gid, uid, then proof that root cannot come back)
//! happens on `WorkerProcessStart`, before any worker of the process runs a task:
//! - `process`: in each worker process, right after the fork;
//! - `hybrid`: in each child process, before it starts its threads;
//! - `thread`: in the scheduler process, before its first worker thread. The scheduler first
//!   hands its scoreboard to the user so it can still remove it at exit (`/dev/shm` is
//!   sticky: only a file's owner may unlink it).
//!
//! The manager keeps its privileges (it binds listeners and cleans up), and so do the
//! schedulers of forking MPMs (they fork and signal their workers). A failed switch vetoes
//! the process start: that process ends before it serves anything.

use super::{Ctx, Plugin, PluginError, PluginOptions, Section};
use crate::config::{ConfigError, ConfigErrors};
use crate::event::Event;
use crate::sys::creds;

/// The `drop_privileges` plugin.
#[derive(Debug, Clone)]
pub struct DropPrivileges {
    user: String,
    uid: u32,
    group: String,
    gid: u32,
}

impl DropPrivileges {
    /// Resolves `user` and `group` and checks that the switch is possible; reports every
    /// problem at once.
    pub fn from_options(o: &PluginOptions) -> Result<Self, ConfigErrors> {
        if o.section() == Section::Manager {
            return Err(o
                .error(
                    "",
                    "the manager keeps its privileges (it binds listeners and cleans up)",
                )
                .allowed("drop_privileges in schedulers.NAME.plugins")
                .into());
        }
        let mut errs = o
            .only(&["user", "group"])
            .err()
            .map_or_else(Vec::new, |e| e.0);
        let user = resolve(o, "user", creds::user_by_name, &mut errs);
        let group = resolve(o, "group", creds::group_by_name, &mut errs);
        if o.get("user").is_none() {
            errs.push(o.error("user", "missing required option"));
        }
        let (Some((user, (uid, primary))), true) = (user, errs.is_empty()) else {
            return Err(ConfigErrors(errs));
        };
        let (group, gid) = group.unwrap_or_else(|| {
            let name = creds::group_name(primary).unwrap_or_else(|| primary.to_string());
            (name, primary)
        });
        let (euid, egid) = creds::effective();
        if let Some(field) = needs_root((euid, egid), (uid, gid)) {
            return Err(refuse_unprivileged(o, field, euid, egid).into());
        }
        Ok(Self {
            user,
            uid,
            group,
            gid,
        })
    }
}

/// Looks the name in `option` up with `lookup`; `None` when it is absent or refused (the
/// refusal goes to `errs`).
fn resolve<T>(
    o: &PluginOptions,
    option: &str,
    lookup: impl Fn(&str) -> Result<Option<T>, creds::CredsError>,
    errs: &mut Vec<ConfigError>,
) -> Option<(String, T)> {
    let name = match o.string(option) {
        Ok(name) => name?,
        Err(e) => {
            errs.push(e);
            return None;
        }
    };
    match lookup(name) {
        Ok(Some(found)) => Some((name.to_string(), found)),
        Ok(None) => {
            errs.push(o.error(option, format!("no such {option}")));
            None
        }
        Err(e) => {
            errs.push(o.error(option, format!("cannot look it up: {e}")));
            None
        }
    }
}

/// Which option asks for a switch that only root may make (`None`: allowed).
fn needs_root(current: (u32, u32), target: (u32, u32)) -> Option<&'static str> {
    match current {
        (0, _) => None,
        (uid, _) if uid != target.0 => Some("user"),
        (_, gid) if gid != target.1 => Some("group"),
        _ => None,
    }
}

fn refuse_unprivileged(o: &PluginOptions, field: &str, euid: u32, egid: u32) -> ConfigError {
    o.error(
        field,
        format!(
            "zeus runs as uid {euid} gid {egid}, not root: it cannot switch to another {field}"
        ),
    )
    .allowed("start zeus as root, or name the user and group it runs as")
}

impl Plugin for DropPrivileges {
    fn name(&self) -> &str {
        "drop_privileges"
    }

    fn on_event(&mut self, e: &Event, ctx: &Ctx) -> Result<(), PluginError> {
        if !matches!(e, Event::WorkerProcessStart { .. }) || creds::is_current(self.uid, self.gid)?
        {
            return Ok(());
        }
        for path in ctx.owned_files() {
            creds::give(path, self.uid, self.gid)?;
        }
        creds::switch(self.uid, self.gid)?;
        tracing::info!(
            "privileges dropped: running as user {} ({}), group {} ({})",
            self.user,
            self.uid,
            self.group,
            self.gid
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PluginSpec;
    use figment::value::Value;

    fn opts(pairs: &[(&str, &str)], section: Section) -> PluginOptions {
        let mut t: std::collections::BTreeMap<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        t.insert("name".into(), Value::from("drop_privileges"));
        PluginOptions::new(
            &PluginSpec::Table(t),
            "schedulers.s.plugins.0".into(),
            "file z.toml".into(),
            section,
        )
    }

    fn refusal(pairs: &[(&str, &str)], section: Section) -> ConfigError {
        let errs = DropPrivileges::from_options(&opts(pairs, section))
            .unwrap_err()
            .0;
        assert_eq!(errs.len(), 1, "{errs:?}");
        errs.into_iter().next().unwrap()
    }

    #[test]
    fn unknown_names_and_options_are_refused_with_their_key() {
        let e = refusal(&[("user", "no-such-user-zeus")], Section::Scheduler);
        assert_eq!(
            (e.key.as_str(), e.problem.as_str()),
            ("schedulers.s.plugins.0.user", "no such user")
        );
        assert_eq!(e.value.as_deref(), Some("\"no-such-user-zeus\""));
        let e = refusal(
            &[("user", "root"), ("group", "no-such-group-zeus")],
            Section::Scheduler,
        );
        assert_eq!(e.key, "schedulers.s.plugins.0.group");
        let errs = DropPrivileges::from_options(&opts(&[("usr", "root")], Section::Scheduler))
            .unwrap_err()
            .0;
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["schedulers.s.plugins.0.usr", "schedulers.s.plugins.0.user"],
            "every problem at once"
        );
        let e = refusal(&[], Section::Scheduler);
        assert_eq!(e.key, "schedulers.s.plugins.0.user");
        let e = refusal(&[("user", "root")], Section::Manager);
        assert_eq!(e.key, "schedulers.s.plugins.0");
    }

    #[test]
    fn the_group_defaults_to_the_users_primary_group() {
        let p =
            DropPrivileges::from_options(&opts(&[("user", "root")], Section::Scheduler)).unwrap();
        assert_eq!((p.uid, p.gid, p.group.as_str()), (0, 0, "root"));
    }

    #[test]
    fn only_root_may_switch_to_someone_else() {
        assert_eq!(needs_root((0, 0), (65534, 65534)), None);
        assert_eq!(needs_root((1000, 1000), (1000, 1000)), None);
        assert_eq!(needs_root((1000, 1000), (65534, 1000)), Some("user"));
        assert_eq!(needs_root((1000, 1000), (1000, 65534)), Some("group"));
    }
}
