//! `:export FILE.csv|FILE.json`: the rows an operator sees (or marked), written as data —
//! the neutral model with exact strings, as `--output json` gives them; secrets were
//! stripped when the objects were loaded. CSV cells that a spreadsheet would run as a
//! formula (`=`, `+`, `-`, `@` first) are prefixed with `'`.

use crate::model::Resource;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// From the file name's extension; `None` for anything but .csv and .json.
    pub fn of(path: &Path) -> Option<Format> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Some(Format::Csv),
            Some("json") => Some(Format::Json),
            _ => None,
        }
    }
}

const CSV_COLUMNS: &[&str] = &[
    "profile",
    "vendor",
    "kind",
    "id",
    "name",
    "type",
    "container",
    "owner",
    "health",
    "health_reason",
    "sync_status",
    "sync_error",
    "used_by",
    "orphan",
    "created",
    "updated",
];

fn csv_cell(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn csv_row(r: &Resource) -> String {
    use crate::model::Health;
    let (health, reason) = match &r.health {
        Health::Unknown => ("unknown", String::new()),
        Health::Testing => ("testing", String::new()),
        Health::Healthy => ("healthy", String::new()),
        Health::Unhealthy(w) => ("unhealthy", w.to_string()),
    };
    let time = |t: Option<i64>| t.map(crate::model::format_time).unwrap_or_default();
    let mut users: Vec<String> = r.user_labels();
    if r.used_by_unknown {
        users.push("?".into());
    }
    let cells = [
        r.profile.to_string(),
        r.vendor.id().to_string(),
        r.kind.id().to_string(),
        r.id.to_string(),
        r.name.to_string(),
        r.type_.as_deref().unwrap_or_default().to_string(),
        r.container.as_deref().unwrap_or_default().to_string(),
        r.owner.as_deref().unwrap_or_default().to_string(),
        health.to_string(),
        reason,
        r.sync
            .as_ref()
            .and_then(|s| s.status.clone())
            .unwrap_or_default(),
        r.sync
            .as_ref()
            .and_then(|s| s.error.clone())
            .unwrap_or_default(),
        users.join("; "),
        r.is_orphan().to_string(),
        time(r.created),
        time(r.updated),
    ];
    cells
        .iter()
        .map(|c| csv_cell(c))
        .collect::<Vec<_>>()
        .join(",")
}

/// The file's bytes.
pub fn render(rows: &[Resource], format: Format) -> Result<Vec<u8>, String> {
    match format {
        Format::Json => {
            let mut v = serde_json::to_vec_pretty(rows).map_err(|e| e.to_string())?;
            v.push(b'\n');
            Ok(v)
        }
        Format::Csv => {
            let mut out = CSV_COLUMNS.join(",");
            out.push('\n');
            for r in rows {
                out.push_str(&csv_row(r));
                out.push('\n');
            }
            Ok(out.into_bytes())
        }
    }
}

/// `~/x` is under the home directory; anything else as given.
pub fn expand(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(rest))
            .unwrap_or_else(|| PathBuf::from(path)),
        None => PathBuf::from(path),
    }
}

/// Write `rows` to `path` (a temporary file beside it, then renamed, so a reader never sees
/// half a file). Returns the bytes written.
pub fn write(path: &Path, rows: &[Resource], format: Format) -> Result<usize, String> {
    let bytes = render(rows, format)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.partial",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("export")
    ));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, VendorId};

    #[test]
    fn csv_quotes_and_defuses_formulas_and_json_keeps_exact_strings() {
        let mut r = Resource::new(
            VendorId::Qlik,
            "prod",
            Kind::Connections,
            "c1",
            "=HYPERLINK(\"x\")",
        );
        r.owner = Some("Ava, \"ops\"".into());
        r.health = crate::model::Health::Unhealthy("refused\nby host".into());
        let csv =
            String::from_utf8(render(std::slice::from_ref(&r), Format::Csv).unwrap()).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next().unwrap(), CSV_COLUMNS.join(","));
        assert!(csv.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{csv}");
        assert!(csv.contains("\"Ava, \"\"ops\"\"\""), "{csv}");
        assert!(csv.contains("\"refused\nby host\""), "{csv}");
        let json: serde_json::Value =
            serde_json::from_slice(&render(&[r], Format::Json).unwrap()).unwrap();
        assert_eq!(json[0]["name"], "=HYPERLINK(\"x\")");
        assert_eq!(Format::of(Path::new("a/B.CSV")), Some(Format::Csv));
        assert_eq!(Format::of(Path::new("b.txt")), None);
    }

    #[test]
    fn write_replaces_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        std::fs::write(&path, "old").unwrap();
        let r = Resource::new(VendorId::Basedash, "p", Kind::Datasources, "d", "D");
        let n = write(&path, &[r], Format::Json).unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), n);
        assert!(
            std::fs::read_dir(dir.path()).unwrap().count() == 1,
            "no partial file left"
        );
        assert!(write(&dir.path().join("missing/x.csv"), &[], Format::Csv).is_err());
    }
}
