//! The `:` command history kept between runs: `<data dir>/command_history`, one command
//! line per line, oldest first, the last `HISTORY_LIMIT` entries, owner-only (0600 on unix).
//! Blocking file I/O: the runtime calls it off the event loop.

use std::io;
use std::path::{Path, PathBuf};

/// How many command lines the file (and the `:` line's Up/Down) keeps.
pub const HISTORY_LIMIT: usize = 500;

/// Longer lines are not kept (nobody recalls a pasted page).
const LINE_LIMIT: usize = 1000;

/// Where the history lives in the data dir.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("command_history")
}

/// Whether `line` may be kept: not blank, not too long, and no control character or other
/// character the sanitizer would have to show (a line break would split the entry; an
/// escape sequence would be replayed into the terminal by whoever `cat`s the file).
pub fn storable(line: &str) -> bool {
    !line.trim().is_empty()
        && line.chars().count() <= LINE_LIMIT
        && crate::text::is_clean(line)
        && !line.chars().any(char::is_control)
}

/// The entries of the file, oldest first; a missing file is an empty history. Lines that
/// may not be stored (a file edited by hand) are skipped.
pub fn load(path: &Path) -> io::Result<Vec<String>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut entries: Vec<String> = text
        .lines()
        .filter(|l| storable(l))
        .map(str::to_string)
        .collect();
    if entries.len() > HISTORY_LIMIT {
        entries.drain(..entries.len() - HISTORY_LIMIT);
    }
    Ok(entries)
}

/// Add `line` to the file: nothing when it may not be stored or repeats the newest entry;
/// the file keeps its last `HISTORY_LIMIT` entries. The file is rewritten through a
/// temporary file and a rename, so a crash leaves the old or the new history, not half.
pub fn append(path: &Path, line: &str) -> io::Result<()> {
    if !storable(line) {
        return Ok(());
    }
    let mut entries = load(path)?;
    if entries.last().map(String::as_str) == Some(line) {
        return Ok(());
    }
    entries.push(line.to_string());
    if entries.len() > HISTORY_LIMIT {
        entries.drain(..entries.len() - HISTORY_LIMIT);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(parent)?;
    }
    let mut body = entries.join("\n");
    body.push('\n');
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    {
        use std::io::Write;
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        {
            // A leftover temporary file keeps its old mode on open: make it owner-only.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(body.as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_trip_keeps_order_skips_repeats_and_control_characters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = path_in(&dir.path().join("data"));
        assert_eq!(load(&path).expect("missing is empty"), Vec::<String>::new());
        for line in [
            "kind conn",
            "kind conn",
            "profile prod",
            "mark \u{1b}[2Jowner:x",
            "filter a\nb",
            "   ",
            "kind conn",
        ] {
            append(&path, line).expect("append");
        }
        assert_eq!(
            load(&path).expect("load"),
            ["kind conn", "profile prod", "kind conn"]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "owner-only: {mode:o}");
        }
    }

    #[test]
    fn the_file_keeps_the_last_entries_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = path_in(dir.path());
        let old: Vec<String> = (0..HISTORY_LIMIT + 20).map(|i| format!("f {i}")).collect();
        std::fs::write(&path, old.join("\n")).expect("seed");
        assert_eq!(load(&path).expect("load").len(), HISTORY_LIMIT);
        append(&path, "kind logins").expect("append");
        let kept = load(&path).expect("load");
        assert_eq!(kept.len(), HISTORY_LIMIT);
        assert_eq!(kept.last().map(String::as_str), Some("kind logins"));
        assert_eq!(kept[0], format!("f {}", 21));
    }

    #[test]
    fn an_unreadable_history_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the file should be cannot be read as one.
        let path = path_in(dir.path());
        std::fs::create_dir(&path).expect("dir");
        assert!(load(&path).is_err());
        assert!(append(&path, "kind conn").is_err());
    }
}
