//! The configuration loader against fixture files: good configs load with the
//! values they state (and defaults for the rest), bad ones give one exact line.

use std::fs;
use std::path::{Path, PathBuf};

use outpost::config::{
    self, Config, ConfigError, ConfigSources, FixedEnv, LogFormat, LogLevel, Notify, PlatformDirs,
    ProviderKind, ProviderSettings, ResolveSecrets, SecretSource, SmartleadSettings,
};
use secrecy::ExposeSecret;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/configs")
}

fn fixture(kind: &str, name: &str) -> PathBuf {
    fixtures().join(kind).join(format!("{name}.toml"))
}

/// An environment with no variables and platform dirs under `root`.
fn env_under(root: &Path) -> FixedEnv {
    FixedEnv::new(Some(PlatformDirs {
        config_dir: root.join("platform-config"),
        data_dir: root.join("platform-data"),
        home_dir: Some(root.join("home")),
    }))
}

fn load_file(path: &Path, env: &FixedEnv) -> Result<Config, ConfigError> {
    let sources = ConfigSources {
        config_path: Some(path.to_path_buf()),
        data_dir: None,
    };
    config::load_with(&sources, env, ResolveSecrets::Now)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create temp dir")
}

fn smartlead<'a>(config: &'a Config, name: &str) -> &'a SmartleadSettings {
    match config.account(name).map(|a| &a.provider) {
        Some(ProviderSettings::Smartlead(s)) => s,
        other => panic!("account {name} is not smartlead: {other:?}"),
    }
}

#[test]
fn the_example_config_loads_cleanly_with_its_env_vars_set() {
    let root = tempdir();
    let env = env_under(root.path())
        .with_var("SMARTLEAD_API_KEY", "sl-example")
        .with_var("GMAIL_CLIENT_SECRET", "gm-example")
        .with_var("OUTPOST_WEBHOOK_SECRET", "hook-example")
        .with_var("OUTPOST_API_TOKEN", "api-example");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let config = load_file(&example, &env).expect("example loads");

    assert_eq!(
        config.data_dir(),
        root.path().join("home/.local/share/outpost")
    );
    assert_eq!(config.accounts.len(), 2);

    let acme = config.account("acme-smartlead").expect("smartlead account");
    assert_eq!(acme.kind(), ProviderKind::Smartlead);
    assert_eq!(acme.label(), "Acme (Smartlead)");
    let sl = smartlead(&config, "acme-smartlead");
    assert_eq!(
        sl.api_key.resolve().expect("key").expose_secret(),
        "sl-example"
    );
    assert_eq!(sl.client_id, Some(34998));
    assert_eq!(sl.email_account_id, Some(456));
    assert_eq!(
        config
            .account_by_webhook_token("acme-7f3c")
            .map(|a| a.name.as_str()),
        Some("acme-smartlead")
    );

    let gmail = config.account("me-gmail").expect("gmail account");
    let ProviderSettings::Gmail(g) = &gmail.provider else {
        panic!("me-gmail should be gmail");
    };
    assert_eq!(g.email, "rep@acme.io");
    assert_eq!(
        g.client_secret.resolve().expect("secret").expose_secret(),
        "gm-example"
    );
    assert_eq!(g.token_url.as_str(), config::GOOGLE_TOKEN_URL);
    let oauth = config.gmail_oauth.as_ref().expect("[gmail_oauth]");
    assert_eq!(
        oauth
            .client_secret
            .resolve()
            .expect("secret")
            .expose_secret(),
        "gm-example"
    );
    assert_eq!(oauth.token_url.as_str(), config::GOOGLE_TOKEN_URL);

    let hook = config
        .daemon
        .webhook_secret
        .as_ref()
        .expect("webhook secret");
    assert_eq!(
        hook.resolve().expect("hook").expose_secret(),
        "hook-example"
    );
    assert_eq!(config.daemon.listen.to_string(), config::DEFAULT_LISTEN);
    assert_eq!(
        config.daemon.log_file.as_deref(),
        Some(
            root.path()
                .join("home/.local/share/outpost/daemon.log")
                .as_path()
        )
    );
    assert_eq!(config.sending.timezone, chrono_tz::America::New_York);
    assert_eq!(config.sending.holidays.len(), 2);
    assert_eq!(config.ui.theme.len(), 3);
    assert_eq!(config.ui.keymap["quit"], vec!["q", "ctrl-c"]);
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
}

#[test]
fn the_example_names_every_secret_by_env_var() {
    // Loaded without resolving, the example must still be valid, and its
    // secrets must all come from the environment (never literal).
    let root = tempdir();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let sources = ConfigSources {
        config_path: Some(example),
        data_dir: None,
    };
    let config = config::load_with(&sources, &env_under(root.path()), ResolveSecrets::Later)
        .expect("example is structurally valid");
    let secrets = config.secrets();
    assert_eq!(secrets.len(), 5);
    for secret in secrets {
        assert!(
            matches!(secret.source(), SecretSource::Env(_)),
            "{}",
            secret.key_path()
        );
    }
}

/// The keys a table accepts, read from the loader's own unknown-key error.
fn accepted_keys(root: &Path, table_text: &str) -> Vec<String> {
    let file = root.join("probe.toml");
    fs::write(&file, table_text).expect("write probe");
    let err = load_file(&file, &env_under(root)).expect_err("unknown key is rejected");
    let message = err.to_string();
    let listed = message
        .split_once("expected ")
        .and_then(|(_, rest)| rest.split_once(';'))
        .map(|(list, _)| list.to_string())
        .unwrap_or_default();
    listed
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_example_documents_every_key() {
    let root = tempdir();
    let text = include_str!("../config.example.toml");
    let example: toml::Table = toml::from_str(text).expect("example is TOML");
    let section = |path: &[&str]| -> toml::Table {
        let mut table = example.clone();
        for key in path {
            table = table
                .get(*key)
                .and_then(|v| v.as_table())
                .cloned()
                .unwrap_or_else(|| panic!("example lacks [{}]", path.join(".")));
        }
        table
    };
    let cases: [(&str, Vec<&str>); 9] = [
        ("zz_unknown = 1", vec![]),
        (
            "[accounts.a]\nprovider = \"smartlead\"\nzz_unknown = 1",
            vec!["accounts", "acme-smartlead"],
        ),
        (
            "[accounts.a]\nprovider = \"gmail\"\nzz_unknown = 1",
            vec!["accounts", "me-gmail"],
        ),
        ("[daemon]\nzz_unknown = 1", vec!["daemon"]),
        ("[sending]\nzz_unknown = 1", vec!["sending"]),
        ("[ui]\nzz_unknown = 1", vec!["ui"]),
        ("[logging]\nzz_unknown = 1", vec!["logging"]),
        ("[users.a]\nzz_unknown = 1", vec!["users", "sam"]),
        ("[gmail_oauth]\nzz_unknown = 1", vec!["gmail_oauth"]),
    ];
    for (probe, path) in cases {
        let documented = section(&path);
        let keys = accepted_keys(root.path(), probe);
        assert!(!keys.is_empty(), "no keys read for {probe}");
        for key in keys {
            // A secret is documented once, in its _env form; a text that
            // may come from a file (`signature_file`), beside its own key.
            let base = key.strip_suffix("_cmd").unwrap_or(&key);
            let env_form = format!("{}_env", base.strip_suffix("_env").unwrap_or(base));
            let text_form = key.strip_suffix("_file").unwrap_or(&key);
            assert!(
                documented.contains_key(&key)
                    || documented.contains_key(&env_form)
                    || documented.contains_key(text_form),
                "config.example.toml does not document {}.{key}",
                path.join(".")
            );
        }
    }
}

/// The bad fixtures: each `<name>.toml` has a `<name>.expected` beside it
/// holding the exact error line after the `<path>:` prefix.
fn invalid_fixtures() -> Vec<(String, PathBuf, String)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(fixtures().join("invalid")).expect("invalid fixtures") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let expected_path = path.with_extension("expected");
            let expected = fs::read_to_string(&expected_path)
                .unwrap_or_else(|_| panic!("{} is missing", expected_path.display()));
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            found.push((name, path, expected.trim_end().to_string()));
        }
    }
    found.sort();
    found
}

#[test]
fn every_invalid_fixture_gives_its_one_line_message() {
    let root = tempdir();
    let env = env_under(root.path());
    let fixtures = invalid_fixtures();
    // The cases the loader must cover, at least.
    for required in [
        "invalid_toml",
        "unknown_top_level_key",
        "unknown_account_key",
        "wrong_type",
        "missing_secret_env",
        "bad_timezone",
        "bad_window_time",
        "unknown_provider",
        "two_secret_sources",
    ] {
        assert!(fixtures.iter().any(|(n, _, _)| n == required), "{required}");
    }
    let mut failures = Vec::new();
    for (name, path, expected) in &fixtures {
        let message = match load_file(path, &env) {
            Ok(_) => "loaded without error".to_string(),
            Err(err) => {
                assert_eq!(err.exit_code(), 2, "{name}");
                err.to_string()
            }
        };
        let expected = format!("{}:{expected}", path.display());
        if message != expected {
            failures.push(format!(
                "{name}:\n  expected {expected}\n  got      {message}"
            ));
        }
        assert!(!message.contains('\n'), "{name}: more than one line");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_valid_fixture_loads() {
    let root = tempdir();
    let env = env_under(root.path());
    let mut count = 0;
    for entry in fs::read_dir(fixtures().join("valid")).expect("valid fixtures") {
        let path = entry.expect("dir entry").path();
        if let Err(err) = load_file(&path, &env) {
            panic!("{} should load: {err}", path.display());
        }
        count += 1;
    }
    assert!(count >= 5);
}

#[test]
fn unset_keys_take_their_defaults() {
    let root = tempdir();
    let config = load_file(
        &fixture("valid", "minimal_smartlead"),
        &env_under(root.path()),
    )
    .expect("minimal loads");
    let acme = config.account("acme").expect("acme");
    assert_eq!(acme.label(), "acme");
    assert_eq!(acme.poll_interval_secs, 60);
    assert_eq!((acme.rate_limit.max, acme.rate_limit.per_secs), (10, 2));
    let sl = smartlead(&config, "acme");
    assert_eq!(sl.base_url.as_str(), config::SMARTLEAD_BASE_URL);
    assert_eq!(
        sl.api_key.resolve().expect("key").expose_secret(),
        "sl-minimal-key"
    );
    assert_eq!((sl.client_id, sl.email_account_id), (None, None));

    assert_eq!(config.daemon.listen.to_string(), "127.0.0.1:8790");
    assert!(config.daemon.public_url.is_none());
    assert!(config.daemon.webhook_secret.is_none());
    assert_eq!(config.daemon.log_format, LogFormat::Text);
    assert_eq!(config.sending.daily_limit_per_mailbox, 50);
    assert_eq!(config.sending.window.start.to_string(), "09:00:00");
    assert_eq!(config.sending.window.end.to_string(), "17:00:00");
    assert_eq!(config.sending.timezone, chrono_tz::UTC);
    assert!(config.sending.skip_weekends);
    assert_eq!(
        (
            config.sending.random_gap_secs.min,
            config.sending.random_gap_secs.max
        ),
        (60, 300)
    );
    assert!(config.sending.holidays.is_empty());
    assert_eq!(config.ui.undo_send_secs, 10);
    assert_eq!(config.ui.notify, Notify::Bell);
    assert_eq!(config.logging.level, LogLevel::Info);
    // No data_dir anywhere: the platform data dir.
    assert_eq!(config.data_dir(), root.path().join("platform-data"));
}

#[test]
fn every_key_of_a_full_config_is_read() {
    let root = tempdir();
    let path = fixture("valid", "full");
    let config = load_file(&path, &env_under(root.path())).expect("full loads");
    assert_eq!(config.data_dir(), Path::new("/srv/outpost"));
    let sl = smartlead(&config, "acme");
    assert_eq!(sl.base_url.as_str(), "http://127.0.0.1:40124/api/v1");
    assert_eq!(sl.webhook_token.as_deref(), Some("acme-token"));
    assert_eq!(
        config
            .account_by_webhook_token("beta-token")
            .map(|a| a.name.as_str()),
        Some("beta")
    );
    assert!(config.account_by_webhook_token("nope").is_none());

    let daemon = &config.daemon;
    assert_eq!(daemon.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(
        daemon.public_url.as_ref().map(|u| u.as_str()),
        Some("https://track.acme.io/")
    );
    let token = daemon.api_token.as_ref().expect("api token");
    assert_eq!(token.resolve().expect("token").expose_secret(), "api-token");
    assert_eq!(daemon.log_format, LogFormat::Json);
    // Relative paths are taken from the config file's directory.
    assert_eq!(
        daemon.log_file.as_deref(),
        path.parent().map(|d| d.join("logs/daemon.log")).as_deref()
    );
    assert_eq!(
        daemon.work_interval,
        Some(std::time::Duration::from_millis(250))
    );

    let sending = &config.sending;
    assert_eq!(sending.daily_limit_per_mailbox, 30);
    assert_eq!(sending.window.start.to_string(), "08:30:00");
    assert_eq!(sending.timezone, chrono_tz::Europe::Berlin);
    assert!(!sending.skip_weekends);
    assert_eq!(
        (sending.random_gap_secs.min, sending.random_gap_secs.max),
        (10, 10)
    );
    let holidays: Vec<String> = sending.holidays.iter().map(|d| d.to_string()).collect();
    assert_eq!(holidays, ["2025-12-25", "2026-01-01"]);

    assert_eq!(config.ui.undo_send_secs, 0);
    assert_eq!(config.ui.notify, Notify::Osc);
    assert_eq!(
        config.ui.theme.get("accent"),
        Some(&ratatui::style::Color::Rgb(0, 0xaf, 0xff))
    );
    assert_eq!(
        config.ui.theme.get("muted"),
        Some(&ratatui::style::Color::Indexed(8))
    );
    assert_eq!(config.ui.keymap["help"], Vec::<String>::new());
    assert_eq!(config.logging.level, LogLevel::Debug);
    assert_eq!(config.secrets().len(), 4);
}

#[test]
fn command_secrets_are_trimmed() {
    let root = tempdir();
    let config = load_file(&fixture("valid", "loopback_gmail"), &env_under(root.path()))
        .expect("gmail loads");
    let Some(ProviderSettings::Gmail(g)) = config.account("me").map(|a| &a.provider) else {
        panic!("me should be gmail");
    };
    assert_eq!(
        g.client_secret.resolve().expect("secret").expose_secret(),
        "sandbox-secret"
    );
    assert_eq!(g.api_base_url.as_str(), "http://127.0.0.1:40123/");
}

// ---------------------------------------------------------------- paths

/// Writes a config whose only content is a data_dir, so which file was read
/// shows in the result.
fn write_config(path: &Path, data_dir: &str) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).expect("create config dir");
    }
    fs::write(path, format!("data_dir = {data_dir:?}\n")).expect("write config");
}

#[test]
fn config_path_precedence_is_cli_then_env_then_platform() {
    let root = tempdir();
    let cli = root.path().join("cli.toml");
    let from_env = root.path().join("env.toml");
    let platform = root.path().join("platform-config/config.toml");
    write_config(&cli, "/data/cli");
    write_config(&from_env, "/data/env");
    write_config(&platform, "/data/platform");
    let env = env_under(root.path()).with_var(config::CONFIG_ENV, &from_env.to_string_lossy());

    let with_cli = ConfigSources {
        config_path: Some(cli.clone()),
        data_dir: None,
    };
    let config = config::load_with(&with_cli, &env, ResolveSecrets::Now).expect("cli config");
    assert_eq!(config.config_path(), cli);
    assert_eq!(config.data_dir(), Path::new("/data/cli"));

    let config = config::load_with(&ConfigSources::default(), &env, ResolveSecrets::Now)
        .expect("env config");
    assert_eq!(config.config_path(), from_env);
    assert_eq!(config.data_dir(), Path::new("/data/env"));

    let config = config::load_with(
        &ConfigSources::default(),
        &env_under(root.path()),
        ResolveSecrets::Now,
    )
    .expect("platform config");
    assert_eq!(config.config_path(), platform);
    assert!(config.file_found());
    assert_eq!(config.data_dir(), Path::new("/data/platform"));
}

#[test]
fn data_dir_precedence_is_cli_then_env_then_file_then_platform() {
    let root = tempdir();
    let file = root.path().join("config.toml");
    write_config(&file, "/data/file");
    let env = env_under(root.path()).with_var(config::DATA_DIR_ENV, "/data/env");
    let cli = ConfigSources {
        config_path: Some(file.clone()),
        data_dir: Some(PathBuf::from("/data/cli")),
    };
    let no_cli = ConfigSources {
        config_path: Some(file.clone()),
        data_dir: None,
    };

    let load = |sources: &ConfigSources, env: &FixedEnv| {
        config::load_with(sources, env, ResolveSecrets::Now)
            .expect("config loads")
            .data_dir()
            .to_path_buf()
    };
    assert_eq!(load(&cli, &env), Path::new("/data/cli"));
    assert_eq!(load(&no_cli, &env), Path::new("/data/env"));
    assert_eq!(
        load(&no_cli, &env_under(root.path())),
        Path::new("/data/file")
    );

    fs::write(&file, "").expect("empty config");
    assert_eq!(
        load(&no_cli, &env_under(root.path())),
        root.path().join("platform-data")
    );
}

#[test]
fn tilde_and_relative_data_dirs_are_expanded() {
    let root = tempdir();
    let file = root.path().join("conf/config.toml");
    let sources = ConfigSources {
        config_path: Some(file.clone()),
        data_dir: None,
    };
    let load = |env: &FixedEnv| {
        config::load_with(&sources, env, ResolveSecrets::Now)
            .expect("config loads")
            .data_dir()
            .to_path_buf()
    };

    write_config(&file, "~/outpost-data");
    assert_eq!(
        load(&env_under(root.path())),
        root.path().join("home/outpost-data")
    );

    write_config(&file, "state");
    assert_eq!(
        load(&env_under(root.path())),
        root.path().join("conf/state")
    );

    let env = env_under(root.path()).with_var(config::DATA_DIR_ENV, "~/from-env");
    assert_eq!(load(&env), root.path().join("home/from-env"));
}

#[test]
fn a_missing_file_at_the_default_location_is_an_empty_config() {
    let root = tempdir();
    let config = config::load_with(
        &ConfigSources::default(),
        &env_under(root.path()),
        ResolveSecrets::Now,
    )
    .expect("no file is fine");
    assert!(!config.file_found());
    assert!(config.accounts.is_empty());
    assert_eq!(
        config.config_path(),
        root.path().join("platform-config/config.toml")
    );
    assert_eq!(config.data_dir(), root.path().join("platform-data"));
    // Said, since commands then see no accounts at all.
    assert_eq!(config.warnings().len(), 1, "{:?}", config.warnings());
    assert!(config.warnings()[0].contains("no config file at"));
}

#[test]
fn a_data_dir_named_by_flag_or_environment_brings_its_own_config() {
    let root = tempdir();
    let data = root.path().join("demo");
    fs::create_dir_all(&data).unwrap();
    fs::write(
        data.join("config.toml"),
        "[accounts.acme]\nprovider = \"smartlead\"\napi_key = \"k\"\n",
    )
    .unwrap();
    let by_flag = ConfigSources {
        config_path: None,
        data_dir: Some(data.clone()),
    };
    let config =
        config::load_with(&by_flag, &env_under(root.path()), ResolveSecrets::Later).expect("loads");
    assert_eq!(config.config_path(), data.join("config.toml"));
    assert!(config.accounts.contains_key("acme"));
    assert_eq!(config.data_dir(), data);

    let env = env_under(root.path()).with_var(config::DATA_DIR_ENV, &data.to_string_lossy());
    let config =
        config::load_with(&ConfigSources::default(), &env, ResolveSecrets::Later).expect("loads");
    assert_eq!(config.config_path(), data.join("config.toml"));

    // A named config still wins; a data dir without one falls back as before.
    let elsewhere = root.path().join("elsewhere.toml");
    fs::write(&elsewhere, "").unwrap();
    let named = ConfigSources {
        config_path: Some(elsewhere.clone()),
        data_dir: Some(data.clone()),
    };
    let config =
        config::load_with(&named, &env_under(root.path()), ResolveSecrets::Later).expect("loads");
    assert_eq!(config.config_path(), elsewhere);
    let bare = ConfigSources {
        config_path: None,
        data_dir: Some(root.path().join("empty")),
    };
    let config =
        config::load_with(&bare, &env_under(root.path()), ResolveSecrets::Later).expect("loads");
    assert_eq!(
        config.config_path(),
        root.path().join("platform-config/config.toml")
    );
}

#[test]
fn an_explicitly_named_missing_file_is_an_error() {
    let root = tempdir();
    let missing = root.path().join("nope.toml");

    let by_cli = ConfigSources {
        config_path: Some(missing.clone()),
        data_dir: None,
    };
    let err = config::load_with(&by_cli, &env_under(root.path()), ResolveSecrets::Now)
        .expect_err("missing --config file");
    assert!(matches!(err, ConfigError::NotFound { .. }));
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string().contains(&*missing.to_string_lossy()),
        "{err}"
    );

    let env = env_under(root.path()).with_var(config::CONFIG_ENV, &missing.to_string_lossy());
    let err = config::load_with(&ConfigSources::default(), &env, ResolveSecrets::Now)
        .expect_err("missing OUTPOST_CONFIG file");
    assert!(matches!(err, ConfigError::NotFound { .. }));
}

#[test]
fn without_a_platform_dir_the_error_says_which_flag_to_pass() {
    let err = config::load_with(
        &ConfigSources::default(),
        &FixedEnv::new(None),
        ResolveSecrets::Now,
    )
    .expect_err("no platform dirs");
    assert!(err.to_string().contains("--config"), "{err}");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn an_unreadable_config_path_is_a_read_error() {
    let root = tempdir();
    let sources = ConfigSources {
        config_path: Some(root.path().to_path_buf()),
        data_dir: None,
    };
    let err = config::load_with(&sources, &env_under(root.path()), ResolveSecrets::Now)
        .expect_err("a directory is not a config file");
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
}

// ---------------------------------------------------------------- secrets

#[test]
fn load_reads_env_secrets_from_the_process_environment() {
    // A variable name no other test uses, so parallel tests cannot race on it.
    const VAR: &str = "OUTPOST_TEST_PROCESS_ENV_SECRET_4F1C";
    // SAFETY: no other thread in this test binary reads or writes this variable,
    // and std serialises its own environment access.
    unsafe { std::env::set_var(VAR, "from-process-env") };
    let root = tempdir();
    let file = root.path().join("config.toml");
    fs::write(
        &file,
        format!("[accounts.acme]\nprovider = \"smartlead\"\napi_key_env = \"{VAR}\"\n"),
    )
    .expect("write config");
    let sources = ConfigSources {
        config_path: Some(file),
        data_dir: Some(root.path().join("data")),
    };
    let config = config::load(&sources).expect("loads with the variable set");
    let key = &smartlead(&config, "acme").api_key;
    assert_eq!(
        key.resolve().expect("key").expose_secret(),
        "from-process-env"
    );
}

#[test]
fn unresolved_loading_defers_secret_errors_to_resolution() {
    let root = tempdir();
    let path = fixture("invalid", "missing_secret_env");
    let sources = ConfigSources {
        config_path: Some(path),
        data_dir: None,
    };
    let env = env_under(root.path());
    let config = config::load_with(&sources, &env, ResolveSecrets::Later)
        .expect("structure is valid without the variable");
    let secrets = config.secrets();
    assert_eq!(secrets.len(), 1);
    let err = secrets[0]
        .resolve_with(&env)
        .expect_err("variable still unset");
    assert!(err.is_secret());
    assert_eq!(
        err.problem().map(|p| p.key.as_str()),
        Some("accounts.acme.api_key_env")
    );

    let env = env.with_var("OUTPOST_FIXTURE_UNSET_KEY", "now-set");
    let value = secrets[0].resolve_with(&env).expect("variable now set");
    assert_eq!(value.expose_secret(), "now-set");
    assert!(config.resolve_secrets(&env).is_ok());
}

#[test]
fn a_command_secret_runs_once() {
    let root = tempdir();
    let counter = root.path().join("runs");
    let file = root.path().join("config.toml");
    let command = format!("echo run >> '{}'; echo counted-secret", counter.display());
    fs::write(
        &file,
        format!("[accounts.acme]\nprovider = \"smartlead\"\napi_key_cmd = {command:?}\n"),
    )
    .expect("write config");
    let env = env_under(root.path());
    let config = load_file(&file, &env).expect("loads");
    let secret = &config.secrets()[0];
    for _ in 0..3 {
        assert_eq!(
            secret.resolve().expect("cached").expose_secret(),
            "counted-secret"
        );
    }
    let runs = fs::read_to_string(&counter).expect("command ran");
    assert_eq!(runs.lines().count(), 1);
}

#[test]
fn secrets_never_show_in_debug_output_or_errors() {
    let root = tempdir();
    let env = env_under(root.path());
    let literal = load_file(&fixture("valid", "literal_secret"), &env).expect("literal loads");
    let full = load_file(&fixture("valid", "full"), &env).expect("full loads");
    for (config, secret) in [
        (&literal, "sl-literal-do-not-print"),
        (&full, "sl-full-key"),
        (&full, "hook-secret"),
    ] {
        let debug = format!("{config:?}");
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        assert!(debug.contains("redacted"), "{debug}");
    }
    // The variable's name is not a secret and helps diagnose a missing one.
    let source = SecretSource::Env("SMARTLEAD_API_KEY".into());
    assert_eq!(format!("{source:?}"), "Env(\"SMARTLEAD_API_KEY\")");

    let err = load_file(&fixture("invalid", "two_secret_sources"), &env).expect_err("two sources");
    assert!(!err.to_string().contains("sl-literal"), "{err}");
    assert!(!format!("{err:?}").contains("sl-literal"), "{err:?}");
}

// ---------------------------------------------------------------- permissions

#[cfg(unix)]
#[test]
fn a_readable_file_with_a_literal_secret_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;

    let root = tempdir();
    let env = env_under(root.path());
    let file = root.path().join("config.toml");
    fs::copy(fixture("valid", "literal_secret"), &file).expect("copy fixture");

    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("chmod 644");
    let config = load_file(&file, &env).expect("loads");
    assert_eq!(config.warnings().len(), 1);
    let warning = &config.warnings()[0];
    assert!(warning.contains(&*file.to_string_lossy()), "{warning}");
    assert!(warning.contains("accounts.acme.api_key"), "{warning}");
    assert!(warning.contains("0644"), "{warning}");
    assert!(warning.contains("chmod 600"), "{warning}");
    assert!(!warning.contains("sl-literal-do-not-print"), "{warning}");

    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod 600");
    let config = load_file(&file, &env).expect("loads");
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());

    // Secrets held elsewhere are no reason to warn, whatever the mode.
    let indirect = root.path().join("indirect.toml");
    fs::copy(fixture("valid", "minimal_smartlead"), &indirect).expect("copy fixture");
    fs::set_permissions(&indirect, fs::Permissions::from_mode(0o644)).expect("chmod 644");
    let config = load_file(&indirect, &env).expect("loads");
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
}

// ---------------------------------------------------------------- robustness

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// Damaging the example anywhere never panics the loader, and whatever
    /// goes wrong is reported on one line that names the file.
    #[test]
    fn a_damaged_config_never_panics(
        at in 0usize..5000,
        cut in 0usize..12,
        insert in "[a-z0-9_ =\\[\\]\"{},.:\\n-]{0,8}",
    ) {
        let example = include_str!("../config.example.toml");
        let mut at = at % (example.len() + 1);
        while !example.is_char_boundary(at) {
            at -= 1;
        }
        let mut end = (at + cut).min(example.len());
        while !example.is_char_boundary(end) {
            end -= 1;
        }
        let text = format!("{}{}{}", &example[..at], insert, &example[end..]);

        let root = tempdir();
        let file = root.path().join("config.toml");
        fs::write(&file, text).expect("write config");
        let sources = ConfigSources { config_path: Some(file.clone()), data_dir: None };
        // Later: a damaged key could name a command; nothing is run here.
        if let Err(err) = config::load_with(&sources, &env_under(root.path()), ResolveSecrets::Later) {
            let message = err.to_string();
            proptest::prop_assert!(!message.contains('\n'), "{}", message);
            let file_name = file.to_string_lossy().into_owned();
            proptest::prop_assert!(message.starts_with(&file_name), "{}", message);
        }
    }
}

#[test]
fn a_gmail_accounts_from_name_is_read_and_must_be_one_line() {
    let root = tempdir();
    let account = |from_name: &str| {
        format!(
            "[accounts.me]\nprovider = \"gmail\"\nemail = \"rep@acme.io\"\nclient_id = \"c\"\n\
             client_secret = \"s\"\nfrom_name = {from_name}\n"
        )
    };
    let file = root.path().join("from.toml");
    fs::write(&file, account("\"  Zoë Ångström  \"")).unwrap();
    let config = load_file(&file, &env_under(root.path())).expect("loads");
    let outpost::config::ProviderSettings::Gmail(gmail) = &config.accounts["me"].provider else {
        panic!("a Gmail account");
    };
    assert_eq!(gmail.from_name.as_deref(), Some("Zoë Ångström"));
    let settings = outpost::engine::EngineSettings::from_config(&config);
    assert_eq!(settings.from_name("me"), Some("Zoë Ångström"));

    fs::write(&file, account("\"Sam\\nBcc: x@evil.example\"")).unwrap();
    let err = load_file(&file, &env_under(root.path())).expect_err("a line break is refused");
    assert!(err.to_string().contains("from_name"), "{err}");
}

#[test]
fn a_signature_comes_from_its_text_or_its_file_never_both() {
    let root = tempdir();
    let gmail = |extra: &str| {
        format!(
            "[accounts.me]\nprovider = \"gmail\"\nemail = \"rep@acme.io\"\nclient_id = \"c\"\n\
             client_secret = \"s\"\n{extra}\n"
        )
    };
    let path = root.path().join("config.toml");
    fs::create_dir_all(root.path().join("sigs")).unwrap();
    fs::write(root.path().join("sigs/me.txt"), "-- \nSam Carter\nAcme\n\n").unwrap();
    fs::write(&path, gmail("signature_file = \"sigs/me.txt\"")).unwrap();
    let config = load_file(&path, &env_under(root.path())).expect("loads");
    // Read relative to the config file; the "-- " line is outpost's to add.
    assert_eq!(
        config.account("me").unwrap().signature.as_deref(),
        Some("Sam Carter\nAcme")
    );

    fs::write(&path, gmail("signature = \"Sam\\nAcme\\n\"")).unwrap();
    let config = load_file(&path, &env_under(root.path())).expect("loads");
    assert_eq!(
        config.account("me").unwrap().signature.as_deref(),
        Some("Sam\nAcme")
    );

    fs::write(
        &path,
        gmail("signature = \"Sam\"\nsignature_file = \"sigs/me.txt\""),
    )
    .unwrap();
    let err = load_file(&path, &env_under(root.path())).unwrap_err();
    assert!(
        err.to_string()
            .contains("both signature and signature_file"),
        "{err}"
    );

    fs::write(&path, gmail("signature_file = \"sigs/gone.txt\"")).unwrap();
    let err = load_file(&path, &env_under(root.path())).unwrap_err();
    assert!(
        err.to_string().contains("signature_file") && err.to_string().contains("gone.txt"),
        "{err}"
    );
}

#[cfg(not(feature = "keyring"))]
#[test]
fn a_keyring_token_store_without_the_feature_says_how_to_build() {
    let root = tempdir();
    let file = root.path().join("config.toml");
    fs::write(
        &file,
        "[accounts.gm]\nprovider = \"gmail\"\nemail = \"rep@acme.io\"\nclient_id = \"cid\"\n\
         client_secret = \"shh\"\ntoken_store = \"keyring\"\n",
    )
    .unwrap();
    let err = load_file(&file, &env_under(root.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(
            "6:15: accounts.gm.token_store: this outpost was built without the OS keyring; \
             build it with `cargo build --features keyring`, or use token_store = \"file\""
        ),
        "{err}"
    );
}
