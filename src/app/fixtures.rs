//! Test fixtures: a small MicroStrategy profile with a realistic dependency graph, used by
//! the `update` tests and the frame snapshots.

use super::msg::Msg;
use super::state::{Model, ProfileInfo};
use super::update::{init, update};
use crate::model::{link_references, Kind, Ref, Resource, VendorId};
use crate::vendors::Snapshot;
use serde_json::json;

pub const NOW: i64 = 1_763_800_000; // 2025-11-22

pub fn info(name: &str) -> ProfileInfo {
    ProfileInfo {
        name: name.into(),
        vendor: VendorId::MicroStrategy,
        read_only: false,
        protected: false,
        insecure_tls: false,
        setup_error: None,
    }
}

fn res(kind: Kind, id: &str, name: &str, deps: &[(Kind, &str, &str)]) -> Resource {
    let mut r = Resource::new(VendorId::MicroStrategy, "prod", kind, id, name);
    r.depends_on = deps
        .iter()
        .map(|(k, i, n)| Ref {
            kind: *k,
            id: (*i).into(),
            name: (*n).into(),
        })
        .collect();
    r.updated = Some(NOW - 86_400 * (id.len() as i64));
    r.owner = Some("Administrator".into());
    r.raw = json!({"id": id, "name": name}).into();
    r
}

/// Datasources Sales, Finance, Marketing; connections Sales Conn (used by Sales and
/// Finance), Mkt Conn (used by Marketing), Old Conn (orphan); logins shared (used by Sales
/// Conn and Mkt Conn), mkt-only... etc.
pub fn resources() -> Vec<Resource> {
    use Kind::*;
    let mut all = vec![
        res(
            Datasources,
            "D1",
            "Sales",
            &[(Connections, "C1", "Sales Conn")],
        ),
        res(
            Datasources,
            "D2",
            "Finance",
            &[(Connections, "C1", "Sales Conn")],
        ),
        res(
            Datasources,
            "D3",
            "Marketing",
            &[(Connections, "C2", "Mkt Conn")],
        ),
        res(Connections, "C1", "Sales Conn", &[(Logins, "L1", "shared")]),
        res(Connections, "C2", "Mkt Conn", &[(Logins, "L2", "mkt")]),
        res(Connections, "C3", "Old Conn", &[(Logins, "L1", "shared")]),
        res(Logins, "L1", "shared", &[]),
        res(Logins, "L2", "mkt", &[]),
        res(Logins, "L3", "unused", &[]),
    ];
    for r in all.iter_mut().filter(|r| r.kind == Datasources) {
        r.type_ = Some("Snowflake".into());
    }
    link_references(&mut all, &[Connections, Logins]);
    all
}

/// A model with one loaded profile "prod", sized 100x30.
pub fn loaded_model() -> Model {
    loaded_model_with(info("prod"))
}

pub fn loaded_model_with(info: ProfileInfo) -> Model {
    let mut m = Model::new(vec![info], NOW);
    update(
        &mut m,
        Msg::Resize {
            width: 100,
            height: 30,
        },
    );
    let fx = init(&mut m);
    assert_eq!(fx.len(), 1, "init loads the profile");
    update(
        &mut m,
        Msg::Loaded {
            profile: 0,
            generation: 1,
            at: NOW - 5,
            result: Ok(Snapshot {
                resources: resources(),
                warnings: vec![],
            }),
        },
    );
    m
}

/// Answer the impact jobs `fx` starts: `answer` gives each target's impact (None: "none
/// found"). Returns the other effects.
pub fn answer_impacts(
    m: &mut Model,
    fx: Vec<crate::app::Effect>,
    answer: impl Fn(&crate::model::Ref) -> Option<crate::impact::Impact>,
) -> Vec<crate::app::Effect> {
    use crate::app::{update, Effect, Msg};
    let mut rest = Vec::new();
    for e in fx {
        match e {
            Effect::Impact {
                job,
                profile,
                targets,
            } => {
                for t in targets {
                    let impact =
                        answer(&t.target).unwrap_or_else(|| crate::impact::Impact::none(m.now));
                    rest.extend(update(
                        m,
                        Msg::Impact {
                            job,
                            profile,
                            target: t.target,
                            impact: Box::new(impact),
                        },
                    ));
                }
            }
            other => rest.push(other),
        }
    }
    rest
}

/// Ctrl-D with every impact it asks for answered "none found": the confirmation opens.
pub fn ctrl_d(m: &mut Model) -> Vec<crate::app::Effect> {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let fx = crate::app::update(
        m,
        crate::app::Msg::Key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL)),
    );
    answer_impacts(m, fx, |_| None)
}

/// What breaks when the fixture's "Finance" datasource (D2) goes: reports and a dashboard
/// in two projects, with owners; everything else "none found".
pub fn finance_breaks(r: &Ref) -> Option<crate::impact::Impact> {
    use crate::impact::{Dependent, Impact};
    let dep = |what: &str, id: &str, name: &str, project: &str, owner: &str| {
        Dependent::new(what, id, name)
            .container(Some(project.into()))
            .owner(Some(owner.into()))
    };
    (r.id == "D2").then(|| {
        Impact::found(
            vec![
                dep(
                    "report",
                    "R1",
                    "Revenue by Region",
                    "Finance Reporting",
                    "Priya Raman",
                ),
                dep(
                    "report",
                    "R2",
                    "Month-End Close",
                    "Finance Reporting",
                    "Marcus Holt",
                ),
                dep(
                    "dashboard",
                    "B1",
                    "CFO Overview",
                    "Executive",
                    "Priya Raman",
                ),
            ],
            NOW,
        )
    })
}

/// Four profiles for the overview: "prod" (the MicroStrategy fixture, two connections
/// failing their test), "qa" (the same objects, all healthy), "broken" (its load failed)
/// and "no-secret" (its token did not resolve). Opened on the overview.
pub fn overview_model() -> Model {
    use crate::model::Health;
    let mut no_secret = info("no-secret");
    no_secret.vendor = VendorId::Basedash;
    no_secret.setup_error = Some("environment variable BD_TOKEN is not set".into());
    let mut qa = info("qa");
    qa.read_only = true;
    let mut prod = info("prod");
    prod.protected = true;
    let mut m = Model::new(vec![prod, qa, info("broken"), no_secret], NOW);
    update(
        &mut m,
        Msg::Resize {
            width: 120,
            height: 30,
        },
    );
    let fx = init(&mut m);
    assert_eq!(fx.len(), 3, "init loads the usable profiles");
    for (p, tenant) in [
        "mstr.acme.example",
        "mstr-qa.acme.example",
        "mstr-old.acme.example",
        "acme.basedash.com",
    ]
    .iter()
    .enumerate()
    {
        m.profiles[p].tenant = tenant.to_string();
    }
    let mut failing = resources();
    for r in failing.iter_mut().filter(|r| r.kind == Kind::Connections) {
        r.health = if r.id == "C3" {
            Health::Healthy
        } else {
            Health::Unhealthy("connection refused".into())
        };
    }
    let load = |m: &mut Model, p: usize, result: Result<Vec<Resource>, String>| {
        update(
            m,
            Msg::LoadTook {
                profile: p,
                generation: 1,
                ms: 120 + p as u64 * 100,
            },
        );
        update(
            m,
            Msg::Loaded {
                profile: p,
                generation: 1,
                at: NOW - 30,
                result: result.map(|resources| Snapshot {
                    resources,
                    warnings: vec![],
                }),
            },
        );
    };
    load(&mut m, 0, Ok(failing));
    load(&mut m, 1, Ok(resources()));
    load(&mut m, 2, Err("HTTP 503 Service Unavailable".into()));
    m.overview = Some(0);
    m
}

/// Four loaded profiles for deletes over several profiles, sized 100x30: "prod" and "qa"
/// (the MicroStrategy fixture each), "bd" (Basedash: datasources "Billing MySQL" b1 and
/// "Events PG" b2, soft delete) and "ro" (the MicroStrategy fixture, read-only). `qa` is
/// protected when `qa_protected`.
pub fn batch_model(qa_protected: bool) -> Model {
    let mut qa = info("qa");
    qa.protected = qa_protected;
    let mut bd = info("bd");
    bd.vendor = VendorId::Basedash;
    let mut ro = info("ro");
    ro.read_only = true;
    let mut m = Model::new(vec![info("prod"), qa, bd, ro], NOW);
    update(
        &mut m,
        Msg::Resize {
            width: 100,
            height: 30,
        },
    );
    let fx = init(&mut m);
    assert_eq!(fx.len(), 4, "init loads every profile");
    let basedash = ["b1:Billing MySQL", "b2:Events PG"]
        .iter()
        .filter_map(|s| s.split_once(':'))
        .map(|(id, name)| {
            let mut r = Resource::new(VendorId::Basedash, "bd", Kind::Datasources, id, name);
            r.raw = json!({"id": id, "displayName": name}).into();
            r
        })
        .collect::<Vec<_>>();
    let loads = [resources(), resources(), basedash, resources()];
    for (p, resources) in loads.into_iter().enumerate() {
        update(
            &mut m,
            Msg::Loaded {
                profile: p,
                generation: 1,
                at: NOW - 5,
                result: Ok(Snapshot {
                    resources,
                    warnings: vec![],
                }),
            },
        );
    }
    m
}

fn deleted(
    seq: u64,
    kind: Kind,
    id: &str,
    name: &str,
    object: serde_json::Value,
) -> crate::ops::deleted::DeletedObject {
    crate::ops::deleted::DeletedObject {
        reference: format!("20261206T200000.000Z-1:{seq}"),
        time: format!("2026-12-06T20:00:{seq:02}Z"),
        run: "20261206T200000.000Z-1".into(),
        profile: "prod".into(),
        vendor: VendorId::MicroStrategy,
        kind,
        id: id.into(),
        name: name.into(),
        container: None,
        state: crate::ops::deleted::DeleteState::Deleted,
        restored: None,
        object,
    }
}

/// What `:trash` reads, oldest first as the audit log has them: a datasource on Sales
/// Conn, then a login (its password is asked for).
pub fn audit_rows() -> Vec<crate::ops::deleted::DeletedObject> {
    vec![
        deleted(
            1,
            Kind::Datasources,
            "D9",
            "Old Sales",
            json!({"database": {"connection": {"id": "C1", "name": "Sales Conn"}}}),
        ),
        deleted(
            2,
            Kind::Logins,
            "L9",
            "etl",
            json!({"username": "etl_user"}),
        ),
    ]
}
