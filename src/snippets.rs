//! Canned replies: one file per snippet, `<config dir>/snippets/NAME.md`,
//! its text inserted in the composer with the conversation's lead filled in
//! by the engine's template renderer (`{{first_name}}` and the rest).

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The folder name beside the config file.
pub const FOLDER: &str = "snippets";
/// A snippet file's extension.
pub const EXTENSION: &str = "md";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snippet {
    /// The file name without `.md`: what the rep picks by.
    pub name: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SnippetError {
    #[error("cannot read the snippets folder {}: {source}", dir.display())]
    Folder {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read snippet {}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the snippets of the config file at `config_path` live: beside it.
pub fn folder_for(config_path: &Path) -> PathBuf {
    config_path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(FOLDER)
}

/// Every snippet in `dir`, by name; a folder that does not exist has none.
/// Other files (not `.md`, hidden, folders) are not snippets and are passed
/// over.
pub fn load_all(dir: &Path) -> Result<Vec<Snippet>, SnippetError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(SnippetError::Folder {
                dir: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut snippets = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| SnippetError::Folder {
            dir: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let Some(name) = snippet_name(&path) else {
            continue;
        };
        if !path.is_file() {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|source| SnippetError::File { path, source })?;
        // An editor's final newline is no part of the reply.
        let text = text
            .replace("\r\n", "\n")
            .trim_end_matches('\n')
            .to_string();
        snippets.push(Snippet { name, text });
    }
    snippets.sort_by_key(|s| s.name.to_lowercase());
    Ok(snippets)
}

/// `NAME` for `NAME.md`; None for anything else.
fn snippet_name(path: &Path) -> Option<String> {
    if path.extension()?.to_str()? != EXTENSION {
        return None;
    }
    let name = path.file_stem()?.to_str()?;
    (!name.is_empty() && !name.starts_with('.')).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_the_md_files_by_name_and_a_missing_folder_has_none() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(FOLDER);
        assert_eq!(load_all(&dir).unwrap(), Vec::new());
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(
            dir.join("pricing.md"),
            "Hi {{first_name}},\r\nour pricing…\n\n",
        )
        .unwrap();
        std::fs::write(dir.join("Intro call.md"), "Does Tuesday work?").unwrap();
        std::fs::write(dir.join("notes.txt"), "not a snippet").unwrap();
        std::fs::write(dir.join(".hidden.md"), "not a snippet").unwrap();
        std::fs::create_dir(dir.join("folder.md")).unwrap();
        let all = load_all(&dir).unwrap();
        assert_eq!(
            all,
            vec![
                Snippet {
                    name: "Intro call".into(),
                    text: "Does Tuesday work?".into()
                },
                Snippet {
                    name: "pricing".into(),
                    text: "Hi {{first_name}},\nour pricing…".into()
                },
            ]
        );
    }

    #[test]
    fn the_folder_is_beside_the_config_file() {
        assert_eq!(
            folder_for(Path::new("/home/rep/.config/outpost/config.toml")),
            Path::new("/home/rep/.config/outpost/snippets")
        );
    }
}
