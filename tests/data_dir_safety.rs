//! The data dir under hostile conditions, with the real `outpost` binary:
//!
//! - a full disk (simulated with a file-size limit, `RLIMIT_FSIZE`, and
//!   SIGXFSZ ignored so writes fail with EFBIG exactly where a full disk fails
//!   them with ENOSPC): a clear one-line error naming the data dir, a non-zero
//!   exit, no panic; afterwards the store opens, its indexes agree with its
//!   records, every record decodes, and re-running the command succeeds;
//! - a read-only data dir: a clear message with the way out, no panic.

use std::fs;
use std::io::BufWriter;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::cargo::CommandCargoExt;
use outpost::model::Lead;
use outpost::store::Store;

/// Leads in the export used to fill the disk; with the padding below the
/// export is ~12 MB, far above the size limit.
const LEADS: usize = 20_000;
/// Largest file the limited process may write, in 512-byte blocks (`sh`'s
/// `ulimit -f` unit; bash counts 1024-byte blocks, which only doubles it).
const FSIZE_BLOCKS: u32 = 2048;

fn outpost_path() -> PathBuf {
    std::process::Command::cargo_bin("outpost")
        .expect("the outpost binary is built for integration tests")
        .get_program()
        .into()
}

/// A directory anyone may enter, so an unprivileged child can reach its files.
fn open_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// An empty config (valid: no accounts) so nothing depends on the machine's.
fn empty_config(dir: &Path) -> PathBuf {
    let path = dir.join("config.toml");
    fs::write(&path, "").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    path
}

/// An `outpost export` of a store holding `LEADS` padded leads.
fn big_export(dir: &Path) -> PathBuf {
    let source = dir.join("source");
    let store = Store::open(&source, "test").unwrap();
    let padding = "x".repeat(400);
    let leads: Vec<Lead> = (0..LEADS)
        .map(|i| {
            let mut lead = Lead::new("acme", &format!("lead{i}@example{}.com", i % 97));
            lead.first_name = Some(format!("First{i}"));
            lead.company = Some(format!("Company {}", i % 500));
            lead.custom_fields.insert("notes".into(), padding.clone());
            lead
        })
        .collect();
    store.put_all(&leads).unwrap();
    store.flush().unwrap();
    let path = dir.join("export.jsonl");
    let mut out = BufWriter::new(fs::File::create(&path).unwrap());
    outpost::store::portable::export(&store, &mut out).unwrap();
    drop(out);
    drop(store);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// No panic message, no backtrace: the rep sees outpost's words only.
fn assert_no_panic(stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
}

/// The one `outpost: ...` error line of a failed command, checked to be no
/// panic and to name the data dir.
fn error_line<'a>(stderr: &'a str, data_dir: &Path, what: &str) -> &'a str {
    assert_no_panic(stderr);
    let message = stderr
        .lines()
        .find(|l| l.starts_with("outpost: "))
        .unwrap_or_else(|| panic!("{what}: no outpost error line in {stderr:?}"));
    assert!(
        message.contains(&data_dir.display().to_string()),
        "{message}"
    );
    message
}

/// Runs `outpost import` with writes capped at `FSIZE_BLOCKS`.
fn import_with_size_limit(export: &Path, config: &Path, data_dir: &Path) -> Output {
    // `trap '' XFSZ` makes the kernel return EFBIG instead of killing the
    // process; the ignored disposition survives `exec`.
    let script = format!("trap '' XFSZ; ulimit -f {FSIZE_BLOCKS} && exec \"$0\" \"$@\"");
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(outpost_path())
        .arg("import")
        .arg(export)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// Every record decodes and every index entry agrees with its record.
fn assert_store_whole(data_dir: &Path) -> usize {
    let store = Store::open(data_dir, "test").expect("the store opens after the failure");
    assert_eq!(
        store.verify_indexes().unwrap(),
        Vec::<String>::new(),
        "indexes disagree with records"
    );
    let mut leads = 0;
    for lead in store.iter::<Lead>() {
        let lead = lead.expect("no record is half-written");
        assert_eq!(lead.custom_fields.get("notes").map(String::len), Some(400));
        leads += 1;
    }
    assert_eq!(leads, store.count::<Lead>());
    leads
}

#[test]
fn a_full_disk_fails_cleanly_and_leaves_a_whole_store() {
    let dir = open_dir();
    let config = empty_config(dir.path());
    let export = big_export(dir.path());
    let data_dir = dir.path().join("data");

    let output = import_with_size_limit(&export, &config, &data_dir);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "the import cannot fit: {stderr}");
    let message = error_line(&stderr, &data_dir, "import");
    assert!(message.contains("out of space"), "{message}");
    assert!(message.contains("free some space"), "{message}");

    // Without the limit: the store is whole, doctor agrees, and the way out
    // (run the command again) works.
    let before = assert_store_whole(&data_dir);
    assert!(before < LEADS, "the limit stopped the import part-way");
    let doctor = std::process::Command::cargo_bin("outpost")
        .unwrap()
        .arg("doctor")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .unwrap();
    let report = text(&doctor.stdout);
    assert!(
        report.contains("every index agrees with its records"),
        "{report}\n{}",
        text(&doctor.stderr)
    );
    let retry = std::process::Command::cargo_bin("outpost")
        .unwrap()
        .arg("import")
        .arg(&export)
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(retry.status.success(), "{}", text(&retry.stderr));
    assert_eq!(assert_store_whole(&data_dir), LEADS);
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// `outpost <args>` as an unprivileged user when running as root (root
/// ignores permission bits), else as ourselves.
fn run_unprivileged(args: &[&std::ffi::OsStr]) -> Output {
    let mut command = if is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--reset-env",
        ])
        .arg(outpost_path());
        c
    } else {
        std::process::Command::new(outpost_path())
    };
    command
        .args(args)
        .env_remove("OUTPOST_CONFIG")
        .env_remove("OUTPOST_DATA_DIR")
        .output()
        .expect("setpriv (util-linux) runs the binary as nobody")
}

#[test]
fn a_read_only_data_dir_says_so_and_how_to_fix_it() {
    let dir = open_dir();
    let config = empty_config(dir.path());
    let data_dir = dir.path().join("data");
    // A cache that exists (so the failure is about writing, not creating).
    drop(Store::open(&data_dir, "test").unwrap());
    let make_read_only = |path: &Path| {
        let mode = if path.is_dir() { 0o555 } else { 0o444 };
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    };
    for entry in walk(&data_dir) {
        make_read_only(&entry);
    }
    make_read_only(&data_dir);

    for command in [&["leads"][..], &["import", "-"][..], &["stats"][..]] {
        let mut args: Vec<&std::ffi::OsStr> = command.iter().map(|a| a.as_ref()).collect();
        args.extend([
            "--config".as_ref(),
            config.as_os_str(),
            "--data-dir".as_ref(),
            data_dir.as_os_str(),
        ]);
        let output = run_unprivileged(&args);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{command:?}: {stderr}");
        let message = error_line(&stderr, &data_dir, &format!("{command:?}"));
        assert!(message.contains("not writable"), "{message}");
        assert!(message.contains("fix the permissions"), "{message}");
        assert!(message.contains("--data-dir"), "{message}");
    }

    // A data dir that does not exist yet under a directory nobody may write.
    let missing = data_dir.join("nested");
    let args: Vec<&std::ffi::OsStr> = vec![
        "leads".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--data-dir".as_ref(),
        missing.as_os_str(),
    ];
    let output = run_unprivileged(&args);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert_no_panic(&stderr);
    assert!(stderr.contains("not writable"), "{stderr}");

    // Give write access back so the temporary directory can be removed.
    for entry in walk(&data_dir).into_iter().chain([data_dir.clone()]) {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        fs::set_permissions(&entry, fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Every file and directory under `dir` (not `dir` itself).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}
