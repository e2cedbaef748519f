//! The real `dsconsole` binary against one in-process MicroStrategy simulator, with a config
//! whose profile `mstr` points at it and a private data directory: what the CLI tests of
//! plans as files (`apply_cli.rs`) and of undo (`restore_cli.rs`) share.
#![allow(dead_code)]

use assert_cmd::Command;
use dsconsole::sim::microstrategy::{self, MstrSim, DEMO_PASSWORD, DEMO_USERNAME};
use dsconsole::sim::SimOptions;
use std::path::PathBuf;
use std::time::Duration;

/// Safety net against a hung child; never a timing assertion.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(120);
/// The variable the profile reads its password from (set only on the child).
pub const PW_VAR: &str = "DSCONSOLE_MSTR_CLI_PW";

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

pub struct World {
    pub sim: MstrSim,
    _rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    /// More environment for every child (`NAME`, value).
    pub env: Vec<(&'static str, &'static str)>,
}

impl World {
    pub fn new(profile_extra: &str) -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let sim = rt
            .block_on(microstrategy::start(&SimOptions::default()))
            .expect("simulator");
        let dir = tempfile::tempdir().expect("tmp");
        let config = dir.path().join("config.toml");
        let text = format!(
            "[[profiles]]\nname = \"mstr\"\nvendor = \"microstrategy\"\nbase_url = \"{}\"\n\
             username = \"{DEMO_USERNAME}\"\npassword_env = \"{PW_VAR}\"\n{profile_extra}\n",
            sim.base_url
        );
        std::fs::write(&config, text).expect("config");
        World {
            sim,
            _rt: rt,
            dir,
            config,
            env: Vec::new(),
        }
    }

    pub fn cmd(&self) -> Command {
        let home = self.dir.path().join("home");
        let mut c = Command::new(env!("CARGO_BIN_EXE_dsconsole"));
        c.arg("--config")
            .arg(&self.config)
            .env_remove("DSCONSOLE_CONFIG")
            .env_remove("DSCONSOLE_LOG")
            .env("DSCONSOLE_DATA_DIR", self.dir.path().join("data"))
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env(PW_VAR, DEMO_PASSWORD)
            .timeout(CHILD_TIMEOUT);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        let out = self.cmd().args(args).output().expect("run");
        Out {
            code: out.status.code().expect("exit code"),
            stdout: String::from_utf8(out.stdout).expect("utf-8"),
            stderr: String::from_utf8(out.stderr).expect("utf-8"),
        }
    }

    /// POST/PATCH/PUT/DELETE requests other than the session's.
    pub fn mutations(&self) -> Vec<(String, String)> {
        self.sim
            .control
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET" && !r.path.contains("/api/auth/"))
            .map(|r| (r.method, r.path))
            .collect()
    }
}
