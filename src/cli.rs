//! Command line: clap definitions and the launch of the TUI, the demo, the simulators and
//! `config check`.

use crate::config::{self, Config};
use crate::headless::{self, finish, CheckOutput, DeleteArgs, Output};
use crate::ops::audit::AuditLog;
#[cfg(feature = "sim")]
use crate::sim::SimOptions;
use crate::text::sanitize;
use crate::tui::LaunchProfile;
#[cfg(feature = "sim")]
use crate::vendors::registry::{self, StartedSim};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "dsconsole",
    version,
    about = "Terminal console for BI datasources, connections and logins"
)]
pub struct Cli {
    /// Config file (default: $DSCONSOLE_CONFIG, else <config dir>/dsconsole/config.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Open only these profiles (repeatable).
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
    /// No mutating request leaves any profile.
    #[arg(long, global = true)]
    pub read_only: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// TUI against built-in simulated vendors; needs no config.
    Demo {
        /// Objects per kind in the simulators (0 = the seed data only).
        #[arg(long, default_value_t = 0)]
        scale: usize,
    },
    /// Run the simulated vendors standalone and print each base URL.
    Sim {
        /// Port of the first simulator (0 = any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        #[arg(long, default_value_t = 0)]
        scale: usize,
    },
    /// List the objects of a profile.
    List {
        profile: String,
        /// datasources, connections or logins (singular accepted); all kinds when left out.
        kind: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
        /// Keep only rows matching this filter (fzf syntax, as `/` in the TUI).
        #[arg(long)]
        filter: Option<String>,
        /// Only unhealthy objects (failed test, unhealthy, failed or no sync).
        #[arg(long)]
        unhealthy: bool,
        /// Only orphans (connections and logins nothing uses).
        #[arg(long)]
        orphans: bool,
    },
    /// Delete objects by id or exact name, with the same plan as the TUI.
    Delete {
        profile: String,
        kind: String,
        #[arg(required = true, value_name = "ID_OR_NAME")]
        targets: Vec<String>,
        /// Also delete the dependencies that nothing else uses.
        #[arg(long)]
        cascade: bool,
        /// Leave out objects still in use (the server would refuse them) instead of trying.
        #[arg(long)]
        skip_in_use: bool,
        /// Print the plan; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask. Required when stdin is not a terminal.
        #[arg(long)]
        yes: bool,
        /// Parallel requests (default: the profile's concurrency).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: Option<u16>,
        /// Protected profiles: the profile name, in addition to --yes.
        #[arg(long, value_name = "NAME")]
        confirm_profile: Option<String>,
        /// Stop starting new deletes after this many seconds (requests in flight finish).
        #[arg(long, value_name = "SECONDS")]
        time_limit: Option<u64>,
        /// With --yes: delete even when the plan breaks content or its impact is unknown.
        #[arg(long)]
        force_impact: bool,
        /// Write the plan to FILE (for `dsconsole apply`) instead of running it; sends nothing.
        #[arg(long, value_name = "FILE")]
        plan_out: Option<PathBuf>,
    },
    /// Run a plan written by `delete --plan-out`: every target is read again first, and what
    /// changed since (updated, used by, impact, gone) is refused and reported.
    Apply {
        #[arg(value_name = "PLAN.json")]
        file: PathBuf,
        /// Refuse the whole plan when any of its objects changed.
        #[arg(long)]
        strict: bool,
        /// Print what would run; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask. Required when stdin is not a terminal.
        #[arg(long)]
        yes: bool,
        /// Protected profiles: the profile name, in addition to --yes.
        #[arg(long, value_name = "NAME")]
        confirm_profile: Option<String>,
        /// With --yes: delete even when the plan breaks content or its impact is unknown.
        #[arg(long)]
        force_impact: bool,
    },
    /// What deleting objects would break: reports, dashboards, apps, datamarts that use them.
    Impact {
        profile: String,
        kind: String,
        #[arg(required = true, value_name = "ID_OR_NAME")]
        targets: Vec<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Change one object: rename it, give it new credentials, point it elsewhere; only
    /// the fields given are sent, with the same plan and confirmation as a delete.
    Update {
        profile: String,
        kind: String,
        #[arg(value_name = "ID_OR_NAME")]
        target: String,
        #[command(flatten)]
        values: ValueFlags,
        #[command(flatten)]
        confirm: ConfirmFlags,
    },
    /// A new password (and optionally user name) everywhere the same database account is
    /// used, across profiles and vendors, as one plan; each change is tested afterwards
    /// where the vendor can test it. The password is read once: --secret-env, --secret-cmd,
    /// or a masked prompt.
    Rotate {
        /// The profiles to rotate in (repeatable).
        #[arg(long = "profile", value_name = "NAME", required = true)]
        profiles: Vec<String>,
        /// Which objects: FIELD=VALUE, all must hold (e.g. username=etl_user; repeatable).
        #[arg(long = "match", value_name = "FIELD=VALUE", required = true)]
        matches: Vec<String>,
        #[command(flatten)]
        values: ValueFlags,
        #[command(flatten)]
        confirm: ConfirmFlags,
    },
    /// What this machine's audit log says was deleted, newest first, with each object's
    /// audit ref (what `restore` takes) and whether it can be restored. Sends nothing.
    Deleted {
        /// Only these profiles (repeatable).
        #[arg(long = "profile", value_name = "NAME")]
        only: Vec<String>,
        /// Only what was deleted this long ago or less: 30m, 12h, 7d, 2w.
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Re-create deleted objects from the JSON the audit log saved of them (a cascade in
    /// creation order, each new id wired into the next), with the plan and confirmation of
    /// a delete. Secrets the server never returned are asked for.
    Restore {
        /// Audit refs as `deleted` prints them.
        #[arg(required = true, value_name = "AUDIT_REF")]
        refs: Vec<String>,
        /// A value the saved JSON lacks: FIELD=VALUE (Databrain: datasource_type, host,
        /// port, database, username, schema).
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// A secret from an environment variable: FIELD=VAR, or VAR for the password.
        #[arg(long = "secret-env", value_name = "FIELD=VAR")]
        secret_env: Vec<String>,
        /// A secret from what a command prints: FIELD=COMMAND.
        #[arg(long = "secret-cmd", value_name = "FIELD=COMMAND")]
        secret_cmd: Vec<String>,
        /// A secret typed at a masked prompt: FIELD.
        #[arg(long = "secret-prompt", value_name = "FIELD")]
        secret_prompt: Vec<String>,
        /// Print the plan; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask. Required when stdin is not a terminal.
        #[arg(long)]
        yes: bool,
        /// Protected profiles: the profile name, in addition to --yes.
        #[arg(long, value_name = "NAME")]
        confirm_profile: Option<String>,
    },
    /// Everything a person owns across profiles (name, email or id), with what dsconsole
    /// can do about each object — for offboarding. Sends nothing but lists.
    OwnedBy {
        #[arg(value_name = "NAME")]
        who: String,
        /// Only these profiles (repeatable); every profile of the config when left out.
        #[arg(long = "profile", value_name = "NAME")]
        only: Vec<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Create an object from a JSON file in the vendor's wire format.
    Create {
        profile: String,
        kind: String,
        #[arg(long, value_name = "FILE.json")]
        from: PathBuf,
    },
    /// Health report of a profile, or the overview of every profile when none is named;
    /// exit 1 when anything is unhealthy, a profile failed to load or has no secret.
    Check {
        /// Every profile of the config (or those of --profile) when left out.
        profile: Option<String>,
        #[arg(long, value_enum, default_value_t = CheckOutput::Table)]
        output: CheckOutput,
        /// Check only these profiles (repeatable); without PROFILE.
        #[arg(long = "profile", value_name = "NAME", conflicts_with = "profile")]
        only: Vec<String>,
    },
    /// Store a profile's secret in the OS keyring (where its <secret>_keyring says).
    Secret {
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where the new values of `update` and `rotate` come from.
#[derive(Debug, clap::Args)]
pub struct ValueFlags {
    /// A new value: FIELD=VALUE (repeatable; an empty value clears a clearable secret).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    set: Vec<String>,
    /// A secret from an environment variable: FIELD=VAR (repeatable).
    #[arg(long = "secret-env", value_name = "FIELD=VAR")]
    secret_env: Vec<String>,
    /// A secret from what a command prints: FIELD=COMMAND (repeatable).
    #[arg(long = "secret-cmd", value_name = "FIELD=COMMAND")]
    secret_cmd: Vec<String>,
    /// A secret typed at a masked prompt: FIELD (repeatable).
    #[arg(long = "secret-prompt", value_name = "FIELD")]
    secret_prompt: Vec<String>,
}

/// How `update` and `rotate` are confirmed.
#[derive(Debug, clap::Args)]
pub struct ConfirmFlags {
    /// Print the plan; send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Do not ask. Required when stdin is not a terminal.
    #[arg(long)]
    yes: bool,
    /// Protected profiles: each one's name, in addition to --yes (repeatable).
    #[arg(long, value_name = "NAME")]
    confirm_profile: Vec<String>,
}

impl ValueFlags {
    fn args(self) -> headless::ValueArgs {
        headless::ValueArgs {
            set: self.set,
            secret_env: self.secret_env,
            secret_cmd: self.secret_cmd,
            secret_prompt: self.secret_prompt,
        }
    }
}

impl ConfirmFlags {
    fn args(self) -> headless::ConfirmArgs {
        headless::ConfirmArgs {
            dry_run: self.dry_run,
            yes: self.yes,
            confirm_profile: self.confirm_profile,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Read the secret once at a masked prompt (typed twice), or from stdin when it is not
    /// a terminal, and store it in the keyring.
    Set {
        profile: String,
        /// A named secret of the vendor (e.g. data_app_key, client_secret) instead of the
        /// main one.
        #[arg(long, value_name = "NAME")]
        key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and print resolved profiles, without secrets.
    Check,
}

pub async fn main_with(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Demo { scale }) => run_demo(cli.read_only, scale, None).await,
        Some(Command::Sim { port, scale }) => run_sim(port, scale).await,
        Some(Command::Config {
            command: ConfigCommand::Check,
        }) => config_check(cli.config),
        Some(Command::List {
            profile,
            kind,
            output,
            filter,
            unhealthy,
            orphans,
        }) => {
            crate::logging::init_stderr();
            finish(
                headless::list(
                    cli.config.as_deref(),
                    &profile,
                    kind.as_deref(),
                    output,
                    filter.as_deref(),
                    unhealthy,
                    orphans,
                )
                .await,
            )
        }
        Some(Command::Delete {
            profile,
            kind,
            targets,
            cascade,
            skip_in_use,
            dry_run,
            yes,
            concurrency,
            confirm_profile,
            time_limit,
            force_impact,
            plan_out,
        }) => {
            crate::logging::init_stderr();
            let args = DeleteArgs {
                profile,
                kind,
                targets,
                cascade,
                skip_in_use,
                dry_run,
                yes,
                concurrency: concurrency.map(usize::from),
                confirm_profile,
                time_limit: time_limit.map(Duration::from_secs),
                force_impact,
                plan_out,
            };
            finish(headless::delete(cli.config.as_deref(), cli.read_only, args).await)
        }
        Some(Command::Apply {
            file,
            strict,
            dry_run,
            yes,
            confirm_profile,
            force_impact,
        }) => {
            crate::logging::init_stderr();
            let args = headless::ApplyArgs {
                file,
                strict,
                yes,
                confirm_profile,
                dry_run,
                force_impact,
            };
            finish(headless::apply(cli.config.as_deref(), cli.read_only, &args).await)
        }
        Some(Command::Update {
            profile,
            kind,
            target,
            values,
            confirm,
        }) => {
            crate::logging::init_stderr();
            finish(
                headless::update(
                    cli.config.as_deref(),
                    cli.read_only,
                    &profile,
                    &kind,
                    &target,
                    &values.args(),
                    &confirm.args(),
                )
                .await,
            )
        }
        Some(Command::Rotate {
            profiles,
            matches,
            values,
            confirm,
        }) => {
            crate::logging::init_stderr();
            finish(
                headless::rotate(
                    cli.config.as_deref(),
                    cli.read_only,
                    &profiles,
                    &matches,
                    &values.args(),
                    &confirm.args(),
                )
                .await,
            )
        }
        Some(Command::Deleted {
            only,
            since,
            output,
        }) => {
            crate::logging::init_stderr();
            let only: Vec<String> = cli.profiles.into_iter().chain(only).collect();
            finish(headless::deleted(&only, since.as_deref(), output))
        }
        Some(Command::Restore {
            refs,
            set,
            secret_env,
            secret_cmd,
            secret_prompt,
            dry_run,
            yes,
            confirm_profile,
        }) => {
            crate::logging::init_stderr();
            let args = headless::RestoreArgs {
                refs,
                set,
                secret_env,
                secret_cmd,
                secret_prompt,
                dry_run,
                yes,
                confirm_profile,
            };
            finish(headless::restore(cli.config.as_deref(), cli.read_only, &args).await)
        }
        Some(Command::OwnedBy { who, only, output }) => {
            crate::logging::init_stderr();
            let only: Vec<String> = cli.profiles.into_iter().chain(only).collect();
            finish(headless::owned_by(cli.config.as_deref(), &who, &only, output).await)
        }
        Some(Command::Create {
            profile,
            kind,
            from,
        }) => {
            crate::logging::init_stderr();
            finish(
                headless::create(cli.config.as_deref(), cli.read_only, &profile, &kind, &from)
                    .await,
            )
        }
        Some(Command::Impact {
            profile,
            kind,
            targets,
            output,
        }) => {
            crate::logging::init_stderr();
            finish(headless::impact(cli.config.as_deref(), &profile, &kind, &targets, output).await)
        }
        Some(Command::Check {
            profile,
            output,
            only,
        }) => {
            crate::logging::init_stderr();
            let only: Vec<String> = cli.profiles.into_iter().chain(only).collect();
            finish(headless::check(cli.config.as_deref(), profile.as_deref(), &only, output).await)
        }
        Some(Command::Secret {
            command: SecretCommand::Set { profile, key },
        }) => {
            crate::logging::init_stderr();
            finish(headless::secret_set(
                cli.config.as_deref(),
                &profile,
                key.as_deref(),
            ))
        }
        Some(Command::Completions { shell }) => {
            let profiles = completion_profiles(cli.config.as_deref());
            let mut cmd = completion_command(&profiles);
            clap_complete::generate(shell, &mut cmd, "dsconsole", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        None => {
            let path = config::resolve_path(cli.config.as_deref());
            match path {
                Some(p) if p.exists() => run_configured(&p, &cli.profiles, cli.read_only).await,
                Some(p) if cli.config.is_some() => {
                    eprintln!(
                        "dsconsole: config file {} does not exist",
                        sanitize(&p.display().to_string())
                    );
                    ExitCode::from(2)
                }
                other => {
                    let hint = match other {
                        Some(p) => format!(
                            "DEMO: no config at {}. Copy config.example.toml there to use real profiles.",
                            p.display()
                        ),
                        None => "DEMO: no config found. See config.example.toml to use real profiles.".into(),
                    };
                    run_demo(cli.read_only, 0, Some(hint)).await
                }
            }
        }
    }
}

/// The profile names of the config, for the completion script: none when there is no
/// config (a fresh machine) or it does not parse (said on stderr; the script is still
/// printed, completing everything but profile names).
fn completion_profiles(path: Option<&std::path::Path>) -> Vec<String> {
    let Some(path) = config::resolve_path(path) else {
        return Vec::new();
    };
    if !path.exists() {
        return Vec::new();
    }
    match Config::load(&path) {
        Ok(cfg) => {
            // The names are written into a shell script: only plain ones (a `$(…)` or a
            // quote in a name would run or break when the shell completes).
            let (plain, odd): (Vec<String>, Vec<String>) = cfg
                .profiles
                .into_iter()
                .map(|p| p.name)
                .partition(|n| n.chars().all(shell_plain));
            for n in odd {
                eprintln!(
                    "dsconsole: profile '{}' is not completed (only letters, digits and . _ - + @ are)",
                    sanitize(&n)
                );
            }
            plain
        }
        Err(e) => {
            eprintln!(
                "dsconsole: profile names are not completed: {}",
                sanitize(&e.to_string())
            );
            Vec::new()
        }
    }
}

fn shell_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-+@".contains(c)
}

/// The command line as the completion script describes it: profile arguments (`PROFILE`,
/// `--profile`, `--confirm-profile`) offer the config's profiles and `KIND` arguments every
/// kind. Only the script sees these lists; parsing keeps its own checks (and its messages).
pub fn completion_command(profiles: &[String]) -> clap::Command {
    use clap::builder::{PossibleValue, PossibleValuesParser};
    use clap::CommandFactory;
    let kinds = PossibleValuesParser::new(crate::model::Kind::ALL.map(|k| k.id()));
    let names: Vec<PossibleValue> = profiles
        .iter()
        .map(|p| PossibleValue::new(p.clone()))
        .collect();
    let names = PossibleValuesParser::new(names);
    // `mut_args` changes each argument in its place (`mut_arg` would move it to the end,
    // reordering positionals).
    let values = |profile_ids: &'static [&'static str], kind: bool| {
        let (names, kinds) = (names.clone(), kinds.clone());
        move |a: clap::Arg| {
            let id = a.get_id().as_str();
            if !profiles.is_empty() && profile_ids.contains(&id) {
                a.value_parser(names.clone())
            } else if kind && id == "kind" {
                a.value_parser(kinds.clone())
            } else {
                a
            }
        }
    };
    let mut cmd = Cli::command().mut_args(values(&["profiles"], false));
    for (sub, profile_ids, kind) in [
        ("list", &["profile"][..], true),
        ("delete", &["profile", "confirm_profile"][..], true),
        ("impact", &["profile"][..], true),
        ("create", &["profile"][..], true),
        ("check", &["profile", "only"][..], false),
        ("deleted", &["only"][..], false),
        ("restore", &["confirm_profile"][..], false),
    ] {
        let f = values(profile_ids, kind);
        cmd = cmd.mut_subcommand(sub, |s| s.mut_args(f));
    }
    cmd
}

fn open_audit() -> Arc<AuditLog> {
    let path = config::data_dir().join("audit.jsonl");
    match AuditLog::open(&path) {
        Ok(a) => Arc::new(a),
        Err(e) => {
            // Without an audit log nothing mutating may be sent: the executor refuses.
            tracing::error!("cannot open audit log {}: {e}", path.display());
            Arc::new(AuditLog::failing())
        }
    }
}

fn start_logging() {
    if let Err(e) = crate::logging::init_file(&config::data_dir()) {
        eprintln!("dsconsole: cannot open the log file: {e} (continuing without a log)");
    }
}

async fn run_tui(
    profiles: Vec<LaunchProfile>,
    demo: bool,
    banner: Option<String>,
    refresh_seconds: u64,
) -> ExitCode {
    let options = crate::tui::LaunchOptions {
        demo,
        banner,
        refresh_seconds,
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    };
    match crate::tui::launch(profiles, options, open_audit()).await {
        Ok(crate::tui::TuiEnd {
            signal: Some(sig),
            cut_short: true,
        }) => {
            eprintln!(
                "dsconsole: {} received while a change was running: nothing new was started; \
                 what happened to each request is in {}",
                sig.name(),
                sanitize(&config::data_dir().join("audit.jsonl").display().to_string())
            );
            ExitCode::from(sig.exit_code())
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "dsconsole: {}",
                crate::tui::unexpected_error_report("terminal error", e)
            );
            ExitCode::from(1)
        }
    }
}

#[cfg(feature = "sim")]
async fn run_demo(read_only: bool, scale: usize, banner: Option<String>) -> ExitCode {
    start_logging();
    // The first frame does not wait for the simulators: at `--scale 100000` generating
    // their data takes seconds. Each demo profile's client arrives when its simulator
    // listens, and its tab loads then, as it would from a slow server.
    let mut profiles = Vec::new();
    let mut clients = Vec::new();
    for v in registry::VENDORS.iter() {
        let (tx, rx) = tokio::sync::watch::channel(None);
        // What the tab shows; the client is built once the simulator's address is known.
        let s = registry::demo_settings(v, "http://127.0.0.1", read_only);
        profiles.push(LaunchProfile {
            info: crate::app::state::ProfileInfo {
                name: s.profile.clone(),
                vendor: s.vendor,
                read_only: s.read_only,
                protected: false,
                insecure_tls: s.insecure_tls,
                setup_error: None,
            },
            client: None,
            late: Some(rx),
            concurrency: DEMO_CONCURRENCY,
            tenant: String::new(),
        });
        clients.push(tx);
    }
    let sims: Arc<std::sync::Mutex<Vec<StartedSim>>> = Arc::default();
    let keep = sims.clone();
    let runtime = tokio::runtime::Handle::current();
    // A thread of its own, not a tokio worker: generating the data is long CPU work, and
    // leaving the console must not wait for it.
    let started = std::thread::Builder::new()
        .name("demo-simulators".into())
        .spawn(move || {
            let opts = SimOptions {
                scale,
                ..SimOptions::default()
            };
            for (n, (v, client)) in registry::VENDORS.iter().zip(clients).enumerate() {
                let nth = opts.nth(u16::try_from(n).unwrap_or(u16::MAX));
                let answer = match runtime.block_on((v.sim.start)(nth)) {
                    Ok(sim) => {
                        let started = StartedSim { vendor: v, sim };
                        let profile = demo_profiles(std::slice::from_ref(&started), read_only)
                            .pop()
                            .and_then(|p| p.client.map(|c| (c, p.tenant)))
                            .ok_or_else(|| "the demo profile has no client".to_string());
                        if let Ok(mut kept) = keep.lock() {
                            kept.push(started);
                        }
                        profile
                    }
                    Err(e) => Err(format!("cannot start the simulator: {e}")),
                };
                if let Err(e) = &answer {
                    tracing::error!("demo {}: {e}", v.id().id());
                }
                let _ = client.send(Some(answer));
            }
        });
    if let Err(e) = started {
        eprintln!("dsconsole: cannot start the simulators: {e}");
        return ExitCode::from(1);
    }
    let code = run_tui(profiles, true, banner, 0).await;
    // Stop the simulators that are up (one still generating ends with the process).
    let up = sims
        .lock()
        .map(|mut s| std::mem::take(&mut *s))
        .unwrap_or_default();
    drop(up);
    code
}

/// The demo profiles' concurrency.
#[cfg(feature = "sim")]
const DEMO_CONCURRENCY: usize = 4;

#[cfg(feature = "sim")]
/// The demo's profiles: one per running simulator, with the vendor's demo login.
pub fn demo_profiles(sims: &[StartedSim], read_only: bool) -> Vec<LaunchProfile> {
    sims.iter()
        .map(|s| {
            let mut settings = registry::demo_settings(s.vendor, &s.sim.base_url, read_only);
            for (key, value) in &s.sim.demo_options {
                settings = settings.option(key, value.clone());
            }
            LaunchProfile::from_settings(Ok(settings), false, DEMO_CONCURRENCY)
        })
        .collect()
}

#[cfg(feature = "sim")]
async fn run_sim(port: u16, scale: usize) -> ExitCode {
    crate::logging::init_stderr();
    let sims = match registry::start_simulators(&SimOptions {
        scale,
        port,
        ..SimOptions::default()
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dsconsole: cannot start the simulators: {e}");
            return ExitCode::from(1);
        }
    };
    // A reader that stops after the line it wanted (a bench, `head -1`) closes the pipe:
    // the simulators keep serving, nothing panics.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for s in &sims {
            let _ = writeln!(
                out,
                "{:<13} {}  ({})",
                s.vendor.id().id(),
                s.sim.base_url,
                s.vendor.sim.demo.describe(s.vendor.config.secret)
            );
        }
        let _ = out.flush();
    }
    eprintln!("simulators running; Ctrl-C stops them");
    let _ = tokio::signal::ctrl_c().await;
    drop(sims);
    ExitCode::SUCCESS
}

/// Without the `sim` feature there are no simulators: the demo (also the fallback when there
/// is no config) and `sim` say so and what to build instead.
#[cfg(not(feature = "sim"))]
async fn run_demo(_read_only: bool, _scale: usize, banner: Option<String>) -> ExitCode {
    if let Some(banner) = banner {
        eprintln!("dsconsole: {}", banner.trim_start_matches("DEMO: "));
    }
    needs_sim("demo")
}

#[cfg(not(feature = "sim"))]
async fn run_sim(_port: u16, _scale: usize) -> ExitCode {
    needs_sim("sim")
}

#[cfg(not(feature = "sim"))]
fn needs_sim(command: &str) -> ExitCode {
    eprintln!(
        "dsconsole: `{command}` needs the built-in simulators, and this binary was built without them; build it with the `sim` feature (on by default: cargo build --release)"
    );
    ExitCode::from(2)
}

fn load_config(path: Option<PathBuf>) -> Result<Config, ExitCode> {
    let Some(path) = config::resolve_path(path.as_deref()) else {
        eprintln!("dsconsole: no config path: pass --config PATH or set DSCONSOLE_CONFIG");
        return Err(ExitCode::from(2));
    };
    Config::load(&path).map_err(|e| {
        eprintln!("dsconsole: {}", sanitize(&e.to_string()));
        ExitCode::from(2)
    })
}

fn config_check(path: Option<PathBuf>) -> ExitCode {
    crate::logging::init_stderr();
    let cfg = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    for w in &cfg.warnings {
        eprintln!("warning: {}", sanitize(w));
    }
    print!("{}", cfg.describe());
    let mut bad = false;
    for p in &cfg.profiles {
        if let Err(e) = p.client_settings(&cfg.defaults, false) {
            eprintln!("profile '{}': {}", sanitize(&p.name), sanitize(&e));
            bad = true;
        }
    }
    if bad {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

async fn run_configured(path: &std::path::Path, only: &[String], read_only: bool) -> ExitCode {
    start_logging();
    let cfg = match load_config(Some(path.to_path_buf())) {
        Ok(c) => c,
        Err(code) => return code,
    };
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    for name in only {
        if cfg.profile(name).is_none() {
            let names: Vec<&str> = cfg.profiles.iter().map(|p| p.name.as_str()).collect();
            let text = format!(
                "no profile '{name}' in {} (profiles: {})",
                path.display(),
                names.join(", ")
            );
            eprintln!("dsconsole: {}", sanitize(&text));
            return ExitCode::from(2);
        }
    }
    let profiles: Vec<LaunchProfile> = cfg
        .profiles
        .iter()
        .filter(|p| only.is_empty() || only.contains(&p.name))
        .map(|p| {
            let settings = p
                .client_settings(&cfg.defaults, read_only)
                .map_err(|e| (p.vendor, p.name.clone(), e));
            LaunchProfile::from_settings(settings, p.protected, p.concurrency(&cfg.defaults))
        })
        .collect();
    let banner = cfg.warnings.first().cloned();
    run_tui(profiles, false, banner, cfg.ui.refresh_seconds).await
}
