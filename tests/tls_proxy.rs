//! Connecting the way enterprise networks require, against local servers: a TLS front end
//! (certificates from a throwaway CA in `tests/fixtures/tls`) before the MicroStrategy
//! simulator — refused without `ca_file` with a sentence that says why and what to do,
//! accepted with it, a certificate for another host named as such, mutual TLS — and a
//! forwarding proxy that records what went through it: a profile's `proxy`, the
//! environment's `HTTP_PROXY` with and without `NO_PROXY`, `proxy = "none"`, and the proxy's
//! credentials kept out of every output.
// These run the built-in simulators, which need the `sim` feature (on by default).
#![cfg(feature = "sim")]
mod common {
    pub mod settings;
}

use assert_cmd::Command;
use dsconsole::model::VendorId;
use dsconsole::sim::microstrategy::{self as msim, MstrSim, DEMO_PASSWORD, DEMO_USERNAME};
use dsconsole::sim::SimOptions;
use dsconsole::vendors::microstrategy::MstrClient;
use dsconsole::vendors::{ClientSettings, VendorApi};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture")
}

/// A TLS front end on 127.0.0.1 presenting `cert` (signed by the test CA) and forwarding
/// the decrypted bytes to `upstream`; with `client_ca`, it requires a client certificate
/// that CA signed.
async fn tls_front(upstream: SocketAddr, cert: &str, key: &str, client_ca: bool) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert))
        .map(|c| c.expect("cert"))
        .collect();
    let key = PrivateKeyDer::from_pem_slice(&read(key)).expect("key");
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = if client_ca {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&read("ca.pem")) {
            roots.add(c.expect("ca")).expect("add ca");
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder.with_single_cert(certs, key).expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    addr
}

fn sim_addr(sim: &MstrSim) -> SocketAddr {
    sim.base_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("simulator address")
}

fn settings(base_url: &str) -> ClientSettings {
    common::settings::client("tls-mstr", VendorId::MicroStrategy, base_url, DEMO_PASSWORD)
        .username(DEMO_USERNAME)
        .timeout(Duration::from_secs(5))
}

async fn load(settings: ClientSettings) -> Result<usize, String> {
    let client = MstrClient::new(settings).map_err(|e| e.to_string())?;
    client
        .load()
        .await
        .map(|s| s.resources.len())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_private_ca_is_refused_with_a_way_out_and_trusted_with_ca_file() {
    let sim = msim::start(&SimOptions::default()).await.expect("sim");
    let front = tls_front(sim_addr(&sim), "server.pem", "server.key", false).await;
    let url = format!("https://localhost:{}", front.port());
    let err = load(settings(&url)).await.expect_err("unknown CA");
    assert!(err.contains("TLS error"), "{err}");
    assert!(err.contains("unknown issuer"), "{err}");
    assert!(err.contains("ca_file"), "suggests ca_file: {err}");
    assert!(
        err.contains("insecure_tls only as a last resort"),
        "not insecure_tls first: {err}"
    );

    let n = load(settings(&url).ca_file(Some(fixture("ca.pem"))))
        .await
        .expect("trusted with ca_file");
    assert!(n > 0);
    sim.shutdown();
}

#[tokio::test]
async fn a_certificate_for_another_host_says_so() {
    let sim = msim::start(&SimOptions::default()).await.expect("sim");
    let front = tls_front(sim_addr(&sim), "other-host.pem", "other-host.key", false).await;
    let url = format!("https://localhost:{}", front.port());
    let err = load(settings(&url).ca_file(Some(fixture("ca.pem"))))
        .await
        .expect_err("wrong host");
    assert!(err.contains("another host name"), "{err}");
    assert!(err.contains("base_url"), "{err}");
    sim.shutdown();
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let sim = msim::start(&SimOptions::default()).await.expect("sim");
    let front = tls_front(sim_addr(&sim), "server.pem", "server.key", true).await;
    let url = format!("https://localhost:{}", front.port());
    let trusted = || settings(&url).ca_file(Some(fixture("ca.pem")));
    assert!(load(trusted()).await.is_err(), "no client certificate");
    let n = load(trusted().client_cert(Some((fixture("client.pem"), fixture("client.key")))))
        .await
        .expect("with the client certificate");
    assert!(n > 0);
    sim.shutdown();
}

#[tokio::test]
async fn unreadable_trust_files_are_setup_errors_naming_the_file() {
    let err =
        MstrClient::new(settings("https://localhost:1").ca_file(Some(fixture("no-such-ca.pem"))))
            .err()
            .map(|e| e.to_string())
            .expect("missing file");
    assert!(
        err.contains("ca_file") && err.contains("no-such-ca.pem"),
        "{err}"
    );
    let err = MstrClient::new(settings("https://localhost:1").ca_file(Some(fixture("README.md"))))
        .err()
        .map(|e| e.to_string())
        .expect("not PEM");
    assert!(
        err.contains("no certificate in it") || err.contains("not PEM"),
        "{err}"
    );
    let err = MstrClient::new(
        settings("https://localhost:1")
            .client_cert(Some((fixture("client.pem"), fixture("no-such.key")))),
    )
    .err()
    .map(|e| e.to_string())
    .expect("missing key");
    assert!(err.contains("client_key_file"), "{err}");
}

// ---- proxies, through the binary (the environment is the child's own) ----------------------

/// A forwarding HTTP proxy to `upstream` that records the first request line and the
/// Proxy-Authorization header of each connection.
struct Proxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn proxy_to(upstream: SocketAddr) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match client.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let first = text.lines().next().unwrap_or("").to_string();
                let auth = text
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("proxy-authorization:"))
                    .map(|l| format!(" [{l}]"))
                    .unwrap_or_default();
                log.lock().expect("log").push(format!("{first}{auth}"));
                let Ok(mut up) = TcpStream::connect(upstream).await else {
                    return;
                };
                if up.write_all(&head).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
            });
        }
    });
    Proxy { addr, seen }
}

struct World {
    sim: MstrSim,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    proxy: Proxy,
}

impl World {
    fn new() -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let sim = rt
            .block_on(msim::start(&SimOptions::default()))
            .expect("sim");
        let proxy = rt.block_on(proxy_to(sim_addr(&sim)));
        World {
            sim,
            rt,
            dir: tempfile::tempdir().expect("dir"),
            proxy,
        }
    }

    /// Run the binary with a config whose profile adds `extra`, and `env` on the child.
    fn run(&self, extra: &str, env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
        self.run_at(&self.sim.base_url, extra, env, args)
    }

    /// `run` with the profile's base URL at `base_url`.
    fn run_at(
        &self,
        base_url: &str,
        extra: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> (i32, String) {
        let config = self.dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[[profiles]]\nname = \"mstr\"\nvendor = \"microstrategy\"\n\
                 base_url = \"{base_url}\"\nusername = \"{DEMO_USERNAME}\"\n\
                 password_env = \"DSCONSOLE_TLS_TEST_PW\"\n{extra}\n"
            ),
        )
        .expect("config");
        let mut cmd = Command::cargo_bin("dsconsole").expect("binary");
        cmd.arg("--config")
            .arg(&config)
            .args(args)
            .env("DSCONSOLE_DATA_DIR", self.dir.path().join("data"))
            .env("DSCONSOLE_TLS_TEST_PW", DEMO_PASSWORD)
            .env_remove("DSCONSOLE_CONFIG")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .timeout(Duration::from_secs(60));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    fn seen(&self) -> Vec<String> {
        std::mem::take(&mut *self.proxy.seen.lock().expect("seen"))
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.sim.shutdown();
        let _ = &self.rt;
    }
}

#[test]
fn a_profiles_proxy_carries_its_requests_with_credentials_that_never_show() {
    let w = World::new();
    let proxy = format!("http://{}", w.proxy.addr);
    let extra = format!(
        "proxy = \"{proxy}\"\nproxy_username = \"svc\"\nproxy_password_env = \"DSCONSOLE_TLS_PROXY_PW\"\n"
    );
    let (code, out) = w.run(
        &extra,
        &[("DSCONSOLE_TLS_PROXY_PW", "pr0xy-Secret")],
        &["list", "mstr", "logins"],
    );
    assert_eq!(code, 0, "{out}");
    let seen = w.seen();
    assert!(!seen.is_empty(), "the proxy was used: {out}");
    assert!(
        seen.iter().any(|l| l.contains("/api/auth/login")),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|l| l
            .to_ascii_lowercase()
            .contains("proxy-authorization: basic")),
        "credentials sent to the proxy: {seen:?}"
    );
    assert!(!out.contains("pr0xy-Secret"), "{out}");
    // config check names the proxy and where the password comes from, never the password.
    let (code, out) = w.run(
        &extra,
        &[("DSCONSOLE_TLS_PROXY_PW", "pr0xy-Secret")],
        &["config", "check"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "{proxy} (from the config, user svc, password from env DSCONSOLE_TLS_PROXY_PW"
        )),
        "{out}"
    );
    assert!(!out.contains("pr0xy-Secret"), "{out}");
}

#[test]
fn the_environments_proxy_is_honoured_and_no_proxy_bypasses_it() {
    let w = World::new();
    let proxy = format!("http://{}", w.proxy.addr);
    let (code, out) = w.run("", &[("HTTP_PROXY", &proxy)], &["list", "mstr", "logins"]);
    assert_eq!(code, 0, "{out}");
    assert!(!w.seen().is_empty(), "HTTP_PROXY is used: {out}");

    let (code, out) = w.run(
        "",
        &[("HTTP_PROXY", &proxy), ("NO_PROXY", "127.0.0.1")],
        &["list", "mstr", "logins"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(w.seen().is_empty(), "NO_PROXY bypasses it");

    let (code, out) = w.run(
        "proxy = \"none\"\n",
        &[("HTTP_PROXY", &proxy)],
        &["list", "mstr", "logins"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(w.seen().is_empty(), "proxy = \"none\" goes direct");

    let (code, out) = w.run(
        "",
        &[("HTTP_PROXY", &proxy), ("NO_PROXY", "127.0.0.1")],
        &["config", "check"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("(from the environment: HTTP_PROXY, NO_PROXY=127.0.0.1)"),
        "{out}"
    );
}

/// The operating system's CA store is trusted (here: the one `SSL_CERT_FILE` names, as
/// OpenSSL-style stores are found), without any ca_file.
#[test]
fn the_systems_ca_store_is_trusted() {
    let w = World::new();
    let front = w.rt.block_on(tls_front(
        sim_addr(&w.sim),
        "server.pem",
        "server.key",
        false,
    ));
    let url = format!("https://localhost:{}", front.port());
    let ca = fixture("ca.pem");
    let ca = ca.to_str().expect("path");
    let (code, out) = w.run_at(
        &url,
        "",
        &[("SSL_CERT_FILE", ca)],
        &["list", "mstr", "logins"],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = w.run_at(&url, "", &[], &["list", "mstr", "logins"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("unknown issuer"), "{out}");
}
