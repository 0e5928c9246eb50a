//! An attachment received, saved to the downloads directory or opened with
//! the system's opener: done by the job that fetched it, so the UI task
//! never waits on the disk or on the opener.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::engine::{AttachmentContent, safe_file_name};

/// Where the rep's browser would save it: the downloads directory, else
/// the home directory, else the temp directory.
pub fn downloads_dir() -> PathBuf {
    directories::UserDirs::new()
        .and_then(|dirs| {
            dirs.download_dir()
                .map(Path::to_path_buf)
                .or_else(|| Some(dirs.home_dir().to_path_buf()))
        })
        .unwrap_or_else(std::env::temp_dir)
}

/// Writes the bytes under the sender's (safe) name in `dir`, never over a
/// file already there: `overview (1).pdf` then, and so on.
pub fn save_new(dir: &Path, content: &AttachmentContent) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = safe_file_name(&content.filename, content.number);
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
        _ => (name.clone(), String::new()),
    };
    for n in 0.. {
        let candidate = if n == 0 {
            dir.join(&name)
        } else {
            dir.join(format!("{stem} ({n}){ext}"))
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(mut file) => {
                file.write_all(&content.data)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("some name is free")
}

/// The opener's command line: `$OPENER` (split as a shell would), else
/// `open` on macOS and `xdg-open` elsewhere.
pub fn opener_command(opener: Option<&str>) -> Result<Vec<String>, String> {
    match opener.filter(|o| !o.trim().is_empty()) {
        Some(line) => {
            let words = shell_words::split(line)
                .map_err(|e| format!("cannot read $OPENER ({line:?}): {e}"))?;
            if words.is_empty() {
                return Ok(vec![default_opener().to_string()]);
            }
            Ok(words)
        }
        None => Ok(vec![default_opener().to_string()]),
    }
}

fn default_opener() -> &'static str {
    if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    }
}

/// Starts the opener on `path` apart from the terminal (no stdin, output
/// dropped) and does not wait for it; a thread reaps it when it ends.
pub fn open(path: &Path) -> Result<(), String> {
    let opener = std::env::var("OPENER").ok();
    let command = opener_command(opener.as_deref())?;
    let (program, args) = command.split_first().expect("never empty");
    let mut child = std::process::Command::new(program)
        .args(args)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e} (set $OPENER)"))?;
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// Saves an attachment in `dir` (the downloads directory) and opens it
/// when asked; what the message line says after.
pub fn deliver(content: &AttachmentContent, dir: &Path, open_it: bool) -> Result<String, String> {
    let path = save_new(dir, content)
        .map_err(|e| format!("cannot save {} in {}: {e}", content.filename, dir.display()))?;
    if open_it {
        open(&path)?;
        Ok(format!("Opened {}", path.display()))
    } else {
        Ok(format!("Saved {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdf(name: &str) -> AttachmentContent {
        AttachmentContent {
            number: 2,
            filename: name.into(),
            mime_type: "application/pdf".into(),
            data: b"%PDF-1.4".to_vec(),
        }
    }

    #[test]
    fn a_saved_attachment_never_replaces_a_file_or_leaves_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = save_new(dir.path(), &pdf("overview.pdf")).unwrap();
        let second = save_new(dir.path(), &pdf("overview.pdf")).unwrap();
        assert_eq!(first, dir.path().join("overview.pdf"));
        assert_eq!(second, dir.path().join("overview (1).pdf"));
        assert_eq!(std::fs::read(&second).unwrap(), b"%PDF-1.4");
        let sneaky = save_new(dir.path(), &pdf("../../escape.pdf")).unwrap();
        assert_eq!(sneaky, dir.path().join("escape.pdf"));
        let unnamed = save_new(dir.path(), &pdf("..")).unwrap();
        assert_eq!(unnamed, dir.path().join("attachment-2"));
    }

    #[test]
    fn the_opener_is_opener_split_as_a_shell_would_else_the_system_one() {
        assert_eq!(
            opener_command(Some("open -a 'Preview'")).unwrap(),
            ["open", "-a", "Preview"]
        );
        assert_eq!(opener_command(None).unwrap(), [default_opener()]);
        assert_eq!(opener_command(Some("  ")).unwrap(), [default_opener()]);
        assert!(opener_command(Some("'unclosed")).is_err());
    }
}
