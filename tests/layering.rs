//! The faces (CLI, TUI, server routes, daemon and service wiring) reach the
//! data only through the door (`Request` / `Engine::execute`) and the engine's
//! named methods, never the store or the provider clients themselves.
//!
//! A source scan, because everything is still one crate: `pub(crate)` keeps
//! the store from tests and other crates, but not from a face inside this
//! crate. The planned workspace split (DESIGN.md: faces in the root package,
//! `crates/outpost-core` beside it) will let the compiler enforce this instead.

use std::path::{Path, PathBuf};

/// What a face must not write: the engine's store or providers (any receiver,
/// so a core type handing its store on is caught too), or the tests' back
/// entrance.
const FORBIDDEN: &[&str] = &[
    ".store()",
    ".providers()",
    "Engine::store(",
    "Engine::providers(",
    "crate::testing",
    "outpost::testing",
];

/// Face directories and files, relative to the crate root.
const FACES: &[&str] = &[
    "src/cli",
    "src/tui",
    "src/server",
    "src/daemon.rs",
    "src/main.rs",
    "src/services.rs",
];

/// Every `(line number, line)` of `source` that uses a forbidden name;
/// comment lines are skipped so docs may name them.
fn violations(source: &str) -> Vec<(usize, String)> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .filter(|(_, line)| FORBIDDEN.iter().any(|name| line.contains(name)))
        .map(|(index, line)| (index + 1, line.trim().to_string()))
        .collect()
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", path.display()))
            .map(|entry| entry.expect("directory entry").path())
            .collect();
        entries.sort();
        for entry in entries {
            rust_files(&entry, out);
        }
    } else if path.extension().is_some_and(|ext| ext == "rs") {
        out.push(path.to_path_buf());
    }
}

fn face_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for face in FACES {
        let path = root.join(face);
        assert!(path.exists(), "{face} is gone; update FACES in this test");
        rust_files(&path, &mut files);
    }
    files
}

#[test]
fn faces_reach_the_data_only_through_the_door() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = face_files(root);
    // The scan must see the faces it guards, or it proves nothing.
    for expected in [
        "src/cli/mod.rs",
        "src/tui/mod.rs",
        "src/server/routes/health.rs",
    ] {
        assert!(
            files.contains(&root.join(expected)),
            "{expected} not scanned"
        );
    }
    let mut found = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        for (line, text) in violations(&source) {
            let relative = file.strip_prefix(root).unwrap_or(file);
            found.push(format!("{}:{line}: {text}", relative.display()));
        }
    }
    assert!(
        found.is_empty(),
        "faces must go through the door (a Request, or a named Engine method), \
         not the store or the providers:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_names_each_use_and_skips_comments() {
    let source = "fn f(engine: &Engine) {\n\
                  \x20   // outpost::testing::store(&engine) in a comment is fine\n\
                  \x20   let n = outpost::testing::store(&engine).count::<Lead>();\n\
                  \x20   let p = engine\n\
                  \x20       .providers();\n\
                  \x20   let s = outpost::testing::store(engine);\n\
                  \x20   engine.execute(Request::Tags);\n\
                  }\n";
    let lines: Vec<usize> = violations(source).into_iter().map(|(n, _)| n).collect();
    assert_eq!(lines, [3, 5, 6]);
}
