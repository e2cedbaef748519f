//! `dsconsole owned-by NAME [--profile P]...`: everything a person owns across profiles —
//! for offboarding — with what dsconsole can do about each object in its vendor. Vendors
//! whose objects carry no owner say so. Read-only: nothing is sent but lists.

use super::{load, load_config, no_such_profile, open_profile, Fail, Output};
use crate::model::{Kind, Resource};
use crate::text::sanitize;
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// One owned object, as printed.
#[derive(Debug, Serialize)]
struct Owned<'a> {
    profile: &'a str,
    vendor: &'static str,
    kind: Kind,
    id: &'a str,
    name: &'a str,
    owner: &'a str,
    /// What dsconsole can do with it: "delete", "edit", "rotate".
    actions: Vec<&'static str>,
}

fn actions(spec: &crate::vendors::VendorSpec, kind: Kind) -> Vec<&'static str> {
    let mut a = Vec::new();
    if spec.delete_order.contains(&kind) {
        a.push("delete");
    }
    let fields = (spec.edit_fields)(kind);
    if fields.iter().any(|f| f.name == "owner") {
        a.push("transfer");
    }
    if !fields.is_empty() {
        a.push("edit");
    }
    if fields.iter().any(|f| f.name == "password" && f.secret) {
        a.push("rotate");
    }
    a
}

pub async fn owned_by_cmd(
    config_path: Option<&Path>,
    who: &str,
    only: &[String],
    output: Output,
) -> Result<ExitCode, Fail> {
    let (cfg, path) = load_config(config_path)?;
    if let Some(name) = only.iter().find(|n| cfg.profile(n).is_none()) {
        return Err(no_such_profile(&cfg, &path, name));
    }
    let names: Vec<String> = cfg
        .profiles
        .iter()
        .filter(|p| only.is_empty() || only.contains(&p.name))
        .map(|p| p.name.clone())
        .collect();
    if names.is_empty() {
        return Err(Fail::usage(format!("no profiles in {}", path.display())));
    }
    let mut loaded: Vec<(String, &'static crate::vendors::VendorSpec, Vec<Resource>)> = Vec::new();
    let mut failed = 0;
    for name in &names {
        let o = match open_profile(config_path, name, true) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("{name}: left out: {}", sanitize(&e.message));
                failed += 1;
                continue;
            }
        };
        match load(&o).await {
            Ok(all) => loaded.push((name.clone(), o.spec, all)),
            Err(e) => {
                eprintln!("{}", sanitize(&e.message));
                failed += 1;
            }
        }
        o.client.logout().await;
    }
    let mut rows: Vec<Owned> = Vec::new();
    for (profile, spec, all) in &loaded {
        if !all.iter().any(|r| r.owner.is_some()) {
            eprintln!(
                "{}: {} objects carry no owner: nothing to list there",
                sanitize(profile),
                spec.vendor.display()
            );
            continue;
        }
        rows.extend(
            all.iter()
                .filter(|r| crate::ops::change::owned_by(spec, r, who))
                .map(|r| Owned {
                    profile,
                    vendor: spec.vendor.display(),
                    kind: r.kind,
                    id: &r.id,
                    name: &r.name,
                    owner: r.owner.as_deref().unwrap_or(""),
                    actions: actions(spec, r.kind),
                }),
        );
    }
    let mut out = std::io::stdout().lock();
    let written = match output {
        Output::Json => serde_json::to_writer_pretty(&mut out, &rows)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out)),
        Output::Ndjson => rows.iter().try_for_each(|r| {
            serde_json::to_writer(&mut out, r).map_err(std::io::Error::from)?;
            writeln!(out)
        }),
        Output::Table => {
            let mut lines = vec![[
                "PROFILE".to_string(),
                "VENDOR".into(),
                "KIND".into(),
                "NAME".into(),
                "ID".into(),
                "OWNER".into(),
                "CAN".into(),
            ]];
            for r in &rows {
                lines.push([
                    sanitize(r.profile).into_owned(),
                    r.vendor.to_string(),
                    r.kind.singular().to_string(),
                    sanitize(r.name).into_owned(),
                    sanitize(r.id).into_owned(),
                    sanitize(r.owner).into_owned(),
                    r.actions.join(", "),
                ]);
            }
            super::write_columns(&mut out, &lines, |_| 40, |_| false)
        }
    };
    if let Err(e) = written {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(Fail::op(format!("writing output: {e}")));
        }
    }
    drop(out);
    eprintln!(
        "{} object(s) owned by '{}' in {} profile(s){}",
        rows.len(),
        sanitize(who),
        loaded.len(),
        if failed > 0 {
            format!("; {failed} profile(s) could not be read")
        } else {
            String::new()
        }
    );
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
