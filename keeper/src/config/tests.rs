//! Tests of the whole configuration: layering, provenance, validation
//! messages, the Solana CLI config reader and the keeper TOML file.

use std::{fs, str::FromStr};

use super::file::daemon_settings;
use super::*;

/// A temp directory that is a fake home, removed on drop.
struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Self {
        Home(tempfile::tempdir().expect("temp dir"))
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn env(&self) -> Environment {
        Environment::empty().with_home(self.path())
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }
    fn cli_config(&self, text: &str) -> PathBuf {
        self.write(".config/solana/cli/config.yml", text)
    }
}

fn resolve_ok(flags: &Flags, env: &Environment) -> Resolved {
    Config::resolve(flags, env).unwrap_or_else(|e| panic!("resolve failed: {e}"))
}

fn resolve_err(flags: &Flags, env: &Environment) -> String {
    match Config::resolve(flags, env) {
        Ok(r) => panic!("expected an error, resolved {r:?}"),
        Err(e) => e.to_string(),
    }
}

const OTHER_ID: &str = "11111111111111111111111111111111";

#[test]
fn defaults_apply_when_nothing_is_configured() {
    let home = Home::new();
    let r = resolve_ok(&Flags::default(), &home.env());
    assert_eq!(r.config.rpc_url, DEFAULT_RPC_URL);
    assert_eq!(r.config.ws_url, None);
    assert_eq!(r.config.websocket_url(), "ws://127.0.0.1:8900");
    assert_eq!(
        r.config.keypair_path,
        home.path().join(".config/solana/id.json")
    );
    assert_eq!(r.config.program_id.to_string(), DEFAULT_PROGRAM_ID);
    assert_eq!(r.config.log_level, "info");
    assert_eq!(r.config.commitment, "confirmed");
    assert_eq!(r.sources.rpc_url, Source::Default);
    assert_eq!(r.sources.ws_url, None);
    assert_eq!(r.solana_cli_config, None);
    assert_eq!(r.keeper_config, None);
}

#[test]
fn default_program_id_is_a_valid_pubkey() {
    assert!(Pubkey::from_str(DEFAULT_PROGRAM_ID).is_ok());
}

#[test]
fn each_layer_overrides_the_one_below() {
    let home = Home::new();
    let cli = home.cli_config("json_rpc_url: http://cli:1\n");
    let file = home.write("keeper.toml", "rpc_url = \"http://file:2\"\n");
    let all_env = home
        .env()
        .with_var(ENV_KEEPER_CONFIG, file.to_str().unwrap())
        .with_var(ENV_RPC_URL, "http://env:3");
    let flags = Flags {
        rpc_url: Some("http://flag:4".into()),
        ..Flags::default()
    };

    let r = resolve_ok(&flags, &all_env);
    assert_eq!(r.config.rpc_url, "http://flag:4");
    assert_eq!(r.sources.rpc_url, Source::Flag("--rpc-url"));

    let r = resolve_ok(&Flags::default(), &all_env);
    assert_eq!(r.config.rpc_url, "http://env:3");
    assert_eq!(r.sources.rpc_url, Source::Env(ENV_RPC_URL));

    let file_env = home
        .env()
        .with_var(ENV_KEEPER_CONFIG, file.to_str().unwrap());
    let r = resolve_ok(&Flags::default(), &file_env);
    assert_eq!(r.config.rpc_url, "http://file:2");
    assert_eq!(r.sources.rpc_url, Source::KeeperConfig(file.clone()));
    assert_eq!(r.keeper_config, Some(file));

    let r = resolve_ok(&Flags::default(), &home.env());
    assert_eq!(r.config.rpc_url, "http://cli:1");
    assert_eq!(r.sources.rpc_url, Source::SolanaCliConfig(cli.clone()));
    assert_eq!(r.solana_cli_config, Some(cli));
}

#[test]
fn layers_merge_field_by_field() {
    let home = Home::new();
    home.cli_config("json_rpc_url: https://cli.example\ncommitment: finalized\n");
    let env = home.env().with_var(ENV_PROGRAM_ID, OTHER_ID);
    let flags = Flags {
        log_level: Some("debug".into()),
        ..Flags::default()
    };
    let r = resolve_ok(&flags, &env);
    assert_eq!(r.config.rpc_url, "https://cli.example");
    assert_eq!(r.config.commitment, "finalized");
    assert_eq!(r.config.program_id.to_string(), OTHER_ID);
    assert_eq!(r.config.log_level, "debug");
    assert_eq!(r.sources.keypair_path, Source::Default);
    assert_eq!(r.sources.program_id, Source::Env(ENV_PROGRAM_ID));
    assert_eq!(r.sources.log_level, Source::Flag("--log-level"));
}

#[test]
fn empty_environment_variable_counts_as_unset() {
    let home = Home::new();
    let env = home.env().with_var(ENV_RPC_URL, "");
    let r = resolve_ok(&Flags::default(), &env);
    assert_eq!(r.sources.rpc_url, Source::Default);
}

#[test]
fn cli_config_is_read_from_solana_cli_config_env() {
    let home = Home::new();
    let path = home.write("elsewhere.yml", "json_rpc_url: https://elsewhere.example\n");
    let env = home
        .env()
        .with_var(ENV_SOLANA_CLI_CONFIG, path.to_str().unwrap());
    let r = resolve_ok(&Flags::default(), &env);
    assert_eq!(r.config.rpc_url, "https://elsewhere.example");
    assert_eq!(r.solana_cli_config, Some(path));
}

#[test]
fn cli_config_flag_beats_env_and_expands_tilde() {
    let home = Home::new();
    home.write("a.yml", "json_rpc_url: https://a.example\n");
    let b = home.write("b.yml", "json_rpc_url: https://b.example\n");
    let env = home.env().with_var(ENV_SOLANA_CLI_CONFIG, "~/a.yml");
    let flags = Flags {
        solana_config: Some("~/b.yml".into()),
        ..Flags::default()
    };
    let r = resolve_ok(&flags, &env);
    assert_eq!(r.config.rpc_url, "https://b.example");
    assert_eq!(r.solana_cli_config, Some(b));
}

#[test]
fn missing_default_cli_config_is_skipped_but_named_one_is_an_error() {
    let home = Home::new();
    resolve_ok(&Flags::default(), &home.env());
    let env = home
        .env()
        .with_var(ENV_SOLANA_CLI_CONFIG, "/nonexistent/config.yml");
    let err = resolve_err(&Flags::default(), &env);
    assert_eq!(
        err,
        "Solana CLI config /nonexistent/config.yml (from SOLANA_CLI_CONFIG) does not exist"
    );
}

#[test]
fn missing_keeper_config_is_an_error_naming_the_flag() {
    let home = Home::new();
    let flags = Flags {
        config: Some("/nonexistent/keeper.toml".into()),
        ..Flags::default()
    };
    let err = resolve_err(&flags, &home.env());
    assert_eq!(
        err,
        "keeper config /nonexistent/keeper.toml (from --config) does not exist"
    );
}

#[test]
fn cli_config_keypair_path_expands_tilde() {
    let home = Home::new();
    home.cli_config("keypair_path: ~/keys/op.json\n");
    let r = resolve_ok(&Flags::default(), &home.env());
    assert_eq!(r.config.keypair_path, home.path().join("keys/op.json"));
}

#[test]
fn keypair_from_env_and_flag_expand_tilde() {
    let home = Home::new();
    let env = home.env().with_var(ENV_KEYPAIR, "~/env.json");
    let r = resolve_ok(&Flags::default(), &env);
    assert_eq!(r.config.keypair_path, home.path().join("env.json"));
    assert_eq!(r.sources.keypair_path, Source::Env(ENV_KEYPAIR));
    let flags = Flags {
        keypair_path: Some("~/flag.json".into()),
        ..Flags::default()
    };
    let r = resolve_ok(&flags, &env);
    assert_eq!(r.config.keypair_path, home.path().join("flag.json"));
    assert_eq!(r.sources.keypair_path, Source::Flag("--keypair"));
}

#[test]
fn keeper_file_relative_keypair_is_relative_to_the_file() {
    let home = Home::new();
    let file = home.write("etc/keeper.toml", "keypair_path = \"keys/op.json\"\n");
    let flags = Flags {
        config: Some(file),
        ..Flags::default()
    };
    let r = resolve_ok(&flags, &home.env());
    assert_eq!(r.config.keypair_path, home.path().join("etc/keys/op.json"));
}

#[test]
fn store_path_defaults_to_the_working_directory() {
    let home = Home::new();
    let r = resolve_ok(&Flags::default(), &home.env());
    assert_eq!(r.config.store_path, Path::new(DEFAULT_STORE_PATH));
    assert_eq!(r.sources.store_path, Source::Default);
    assert_eq!(
        r.fields().last().unwrap(),
        &(
            "store_path",
            "./keeper.sqlite".to_string(),
            "default".to_string()
        )
    );
}

#[test]
fn store_path_layers_file_env_flag() {
    let home = Home::new();
    let file = home.write("etc/keeper.toml", "store_path = \"db/keeper.sqlite\"\n");
    let flags = Flags {
        config: Some(file.clone()),
        ..Flags::default()
    };
    let r = resolve_ok(&flags, &home.env());
    // Relative to the file that names it, like keypair_path.
    assert_eq!(
        r.config.store_path,
        home.path().join("etc/db/keeper.sqlite")
    );
    assert_eq!(r.sources.store_path, Source::KeeperConfig(file));

    let env = home.env().with_var(ENV_STORE, "~/env.sqlite");
    let r = resolve_ok(&flags, &env);
    assert_eq!(r.config.store_path, home.path().join("env.sqlite"));
    assert_eq!(r.sources.store_path, Source::Env(ENV_STORE));

    let flags = Flags {
        store_path: Some("flag.sqlite".into()),
        ..flags
    };
    let r = resolve_ok(&flags, &env);
    assert_eq!(r.config.store_path, Path::new("flag.sqlite"));
    assert_eq!(r.sources.store_path, Source::Flag("--store"));
}

#[test]
fn empty_store_flag_is_rejected() {
    let home = Home::new();
    let flags = Flags {
        store_path: Some(PathBuf::new()),
        ..Flags::default()
    };
    let err = Config::resolve(&flags, &home.env()).unwrap_err();
    assert_eq!(err.kind(), "invalid_value");
    assert_eq!(
        err.to_string(),
        r#"invalid store_path "" from --store: expected a file path"#
    );
}

#[test]
fn keeper_file_sets_every_field() {
    let home = Home::new();
    let file = home.write(
        "keeper.toml",
        &format!(
            "# operator config\nrpc_url = \"https://rpc.example\"\nws_url = \
             \"wss://ws.example\"\nkeypair_path = \"/keys/op.json\"\nprogram_id = \
             \"{OTHER_ID}\"\nlog_level = \"keeper=debug,warn\"\ncommitment = \"processed\"\n\
             store_path = \"/var/lib/keeper/keeper.sqlite\"\n"
        ),
    );
    let env = home
        .env()
        .with_var(ENV_KEEPER_CONFIG, file.to_str().unwrap());
    let r = resolve_ok(&Flags::default(), &env);
    let src = Source::KeeperConfig(file);
    assert_eq!(
        r.config,
        Config {
            rpc_url: "https://rpc.example".into(),
            ws_url: Some("wss://ws.example".into()),
            keypair_path: "/keys/op.json".into(),
            program_id: Pubkey::from_str(OTHER_ID).unwrap(),
            log_level: "keeper=debug,warn".into(),
            commitment: "processed".into(),
            store_path: "/var/lib/keeper/keeper.sqlite".into(),
            daemon: DaemonConfig {
                health_addr: Some(DEFAULT_HEALTH_ADDR),
                ..DaemonConfig::default()
            },
        }
    );
    assert_eq!(
        r.sources,
        Sources {
            rpc_url: src.clone(),
            ws_url: Some(src.clone()),
            keypair_path: src.clone(),
            program_id: src.clone(),
            log_level: src.clone(),
            commitment: src.clone(),
            store_path: src,
            daemon: daemon_settings(&r.config.daemon)
                .into_iter()
                .map(|(key, _)| (key, Source::Default))
                .collect(),
        }
    );
}

#[test]
fn unknown_key_in_keeper_file_is_an_error_naming_it() {
    let home = Home::new();
    let file = home.write("keeper.toml", "rpc_ur = \"http://x\"\n");
    let flags = Flags {
        config: Some(file.clone()),
        ..Flags::default()
    };
    let err = Config::resolve(&flags, &home.env()).unwrap_err();
    assert_eq!(err.kind(), "bad_keeper_config");
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(
        chain.starts_with(&format!("keeper config {} is invalid", file.display())),
        "{chain}"
    );
    assert!(chain.contains("unknown field `rpc_ur`"), "{chain}");
}

// The [daemon] table.

/// A keeper file holding `text`, named by `--config`.
fn config_flag(home: &Home, text: &str) -> (PathBuf, Flags) {
    let file = home.write("keeper.toml", text);
    let flags = Flags {
        config: Some(file.clone()),
        ..Flags::default()
    };
    (file, flags)
}

/// The error, with its source when it has one.
fn error_chain(err: &ConfigError) -> String {
    match std::error::Error::source(err) {
        Some(source) => format!("{err}: {source}"),
        None => err.to_string(),
    }
}

#[test]
fn without_a_daemon_table_the_daemon_runs_on_defaults_and_the_run_health_addr() {
    let home = Home::new();
    let r = resolve_ok(&Flags::default(), &home.env());
    assert_eq!(
        r.config.daemon,
        DaemonConfig {
            health_addr: Some("127.0.0.1:9464".parse().unwrap()),
            ..DaemonConfig::default()
        }
    );
    assert!(
        r.sources.daemon.values().all(|s| *s == Source::Default),
        "{:?}",
        r.sources.daemon
    );
}

#[test]
fn daemon_table_in_keeper_file_is_used_with_its_sources() {
    let home = Home::new();
    let (file, flags) = config_flag(
        &home,
        "rpc_url = \"http://file:2\"\n\
         [daemon]\nworkers = 8\ntick_ms = 250\nhealth_addr = \"0.0.0.0:9100\"\n\
         [daemon.leases]\nlease_slots = 3000\n\
         [daemon.degradation]\nwindow_ms = 30000\n\
         [daemon.builder.compute]\nfee_percentile = 90\n",
    );
    let r = resolve_ok(&flags, &home.env());
    let defaults = DaemonConfig::default();
    let mut expected = DaemonConfig {
        workers: 8,
        tick_ms: 250,
        health_addr: Some("0.0.0.0:9100".parse().unwrap()),
        ..defaults.clone()
    };
    expected.leases.lease_slots = 3_000;
    expected.degradation.window = std::time::Duration::from_secs(30);
    expected.builder.compute.fee_percentile = 90;
    assert_eq!(r.config.daemon, expected);

    let src = Source::KeeperConfig(file);
    let from_file = [
        "daemon.workers",
        "daemon.tick_ms",
        "daemon.health_addr",
        "daemon.leases.lease_slots",
        "daemon.degradation.window_ms",
        "daemon.builder.compute.fee_percentile",
    ];
    for (key, source) in &r.sources.daemon {
        let want = if from_file.contains(&key.as_str()) {
            &src
        } else {
            &Source::Default
        };
        assert_eq!(source, want, "source of {key}");
    }
    let rows = r.daemon_fields();
    let row = |key: &str| rows.iter().find(|(k, ..)| k == key).cloned().unwrap();
    assert_eq!(
        row("daemon.leases.lease_slots"),
        (
            "daemon.leases.lease_slots".into(),
            "3000".into(),
            src.to_string()
        )
    );
    assert_eq!(
        row("daemon.leases.renew_below_slots"),
        (
            "daemon.leases.renew_below_slots".into(),
            "500".into(),
            "default".into()
        )
    );
}

#[test]
fn every_daemon_setting_shown_can_be_set_in_the_file() {
    // Writes every setting `keeper config` shows, with values other than the
    // defaults, back into a file: each key is accepted and read from the file.
    let mut custom = DaemonConfig {
        workers: 3,
        tick_ms: 7,
        reconcile_ms: 9_000,
        confirm_ms: 300,
        replay_ms: 900,
        drain_ms: 0,
        health_addr: Some("127.0.0.2:1".parse().unwrap()),
        ..DaemonConfig::default()
    };
    custom.builder.lease_ttl = std::time::Duration::from_secs(5);
    custom.builder.compute.max_unit_price = 5;
    custom.leases.renew_below_slots = 10;
    custom.leases.renew_margin_slots = 4;
    custom.executor.max_retries = 0;
    custom.degradation.maintenance_above = 0.75;
    let mut table = toml::Table::new();
    table.insert("daemon".into(), toml::Value::try_from(&custom).unwrap());
    let home = Home::new();
    let (file, flags) = config_flag(&home, &toml::to_string(&table).unwrap());

    let r = resolve_ok(&flags, &home.env());
    assert_eq!(r.config.daemon, custom);
    let rows = r.daemon_fields();
    assert_eq!(rows.len(), r.sources.daemon.len());
    assert!(rows.len() >= 30, "{rows:?}");
    let src = Source::KeeperConfig(file).to_string();
    for (key, _, source) in &rows {
        assert_eq!(source, &src, "source of {key}");
    }
}

#[test]
fn unknown_key_in_daemon_table_is_an_error_naming_its_full_path() {
    let home = Home::new();
    let (file, flags) = config_flag(&home, "[daemon]\nworkers = 4\ntick_msx = 5\n");
    let err = Config::resolve(&flags, &home.env()).unwrap_err();
    assert_eq!(err.kind(), "bad_keeper_config");
    assert_eq!(
        err.to_string(),
        format!(
            "keeper config {} is invalid at daemon.tick_msx",
            file.display()
        )
    );
    let chain = error_chain(&err);
    assert!(chain.contains("line 3, column 1"), "{chain}");
    assert!(chain.contains("unknown field `tick_msx`"), "{chain}");

    for (text, key) in [
        (
            "[daemon.leases]\nlease_slotz = 1\n",
            "daemon.leases.lease_slotz",
        ),
        ("[daemon.leasez]\nlease_slots = 1\n", "daemon.leasez"),
        (
            "[daemon]\nbuilder = { compute = { fee_percentil = 5 } }\n",
            "daemon.builder.compute.fee_percentil",
        ),
        (
            "daemon.executor.max_retry = 1\n",
            "daemon.executor.max_retry",
        ),
    ] {
        let (file, flags) = config_flag(&home, text);
        let err = Config::resolve(&flags, &home.env()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("keeper config {} is invalid at {key}", file.display()),
            "{text}"
        );
    }
}

#[test]
fn wrong_type_in_daemon_table_is_an_error_naming_its_full_path() {
    let home = Home::new();
    for (text, key, reason) in [
        (
            "[daemon]\nworkers = \"many\"\n",
            "daemon.workers",
            "invalid type: string \"many\", expected usize",
        ),
        (
            "[daemon]\nexecutor = { max_retries = -1 }\n",
            "daemon.executor.max_retries",
            "invalid value: integer `-1`, expected u32",
        ),
        (
            "[daemon]\nhealth_addr = \"localhost\"\n",
            "daemon.health_addr",
            "invalid socket address syntax",
        ),
        (
            "[daemon]\nleases = 5\n",
            "daemon.leases",
            "invalid type: integer `5`",
        ),
    ] {
        let (file, flags) = config_flag(&home, text);
        let err = Config::resolve(&flags, &home.env()).unwrap_err();
        assert_eq!(err.kind(), "bad_keeper_config");
        let chain = error_chain(&err);
        assert!(
            chain.starts_with(&format!(
                "keeper config {} is invalid at {key}: TOML parse error at line 2",
                file.display()
            )),
            "{chain}"
        );
        assert!(chain.contains(reason), "{chain}");
    }
}

#[test]
fn zero_workers_in_keeper_file_is_refused_naming_daemon_workers_and_the_file() {
    let home = Home::new();
    let (file, flags) = config_flag(&home, "[daemon]\nworkers = 0\n");
    let err = Config::resolve(&flags, &home.env()).unwrap_err();
    assert_eq!(err.kind(), "invalid_value");
    assert_eq!(
        err.to_string(),
        format!(
            r#"invalid daemon.workers "0" from keeper config {}: expected 1 to 4096"#,
            file.display()
        )
    );
}

#[test]
fn bad_nested_daemon_values_are_refused_naming_key_and_layer() {
    let home = Home::new();
    let (file, flags) = config_flag(
        &home,
        "[daemon.degradation]\ndegraded_above = 0.7\nmaintenance_above = 0.5\n",
    );
    assert_eq!(
        resolve_err(&flags, &home.env()),
        format!(
            "invalid daemon.degradation.degraded_above \"0.7\" from keeper config {}: \
             degradation thresholds must satisfy 0 <= degraded_above (0.7) <= \
             maintenance_above (0.5) < 1",
            file.display()
        )
    );

    let (file, flags) = config_flag(&home, "[daemon]\nconfirm_ms = 0\n");
    assert_eq!(
        resolve_err(&flags, &home.env()),
        format!(
            r#"invalid daemon.confirm_ms "0" from keeper config {}: expected 1 to 60000"#,
            file.display()
        )
    );

    // The bad value is the default, made bad by what the file set beside it.
    let (_, flags) = config_flag(&home, "[daemon.leases]\nlease_slots = 100\n");
    assert_eq!(
        resolve_err(&flags, &home.env()),
        "invalid daemon.leases.renew_below_slots \"500\" from default: expected less \
         than daemon.leases.lease_slots (100), or every pass renews"
    );
}

#[test]
fn workers_and_health_addr_flags_override_the_file_only_when_given() {
    let home = Home::new();
    let (file, flags) = config_flag(
        &home,
        "[daemon]\nworkers = 8\nhealth_addr = \"0.0.0.0:9100\"\n",
    );
    let src = Source::KeeperConfig(file);
    let r = resolve_ok(&flags, &home.env());
    assert_eq!(r.config.daemon.workers, 8);
    assert_eq!(r.sources.daemon["daemon.workers"], src);

    let env = home.env().with_var(ENV_WORKERS, "4");
    let r = resolve_ok(&flags, &env);
    assert_eq!(r.config.daemon.workers, 4);
    assert_eq!(r.sources.daemon["daemon.workers"], Source::Env(ENV_WORKERS));

    let flags = Flags {
        workers: Some(2),
        ..flags
    };
    let r = resolve_ok(&flags, &env);
    assert_eq!(r.config.daemon.workers, 2);
    assert_eq!(
        r.sources.daemon["daemon.workers"],
        Source::Flag("--workers")
    );
    // Not given: the file's address stays.
    assert_eq!(
        r.config.daemon.health_addr,
        Some("0.0.0.0:9100".parse().unwrap())
    );
    assert_eq!(r.sources.daemon["daemon.health_addr"], src);

    let flags = Flags {
        health_addr: Some("127.0.0.1:0".parse().unwrap()),
        ..flags
    };
    let r = resolve_ok(&flags, &env);
    assert_eq!(
        r.config.daemon.health_addr,
        Some("127.0.0.1:0".parse().unwrap())
    );
    assert_eq!(
        r.sources.daemon["daemon.health_addr"],
        Source::Flag("--health-addr")
    );
}

#[test]
fn a_flag_replaces_a_bad_file_value_before_validation() {
    let home = Home::new();
    let (_, flags) = config_flag(&home, "[daemon]\nworkers = 0\n");
    let flags = Flags {
        workers: Some(1),
        ..flags
    };
    assert_eq!(resolve_ok(&flags, &home.env()).config.daemon.workers, 1);

    let flags = Flags {
        workers: Some(0),
        ..Flags::default()
    };
    assert_eq!(
        resolve_err(&flags, &home.env()),
        r#"invalid daemon.workers "0" from --workers: expected 1 to 4096"#
    );
}

#[test]
fn bad_daemon_environment_values_name_the_variable() {
    let home = Home::new();
    let env = home.env().with_var(ENV_WORKERS, "lots");
    assert_eq!(
        resolve_err(&Flags::default(), &env),
        r#"invalid daemon.workers "lots" from KEEPER_WORKERS: expected a whole number"#
    );
    let env = home.env().with_var(ENV_HEALTH_ADDR, "9464");
    assert_eq!(
        resolve_err(&Flags::default(), &env),
        r#"invalid daemon.health_addr "9464" from KEEPER_HEALTH_ADDR: expected an IP address and port, such as 127.0.0.1:9464"#
    );
    let env = home.env().with_var(ENV_HEALTH_ADDR, "0.0.0.0:80");
    let r = resolve_ok(&Flags::default(), &env);
    assert_eq!(
        r.config.daemon.health_addr,
        Some("0.0.0.0:80".parse().unwrap())
    );
}

#[test]
fn wrong_type_in_keeper_file_is_an_error() {
    let home = Home::new();
    let file = home.write("keeper.toml", "rpc_url = 8899\n");
    let flags = Flags {
        config: Some(file),
        ..Flags::default()
    };
    let err = Config::resolve(&flags, &home.env()).unwrap_err();
    assert!(err.to_string().ends_with(" is invalid at rpc_url"), "{err}");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.contains("rpc_url"), "{source}");
}

#[test]
fn ws_url_from_a_lower_layer_than_rpc_url_is_replaced_by_derivation() {
    let home = Home::new();
    home.cli_config("json_rpc_url: https://cli.example\nwebsocket_url: wss://cli.example\n");
    let r = resolve_ok(&Flags::default(), &home.env());
    assert_eq!(r.config.ws_url.as_deref(), Some("wss://cli.example"));

    let flags = Flags {
        rpc_url: Some("http://127.0.0.1:9000".into()),
        ..Flags::default()
    };
    let r = resolve_ok(&flags, &home.env());
    assert_eq!(r.config.ws_url, None);
    assert_eq!(r.sources.ws_url, None);
    assert_eq!(r.config.websocket_url(), "ws://127.0.0.1:9001");
    let fields = r.fields();
    assert_eq!(
        fields[1],
        (
            "ws_url",
            "ws://127.0.0.1:9001".into(),
            "derived from rpc_url".into()
        )
    );
}

#[test]
fn ws_url_flag_is_kept_with_any_rpc_url() {
    let home = Home::new();
    let env = home.env().with_var(ENV_RPC_URL, "https://env.example");
    let flags = Flags {
        ws_url: Some("wss://flag.example".into()),
        ..Flags::default()
    };
    let r = resolve_ok(&flags, &env);
    assert_eq!(r.config.websocket_url(), "wss://flag.example");
    assert_eq!(r.sources.ws_url, Some(Source::Flag("--ws-url")));
}

#[test]
fn rpc_url_monikers_expand() {
    let home = Home::new();
    let flags = Flags {
        rpc_url: Some("devnet".into()),
        ..Flags::default()
    };
    let r = resolve_ok(&flags, &home.env());
    assert_eq!(r.config.rpc_url, "https://api.devnet.solana.com");
    assert_eq!(r.config.websocket_url(), "wss://api.devnet.solana.com");
}

#[test]
fn websocket_derivation_matches_the_solana_cli() {
    assert_eq!(
        websocket_url_for("http://127.0.0.1:8899").as_deref(),
        Some("ws://127.0.0.1:8900")
    );
    assert_eq!(
        websocket_url_for("https://rpc.example/path?k=1").as_deref(),
        Some("wss://rpc.example/path?k=1")
    );
    assert_eq!(
        websocket_url_for("http://[::1]:8899").as_deref(),
        Some("ws://[::1]:8900")
    );
    assert_eq!(websocket_url_for("ftp://x"), None);
}

// Validation: each error names the field, the value and the layer.

#[test]
fn bad_rpc_url_from_flag_names_field_and_flag() {
    let home = Home::new();
    let flags = Flags {
        rpc_url: Some("ftp://x".into()),
        ..Flags::default()
    };
    let err = Config::resolve(&flags, &home.env()).unwrap_err();
    assert_eq!(err.kind(), "invalid_value");
    assert_eq!(
        err.to_string(),
        r#"invalid rpc_url "ftp://x" from --rpc-url: expected http(s) URL"#
    );
}

#[test]
fn bad_rpc_url_from_cli_config_names_the_file() {
    let home = Home::new();
    let cli = home.cli_config("json_rpc_url: localhost:8899\n");
    let err = resolve_err(&Flags::default(), &home.env());
    assert_eq!(
        err,
        format!(
            r#"invalid rpc_url "localhost:8899" from Solana CLI config {}: expected http(s) URL"#,
            cli.display()
        )
    );
}

#[test]
fn rpc_url_without_host_or_with_bad_port_is_rejected() {
    let home = Home::new();
    for (url, reason) in [
        ("http://", "expected http(s) URL with a host"),
        (
            "http://h:99999",
            "expected http(s) URL with a port from 0 to 65535",
        ),
        ("http://a b", "expected http(s) URL, found whitespace"),
    ] {
        let env = home.env().with_var(ENV_RPC_URL, url);
        assert_eq!(
            resolve_err(&Flags::default(), &env),
            format!("invalid rpc_url {url:?} from KEEPER_RPC_URL: {reason}")
        );
    }
}

#[test]
fn bad_ws_url_names_field_and_layer() {
    let home = Home::new();
    let env = home.env().with_var(ENV_WS_URL, "http://x");
    assert_eq!(
        resolve_err(&Flags::default(), &env),
        r#"invalid ws_url "http://x" from KEEPER_WS_URL: expected ws(s) URL"#
    );
}

#[test]
fn bad_program_id_names_field_and_layer() {
    let home = Home::new();
    let env = home.env().with_var(ENV_PROGRAM_ID, "abc");
    let err = Config::resolve(&Flags::default(), &env).unwrap_err();
    assert_eq!(err.kind(), "invalid_program_id");
    assert_eq!(
        err.to_string(),
        r#"program_id "abc" from KEEPER_PROGRAM_ID is not a base58 public key"#
    );
}

#[test]
fn bad_log_level_names_field_and_layer() {
    let home = Home::new();
    let flags = Flags {
        log_level: Some("verbose".into()),
        ..Flags::default()
    };
    let err = resolve_err(&flags, &home.env());
    assert!(
        err.starts_with(r#"invalid log_level "verbose" from --log-level: "#),
        "{err}"
    );
    let env = home.env().with_var(ENV_LOG, "keeper=loud");
    let err = resolve_err(&Flags::default(), &env);
    assert!(
        err.starts_with(r#"invalid log_level "keeper=loud" from KEEPER_LOG: "#),
        "{err}"
    );
}

#[test]
fn bad_commitment_names_field_and_layer() {
    let home = Home::new();
    let cli = home.cli_config("commitment: max\n");
    assert_eq!(
        resolve_err(&Flags::default(), &home.env()),
        format!(
            r#"invalid commitment "max" from Solana CLI config {}: expected processed, confirmed or finalized"#,
            cli.display()
        )
    );
}

#[test]
fn signer_uri_keypair_is_rejected() {
    let home = Home::new();
    let cli = home.cli_config("keypair_path: usb://ledger?key=0\n");
    let err = resolve_err(&Flags::default(), &home.env());
    assert!(
        err.starts_with(&format!(
            r#"invalid keypair_path "usb://ledger?key=0" from Solana CLI config {}: "#,
            cli.display()
        )),
        "{err}"
    );
}

#[test]
fn empty_keypair_flag_is_rejected() {
    let home = Home::new();
    let flags = Flags {
        keypair_path: Some(PathBuf::new()),
        ..Flags::default()
    };
    assert_eq!(
        resolve_err(&flags, &home.env()),
        r#"invalid keypair_path "" from --keypair: expected a file path"#
    );
}

// The Solana CLI config parser.

#[test]
fn cli_config_parses_what_solana_config_set_writes() {
    let text = "---\n\
        json_rpc_url: https://api.devnet.solana.com\n\
        websocket_url: ''\n\
        keypair_path: /home/op/.config/solana/id.json\n\
        address_labels:\n  \
          '11111111111111111111111111111111': System Program\n\
        commitment: confirmed\n";
    let c = SolanaCliConfig::parse(text).unwrap();
    assert_eq!(
        c,
        SolanaCliConfig {
            json_rpc_url: Some("https://api.devnet.solana.com".into()),
            websocket_url: None,
            keypair_path: Some("/home/op/.config/solana/id.json".into()),
            commitment: Some("confirmed".into()),
        }
    );
}

#[test]
fn cli_config_handles_quotes_and_comments() {
    let text = "# a comment\n\
        json_rpc_url: \"http://h:1/a#b\"   # trailing comment\n\
        websocket_url: 'ws://it''s' # comment\n\
        keypair_path: /keys/id#1.json # comment\n\
        commitment: finalized#not-a-comment\n";
    let c = SolanaCliConfig::parse(text).unwrap();
    assert_eq!(c.json_rpc_url.as_deref(), Some("http://h:1/a#b"));
    assert_eq!(c.websocket_url.as_deref(), Some("ws://it's"));
    assert_eq!(c.keypair_path.as_deref(), Some("/keys/id#1.json"));
    assert_eq!(c.commitment.as_deref(), Some("finalized#not-a-comment"));
}

#[test]
fn cli_config_null_empty_and_indented_values_are_unset() {
    let text = "json_rpc_url: ~\nwebsocket_url: \"\"\nkeypair_path:\ncommitment: null\n  \
                json_rpc_url: http://nested\n";
    assert_eq!(
        SolanaCliConfig::parse(text).unwrap(),
        SolanaCliConfig::default()
    );
}

#[test]
fn cli_config_handles_crlf_bom_and_escapes() {
    let text = "\u{feff}json_rpc_url: \"http://h/\\\"q\\\"\"\r\ncommitment: processed\r\n";
    let c = SolanaCliConfig::parse(text).unwrap();
    assert_eq!(c.json_rpc_url.as_deref(), Some("http://h/\"q\""));
    assert_eq!(c.commitment.as_deref(), Some("processed"));
}

#[test]
fn cli_config_unterminated_quote_is_an_error_with_line() {
    let err =
        SolanaCliConfig::parse("commitment: confirmed\njson_rpc_url: \"http://x\n").unwrap_err();
    assert_eq!(err.to_string(), "line 2: unterminated double-quoted value");
    // ...but only for keys the keeper reads.
    assert!(SolanaCliConfig::parse("other: 'broken\n").is_ok());
}

#[test]
fn bad_cli_config_file_error_names_the_file() {
    let home = Home::new();
    let cli = home.cli_config("keypair_path: 'x\n");
    let err = Config::resolve(&Flags::default(), &home.env()).unwrap_err();
    assert_eq!(err.kind(), "bad_solana_cli_config");
    assert_eq!(
        err.to_string(),
        format!(
            "Solana CLI config {}: line 1: unterminated single-quoted value",
            cli.display()
        )
    );
}

#[test]
fn tilde_expansion() {
    let home = Path::new("/home/op");
    assert_eq!(expand_tilde(Path::new("~"), Some(home)), home);
    assert_eq!(
        expand_tilde(Path::new("~/a/b"), Some(home)),
        home.join("a/b")
    );
    assert_eq!(
        expand_tilde(Path::new("~other/a"), Some(home)),
        Path::new("~other/a")
    );
    assert_eq!(
        expand_tilde(Path::new("/a/~"), Some(home)),
        Path::new("/a/~")
    );
    assert_eq!(expand_tilde(Path::new("~/a"), None), Path::new("~/a"));
}

#[test]
fn without_home_the_default_cli_config_is_not_read() {
    let r = resolve_ok(&Flags::default(), &Environment::empty());
    assert_eq!(r.solana_cli_config, None);
    assert_eq!(r.config.keypair_path, Path::new(DEFAULT_KEYPAIR_PATH));
}
