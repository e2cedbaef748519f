//! The watch history kept between runs: per profile, `<data dir>/watch/<profile>.json`,
//! owner-only (0600 on unix). It remembers, per object, since when it has been unhealthy,
//! its last health changes and when a health check last answered for it, and when the
//! operator last looked at the profile. Blocking file I/O: the runtime calls it off the
//! event loop.

use crate::model::Kind;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// The format version this build writes; files of a newer version are not read.
pub const VERSION: u32 = 1;

/// How many health changes are kept per object.
pub const CHANGES_KEPT: usize = 8;

/// A health change of an object: at `at`, it became unhealthy (true) or healthy (false).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub at: i64,
    pub unhealthy: bool,
}

/// What the watch remembers of one object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Since when it has been unhealthy (first seen so); `None`: not unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad_since: Option<i64>,
    /// When a health check last answered for it, and what it said: `None` healthy, else the
    /// reason it failed (server text, kept as the console showed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tested_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_failed: Option<String>,
    /// The last health changes, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

impl Seen {
    /// Note a change, keeping the last `CHANGES_KEPT`.
    pub fn push_change(&mut self, change: Change) {
        self.changes.push(change);
        if self.changes.len() > CHANGES_KEPT {
            self.changes.drain(..self.changes.len() - CHANGES_KEPT);
        }
    }
}

/// One object of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub kind: Kind,
    pub id: String,
    #[serde(flatten)]
    pub seen: Seen,
}

/// A profile's watch history as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchFile {
    pub version: u32,
    pub profile: String,
    /// When the operator last looked at the profile (left its tab or the All tab).
    #[serde(default)]
    pub looked_at: Option<i64>,
    #[serde(default)]
    pub objects: Vec<Entry>,
}

/// The file of `profile` in the data dir. A profile name is any text: characters other
/// than ASCII letters, digits, `-` and `_` are written as `%XX`, so two names never share a
/// file and no name leaves the directory.
pub fn path_in(data_dir: &Path, profile: &str) -> PathBuf {
    let mut name = String::with_capacity(profile.len() + 5);
    for b in profile.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push_str(".json");
    data_dir.join("watch").join(name)
}

/// Read the file; a missing file is `None`. A file of another profile, a newer version or
/// that is not a watch history is an error saying so.
pub fn load(path: &Path, profile: &str) -> io::Result<Option<WatchFile>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let file: WatchFile = serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a watch history: {e}"),
        )
    })?;
    if file.version > VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "written by a newer dsconsole (version {}, this one reads {VERSION})",
                file.version
            ),
        ));
    }
    if file.profile != profile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it belongs to profile '{}'", file.profile),
        ));
    }
    Ok(Some(file))
}

/// Write the file through a temporary file and a rename (a crash leaves the old or the new
/// history, never half), creating the directory owner-only.
pub fn save(path: &Path, file: &WatchFile) -> io::Result<()> {
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
    let body = serde_json::to_vec(file).map_err(io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    {
        use std::io::Write;
        let mut out = options.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            out.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        out.write_all(&body)?;
        out.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(profile: &str) -> WatchFile {
        WatchFile {
            version: VERSION,
            profile: profile.into(),
            looked_at: Some(1_700_000_000),
            objects: vec![Entry {
                kind: Kind::Connections,
                id: "C1".into(),
                seen: Seen {
                    bad_since: Some(1_700_000_100),
                    tested_at: Some(1_700_000_100),
                    test_failed: Some("login failed".into()),
                    changes: vec![Change {
                        at: 1_700_000_100,
                        unhealthy: true,
                    }],
                },
            }],
        }
    }

    #[test]
    fn a_round_trip_is_exact_and_owner_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = path_in(dir.path(), "prod");
        assert_eq!(load(&path, "prod").expect("missing"), None);
        save(&path, &sample("prod")).expect("save");
        assert_eq!(load(&path, "prod").expect("load"), Some(sample("prod")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
    }

    #[test]
    fn profile_names_map_to_distinct_files_inside_the_directory() {
        let dir = Path::new("/d");
        assert_eq!(
            path_in(dir, "prod-eu_1"),
            Path::new("/d/watch/prod-eu_1.json")
        );
        assert_eq!(path_in(dir, "../x"), Path::new("/d/watch/%2E%2E%2Fx.json"));
        assert_ne!(path_in(dir, "a b"), path_in(dir, "a_b"));
        assert_ne!(path_in(dir, "a%20b"), path_in(dir, "a b"));
    }

    #[test]
    fn a_broken_foreign_or_newer_file_is_an_error_that_says_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = path_in(dir.path(), "prod");
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, "<html>").expect("write");
        let e = load(&path, "prod").expect_err("broken");
        assert!(e.to_string().contains("not a watch history"), "{e}");
        save(&path, &sample("qa")).expect("save");
        let e = load(&path, "prod").expect_err("foreign");
        assert!(e.to_string().contains("profile 'qa'"), "{e}");
        let mut newer = sample("prod");
        newer.version = VERSION + 1;
        save(&path, &newer).expect("save");
        let e = load(&path, "prod").expect_err("newer");
        assert!(e.to_string().contains("newer dsconsole"), "{e}");
    }
}
