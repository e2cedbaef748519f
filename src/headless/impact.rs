//! `dsconsole impact PROFILE KIND ID_OR_NAME...`: what deleting each object would break,
//! and the impact part of `delete` (computed for every object of the plan, shown in it,
//! and required to be accepted with `--force-impact` when no one is at a terminal).

use super::*;
use crate::impact::{grouped, Impact, Totals, Verdict};
use crate::ops::impact_run;
use std::collections::HashMap;

/// `dsconsole impact PROFILE KIND ID_OR_NAME...`.
pub async fn impact(
    config_path: Option<&Path>,
    profile: &str,
    kind: &str,
    targets: &[String],
    output: Output,
) -> Result<ExitCode, Fail> {
    // Impact reads; a read-only profile may run it (searches change no object).
    let o = open_profile(config_path, profile, true)?;
    let result = impact_opened(&o, kind, targets, output).await;
    o.client.logout().await;
    result
}

async fn impact_opened(
    o: &Opened,
    kind: &str,
    targets: &[String],
    output: Output,
) -> Result<ExitCode, Fail> {
    let kind = parse_kind(o.spec, kind)?;
    let all = load(o).await?;
    let selected = resolve_targets(&all, kind, targets)?;
    let refs: Vec<Ref> = selected
        .iter()
        .filter_map(|(k, id)| all.iter().find(|r| r.kind == *k && &r.id == id))
        .map(Resource::as_ref)
        .collect();
    let impacts = compute(o, &all, &refs).await;
    let noun = o.spec.impact_container;
    let mut out = std::io::stdout().lock();
    let result = match output {
        Output::Json => {
            let rows: Vec<_> = refs.iter().map(|r| json_row(r, &impacts, noun)).collect();
            serde_json::to_writer_pretty(&mut out, &rows)
                .map_err(std::io::Error::from)
                .and_then(|_| writeln!(out))
        }
        Output::Ndjson => refs.iter().try_for_each(|r| {
            serde_json::to_writer(&mut out, &json_row(r, &impacts, noun))
                .map_err(std::io::Error::from)?;
            writeln!(out)
        }),
        Output::Table => refs.iter().try_for_each(|r| {
            let i = impact_for(&impacts, r);
            write!(out, "{}", object_text(r, &i, noun))
        }),
    };
    if let Err(e) = result {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(Fail::op(format!("writing output: {e}")));
        }
    }
    let totals = Totals::of(
        refs.iter()
            .filter_map(|r| impacts.get(&(r.kind, r.id.to_string()))),
    );
    eprintln!("impact: {}", sanitize(&totals.summary(noun)));
    Ok(ExitCode::SUCCESS)
}

/// Compute the impact of `refs`, with a progress line on a terminal.
pub(super) async fn compute(
    o: &Opened,
    all: &[Resource],
    refs: &[Ref],
) -> HashMap<(Kind, String), Impact> {
    use futures::StreamExt;
    let total = refs.len();
    let tty = std::io::stderr().is_terminal();
    if tty && total > 1 {
        eprintln!(
            "computing impact for {total} objects ({})…",
            sanitize(&o.profile.name)
        );
    }
    let mut answers = impact_run::stream(o.client.clone(), all, refs);
    let mut out = HashMap::with_capacity(total);
    while let Some((r, i)) = answers.next().await {
        out.insert((r.kind, r.id.to_string()), i);
        if tty && total > 1 {
            eprint!("\r  {} of {total}", out.len());
        }
    }
    if tty && total > 1 {
        eprintln!();
    }
    out
}

fn impact_for(impacts: &HashMap<(Kind, String), Impact>, r: &Ref) -> Impact {
    impacts
        .get(&(r.kind, r.id.to_string()))
        .cloned()
        .unwrap_or_else(|| Impact::unknown("not computed", chrono::Utc::now().timestamp()))
}

fn json_row(r: &Ref, impacts: &HashMap<(Kind, String), Impact>, noun: &str) -> serde_json::Value {
    let i = impact_for(impacts, r);
    serde_json::json!({
        "kind": r.kind.id(),
        "id": r.id,
        "name": r.name,
        "verdict": i.verdict(),
        "summary": i.summary(noun),
        "impact": i,
    })
}

/// One object's impact as text: its line and summary, then dependents per container and
/// type with owners; every server string sanitized.
fn object_text(r: &Ref, i: &Impact, noun: &str) -> String {
    let mut s = format!(
        "{}  {}\n  {}\n",
        sanitize(&r.label()),
        sanitize(&r.id),
        sanitize(&i.summary(noun))
    );
    for (title, deps) in [("", &i.dependents), ("possible users ", &i.possible)] {
        for (container, per_type) in grouped(deps) {
            let place = if container.is_empty() {
                format!("  {title}(no {noun})")
            } else {
                format!("  {title}{noun} '{}'", sanitize(&container))
            };
            s.push_str(&format!("{place}\n"));
            for (what, list) in per_type {
                for d in list {
                    let mut line = format!("    {} '{}'", sanitize(&what), sanitize(&d.name));
                    if let Some(o) = &d.owner {
                        line.push_str(&format!("  owner {}", sanitize(o)));
                    }
                    if let Some(v) = &d.via {
                        line.push_str(&format!("  via {}", sanitize(v)));
                    }
                    s.push_str(&format!("{line}\n"));
                }
            }
        }
    }
    s
}

/// Whether a plan whose impact was computed may run without a person at a terminal: not
/// when it breaks content or its impact is unknown, unless `--force-impact` said so.
pub(super) fn unattended_refusal(plan: &DeletePlan, force_impact: bool) -> Option<String> {
    let totals = plan.impact_totals()?;
    if force_impact || !totals.needs_typed_confirmation() {
        return None;
    }
    let noun = plan.impact_container();
    let mut why = Vec::new();
    for s in &plan.steps {
        if let Some(i) = &s.impact {
            if i.verdict() != Verdict::None {
                why.push(format!(
                    "{}: {}",
                    sanitize(&s.target.label()),
                    sanitize(&i.summary(noun))
                ));
            }
        }
    }
    for line in why {
        eprintln!("  {line}");
    }
    Some(format!(
        "refusing to delete without a person at a terminal: {}; nothing was sent (add --force-impact to delete anyway)",
        sanitize(&totals.summary(noun))
    ))
}

/// The orphan candidates whose impact is "none found"; the others are named on stderr.
pub(super) async fn orphans_without_content<'a>(
    o: &Opened,
    all: &[Resource],
    candidates: Vec<&'a Resource>,
) -> Vec<&'a Resource> {
    if candidates.is_empty() {
        return candidates;
    }
    let refs: Vec<Ref> = candidates.iter().map(|r| r.as_ref()).collect();
    let impacts = compute(o, all, &refs).await;
    let noun = o.spec.impact_container;
    let mut kept = Vec::with_capacity(candidates.len());
    let mut left = Vec::new();
    for r in candidates {
        let i = impact_for(&impacts, &r.as_ref());
        if i.verdict() == Verdict::None {
            kept.push(r);
        } else {
            left.push(format!(
                "{}: {}",
                sanitize(&r.as_ref().label()),
                sanitize(&i.summary(noun))
            ));
        }
    }
    if !left.is_empty() {
        eprintln!(
            "{} orphan candidate{} left out (content may use {}):",
            left.len(),
            if left.len() == 1 { "" } else { "s" },
            if left.len() == 1 { "it" } else { "them" }
        );
        for l in left {
            eprintln!("  {l}");
        }
    }
    kept
}
