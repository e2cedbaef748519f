//! In-process simulators of the vendor APIs, used by the demo, the `sim` command and the tests.
//!
//! Each simulator is an axum server on 127.0.0.1 that holds `serde_json::Value`s in the
//! vendor's own wire format (seeded from `assets/`), never the client's types, so a misspelt
//! field in a client fails a test instead of being mirrored here.

pub mod basedash;
pub mod databrain;
pub mod faults;
pub mod framing;
pub mod kit;
pub mod microstrategy;
pub mod qlik;
pub mod qlik_lineage;
pub mod superset;

pub use kit::SimRequest;

use std::time::Duration;

/// Options shared by all simulators.
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    /// Delay added to every request before it is handled.
    pub latency: Duration,
    /// Total objects per kind to serve (0 = only the seed data); extra objects are generated
    /// deterministically.
    pub scale: usize,
    /// Port to listen on (0 = any free port). `start_simulators` gives each simulator its own:
    /// this one to the first, the next ones above it.
    pub port: u16,
}

impl SimOptions {
    /// The options for the `n`-th simulator started by `start_simulators`.
    pub fn nth(&self, n: u16) -> SimOptions {
        SimOptions {
            port: if self.port == 0 {
                0
            } else {
                self.port.saturating_add(n)
            },
            ..self.clone()
        }
    }
}

/// A running simulator of any vendor: its base URL, and the simulator itself, which stops
/// serving when this is dropped. Vendors' `SimSpec::start` return one; the demo and the
/// `sim` command start one per vendor from the registry.
pub struct RunningSim {
    pub base_url: String,
    /// Profile keys the demo profile of this simulator needs besides its login (Databrain's
    /// `datasource_ids`, which only the running simulator knows).
    pub demo_options: Vec<(String, String)>,
    server: Box<dyn std::any::Any + Send + Sync>,
}

/// The `start` of a vendor's registry `SimSpec`: start `crate::sim::<vendor>` and keep it
/// running as a `RunningSim`.
macro_rules! start_running {
    ($vendor:ident) => {
        |opts| {
            Box::pin(async move {
                let sim = $crate::sim::$vendor::start(&opts).await?;
                Ok($crate::sim::RunningSim::new(sim.base_url.clone(), sim))
            })
        }
    };
}
pub(crate) use start_running;

impl RunningSim {
    pub fn new<S: Send + Sync + 'static>(base_url: String, sim: S) -> RunningSim {
        RunningSim {
            base_url,
            demo_options: Vec::new(),
            server: Box::new(sim),
        }
    }

    /// The demo profile also gets these keys.
    pub fn with_demo_options(mut self, options: Vec<(String, String)>) -> RunningSim {
        self.demo_options = options;
        self
    }

    /// The vendor's own simulator type (`MstrSim`, ...), for its control surface.
    pub fn downcast_ref<S: 'static>(&self) -> Option<&S> {
        self.server.downcast_ref()
    }
}

impl std::fmt::Debug for RunningSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSim")
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// Stops a simulator's server when `stop()` is called or the last handle is dropped.
#[derive(Debug)]
pub struct ServerGuard {
    stop: tokio::sync::watch::Sender<bool>,
}

impl ServerGuard {
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serve `app` on `listener` in a background task until the returned guard says stop.
pub fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    name: &'static str,
) -> ServerGuard {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let signal = async move {
            while !*stopped.borrow_and_update() {
                if stopped.changed().await.is_err() {
                    break;
                }
            }
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
        {
            tracing::warn!(error = %e, "{name} simulator stopped with an error");
        }
    });
    ServerGuard { stop }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode one `application/x-www-form-urlencoded` component (a query parameter or a form
/// field): `%XX` escapes and `+` as a space; a broken escape is kept as it is.
pub fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2]))
            {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse a query string or form body into decoded (name, value) pairs.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (form_decode(k), form_decode(v)),
            None => (form_decode(p), String::new()),
        })
        .collect()
}
