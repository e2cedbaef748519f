//! Logging setup: to a daily log file in the data dir while the TUI runs (never to the
//! terminal), to stderr for CLI commands. The file rotates at midnight (UTC), named
//! `dsconsole.YYYY-MM-DD.log`, the last `LOG_FILES_KEPT` kept; `dsconsole.log` is a link to
//! the current one. The filter comes from `$DSCONSOLE_LOG` (tracing `EnvFilter`
//! syntax, e.g. `debug` or `dsconsole::vendors=trace`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;

/// The environment variable holding the log filter.
pub const LOG_ENV: &str = "DSCONSOLE_LOG";
/// The name inside the data directory that always leads to the current log file.
pub const LOG_FILE: &str = "dsconsole.log";
/// How many daily log files are kept (older ones are deleted at rotation).
pub const LOG_FILES_KEPT: usize = 7;

/// TUI mode: log to today's file in `data_dir` (directory created owner-only, file appended,
/// `dsconsole.log` leading to it), filter from `$DSCONSOLE_LOG` (default `info`), never to
/// the terminal. Returns the path of `dsconsole.log`.
/// Calling it again (or after `init_stderr`) is harmless: the first subscriber stays.
pub fn init_file(data_dir: &Path) -> io::Result<PathBuf> {
    let (path, file) = open_log(data_dir)?;
    let (filter, bad) = filter_from(std::env::var(LOG_ENV).ok().as_deref(), "info");
    if tracing::subscriber::set_global_default(file_subscriber(file, filter)).is_ok() {
        warn_bad_filter(bad.as_deref());
        tracing::info!(version = env!("CARGO_PKG_VERSION"), "dsconsole started");
    }
    Ok(path)
}

/// CLI mode: log to stderr, filter from `$DSCONSOLE_LOG` (default `warn`). Lines reach the
/// terminal through `text::sanitize`, as everything else the CLI prints.
/// Calling it again (or after `init_file`) is harmless.
pub fn init_stderr() {
    let (filter, bad) = filter_from(std::env::var(LOG_ENV).ok().as_deref(), "warn");
    let subscriber = terminal_subscriber(|| Printable(io::stderr()), filter);
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        warn_bad_filter(bad.as_deref());
    }
}

fn terminal_subscriber<W>(make: W, filter: EnvFilter) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(make)
        .with_ansi(false)
        .finish()
}

/// A writer for a terminal: each formatted log event (one `write` of whole lines) goes out
/// with server text made visible (`␛`, `\u{202e}`), keeping only its line breaks.
struct Printable<W: io::Write>(W);

impl<W: io::Write> io::Write for Printable<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let mut out = String::with_capacity(text.len());
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&crate::text::sanitize(line));
        }
        self.0.write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

fn warn_bad_filter(bad: Option<&str>) {
    if let Some(err) = bad {
        tracing::warn!("ignoring invalid {LOG_ENV}: {err}");
    }
}

/// Create the directory (owner-only on unix) and the rolling appender; the current file is
/// made owner-only too. A `dsconsole.log` left as a plain file by a version without rotation
/// is kept as `dsconsole.before-rotation.log`.
fn open_log(data_dir: &Path) -> io::Result<(PathBuf, RollingFileAppender)> {
    let mut dir = std::fs::DirBuilder::new();
    dir.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        dir.mode(0o700);
    }
    dir.create(data_dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create {}: {e}", data_dir.display()),
        )
    })?;
    let path = data_dir.join(LOG_FILE);
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        let keep = data_dir.join("dsconsole.before-rotation.log");
        std::fs::rename(&path, &keep).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot move the old {} aside: {e}", path.display()),
            )
        })?;
    }
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("dsconsole")
        .filename_suffix("log")
        .max_log_files(LOG_FILES_KEPT)
        .latest_symlink(LOG_FILE)
        .build(data_dir)
        .map_err(|e| io::Error::other(format!("cannot open {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The appender creates files with the default mode; today's is tightened here (and
        // the directory is owner-only, so later ones are private too).
        if let Ok(current) = std::fs::canonicalize(&path) {
            let _ = std::fs::set_permissions(current, std::fs::Permissions::from_mode(0o600));
        }
    }
    Ok((path, appender))
}

/// Parse the filter text; on a missing or invalid value use `default`. The second value is
/// the parse error to report once logging works.
fn filter_from(value: Option<&str>, default: &str) -> (EnvFilter, Option<String>) {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => (EnvFilter::new(default), None),
        Some(v) => match EnvFilter::try_new(v) {
            Ok(f) => (f, None),
            Err(e) => (EnvFilter::new(default), Some(e.to_string())),
        },
    }
}

fn file_subscriber(
    file: RollingFileAppender,
    filter: EnvFilter,
) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_subscriber_appends_plain_lines_and_filters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nested = dir.path().join("a").join("dsconsole");

        for round in 0..2 {
            let (path, file) = open_log(&nested).expect("open");
            assert_eq!(path, nested.join("dsconsole.log"));
            let (filter, bad) = filter_from(Some("info"), "warn");
            assert!(bad.is_none());
            tracing::subscriber::with_default(file_subscriber(file, filter), || {
                tracing::info!(round, "visible line");
                tracing::debug!("hidden debug line");
            });
        }
        let text = std::fs::read_to_string(nested.join("dsconsole.log")).expect("read");
        assert_eq!(text.matches("visible line").count(), 2, "appended: {text}");
        assert!(text.contains("round=0") && text.contains("round=1"));
        assert!(!text.contains("hidden debug line"));
        assert!(
            !text.contains('\u{1b}'),
            "no ANSI escapes in the file: {text:?}"
        );
        assert!(text.contains("INFO"));
    }

    #[cfg(unix)]
    #[test]
    fn log_file_and_its_directory_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("dsconsole");
        let (path, _file) = open_log(&data).expect("open");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "file mode {mode:o}");
        let mode = std::fs::metadata(&data).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "directory mode {mode:o}");
    }

    #[test]
    fn the_log_rotates_daily_and_dsconsole_log_leads_to_todays_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A log written by a version without rotation is kept, not overwritten.
        std::fs::write(dir.path().join("dsconsole.log"), "old line\n").expect("write");
        let (path, file) = open_log(dir.path()).expect("open");
        tracing::subscriber::with_default(file_subscriber(file, EnvFilter::new("info")), || {
            tracing::info!("new line");
        });
        let today = chrono::Utc::now()
            .format("dsconsole.%Y-%m-%d.log")
            .to_string();
        assert!(
            std::fs::symlink_metadata(&path)
                .expect("link")
                .file_type()
                .is_symlink(),
            "dsconsole.log is a link"
        );
        assert_eq!(
            std::fs::canonicalize(&path).expect("target"),
            std::fs::canonicalize(dir.path().join(&today)).expect("today's file")
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.contains("new line") && !text.contains("old line"),
            "{text}"
        );
        let old = std::fs::read_to_string(dir.path().join("dsconsole.before-rotation.log"))
            .expect("old log kept");
        assert_eq!(old, "old line\n");
    }

    #[test]
    fn filter_defaults_and_bad_values() {
        let (f, bad) = filter_from(None, "warn");
        assert!(bad.is_none());
        assert_eq!(f.to_string(), "warn");
        let (f, bad) = filter_from(Some("  "), "info");
        assert!(bad.is_none());
        assert_eq!(f.to_string(), "info");
        let (f, bad) = filter_from(Some("dsconsole=debug"), "info");
        assert!(bad.is_none());
        assert_eq!(f.to_string(), "dsconsole=debug");
        let (f, bad) = filter_from(Some("dsconsole=notalevel"), "info");
        assert!(bad.is_some());
        assert_eq!(f.to_string(), "info");
    }

    #[test]
    fn unwritable_dir_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "x").expect("write");
        let err = open_log(&blocker.join("sub")).expect_err("must fail");
        assert!(err.to_string().contains("file/sub"), "{err}");
    }

    #[test]
    fn terminal_log_lines_show_server_text_visibly() {
        #[derive(Clone, Default)]
        struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);
        impl io::Write for Shared {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().expect("buffer").extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let buf = Shared::default();
        let make = {
            let buf = buf.clone();
            move || Printable(buf.clone())
        };
        tracing::subscriber::with_default(
            terminal_subscriber(make, EnvFilter::new("warn")),
            || {
                tracing::warn!("skipping 'a\u{1b}[2K\r\u{202e}b\u{200b}'");
                tracing::warn!(name = "x\u{202e}y\u{9b}z", "second");
            },
        );
        let bytes = buf.0.lock().expect("buffer").clone();
        let text = String::from_utf8(bytes).expect("UTF-8");
        assert_eq!(text.lines().count(), 2, "{text:?}");
        assert!(
            !text
                .chars()
                .any(|c| c != '\n' && !crate::text::is_clean(&c.to_string())),
            "raw controls in {text:?}"
        );
        assert!(text.contains("␍\\u{202e}b\\u{200b}'"), "{text:?}");
        assert!(text.contains("\\u{202e}y"), "{text:?}");
    }

    #[test]
    fn init_twice_does_not_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p1 = init_file(dir.path()).expect("first");
        let p2 = init_file(dir.path()).expect("second");
        assert_eq!(p1, p2);
        init_stderr();
        init_stderr();
        assert!(p1.exists());
    }
}
