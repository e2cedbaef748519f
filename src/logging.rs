//! Logging setup: to `<data dir>/dsconsole.log` while the TUI runs (never to the terminal),
//! to stderr for CLI commands. The filter comes from `$DSCONSOLE_LOG` (tracing `EnvFilter`
//! syntax, e.g. `debug` or `dsconsole::vendors=trace`).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tracing_subscriber::EnvFilter;

/// The environment variable holding the log filter.
pub const LOG_ENV: &str = "DSCONSOLE_LOG";
/// The log file name inside the data directory.
pub const LOG_FILE: &str = "dsconsole.log";

/// TUI mode: log to `<data_dir>/dsconsole.log` (directory created, file appended), filter
/// from `$DSCONSOLE_LOG` (default `info`), never to the terminal. Returns the log path.
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

/// Create the directory and open the log file for appending (owner-only on unix).
fn open_log(data_dir: &Path) -> io::Result<(PathBuf, File)> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create {}: {e}", data_dir.display()),
        )
    })?;
    let path = data_dir.join(LOG_FILE);
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts
        .open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))?;
    Ok((path, file))
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

fn file_subscriber(file: File, filter: EnvFilter) -> impl tracing::Subscriber + Send + Sync {
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
    fn log_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, _file) = open_log(dir.path()).expect("open");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
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
