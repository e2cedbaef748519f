//! Issue 18's `list` figure: `dsconsole list PROFILE --output ndjson` of 300,000
//! MicroStrategy objects (`dsconsole sim --scale 100000`, a separate process), against the
//! wire: a plain client that logs in and GETs the same three list answers concurrently,
//! reading and discarding the bodies (what `curl` of them does).
//!
//! Each run spawns the real binary with stdout to /dev/null and reads its wall time, CPU
//! time and peak resident size (`wait4`'s `ru_maxrss`, the same as VmHWM). Runs alternate
//! baseline and `list`; min / median / max are printed. `DSCONSOLE_BASE_BIN=/path/to/old`
//! adds a third column: another build's `list`, alternated in the same run (before/after).
//!
//! Run: `cargo bench --bench list` (`-- --scale 33334 --runs 5` to change the size or runs).

use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn Error>>;

const USER: &str = "administrator";
const PASSWORD: &str = "demo-password";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `dsconsole sim --scale SCALE` in its own process; returns it and its MicroStrategy URL.
fn start_sim(scale: usize) -> Res<(Child, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsconsole"))
        .args(["sim", "--scale", &scale.to_string()])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let Some(out) = child.stdout.take() else {
        let _ = child.kill();
        return Err("no stdout from dsconsole sim".into());
    };
    let mut lines = BufReader::new(out).lines();
    while let Some(line) = lines.next().transpose()? {
        if let Some(url) = line
            .strip_prefix("microstrategy ")
            .and_then(|rest| rest.split_whitespace().next())
        {
            std::thread::spawn(move || for _ in lines {});
            return Ok((child, url.to_string()));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Err("dsconsole sim printed no MicroStrategy URL".into())
}

/// One run of a child: wall seconds, CPU seconds (user + system), peak resident MiB.
struct Run {
    wall: f64,
    cpu: f64,
    peak_mib: f64,
}

/// Spawn `bin list m --output ndjson` with stdout to /dev/null and wait for it with `wait4`.
fn list_run(bin: &str, config: &std::path::Path) -> Res<Run> {
    let started = Instant::now();
    let child = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args(["list", "m", "--output", "ndjson"])
        .env("DSCONSOLE_BENCH_PW", PASSWORD)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pid = libc::pid_t::try_from(child.id())?;
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; both pointers are valid.
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed().as_secs_f64();
    if got != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{bin} list failed (status {status})").into());
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Run {
        wall,
        cpu: secs(usage.ru_utime) + secs(usage.ru_stime),
        peak_mib: usage.ru_maxrss as f64 / 1024.0,
    })
}

/// Log in and GET the three lists concurrently, reading and discarding the bodies.
fn wire_run(rt: &tokio::runtime::Runtime, api: &str) -> Res<(f64, u64)> {
    let started = Instant::now();
    let bytes = rt.block_on(async {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(300))
            .build()?;
        let login = client
            .post(format!("{api}/auth/login"))
            .json(&serde_json::json!({"loginMode": 1, "username": USER, "password": PASSWORD}))
            .send()
            .await?;
        let token = login
            .headers()
            .get("x-mstr-authtoken")
            .ok_or("no token")?
            .clone();
        let get = |path: &str| {
            let req = client
                .get(format!("{api}{path}"))
                .header("x-mstr-authtoken", token.clone());
            async move {
                let mut resp = req.send().await?;
                let mut n = 0u64;
                while let Some(chunk) = resp.chunk().await? {
                    n += chunk.len() as u64;
                }
                Ok::<u64, reqwest::Error>(n)
            }
        };
        let (a, b, c) = futures::future::try_join3(
            get("/datasources"),
            get("/datasources/connections"),
            get("/datasources/logins"),
        )
        .await?;
        Ok::<u64, Box<dyn Error>>(a + b + c)
    })?;
    Ok((started.elapsed().as_secs_f64(), bytes))
}

fn stats(xs: &[f64]) -> String {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    format!(
        "min {:.2} / median {:.2} / max {:.2}",
        v[0],
        median,
        v[v.len() - 1]
    )
}

fn main() -> Res<()> {
    if !std::env::args().any(|a| a == "--bench") {
        println!("list: run with `cargo bench --bench list`");
        return Ok(());
    }
    let scale = arg("--scale", 100_000);
    let runs = arg("--runs", 3).max(1);
    let (mut sim, url) = start_sim(scale)?;
    let result = measure(&url, runs, scale);
    let _ = sim.kill();
    let _ = sim.wait();
    result
}

fn measure(url: &str, runs: usize, scale: usize) -> Res<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("config.toml");
    let mut f = std::fs::File::create(&config)?;
    write!(
        f,
        "[defaults]\ntimeout_seconds = 300\n\n[[profiles]]\nname = \"m\"\nvendor = \"microstrategy\"\n\
         base_url = \"{url}\"\nusername = \"{USER}\"\npassword_env = \"DSCONSOLE_BENCH_PW\"\n"
    )?;
    drop(f);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let api = format!("{url}/api");
    let this = env!("CARGO_BIN_EXE_dsconsole").to_string();
    let base = std::env::var("DSCONSOLE_BASE_BIN").ok();
    // One warm-up of each, not counted (the simulator builds its answers lazily).
    wire_run(&rt, &api)?;
    list_run(&this, &config)?;
    let (mut wire, mut ours, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    for _ in 0..runs {
        let (t, n) = wire_run(&rt, &api)?;
        wire.push(t);
        bytes = n;
        ours.push(list_run(&this, &config)?);
        if let Some(b) = &base {
            theirs.push(list_run(b, &config)?);
        }
    }
    println!(
        "{} objects ({} per kind), three answers of {:.1} MB in all, {runs} runs each, alternated",
        3 * scale,
        scale,
        bytes as f64 / 1e6
    );
    println!(
        "wire (login + 3 GETs, bodies read and dropped): wall s {}",
        stats(&wire)
    );
    let show = |name: &str, rs: &[Run]| {
        let pick = |f: fn(&Run) -> f64| rs.iter().map(f).collect::<Vec<_>>();
        println!(
            "{name}: wall s {}; cpu s {}; peak MiB {}",
            stats(&pick(|r| r.wall)),
            stats(&pick(|r| r.cpu)),
            stats(&pick(|r| r.peak_mib)),
        );
    };
    show("list --output ndjson (this build)", &ours);
    if let Some(b) = &base {
        show(&format!("list --output ndjson ({b})"), &theirs);
    }
    Ok(())
}
