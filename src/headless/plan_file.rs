//! Plans as files: `delete … --plan-out FILE` writes the plan instead of running it, and
//! `dsconsole apply FILE` runs it later — after re-reading every target and refusing (per
//! object, or the whole plan with `--strict`) what changed since it was written — with the
//! confirmation, audit and report of `delete`.

use super::{impact, load, open_profile, plan_text, run_plan, Fail, LeftOut, Opened, RunOpts};
use crate::model::{Kind, Ref, Resource};
use crate::ops::plan::{build_plan, DeletePlan, PlanRequest};
use crate::ops::plan_file::{self, drift, Drift, PlanFile};
use crate::text::sanitize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `delete --plan-out FILE`: write the plan (with its impact) and send nothing.
pub(super) fn write_plan(
    o: &Opened,
    plan: &DeletePlan,
    all: &[Resource],
    path: &Path,
) -> Result<ExitCode, Fail> {
    eprint!("{}", plan_text(plan));
    if plan.is_empty() {
        return Err(Fail::op("nothing to delete: no plan was written"));
    }
    let tenant = crate::overview::tenant_of(&o.profile.base_url);
    let f = PlanFile::of(plan, all, &tenant, chrono::Utc::now().timestamp());
    plan_file::write(path, &f).map_err(|e| {
        Fail::op(format!(
            "cannot write the plan to {}: {e}; nothing was sent",
            path.display()
        ))
    })?;
    println!(
        "plan of {} object{} written to {} ({}): nothing was sent; run it with `dsconsole apply {}`",
        f.targets.len(),
        if f.targets.len() == 1 { "" } else { "s" },
        path.display(),
        f.hash,
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Options of `dsconsole apply`.
#[derive(Debug, Clone, Default)]
pub struct ApplyArgs {
    pub file: PathBuf,
    /// Refuse the whole plan when any target changed.
    pub strict: bool,
    pub yes: bool,
    pub confirm_profile: Option<String>,
    pub dry_run: bool,
    pub force_impact: bool,
}

/// `dsconsole apply PLAN.json`.
pub async fn apply(
    config_path: Option<&Path>,
    read_only: bool,
    a: &ApplyArgs,
) -> Result<ExitCode, Fail> {
    let f = plan_file::read(&a.file).map_err(|e| Fail::usage(format!("{e}; nothing was sent")))?;
    let o = open_profile(config_path, &f.profile, read_only).map_err(|e| Fail {
        code: e.code,
        message: format!(
            "the plan {} is for profile '{}': {}; nothing was sent",
            a.file.display(),
            f.profile,
            e.message
        ),
    })?;
    let result = apply_opened(&o, read_only, a, &f).await;
    o.client.logout().await;
    result
}

async fn apply_opened(
    o: &Opened,
    read_only: bool,
    a: &ApplyArgs,
    f: &PlanFile,
) -> Result<ExitCode, Fail> {
    if o.profile.vendor != f.vendor {
        return Err(Fail::usage(format!(
            "the plan is for {} but profile '{}' is {} now: nothing was sent",
            f.vendor.display(),
            f.profile,
            o.profile.vendor.display()
        )));
    }
    let tenant = crate::overview::tenant_of(&o.profile.base_url);
    if tenant != f.tenant {
        return Err(Fail::usage(format!(
            "the plan was written for tenant '{}' but profile '{}' points at '{tenant}' now: \
             nothing was sent",
            f.tenant, f.profile
        )));
    }
    if (read_only || o.profile.read_only) && !a.dry_run {
        return Err(Fail::usage(format!(
            "profile '{}' is read-only: nothing was sent (use --dry-run to see what would run)",
            o.profile.name
        )));
    }
    eprintln!(
        "plan {} ({}), written {} by {}: {} object{} of '{}' ({}, {})",
        a.file.display(),
        f.hash,
        f.written_at,
        sanitize(&f.written_by),
        f.targets.len(),
        if f.targets.len() == 1 { "" } else { "s" },
        sanitize(&f.profile),
        f.vendor.display(),
        sanitize(&f.tenant)
    );
    // Re-read every target, and its impact now.
    let all = load(o).await?;
    let find = |k: Kind, id: &str| all.iter().find(|r| r.kind == k && r.id == id);
    let present: Vec<Ref> = f
        .targets
        .iter()
        .filter_map(|t| find(t.kind, &t.id).map(Resource::as_ref))
        .collect();
    let impacts = if f.targets.iter().any(|t| t.impact.is_some()) && !present.is_empty() {
        impact::compute(o, &all, &present).await
    } else {
        Default::default()
    };
    let noun = o.spec.impact_container;
    let mut left: Vec<Option<LeftOut>> = f
        .targets
        .iter()
        .map(|t| {
            let now = find(t.kind, &t.id);
            let target = Ref {
                kind: t.kind,
                id: t.id.clone().into(),
                name: t.name.clone().into(),
            };
            match drift(t, now, impacts.get(&(t.kind, t.id.clone())), noun) {
                Drift::Unchanged => None,
                Drift::Gone => Some(LeftOut {
                    word: "gone",
                    target,
                    why: vec!["deleted since the plan was written: not sent".into()],
                    gone: true,
                }),
                Drift::Changed(changes) => {
                    let mut why = changes;
                    why.push("changed since the plan was written: not sent".into());
                    Some(LeftOut {
                        word: "changed",
                        target,
                        why,
                        gone: false,
                    })
                }
            }
        })
        .collect();
    // What a refused target uses stays too: its user is not deleted first.
    for i in 0..f.targets.len() {
        if left[i].is_some() {
            continue;
        }
        let blocked = f.targets[i].after.iter().find_map(|&j| match left.get(j) {
            Some(Some(l)) if !l.gone => Some(l.target.label()),
            _ => None,
        });
        if let Some(user) = blocked {
            let t = &f.targets[i];
            left[i] = Some(LeftOut {
                word: "kept",
                target: Ref {
                    kind: t.kind,
                    id: t.id.clone().into(),
                    name: t.name.clone().into(),
                },
                why: vec![format!(
                    "{user}, which uses it, is not deleted by this run: not sent"
                )],
                gone: false,
            });
        }
    }
    for l in left.iter().flatten() {
        eprintln!(
            "{}: {}  {}",
            l.word,
            sanitize(&l.target.label()),
            sanitize(&l.target.id)
        );
        for why in &l.why {
            eprintln!("    {}", sanitize(why));
        }
    }
    let refused = left.iter().flatten().filter(|l| !l.gone).count();
    if a.strict && refused > 0 {
        return Err(Fail::op(format!(
            "--strict: {refused} of {} objects changed since the plan was written; nothing was sent",
            f.targets.len()
        )));
    }
    let selected: Vec<(Kind, String)> = f
        .targets
        .iter()
        .zip(&left)
        .filter(|(_, l)| l.is_none())
        .map(|(t, _)| (t.kind, t.id.clone()))
        .collect();
    let mut left_out: Vec<LeftOut> = left.into_iter().flatten().collect();
    let mut plan = build_plan(&PlanRequest {
        spec: o.spec,
        profile: &o.profile.name,
        all: &all,
        selected: &selected,
        hidden: &[],
        cascade: false,
        skip_in_use: false,
    });
    let planned: HashSet<(Kind, &str)> = plan
        .steps
        .iter()
        .map(|s| (s.target.kind, s.target.id.as_str()))
        .collect();
    for (kind, id) in &selected {
        if !planned.contains(&(*kind, id.as_str())) {
            let target = find(*kind, id).map(Resource::as_ref).unwrap_or(Ref {
                kind: *kind,
                id: id.clone().into(),
                name: id.clone().into(),
            });
            left_out.push(LeftOut {
                word: "left out",
                target,
                why: vec!["cannot be deleted now (built-in or not permitted): not sent".into()],
                gone: false,
            });
        }
    }
    plan.set_impacts(&impacts, chrono::Utc::now().timestamp());
    let not_run = left_out.iter().filter(|l| !l.gone).count();
    if a.dry_run {
        print!("{}", plan_text(&plan));
        println!("dry run: nothing was sent");
        return Ok(if not_run == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    if plan.is_empty() {
        eprintln!("nothing left to delete of the plan: nothing was sent");
        return Ok(if not_run == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let run = RunOpts {
        yes: a.yes,
        confirm_profile: a.confirm_profile.clone(),
        concurrency: None,
        time_limit: None,
        force_impact: a.force_impact,
    };
    run_plan(o, plan, &run, left_out).await
}
