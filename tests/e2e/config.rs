//! Refused configurations: each one makes `zeus start` exit with code 2 before anything runs,
//! with a message that names the key, the bad value where there is one, the layer it came from
//! (file path, environment variable or flag) and, where it can be listed, what is allowed.

use std::net::TcpListener;
use std::path::PathBuf;

use crate::util::{
    echo_config, free_port, run_bounded, zeus_command, CliOutput, TestDir, CLI_TIMEOUT,
    ECHO_PORT_ENV, SMALL_POOL,
};

/// How a case hands its configuration file to zeus.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// `--config FILE`.
    Flag,
    /// `ZEUS_CONFIG=FILE`.
    Env,
    /// `./zeus.toml` in the working directory.
    Cwd,
}

/// One configuration to be refused.
struct Case {
    dir: TestDir,
    file: Option<(PathBuf, Via)>,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl Case {
    fn new(tag: &str) -> Self {
        Self {
            dir: TestDir::new(tag),
            file: None,
            env: Vec::new(),
            args: Vec::new(),
        }
    }

    /// Uses `toml` as the configuration file, given with `--config`.
    fn file(self, toml: &str) -> Self {
        self.file_via(toml, Via::Flag)
    }

    fn file_via(mut self, toml: &str, via: Via) -> Self {
        let name = match via {
            Via::Cwd => "zeus.toml",
            Via::Flag | Via::Env => "conf.toml",
        };
        self.file = Some((self.dir.write(name, toml), via));
        self
    }

    fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// `file /abs/path` as error messages name the file layer.
    fn file_layer(&self) -> String {
        let (path, _) = self.file.as_ref().expect("case has a file");
        format!("file {}", path.display())
    }

    fn run(&self, command: &[&str]) -> CliOutput {
        let run = self.dir.run_dir();
        let mut cmd = zeus_command(self.dir.path());
        cmd.arg("--run-dir").arg(&run);
        match &self.file {
            Some((path, Via::Flag)) => {
                cmd.arg("--config").arg(path);
            }
            Some((path, Via::Env)) => {
                cmd.env("ZEUS_CONFIG", path);
            }
            Some((_, Via::Cwd)) | None => {}
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.args(&self.args).args(command);
        run_bounded(&mut cmd, CLI_TIMEOUT)
    }

    /// Runs `zeus start`, checks it is refused with code 2 and left nothing; returns stderr.
    fn refused(&self) -> String {
        self.refused_by(&["start"])
    }

    fn refused_by(&self, command: &[&str]) -> String {
        let out = self.run(command);
        assert_eq!(
            out.code, 2,
            "zeus {command:?} must refuse this configuration\n{out}"
        );
        assert!(out.stderr.contains("configuration error"), "{out}");
        let run = self.dir.run_dir();
        for f in ["zeus.pid", "zeus.sock"] {
            assert!(!run.join(f).exists(), "{f} left by a refused start\n{out}");
        }
        out.stderr
    }
}

/// Fails unless every part is in the message.
fn assert_names(stderr: &str, parts: &[&str]) {
    for p in parts {
        assert!(
            stderr.contains(p),
            "the message does not name {p:?}:\n{stderr}"
        );
    }
}

/// One echo service `echo` on a free port, run by scheduler `s` with `pool`.
fn one_service(pool: &str) -> String {
    echo_config(pool, &[("echo", free_port())])
}

#[test]
fn unknown_keys_are_refused() {
    let c = Case::new("typo-file").file(&one_service("max_proceses = 4\n"));
    let err = c.refused();
    assert_names(
        &err,
        &[
            "schedulers.s.max_proceses",
            "unknown key",
            &c.file_layer(),
            "max_processes",
        ],
    );

    let c = Case::new("typo-env")
        .env(ECHO_PORT_ENV, &free_port().to_string())
        .env("ZEUS_SERVICES__ECHO__SERVICE_SETTINGS__LISTEN_PROT", "7");
    assert_names(
        &c.refused(),
        &[
            "services.echo.service_settings.listen_prot",
            "unknown key",
            "environment variable ZEUS_SERVICES__ECHO__SERVICE_SETTINGS__LISTEN_PROT",
            "listen_port",
        ],
    );

    let c = Case::new("typo-flag")
        .env(ECHO_PORT_ENV, &free_port().to_string())
        .args(&["--set", "logger.colour=true"]);
    assert_names(&c.refused(), &["logger.colour", "unknown key"]);
}

#[test]
fn wrong_types_are_refused() {
    let c = Case::new("type-file").file(&one_service("start_processes = \"eight\"\n"));
    let err = c.refused();
    assert_names(
        &err,
        &[
            "schedulers.s.start_processes",
            "\"eight\"",
            "wrong type",
            &c.file_layer(),
        ],
    );

    let c = Case::new("type-env").env(ECHO_PORT_ENV, "abc");
    assert_names(
        &c.refused(),
        &[
            "services.echo.service_settings.listen_port",
            "\"abc\"",
            "wrong type",
            &format!("environment variable {ECHO_PORT_ENV}"),
        ],
    );

    let key = "schedulers.zeus_default_scheduler.enable_process_cache";
    let c = Case::new("type-flag")
        .env(ECHO_PORT_ENV, &free_port().to_string())
        .args(&["--set", &format!("{key}=maybe")]);
    assert_names(
        &c.refused(),
        &[
            key,
            "\"maybe\"",
            "wrong type",
            &format!("command-line flag --set {key}"),
        ],
    );
}

#[test]
fn a_service_naming_a_missing_scheduler_is_refused() {
    let toml =
        one_service(SMALL_POOL).replace("scheduler_name = \"s\"", "scheduler_name = \"nope\"");
    let c = Case::new("no-scheduler").file_via(&toml, Via::Cwd);
    assert_names(
        &c.refused(),
        &[
            "services.echo.scheduler_name",
            "\"nope\"",
            &c.file_layer(),
            "allowed: s",
        ],
    );
}

#[test]
fn min_spare_above_max_spare_is_refused() {
    let pool = "start_processes = 2\nmax_processes = 8\nmin_spare_processes = 3\nmax_spare_processes = 2\n";
    let c = Case::new("spares").file(&one_service(pool));
    assert_names(
        &c.refused(),
        &[
            "schedulers.s.min_spare_processes",
            "max_spare_processes",
            &c.file_layer(),
        ],
    );
}

#[test]
fn start_above_max_is_refused() {
    let pool = "start_processes = 5\nmax_processes = 4\nmin_spare_processes = 1\nmax_spare_processes = 2\n";
    let c = Case::new("start-max").file_via(&one_service(pool), Via::Env);
    assert_names(
        &c.refused(),
        &[
            "schedulers.s.start_processes",
            "max_processes",
            &c.file_layer(),
        ],
    );

    let var = "ZEUS_SCHEDULERS__ZEUS_DEFAULT_SCHEDULER__START_PROCESSES";
    let c = Case::new("start-max-env")
        .env(ECHO_PORT_ENV, &free_port().to_string())
        .env(var, "40");
    assert_names(
        &c.refused(),
        &[
            "schedulers.zeus_default_scheduler.start_processes",
            &format!("environment variable {var}"),
        ],
    );
}

#[test]
fn a_port_already_in_use_is_refused() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("addr").port();
    let key = "services.echo.service_settings.listen_port";

    let c = Case::new("port-env").env(ECHO_PORT_ENV, &port.to_string());
    assert_names(
        &c.refused(),
        &[
            key,
            &format!("127.0.0.1:{port}"),
            "in use",
            &format!("environment variable {ECHO_PORT_ENV}"),
        ],
    );

    let c = Case::new("port-file").file(&echo_config(SMALL_POOL, &[("echo", port)]));
    assert_names(
        &c.refused(),
        &[key, &format!("127.0.0.1:{port}"), &c.file_layer()],
    );
    // The refused starts did not disturb the port's owner.
    assert_eq!(taken.local_addr().expect("still bound").port(), port);
}

#[test]
fn an_unknown_service_adapter_is_refused() {
    let toml =
        one_service(SMALL_POOL).replace("service_adapter = \"echo\"", "service_adapter = \"ehco\"");
    let c = Case::new("adapter-file").file(&toml);
    assert_names(
        &c.refused(),
        &[
            "services.echo.service_adapter",
            "\"ehco\"",
            &c.file_layer(),
            "allowed: echo",
        ],
    );

    let c = Case::new("adapter-flag")
        .env(ECHO_PORT_ENV, &free_port().to_string())
        .args(&["--set", "services.echo.service_adapter=nope"]);
    assert_names(
        &c.refused(),
        &[
            "services.echo.service_adapter",
            "\"nope\"",
            "command-line flag --set services.echo.service_adapter",
        ],
    );
}

#[test]
fn values_not_available_yet_are_refused_not_ignored() {
    let d = "schedulers.zeus_default_scheduler";
    let cases: &[(&str, &str)] = &[
        ("multiprocessing_module=fork", "multiprocessing_module"),
        ("scheduler_discipline=mru", "scheduler_discipline"),
        ("threads_per_process=0", "threads_per_process"),
        ("shutdown_timeout=0", "shutdown_timeout"),
        ("ipc_adapter=shm", "ipc_adapter"),
        ("max_processes=0", "max_processes"),
        ("max_spare_processes=40", "max_spare_processes"),
    ];
    for (i, (set, key)) in cases.iter().enumerate() {
        let c = Case::new(&format!("unsupported-{i}"))
            .env(ECHO_PORT_ENV, &free_port().to_string())
            .args(&["--set", &format!("{d}.{set}")]);
        assert_names(
            &c.refused(),
            &[&format!("{d}.{key}"), "command-line flag --set"],
        );
    }
    let c = Case::new("unsupported-plugin")
        .env(ECHO_PORT_ENV, &free_port().to_string())
        .args(&["--set", &format!("{d}.plugins=[\"no_such_plugin\"]")]);
    assert_names(&c.refused(), &[&format!("{d}.plugins.0"), "unknown plugin"]);
    for (i, (set, key)) in [
        (
            "services.echo.service_settings.listen_port=0",
            "services.echo.service_settings.listen_port",
        ),
        (
            "services.echo.service_settings.max_line_bytes=0",
            "services.echo.service_settings.max_line_bytes",
        ),
        (
            "services.echo.service_settings.idle_timeout=0",
            "services.echo.service_settings.idle_timeout",
        ),
        (
            "services.echo.service_settings.listen_address=localhost",
            "services.echo.service_settings.listen_address",
        ),
        (
            "services.echo.logger_adapter=syslog",
            "services.echo.logger_adapter",
        ),
        ("logger.reporting_level=loud", "logger.reporting_level"),
        ("run_dir=\"\"", "run_dir"),
    ]
    .iter()
    .enumerate()
    {
        let c = Case::new(&format!("bad-value-{i}"))
            .env(ECHO_PORT_ENV, &free_port().to_string())
            .args(&["--set", set]);
        assert_names(&c.refused(), &[key]);
    }
}

#[test]
fn command_line_mistakes_are_refused() {
    let c = Case::new("no-file").args(&["--config", "/nonexistent/zeus.toml"]);
    assert_names(
        &c.refused(),
        &["config", "/nonexistent/zeus.toml", "no such file"],
    );

    let c = Case::new("no-file-env").env("ZEUS_CONFIG", "/nonexistent/zeus.toml");
    assert_names(&c.refused(), &["/nonexistent/zeus.toml", "ZEUS_CONFIG"]);

    let c = Case::new("bad-set")
        .env(ECHO_PORT_ENV, &free_port().to_string())
        .args(&["--set", "no-equals-sign"]);
    assert_names(&c.refused(), &["no-equals-sign", "KEY=VALUE"]);

    let c = Case::new("no-service").env(ECHO_PORT_ENV, &free_port().to_string());
    assert_names(&c.refused_by(&["start", "nosuch"]), &["\"nosuch\"", "echo"]);
}

#[test]
fn list_refuses_a_bad_configuration_too() {
    let c = Case::new("list-bad").file(&one_service("max_proceses = 4\n"));
    assert_names(
        &c.refused_by(&["list"]),
        &["schedulers.s.max_proceses", &c.file_layer()],
    );
}

#[test]
fn a_refusal_is_printed_once() {
    let c = Case::new("once").file(&one_service("start_processes = \"eight\"\n"));
    let err = c.refused();
    assert_eq!(
        err.matches("configuration error").count(),
        1,
        "one error, one message:\n{err}"
    );
}

#[test]
fn integer_values_are_named_in_refusals() {
    let pool = "start_processes = 5\nmax_processes = 4\nmin_spare_processes = 1\nmax_spare_processes = 2\n";
    let c = Case::new("int-value").file(&one_service(pool));
    assert_names(&c.refused(), &["`schedulers.s.start_processes` = 5 "]);
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("addr").port();
    let c = Case::new("int-port").env(ECHO_PORT_ENV, &port.to_string());
    assert_names(
        &c.refused(),
        &[&format!(
            "`services.echo.service_settings.listen_port` = {port} "
        )],
    );
}

#[test]
fn an_unknown_key_is_named_exactly() {
    let c = Case::new("typo-exact").file(&one_service("max_proceses = 4\n"));
    let err = c.refused();
    assert_names(&err, &["`schedulers.s.max_proceses`", &c.file_layer()]);
    assert!(!err.contains("max_proceses.max_proceses"), "{err}");
    let c = Case::new("typo-exact-env")
        .env(ECHO_PORT_ENV, &free_port().to_string())
        .env("ZEUS_SERVICES__ECHO__SERVICE_SETTINGS__LISTEN_PROT", "7");
    assert_names(
        &c.refused(),
        &[
            "`services.echo.service_settings.listen_prot`",
            "(from environment variable ZEUS_SERVICES__ECHO__SERVICE_SETTINGS__LISTEN_PROT)",
        ],
    );
}

#[test]
fn a_bad_plugin_is_blamed_on_its_layer() {
    let c = Case::new("plugin-file").file(&one_service("plugins = [\"no_such_plugin\"]\n"));
    assert_names(&c.refused(), &["schedulers.s.plugins.0", &c.file_layer()]);
    let c = Case::new("plugin-flag")
        .env(ECHO_PORT_ENV, &free_port().to_string())
        .args(&["--set", "manager.plugins=[\"nope\"]"]);
    assert_names(
        &c.refused(),
        &[
            "manager.plugins.0",
            "command-line flag --set manager.plugins",
        ],
    );
}
