//! `dsconsole deleted` (what this machine's audit log says was deleted, with each object's
//! audit ref) and `dsconsole restore REF...` (re-create them from their saved JSON: the plan
//! printed whole, confirmed like a delete, run with an audit line before and after each
//! request, a report per object).

use super::update::read_masked;
use super::{load, open_audit, open_profile, read_answer, settle, under_signals, Fail, Output};
use crate::ops::deleted::{self, DeletedObject};
use crate::ops::restore::{self, RestoreOutcome, RestorePlan};
use crate::text::sanitize;
use secrecy::SecretString;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

fn audit_path() -> PathBuf {
    crate::config::data_dir().join("audit.jsonl")
}

fn read_log() -> Result<(Vec<DeletedObject>, PathBuf), Fail> {
    let path = audit_path();
    let list = deleted::read(&path)
        .map_err(|e| Fail::op(format!("cannot read the audit log {}: {e}", path.display())))?;
    Ok((list, path))
}

/// `dsconsole deleted [--profile P]... [--since 7d] [--output table|json|ndjson]`: sends
/// nothing; the audit log of this machine only.
pub fn deleted_cmd(
    profiles: &[String],
    since: Option<&str>,
    output: Output,
) -> Result<ExitCode, Fail> {
    let since = since
        .map(|s| deleted::parse_since(s).map_err(|e| Fail::usage(format!("--since {e}"))))
        .transpose()?
        .map(|secs| chrono::Utc::now().timestamp() - secs);
    let (list, path) = read_log()?;
    let mut rows: Vec<&DeletedObject> = list
        .iter()
        .filter(|d| profiles.is_empty() || profiles.iter().any(|p| p == &d.profile))
        .filter(|d| since.is_none_or(|s| d.since(s)))
        .collect();
    rows.reverse();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let json_of = |d: &DeletedObject| {
        let mut v = serde_json::to_value(d).unwrap_or_default();
        match d.restorable() {
            Ok(need) => {
                v["restorable"] = serde_json::json!(true);
                if !need.is_empty() {
                    v["needs_set"] = serde_json::json!(need);
                }
            }
            Err(w) => {
                v["restorable"] = serde_json::json!(false);
                v["why_not"] = serde_json::json!(w);
            }
        }
        v
    };
    let result = match output {
        Output::Json => {
            let all: Vec<serde_json::Value> = rows.iter().map(|d| json_of(d)).collect();
            serde_json::to_writer_pretty(&mut out, &all)
                .map_err(std::io::Error::from)
                .and_then(|_| writeln!(out))
        }
        Output::Ndjson => rows.iter().try_for_each(|d| {
            serde_json::to_writer(&mut out, &json_of(d)).map_err(std::io::Error::from)?;
            writeln!(out)
        }),
        Output::Table => write_table(&mut out, &rows),
    }
    .and_then(|_| out.flush());
    if let Err(e) = result {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(Fail::op(format!("writing output: {e}")));
        }
    }
    if rows.is_empty() {
        eprintln!(
            "nothing deleted{} in {}",
            if since.is_some() { " in that time" } else { "" },
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn write_table(out: &mut impl Write, rows: &[&DeletedObject]) -> std::io::Result<()> {
    let mut cells: Vec<[String; 8]> = vec![[
        "AUDIT REF",
        "DELETED",
        "PROFILE",
        "KIND",
        "NAME",
        "ID",
        "STATE",
        "RESTORE",
    ]
    .map(String::from)];
    for d in rows {
        let restore = d.restore_word();
        let time = d.time.get(..19).unwrap_or(&d.time).replace('T', " ");
        cells.push(
            [
                d.reference.clone(),
                time,
                d.profile.clone(),
                d.kind.singular().to_string(),
                d.name.clone(),
                d.id.clone(),
                d.state.word().to_string(),
                restore,
            ]
            .map(|c| sanitize(&c).into_owned()),
        );
    }
    // The ref is never cut (it is what `restore` takes), nor the last column.
    super::write_columns(
        out,
        &cells,
        |i| if i == 0 { 40 } else { 36 },
        |i| i == 0 || i == 7,
    )
}

/// Options of `restore`.
#[derive(Debug, Default, Clone)]
pub struct RestoreArgs {
    pub refs: Vec<String>,
    /// `FIELD=VALUE`: what the saved JSON lacks (Databrain's credentials).
    pub set: Vec<String>,
    /// `FIELD=VAR` or `VAR` (the password).
    pub secret_env: Vec<String>,
    /// `FIELD=COMMAND`.
    pub secret_cmd: Vec<String>,
    /// `FIELD`.
    pub secret_prompt: Vec<String>,
    pub dry_run: bool,
    pub yes: bool,
    pub confirm_profile: Option<String>,
}

/// The secrets given on the command line, by field.
fn given_secrets(a: &RestoreArgs) -> Result<HashMap<String, SecretString>, Fail> {
    let mut out = HashMap::new();
    for arg in &a.secret_env {
        let (field, var) = arg.split_once('=').unwrap_or(("password", arg));
        let value = std::env::var(var)
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Fail::usage(format!(
                    "--secret-env {arg}: environment variable {var} is not set"
                ))
            })?;
        out.insert(field.trim().to_string(), SecretString::from(value));
    }
    for arg in &a.secret_cmd {
        let (field, cmd) = arg
            .split_once('=')
            .ok_or_else(|| Fail::usage(format!("--secret-cmd takes FIELD=COMMAND, not '{arg}'")))?;
        let secret = crate::config::secret_from_command(&format!("--secret-cmd {field}"), cmd)
            .map_err(Fail::usage)?;
        out.insert(field.trim().to_string(), secret);
    }
    Ok(out)
}

/// `dsconsole restore AUDIT_REF...`.
pub async fn restore(
    config_path: Option<&Path>,
    read_only: bool,
    a: &RestoreArgs,
) -> Result<ExitCode, Fail> {
    let (known, path) = read_log()?;
    let mut asked: Vec<DeletedObject> = Vec::new();
    for r in &a.refs {
        let found = known.iter().find(|d| &d.reference == r).ok_or_else(|| {
            Fail::usage(format!(
                "no deleted object with audit ref '{r}' in {} (see `dsconsole deleted`)",
                path.display()
            ))
        })?;
        asked.push(found.clone());
    }
    let profile = match asked.first() {
        Some(d) => d.profile.clone(),
        None => return Err(Fail::usage("restore needs at least one audit ref")),
    };
    if let Some(other) = asked.iter().find(|d| d.profile != profile) {
        return Err(Fail::usage(format!(
            "the refs are of profiles '{profile}' and '{}': restore one profile at a time",
            other.profile
        )));
    }
    let o = open_profile(config_path, &profile, read_only)?;
    let result = restore_opened(&o, read_only, a, asked, &known).await;
    o.client.logout().await;
    result
}

async fn restore_opened(
    o: &super::Opened,
    read_only: bool,
    a: &RestoreArgs,
    asked: Vec<DeletedObject>,
    known: &[DeletedObject],
) -> Result<ExitCode, Fail> {
    if (read_only || o.profile.read_only) && !a.dry_run {
        return Err(Fail::usage(format!(
            "profile '{}' is read-only: nothing was sent (use --dry-run to see the plan)",
            o.profile.name
        )));
    }
    let mut secrets = given_secrets(a)?;
    let all = load(o).await?;
    let sets: Vec<(String, String)> = a
        .set
        .iter()
        .map(|s| {
            s.split_once('=')
                .map(|(f, v)| (f.trim().to_string(), v.to_string()))
                .filter(|(f, _)| !f.is_empty())
                .ok_or_else(|| Fail::usage(format!("--set takes FIELD=VALUE, not '{s}'")))
        })
        .collect::<Result<_, _>>()?;
    let mut plan =
        restore::plan(o.spec, &o.profile.name, asked, &all, known, &sets).map_err(Fail::usage)?;
    plan.tenant = crate::overview::tenant_of(&o.profile.base_url);
    eprint!("{}", restore::plan_text(&plan));
    if a.dry_run {
        println!("dry run: nothing was sent");
        return Ok(ExitCode::SUCCESS);
    }
    if plan.is_empty() {
        return Err(Fail::op("nothing to restore: nothing was sent"));
    }
    if o.profile.protected {
        match &a.confirm_profile {
            Some(p) if p == &o.profile.name => {}
            Some(p) => {
                return Err(Fail::usage(format!(
                    "--confirm-profile '{p}' does not match the protected profile '{}': nothing was sent",
                    o.profile.name
                )))
            }
            None if a.yes => {
                return Err(Fail::usage(format!(
                    "profile '{}' is protected: add --confirm-profile {} to --yes",
                    o.profile.name, o.profile.name
                )))
            }
            None => {}
        }
    }
    // Each secret the plan needs, once: given, else at a masked prompt.
    for field in plan.secret_fields() {
        if secrets.contains_key(field) {
            continue;
        }
        let prompted = a.secret_prompt.iter().any(|f| f == field);
        if !prompted && !std::io::stdin().is_terminal() {
            return Err(Fail::usage(format!(
                "the restore needs a {field} (the audit log never keeps one): give it with \
                 --secret-env {field}=VAR, --secret-cmd {field}=COMMAND or at the prompt \
                 (nothing was sent)"
            )));
        }
        let who: Vec<String> = plan
            .items
            .iter()
            .filter(|i| i.recreate.secrets.iter().any(|s| s.field == field))
            .map(|i| format!("{} '{}'", i.deleted.kind.singular(), i.deleted.name))
            .collect();
        let prompt = format!("{field} for {} (not shown): ", sanitize(&who.join(", ")));
        secrets.insert(field.to_string(), read_masked(&prompt)?);
    }
    if !a.yes {
        confirm_on_terminal(&plan, o.profile.protected)?;
    }
    let audit = open_audit()?;
    let cancel = CancellationToken::new();
    let secret_of = move |f: &str| secrets.get(f).cloned();
    let stop = crate::signals::StopSignals::listen();
    // What is known so far, for a run abandoned at a second signal.
    let known = std::sync::Mutex::new(vec![RestoreOutcome::NotStarted; plan.items.len()]);
    let run = restore::execute(
        o.client.clone(),
        audit.clone(),
        &plan,
        &secret_of,
        cancel.clone(),
        |n, outcome| {
            if let Some(slot) = known.lock().unwrap_or_else(|p| p.into_inner()).get_mut(n) {
                *slot = outcome.clone();
            }
        },
    );
    let (outcomes, signal) =
        under_signals(Box::pin(run), stop, "restore request", || cancel.cancel()).await;
    settle(&audit);
    let outcomes = outcomes.unwrap_or_else(|| {
        let mut so_far = known
            .lock()
            .map(|k| k.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        // One object at a time: the first without an outcome was in flight.
        if let Some(slot) = so_far
            .iter_mut()
            .find(|o| matches!(o, RestoreOutcome::NotStarted))
        {
            *slot = RestoreOutcome::Unknown(
                "in flight when dsconsole stopped: the server may or may not have created it \
                 (see `dsconsole deleted` and `list` before restoring it again)"
                    .into(),
            );
        }
        so_far
    });
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", restore::report_text(&plan, &outcomes));
    let _ = out.flush();
    let restored = outcomes
        .iter()
        .filter(|o| matches!(o, RestoreOutcome::Restored(_)))
        .count();
    let not = outcomes.len() - restored + plan.refused.len();
    eprintln!(
        "{} — {}: {restored} restored, {not} not",
        if signal.is_some() {
            "Cancelled"
        } else {
            "Finished"
        },
        sanitize(&o.profile.name)
    );
    Ok(match signal {
        Some(s) => ExitCode::from(s.exit_code()),
        None if not == 0 => ExitCode::SUCCESS,
        None => ExitCode::from(1),
    })
}

/// Ask on the terminal: the number of objects, or the protected profile's name. Refused
/// when stdin is not a terminal.
fn confirm_on_terminal(plan: &RestorePlan, protected: bool) -> Result<(), Fail> {
    if !std::io::stdin().is_terminal() {
        return Err(Fail::usage(
            "refusing to restore without --yes: stdin is not a terminal (nothing was sent)",
        ));
    }
    let n = plan.items.len();
    let expected = if protected {
        plan.profile.clone()
    } else {
        n.to_string()
    };
    if protected {
        eprint!(
            "Protected profile: type its name '{}' to restore: ",
            sanitize(&expected)
        );
    } else {
        eprint!("Type {n} to restore {n} object(s): ");
    }
    if read_answer()? == expected {
        Ok(())
    } else {
        Err(Fail::op("not confirmed: nothing restored"))
    }
}
