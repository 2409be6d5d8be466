//! The figures of every round, their medians, the ratio, and the machine they ran on.

use std::collections::BTreeMap;

use serde::Serialize;

use super::check::Checked;
use super::ldif::Load;
use super::{ours, theirs, Args, TARGET_RATIO};
use crate::commands::Output;

/// One round: Command Center's run and ldapadd's, each with its check.
#[derive(Default)]
pub struct Round {
    pub ours: Option<(ours::Measured, Checked)>,
    pub theirs: Option<(theirs::Measured, Checked)>,
}

/// One side's run, as reported.
#[derive(Debug, Serialize)]
pub struct Run {
    pub seconds: f64,
    pub accounts_per_sec: f64,
    pub ldap_operations: u64,
    pub ldap_operations_per_account: f64,
    pub ldap_operations_by_kind: BTreeMap<String, u64>,
    /// Connections the server accepted.
    pub ldap_connections: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_latency_ms_p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_latency_ms_p99: Option<f64>,
    pub check: Checked,
}

/// One side: every run and the medians.
#[derive(Debug, Serialize)]
pub struct Side {
    pub runs: Vec<Run>,
    pub median_seconds: f64,
    pub median_accounts_per_sec: f64,
    pub median_ldap_operations_per_account: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_job_latency_ms_p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_job_latency_ms_p99: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: Option<String>,
    /// `/proc/loadavg`'s first three figures at the end.
    pub load_average: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub people: u64,
    pub accounts: u64,
    pub ous: u64,
    pub groups: u64,
    pub rounds: u32,
    pub concurrency: u32,
    pub ldap_connections: u32,
    pub backend: &'static str,
    pub command_center: Side,
    pub ldapadd: Side,
    /// Command Center's median accounts per second over ldapadd's.
    pub ratio: f64,
    /// The same ratio within each round.
    pub round_ratios: Vec<f64>,
    pub target_ratio: f64,
    /// Whether every account was correct in every round, on both servers.
    pub check_passed: bool,
    pub machine: Machine,
}

#[allow(clippy::cast_precision_loss)]
pub fn rate(accounts: u64, seconds: f64) -> f64 {
    accounts as f64 / seconds.max(f64::EPSILON)
}

#[allow(clippy::cast_precision_loss)]
pub fn per(operations: u64, accounts: u64) -> f64 {
    operations as f64 / accounts.max(1) as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn side(runs: Vec<Run>) -> Side {
    let of = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
    let opt = |f: fn(&Run) -> Option<f64>| {
        let v: Vec<f64> = runs.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| median(v))
    };
    Side {
        median_seconds: of(|r| r.seconds),
        median_accounts_per_sec: of(|r| r.accounts_per_sec),
        median_ldap_operations_per_account: of(|r| r.ldap_operations_per_account),
        median_job_latency_ms_p50: opt(|r| r.job_latency_ms_p50),
        median_job_latency_ms_p99: opt(|r| r.job_latency_ms_p99),
        runs,
    }
}

fn run_of(accounts: u64, seconds: f64, ldap: &super::slapd::Counts, check: Checked) -> Run {
    Run {
        seconds,
        accounts_per_sec: rate(accounts, seconds),
        ldap_operations: ldap.total(),
        ldap_operations_per_account: per(ldap.total(), accounts),
        ldap_operations_by_kind: ldap.operations.clone(),
        ldap_connections: ldap.connections,
        apply_seconds: None,
        job_latency_ms_p50: None,
        job_latency_ms_p99: None,
        check,
    }
}

impl Report {
    pub fn new(args: &Args, load: Load, rounds: Vec<Round>) -> Self {
        let mut ours_runs = Vec::new();
        let mut theirs_runs = Vec::new();
        let mut round_ratios = Vec::new();
        for r in rounds {
            let (Some((o, oc)), Some((t, tc))) = (r.ours, r.theirs) else {
                continue;
            };
            let mut run = run_of(o.accounts, o.seconds, &o.ldap, oc);
            run.apply_seconds = Some(o.apply_seconds);
            run.job_latency_ms_p50 = Some(o.job_latency_ms_p50);
            run.job_latency_ms_p99 = Some(o.job_latency_ms_p99);
            let theirs = run_of(load.accounts, t.seconds, &t.ldap, tc);
            round_ratios.push(run.accounts_per_sec / theirs.accounts_per_sec);
            ours_runs.push(run);
            theirs_runs.push(theirs);
        }
        let check_passed = ours_runs
            .iter()
            .chain(&theirs_runs)
            .all(|r| r.check.passed());
        let command_center = side(ours_runs);
        let ldapadd = side(theirs_runs);
        Self {
            people: args.people,
            accounts: load.accounts,
            ous: load.ous,
            groups: load.groups,
            rounds: args.rounds,
            concurrency: args.concurrency,
            ldap_connections: args.ldap_connections,
            backend: if args.bench_database_url.is_some() {
                "postgres"
            } else {
                "sqlite"
            },
            ratio: command_center.median_accounts_per_sec / ldapadd.median_accounts_per_sec,
            command_center,
            ldapadd,
            round_ratios,
            target_ratio: TARGET_RATIO,
            check_passed,
            machine: machine(),
        }
    }

    pub fn print(&self, output: Output) -> anyhow::Result<()> {
        match output {
            Output::Json => println!("{}", serde_json::to_string_pretty(self)?),
            Output::Table => self.print_table(),
        }
        Ok(())
    }

    fn print_table(&self) {
        println!(
            "{} people → {} accounts, {} OUs, {} groups; {} round(s); concurrency {}, {} LDAP \
             connection(s) at most; {}",
            self.people,
            self.accounts,
            self.ous,
            self.groups,
            self.rounds,
            self.concurrency,
            self.ldap_connections,
            self.backend
        );
        println!(
            "{:<16} {:>11} {:>9} {:>13} {:>12} {:>14}   rounds accounts/s",
            "", "accounts/s", "seconds", "LDAP ops/acct", "connections", "job p50/p99 ms"
        );
        for (name, s) in [
            ("command-center", &self.command_center),
            ("ldapadd", &self.ldapadd),
        ] {
            let rounds: Vec<String> = s
                .runs
                .iter()
                .map(|r| format!("{:.0}", r.accounts_per_sec))
                .collect();
            let connections = median(
                s.runs
                    .iter()
                    .map(|r| {
                        #[allow(clippy::cast_precision_loss)]
                        let c = r.ldap_connections as f64;
                        c
                    })
                    .collect(),
            );
            let latency = match (s.median_job_latency_ms_p50, s.median_job_latency_ms_p99) {
                (Some(a), Some(b)) => format!("{a:.0}/{b:.0}"),
                _ => "-".into(),
            };
            println!(
                "{:<16} {:>11.0} {:>9.1} {:>13.2} {:>12.0} {:>14}   {}",
                name,
                s.median_accounts_per_sec,
                s.median_seconds,
                s.median_ldap_operations_per_account,
                connections,
                latency,
                rounds.join(" ")
            );
        }
        let rounds: Vec<String> = self
            .round_ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect();
        println!(
            "command-center / ldapadd: {:.2}× (medians; target ≥ {:.1}×); per round: {}",
            self.ratio,
            self.target_ratio,
            rounds.join(" ")
        );
        println!(
            "check: {}",
            if self.check_passed {
                format!(
                    "every account and its groups correct on both servers in every round ({} accounts)",
                    self.accounts
                )
            } else {
                "FAILED".into()
            }
        );
        println!(
            "machine: {} CPU(s), {}, load average {}",
            self.machine.cpus,
            self.machine.cpu_model.as_deref().unwrap_or("unknown CPU"),
            self.machine.load_average.as_deref().unwrap_or("unknown")
        );
    }
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_owned());
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    Machine {
        cpus: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        cpu_model,
        load_average,
    }
}
