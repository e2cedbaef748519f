//! `dsconsole update` (change one object) and `dsconsole rotate` (a new password everywhere
//! the same database account is used, across profiles): the plan printed whole, confirmed
//! by typing (the number of objects, or the names of the protected profiles), run with an
//! audit line before and after each request, and a report per object.

use super::{load, open_audit, open_profile, parse_kind, resolve_targets, Fail, Opened};
use crate::model::{Kind, Resource};
use crate::ops::change::{self, ChangeOutcome, ChangePlan};
use crate::text::sanitize;
use crate::vendors::change::{Change, FieldValue};
use secrecy::SecretString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// Where the new values come from, as given on the command line.
#[derive(Debug, Default, Clone)]
pub struct ValueArgs {
    /// `FIELD=VALUE` (an empty value clears a clearable secret).
    pub set: Vec<String>,
    /// `FIELD=VAR`: the secret is the environment variable's value.
    pub secret_env: Vec<String>,
    /// `FIELD=COMMAND`: the secret is what the command prints.
    pub secret_cmd: Vec<String>,
    /// `FIELD`: the secret is typed at a masked prompt.
    pub secret_prompt: Vec<String>,
}

/// Options of both commands' confirmation.
#[derive(Debug, Default, Clone)]
pub struct ConfirmArgs {
    pub dry_run: bool,
    pub yes: bool,
    /// The names of the protected profiles, with --yes.
    pub confirm_profile: Vec<String>,
}

fn split_pair<'a>(arg: &'a str, flag: &str) -> Result<(&'a str, &'a str), Fail> {
    arg.split_once('=')
        .map(|(f, v)| (f.trim(), v))
        .filter(|(f, _)| !f.is_empty())
        .ok_or_else(|| Fail::usage(format!("{flag} takes FIELD=VALUE, not '{arg}'")))
}

/// The change the arguments describe. Each secret is read once.
fn change_of(v: &ValueArgs) -> Result<Change, Fail> {
    let mut change = Change::default();
    for arg in &v.set {
        let (field, value) = split_pair(arg, "--set")?;
        let value = if value.is_empty() {
            FieldValue::Unset
        } else {
            FieldValue::Text(value.to_string())
        };
        change = change.set(field, value);
    }
    for arg in &v.secret_env {
        let (field, var) = split_pair(arg, "--secret-env")?;
        let value = std::env::var(var)
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Fail::usage(format!(
                    "--secret-env {field}={var}: environment variable {var} is not set"
                ))
            })?;
        change = change.set(field, FieldValue::Secret(SecretString::from(value)));
    }
    for arg in &v.secret_cmd {
        let (field, cmd) = split_pair(arg, "--secret-cmd")?;
        let secret = crate::config::secret_from_command(&format!("--secret-cmd {field}"), cmd)
            .map_err(Fail::usage)?;
        change = change.set(field, FieldValue::Secret(secret));
    }
    for field in &v.secret_prompt {
        let secret = read_masked(&format!("New {field} (not shown): "))?;
        change = change.set(field, FieldValue::Secret(secret));
    }
    Ok(change)
}

/// Read a line from the terminal with echo off.
pub(super) fn read_masked(prompt: &str) -> Result<SecretString, Fail> {
    use std::os::fd::AsRawFd;
    let no_tty = |e: String| {
        Fail::usage(format!(
            "no terminal for the masked prompt ({e}): use --secret-env FIELD=VAR or --secret-cmd FIELD=COMMAND"
        ))
    };
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| no_tty(e.to_string()))?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for an open terminal fd.
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut term) } != 0 {
        return Err(no_tty("not a terminal".into()));
    }
    let saved = term;
    term.c_lflag &= !libc::ECHO;
    term.c_lflag |= libc::ECHONL;
    // SAFETY: fd is the open terminal; term is a valid termios read from it.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) };
    let mut out = &tty;
    let _ = out.write_all(prompt.as_bytes());
    let _ = out.flush();
    let mut line = zeroize::Zeroizing::new(String::new());
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    // SAFETY: restores the settings read above on the same fd.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read.map_err(|e| no_tty(e.to_string()))?;
    let value = line.trim_end_matches(['\r', '\n']);
    if value.is_empty() {
        return Err(Fail::usage("nothing typed: nothing was sent"));
    }
    Ok(SecretString::from(value.to_string()))
}

/// Protected profiles: with --yes, each one's name must be given with --confirm-profile.
fn check_protected(plans: &[(&Opened, ChangePlan)], c: &ConfirmArgs) -> Result<(), Fail> {
    for (o, _) in plans.iter().filter(|(o, _)| o.profile.protected) {
        if c.yes && !c.confirm_profile.iter().any(|n| n == &o.profile.name) {
            return Err(Fail::usage(format!(
                "profile '{}' is protected: add --confirm-profile {} to --yes (nothing was sent)",
                o.profile.name, o.profile.name
            )));
        }
    }
    Ok(())
}

/// Ask on the terminal: the number of objects, or the protected profiles' names separated by
/// a space (the rule of a delete). Refused when stdin is not a terminal.
fn confirm_on_terminal(plans: &[(&Opened, ChangePlan)]) -> Result<(), Fail> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Fail::usage(
            "refusing to change without --yes: stdin is not a terminal (nothing was sent)",
        ));
    }
    let total: usize = plans.iter().map(|(_, p)| p.items.len()).sum();
    let protected: Vec<&str> = plans
        .iter()
        .filter(|(o, _)| o.profile.protected)
        .map(|(o, _)| o.profile.name.as_str())
        .collect();
    let expected = if protected.is_empty() {
        total.to_string()
    } else {
        protected.join(" ")
    };
    if protected.is_empty() {
        eprint!("Type {total} to change {total} object(s): ");
    } else {
        eprint!(
            "Protected profile(s): type '{}' to change {total} object(s): ",
            sanitize(&expected)
        );
    }
    if super::read_answer()? == expected {
        Ok(())
    } else {
        Err(Fail::op("not confirmed: nothing changed"))
    }
}

/// Print the plans, confirm them, run them one profile after another, print the report.
async fn run_plans(plans: Vec<(&Opened, ChangePlan)>, c: &ConfirmArgs) -> Result<ExitCode, Fail> {
    for (_, plan) in &plans {
        eprint!("{}", change::plan_text(plan));
    }
    if c.dry_run {
        println!("dry run: nothing was sent");
        return Ok(ExitCode::SUCCESS);
    }
    check_protected(&plans, c)?;
    if !c.yes {
        confirm_on_terminal(&plans)?;
    }
    let audit = open_audit()?;
    let cancel = CancellationToken::new();
    let mut ok = 0;
    let mut not_ok = 0;
    let mut out = std::io::stdout().lock();
    for (o, plan) in &plans {
        let outcomes = change::execute(
            o.client.clone(),
            o.spec,
            audit.clone(),
            plan,
            cancel.clone(),
            |_, _| {},
        )
        .await;
        let _ = write!(out, "{}", change::report_text(plan, &outcomes));
        ok += outcomes.iter().filter(|o| o.is_success()).count();
        not_ok += outcomes.iter().filter(|o| !o.is_success()).count();
        let unknown = outcomes
            .iter()
            .filter(|o| matches!(o, ChangeOutcome::Unknown(_)))
            .count();
        if unknown > 0 {
            eprintln!(
                "{}: {unknown} change(s) of unknown outcome: see the report",
                sanitize(&o.profile.name)
            );
        }
    }
    let _ = out.flush();
    eprintln!("Finished — {ok} changed, {not_ok} not (or not verified)");
    Ok(if not_ok == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Refuse a change on a read-only profile unless it is a dry run.
fn refuse_read_only(o: &Opened, read_only: bool, dry_run: bool) -> Result<(), Fail> {
    if (read_only || o.profile.read_only) && !dry_run {
        return Err(Fail::usage(format!(
            "profile '{}' is read-only: nothing was sent (use --dry-run to see the plan)",
            o.profile.name
        )));
    }
    Ok(())
}

/// `dsconsole update PROFILE KIND ID_OR_NAME --set FIELD=VALUE ...`.
pub async fn update(
    config_path: Option<&Path>,
    read_only: bool,
    profile: &str,
    kind: &str,
    target: &str,
    values: &ValueArgs,
    c: &ConfirmArgs,
) -> Result<ExitCode, Fail> {
    let o = open_profile(config_path, profile, read_only)?;
    let result = update_opened(&o, read_only, kind, target, values, c).await;
    o.client.logout().await;
    result
}

async fn update_opened(
    o: &Opened,
    read_only: bool,
    kind: &str,
    target: &str,
    values: &ValueArgs,
    c: &ConfirmArgs,
) -> Result<ExitCode, Fail> {
    let kind = parse_kind(o.spec, kind)?;
    refuse_read_only(o, read_only, c.dry_run)?;
    let change = change_of(values)?;
    let all = load(o).await?;
    let (_, id) = resolve_targets(&all, kind, &[target.to_string()])?
        .into_iter()
        .next()
        .ok_or_else(|| Fail::usage("no target"))?;
    let r = all
        .iter()
        .find(|r| r.kind == kind && r.id == id)
        .ok_or_else(|| Fail::usage("no target"))?;
    let mut plan = change::plan(o.spec, &o.profile.name, &all, vec![(r.as_ref(), change)])
        .map_err(Fail::usage)?;
    plan.tenant = crate::overview::tenant_of(&o.profile.base_url);
    run_plans(vec![(o, plan)], c).await
}

/// The objects of `all` a rotation matches: of a kind with a `field` secret (the password),
/// whose every `--match FIELD=VALUE` holds. Says which match fields the vendor lacks.
fn matching<'a>(
    o: &Opened,
    all: &'a [Resource],
    field: &str,
    matches: &[(String, String)],
) -> Result<Vec<&'a Resource>, String> {
    let kinds: Vec<Kind> = o
        .spec
        .kinds
        .iter()
        .copied()
        .filter(|k| {
            (o.spec.edit_fields)(*k)
                .iter()
                .any(|f| f.name == field && f.secret)
        })
        .collect();
    if kinds.is_empty() {
        return Err(format!(
            "{} has nothing with a '{field}' dsconsole can change",
            o.spec.vendor.display()
        ));
    }
    let mut out = Vec::new();
    for kind in kinds {
        let fields = (o.spec.edit_fields)(kind);
        let mut pointers = Vec::new();
        for (name, value) in matches {
            let pointer = if name == "name" {
                "/name"
            } else {
                match fields
                    .iter()
                    .find(|f| f.name == name && !f.pointer.is_empty())
                {
                    Some(f) => f.pointer,
                    None => {
                        return Err(format!(
                            "{} {kind} have no field '{name}' to match",
                            o.spec.vendor.display()
                        ))
                    }
                }
            };
            pointers.push((pointer, value));
        }
        out.extend(all.iter().filter(|r| r.kind == kind).filter(|r| {
            pointers
                .iter()
                .all(|(p, v)| r.raw.pointer_str(p).as_deref() == Some(v.as_str()))
        }));
    }
    Ok(out)
}

/// `dsconsole rotate --profile P... --match FIELD=VALUE... --secret-… password…`.
pub async fn rotate(
    config_path: Option<&Path>,
    read_only: bool,
    profiles: &[String],
    matches: &[String],
    values: &ValueArgs,
    c: &ConfirmArgs,
) -> Result<ExitCode, Fail> {
    if profiles.is_empty() {
        return Err(Fail::usage("rotate needs at least one --profile"));
    }
    let matches: Vec<(String, String)> = matches
        .iter()
        .map(|m| split_pair(m, "--match").map(|(f, v)| (f.to_string(), v.to_string())))
        .collect::<Result<_, _>>()?;
    if matches.is_empty() {
        return Err(Fail::usage(
            "rotate needs --match FIELD=VALUE (e.g. --match username=etl_user)",
        ));
    }
    let mut values = values.clone();
    let secret_given = values
        .secret_env
        .iter()
        .chain(&values.secret_cmd)
        .any(|a| a.starts_with("password="))
        || values.secret_prompt.iter().any(|f| f == "password");
    // The new password: at a masked prompt unless given; a dry run reads none.
    if !secret_given && !c.dry_run {
        values.secret_prompt.push("password".into());
    }
    let mut opened = Vec::new();
    for p in profiles {
        let o = open_profile(config_path, p, read_only)?;
        refuse_read_only(&o, read_only, c.dry_run)?;
        opened.push(o);
    }
    let mut change = change_of(&values)?;
    if !secret_given && c.dry_run {
        change = change.set(
            "password",
            FieldValue::Secret(SecretString::from("not read in a dry run")),
        );
    }
    let mut plans = Vec::new();
    let mut failed = None;
    for o in &opened {
        let all = match load(o).await {
            Ok(all) => all,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        let targets = match matching(o, &all, "password", &matches) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{}: left out: {}", sanitize(&o.profile.name), sanitize(&e));
                continue;
            }
        };
        if targets.is_empty() {
            eprintln!("{}: nothing matches", sanitize(&o.profile.name));
            continue;
        }
        let changes = targets
            .iter()
            .map(|r| (r.as_ref(), change.clone()))
            .collect();
        match change::plan(o.spec, &o.profile.name, &all, changes) {
            Ok(mut plan) => {
                plan.tenant = crate::overview::tenant_of(&o.profile.base_url);
                plans.push((o, plan))
            }
            Err(e) => {
                failed = Some(Fail::usage(format!("{}: {e}", o.profile.name)));
                break;
            }
        }
    }
    let result = match failed {
        Some(e) => Err(e),
        None if plans.is_empty() => {
            Err(Fail::op("nothing matches in any profile: nothing was sent"))
        }
        None => run_plans(plans, c).await,
    };
    for o in &opened {
        o.client.logout().await;
    }
    result
}
