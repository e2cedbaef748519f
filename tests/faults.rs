//! Fault injection against all four simulators through the shared fault layer
//! (`dsconsole::sim::faults`): lists through 5xx bursts, 429 storms, HTML error pages,
//! malformed and truncated bodies, dropped connections and slow-drip answers; bulk deletes
//! through a mix of faults, some injected after the server acted; and one profile's outage
//! next to a healthy one. What is checked is what an operator relies on: nothing panics, a
//! failure is one sentence naming vendor, status and the vendor's code, the final report of a
//! bulk delete equals the server's state, and the audit log holds a before and an after line
//! for every request the server saw.

use dsconsole::model::{Kind, Ref, Resource, VendorId};
use dsconsole::ops::audit::AuditLog;
use dsconsole::ops::executor::{execute, ExecConfig, StepOutcome, StepUpdate};
use dsconsole::ops::plan::{build_plan, DeletePlan, PlanRequest};
use dsconsole::sim::basedash::{self as bsim, BasedashSim};
use dsconsole::sim::databrain::{self as dsim, DatabrainSim};
use dsconsole::sim::faults::{Fault, FaultRule, Faults};
use dsconsole::sim::microstrategy::{self as msim, MstrSim};
use dsconsole::sim::qlik::{self as qsim, QlikSim};
use dsconsole::sim::SimOptions;
use dsconsole::vendors::{self, ApiError, ClientSettings, Snapshot, VendorApi};
use futures::future::{BoxFuture, Either};
use secrecy::SecretString;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Request timeout of the clients under test: short, so resets and stalls cost little.
const TIMEOUT: Duration = Duration::from_secs(2);
/// A test that takes longer than this has hung (a guard, not a timing assertion).
const HANG_GUARD: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// One simulator of any vendor
// ---------------------------------------------------------------------------------------------

enum Sim {
    Mstr(MstrSim),
    Qlik(QlikSim),
    Basedash(BasedashSim),
    Databrain(DatabrainSim),
}

impl Sim {
    async fn start(vendor: VendorId, scale: usize) -> Sim {
        let opts = SimOptions {
            scale,
            ..SimOptions::default()
        };
        match vendor {
            VendorId::MicroStrategy => Sim::Mstr(msim::start(&opts).await.expect("MSTR sim")),
            VendorId::Qlik => Sim::Qlik(qsim::start(&opts).await.expect("Qlik sim")),
            VendorId::Basedash => Sim::Basedash(bsim::start(&opts).await.expect("Basedash sim")),
            VendorId::Databrain => {
                Sim::Databrain(dsim::start(&opts).await.expect("Databrain sim"))
            }
        }
    }

    fn vendor(&self) -> VendorId {
        match self {
            Sim::Mstr(_) => VendorId::MicroStrategy,
            Sim::Qlik(_) => VendorId::Qlik,
            Sim::Basedash(_) => VendorId::Basedash,
            Sim::Databrain(_) => VendorId::Databrain,
        }
    }

    fn base_url(&self) -> &str {
        match self {
            Sim::Mstr(s) => &s.base_url,
            Sim::Qlik(s) => &s.base_url,
            Sim::Basedash(s) => &s.base_url,
            Sim::Databrain(s) => &s.base_url,
        }
    }

    fn faults(&self) -> &Faults {
        match self {
            Sim::Mstr(s) => &s.control.faults,
            Sim::Qlik(s) => &s.control.faults,
            Sim::Basedash(s) => &s.control.faults,
            Sim::Databrain(s) => &s.control.faults,
        }
    }

    fn client(&self, timeout: Duration) -> Arc<dyn VendorApi> {
        vendors::connect(settings(self.vendor(), self.base_url(), timeout)).expect("client")
    }

    /// Whether the object is gone (deleted, or soft-deleted for Basedash) at the server.
    fn gone(&self, t: &Ref) -> bool {
        match self {
            Sim::Mstr(s) => !s.control.contains(t.kind.id(), &t.id),
            Sim::Qlik(s) => !s.control.contains(&t.id),
            // `contains` is false for soft-deleted sources.
            Sim::Basedash(s) => !s.control.contains(&t.id),
            Sim::Databrain(s) => !s.control.contains(&t.id),
        }
    }

    /// (method, path) of every request the server answered, faults included.
    fn requests(&self) -> Vec<(String, String)> {
        match self {
            Sim::Mstr(s) => s
                .control
                .requests()
                .into_iter()
                .map(|r| (r.method, r.path))
                .collect(),
            Sim::Qlik(s) => s
                .control
                .requests()
                .into_iter()
                .map(|r| (r.method, r.path))
                .collect(),
            Sim::Basedash(s) => s
                .control
                .requests()
                .into_iter()
                .map(|r| (r.method, r.path))
                .collect(),
            Sim::Databrain(s) => s
                .control
                .requests()
                .into_iter()
                .map(|r| (r.method, r.path))
                .collect(),
        }
    }

    fn count(&self, method: &str, path_contains: &str) -> usize {
        self.requests()
            .iter()
            .filter(|(m, p)| m == method && p.contains(path_contains))
            .count()
    }
}

fn settings(vendor: VendorId, base_url: &str, timeout: Duration) -> ClientSettings {
    let (username, secret) = match vendor {
        VendorId::MicroStrategy => (Some(msim::DEMO_USERNAME.to_string()), msim::DEMO_PASSWORD),
        VendorId::Qlik => (None, qsim::DEMO_TOKEN),
        VendorId::Basedash => (None, bsim::DEMO_TOKEN),
        VendorId::Databrain => (None, dsim::DEMO_TOKEN),
    };
    ClientSettings {
        profile: format!("faults-{}", vendor.id()),
        vendor,
        base_url: base_url.to_string(),
        username,
        secret: SecretString::from(secret.to_string()),
        login_mode: 1,
        read_only: false,
        timeout,
        insecure_tls: false,
        space_id: None,
        org_id: None,
        data_app_key: None,
        rate_limit_per_minute: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Vendor facts the fault cases need
// ---------------------------------------------------------------------------------------------

/// A GET path (substring) whose failure fails the whole `load()`: the primary list.
fn list_path(vendor: VendorId) -> &'static str {
    match vendor {
        VendorId::MicroStrategy => "/api/datasources/logins",
        VendorId::Qlik => "/api/v1/data-connections",
        // Every request of a load starts under here; the first is the organization list.
        VendorId::Basedash => "/api/public/organizations",
        VendorId::Databrain => "/api/v2/datasource",
    }
}

/// How many times the client retries a failed GET (the first attempt not counted).
fn read_retries(vendor: VendorId) -> usize {
    match vendor {
        VendorId::MicroStrategy | VendorId::Databrain => 2,
        VendorId::Qlik | VendorId::Basedash => 3,
    }
}

/// A server error in the vendor's own format, and the code the client must show.
fn server_error(vendor: VendorId, status: u16) -> (Fault, &'static str) {
    let (body, code) = match vendor {
        VendorId::MicroStrategy => (
            r#"{"code":"ERR001","message":"The Intelligence Server is not available","ticketId":"5e1f0c9a2b7d4e8f"}"#.to_string(),
            "ERR001",
        ),
        VendorId::Qlik => (
            format!(
                r#"{{"errors":[{{"code":"HTTP-{status}","title":"Service Unavailable","detail":"The request could not be completed by an upstream service","status":"{status}"}}],"traceId":"8a9b7c6d5e4f3a2b"}}"#
            ),
            "",
        ),
        VendorId::Basedash => (
            r#"{"error":{"title":"InternalServerError","detail":"Something went wrong on our side"}}"#.to_string(),
            "InternalServerError",
        ),
        VendorId::Databrain => (
            r#"{"error":{"code":"INTERNAL_SERVER_ERROR","message":"Something went wrong"}}"#.to_string(),
            "INTERNAL_SERVER_ERROR",
        ),
    };
    (
        Fault::Status {
            status,
            body,
            retry_after: None,
        },
        code,
    )
}

/// The code a Qlik error of this status carries (`HTTP-503`), or the vendor's fixed one.
fn expected_code(vendor: VendorId, status: u16, code: &'static str) -> String {
    if vendor == VendorId::Qlik {
        format!("HTTP-{status}")
    } else {
        code.to_string()
    }
}

/// A 429 as the vendor sends it, with a short wait so storms stay fast.
fn rate_limited(vendor: VendorId) -> (Fault, &'static str) {
    match vendor {
        VendorId::MicroStrategy => (
            Fault::Status {
                status: 429,
                body: r#"{"code":"ERR001","message":"Too many requests, try again later"}"#.into(),
                retry_after: Some(0),
            },
            "ERR001",
        ),
        VendorId::Qlik => (
            Fault::Status {
                status: 429,
                body: r#"{"errors":[{"code":"HTTP-429","title":"API rate limit reached.","detail":"You need to wait 1 seconds until limit is lifted."}]}"#.into(),
                retry_after: Some(1),
            },
            "HTTP-429",
        ),
        VendorId::Basedash => (
            Fault::Status {
                status: 429,
                body: r#"{"error":{"title":"RateLimitExceeded","detail":"Too many requests","retryAfterMs":25}}"#.into(),
                retry_after: None,
            },
            "RateLimitExceeded",
        ),
        VendorId::Databrain => (
            Fault::Status {
                status: 429,
                body: r#"{"error":{"code":"TOO_MANY_REQUESTS","message":"Too many requests"}}"#
                    .into(),
                retry_after: Some(0),
            },
            "TOO_MANY_REQUESTS",
        ),
    }
}

async fn guarded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(HANG_GUARD, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: hung"),
    }
}

fn ids(snap: &Snapshot) -> BTreeSet<(Kind, String)> {
    snap.resources
        .iter()
        .map(|r| (r.kind, r.id.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// (a) Lists through every fault kind
// ---------------------------------------------------------------------------------------------

enum Expect {
    /// The load succeeds with the same objects as a healthy one, after exactly this many
    /// injected faults (`None`: at least one).
    Success { fired: Option<usize> },
    /// The load fails; its sentence contains each of these; a second load, once the fault
    /// is cleared, succeeds.
    Failure { says: Vec<String> },
}

struct ListCase {
    name: &'static str,
    rules: Vec<FaultRule>,
    expect: Expect,
}

fn list_cases(vendor: VendorId) -> Vec<ListCase> {
    let lp = list_path(vendor);
    let get = |f: Fault| FaultRule::new(f).method("GET").path(lp);
    let r = read_retries(vendor);
    let name = vendor.display().to_string();
    let (e503, code503) = server_error(vendor, 503);
    let (e500, code500) = server_error(vendor, 500);
    let (e429, code429) = rate_limited(vendor);
    let says = |parts: &[&str]| -> Vec<String> {
        std::iter::once(name.clone())
            .chain(parts.iter().filter(|p| !p.is_empty()).map(|p| p.to_string()))
            .collect()
    };
    vec![
        ListCase {
            name: "503 burst within the retry budget",
            rules: vec![get(e503.clone()).times(r)],
            expect: Expect::Success { fired: Some(r) },
        },
        ListCase {
            name: "429 storm within the retry budget",
            rules: vec![get(e429.clone()).times(r)],
            expect: Expect::Success { fired: Some(r) },
        },
        ListCase {
            name: "an HTML 502 page from a proxy",
            rules: vec![get(Fault::Html { status: 502 }).times(1)],
            expect: Expect::Success { fired: Some(1) },
        },
        ListCase {
            name: "a truncated body",
            rules: vec![get(Fault::Truncated).times(1)],
            expect: Expect::Success { fired: Some(1) },
        },
        ListCase {
            name: "a connection reset",
            rules: vec![get(Fault::Reset).times(1)],
            expect: Expect::Success { fired: Some(1) },
        },
        ListCase {
            name: "a slow drip that finishes in time",
            rules: vec![get(Fault::SlowDrip {
                pause: Duration::from_millis(1),
            })
            .after()],
            expect: Expect::Success { fired: None },
        },
        ListCase {
            name: "a drip that stalls past the timeout once",
            rules: vec![get(Fault::SlowDrip {
                pause: Duration::from_secs(3),
            })
            .after()
            .times(1)],
            expect: Expect::Success { fired: Some(1) },
        },
        ListCase {
            name: "latency on every request",
            rules: vec![FaultRule::new(Fault::Delay(Duration::from_millis(150))).after()],
            expect: Expect::Success { fired: None },
        },
        ListCase {
            name: "a 500 burst one longer than the retry budget",
            rules: vec![get(e500).times(r + 1)],
            expect: Expect::Failure {
                says: says(&["HTTP 500", &expected_code(vendor, 500, code500)]),
            },
        },
        ListCase {
            name: "a persistent 503",
            rules: vec![get(e503)],
            expect: Expect::Failure {
                says: says(&["HTTP 503", &expected_code(vendor, 503, code503)]),
            },
        },
        ListCase {
            name: "a 429 storm that does not end",
            rules: vec![get(e429)],
            expect: Expect::Failure {
                says: says(&["HTTP 429", code429]),
            },
        },
        ListCase {
            name: "persistent HTML 502 pages",
            rules: vec![get(Fault::Html { status: 502 })],
            expect: Expect::Failure {
                says: says(&["HTTP 502", "Bad Gateway"]),
            },
        },
        ListCase {
            name: "malformed JSON",
            rules: vec![get(Fault::MalformedJson)],
            expect: Expect::Failure {
                says: says(&["HTTP 200", "unreadable response"]),
            },
        },
        ListCase {
            name: "bodies truncated every time",
            rules: vec![get(Fault::Truncated)],
            expect: Expect::Failure {
                says: says(&["connection lost while reading the response of GET"]),
            },
        },
        ListCase {
            name: "connections reset every time",
            rules: vec![get(Fault::Reset)],
            expect: Expect::Failure { says: says(&["GET"]) },
        },
        ListCase {
            name: "a drip that always stalls",
            rules: vec![get(Fault::SlowDrip {
                pause: Duration::from_secs(3),
            })
            .after()],
            expect: Expect::Failure {
                says: says(&["timed out after 2s", "GET"]),
            },
        },
    ]
}

/// Run one list case against a fresh simulator; returns a failure description, if any.
async fn run_list_case(vendor: VendorId, case: ListCase) -> Result<(), String> {
    let sim = Sim::start(vendor, 0).await;
    let baseline = sim
        .client(TIMEOUT)
        .load()
        .await
        .map_err(|e| format!("{}: healthy load failed: {e}", case.name))?;
    for rule in case.rules {
        sim.faults().add(rule);
    }
    let api = sim.client(TIMEOUT);
    let result = guarded(case.name, api.load()).await;
    let fired = sim.faults().fired();
    match (case.expect, result) {
        (Expect::Success { fired: want }, Ok(snap)) => {
            if ids(&snap) != ids(&baseline) {
                return Err(format!(
                    "{}: the load differs from a healthy one ({} vs {} objects)",
                    case.name,
                    snap.resources.len(),
                    baseline.resources.len()
                ));
            }
            match want {
                Some(n) if fired != n => Err(format!(
                    "{}: {fired} faults fired, expected {n}",
                    case.name
                )),
                None if fired == 0 => Err(format!("{}: no fault fired", case.name)),
                _ => Ok(()),
            }
        }
        (Expect::Success { .. }, Err(e)) => Err(format!(
            "{}: expected the retries to succeed, got: {e}",
            case.name
        )),
        (Expect::Failure { .. }, Ok(snap)) => Err(format!(
            "{}: expected a failure, got {} objects",
            case.name,
            snap.resources.len()
        )),
        (Expect::Failure { says }, Err(e)) => {
            let sentence = e.to_string();
            if let Some(missing) = says.iter().find(|s| !sentence.contains(s.as_str())) {
                return Err(format!(
                    "{}: the error does not say '{missing}': {sentence}",
                    case.name
                ));
            }
            if sentence.contains('\n') || e.vendor() != vendor {
                return Err(format!(
                    "{}: not one sentence of {vendor}: {sentence:?}",
                    case.name
                ));
            }
            if fired == 0 {
                return Err(format!("{}: no fault fired", case.name));
            }
            // Recovery: the same client works once the server is healthy again.
            sim.faults().clear();
            match guarded(case.name, api.load()).await {
                Ok(snap) if ids(&snap) == ids(&baseline) => Ok(()),
                Ok(_) => Err(format!(
                    "{}: after recovery the load differs from a healthy one",
                    case.name
                )),
                Err(e) => Err(format!(
                    "{}: the client did not recover once the fault cleared: {e}",
                    case.name
                )),
            }
        }
    }
}

/// Every list case of one vendor, each on its own simulator, all at once.
async fn lists_survive_every_fault(vendor: VendorId) {
    let cases = list_cases(vendor);
    let n = cases.len();
    let results =
        futures::future::join_all(cases.into_iter().map(|c| run_list_case(vendor, c))).await;
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "{vendor}: {} of {n} list cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mstr_lists_survive_every_fault() {
    lists_survive_every_fault(VendorId::MicroStrategy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qlik_lists_survive_every_fault() {
    lists_survive_every_fault(VendorId::Qlik).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basedash_lists_survive_every_fault() {
    lists_survive_every_fault(VendorId::Basedash).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databrain_lists_survive_every_fault() {
    lists_survive_every_fault(VendorId::Databrain).await;
}
