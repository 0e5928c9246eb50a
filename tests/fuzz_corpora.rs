//! Replays every fuzzing corpus file (fuzz/corpus/<target>/*) through the
//! same entry point its cargo-fuzz target calls, so inputs that once crashed
//! outpost, and the coverage the fuzzers found, stay regression tests under a
//! plain `cargo test` (no cargo-fuzz, no nightly features).

use std::path::{Path, PathBuf};

type EntryPoint = fn(&[u8]);

const TARGETS: &[(&str, EntryPoint)] = &[
    ("webhook_payload", outpost::fuzzing::webhook_payload),
    ("template_render", outpost::fuzzing::template_render),
    ("mime_inbound", outpost::fuzzing::mime_inbound),
    ("config_parse", outpost::fuzzing::config_parse),
];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str, entry: EntryPoint) {
    let dir = corpus_dir(target);
    let files = files(&dir);
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| entry(&data));
        assert!(
            outcome.is_ok(),
            "{target} panicked on {}; reproduce with `cargo fuzz run {target} {}`",
            file.display(),
            file.display()
        );
    }
}

#[test]
fn every_corpus_directory_has_a_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for entry in std::fs::read_dir(&root).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            TARGETS.iter().any(|(target, _)| *target == name),
            "fuzz/corpus/{name} has no entry point in this test"
        );
    }
}

#[test]
fn webhook_payload_corpus() {
    replay("webhook_payload", outpost::fuzzing::webhook_payload);
}

#[test]
fn template_render_corpus() {
    replay("template_render", outpost::fuzzing::template_render);
}

#[test]
fn mime_inbound_corpus() {
    replay("mime_inbound", outpost::fuzzing::mime_inbound);
}

#[test]
fn config_parse_corpus() {
    replay("config_parse", outpost::fuzzing::config_parse);
}
