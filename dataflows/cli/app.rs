//! The `zonecast` command line: arguments in, a library job run and an exit code out. Both the
//! Rust binary (`main.rs`) and the Python package's `zonecast` command (through the binding)
//! call [`main_with`], so the two commands are the same program.
//!
//! Subcommands: `run` (the live job: sources, dataflow, HTTP server; with no flags, the
//! built-in demo), `aggregate` (trips -> hourly table), `generate` (synthetic TLC trips),
//! `replay` (send a file to a running socket source), `train` and `evaluate` (models),
//! `batch` (score files into SQLite) and `serve` (serve that database).
//! With no subcommand: `run` with no flags.
//!
//! A failure prints `error: ...` (the whole chain) and, when the error has one, a
//! `hint: ...` line naming the flag to change ([`hints::flag_hint`]), then exits with code 1.

mod aggregate_cmd;
mod batch_cmd;
mod evaluate_cmd;
mod generate_cmd;
mod hints;
mod model_args;
mod replay_cmd;
mod run_cmd;
mod serve_cmd;
mod shared;
mod train_cmd;

use clap::{Parser, Subcommand};

/// Real-time per-zone taxi demand on timely/differential dataflow.
// The about text is spelled out: a bare `about` takes the description of the crate compiling
// this file, and the Python binding compiles it too.
#[derive(Parser, Debug)]
#[command(
    name = "zonecast",
    version,
    about = "Real-time per-zone taxi demand: incremental aggregates and forecasts on timely/differential dataflow"
)]
struct Cli {
    /// With no subcommand: `zonecast run` with no flags (the demo, served on 127.0.0.1:8080).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve live forecasts: trips from files/socket (or a generated demo stream) through the
    /// dataflow, forecasts over HTTP with events, metrics and a dashboard.
    Run(run_cmd::RunArgs),
    /// Score bounded trip files with the same dataflow and write forecasts, hourly aggregates
    /// and a run record into a SQLite database (idempotent; `--since-last-run` for cron).
    Batch(batch_cmd::BatchArgs),
    /// Serve a SQLite prediction database over the same HTTP API as `run`.
    Serve(serve_cmd::ServeArgs),
    /// Aggregate trips (files or a socket) into per-zone hourly statistics.
    Aggregate(aggregate_cmd::AggregateArgs),
    /// Generate seeded, realistic synthetic TLC yellow-taxi trips (CSV or Parquet).
    Generate(generate_cmd::GenerateArgs),
    /// Send a trip file to a socket source (`aggregate --listen`), optionally paced.
    Replay(replay_cmd::ReplayArgs),
    /// Train a forecasting model on trips or hourly counts; report it against the baselines.
    Train(train_cmd::TrainArgs),
    /// Evaluate a model and the baselines over a range of target hours.
    Evaluate(evaluate_cmd::EvaluateArgs),
}

/// Runs the command line `args` (program name first); returns the process exit code.
pub fn main_with(args: Vec<std::ffi::OsString>) -> i32 {
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return err.exit_code();
        }
    };
    match run(cli) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {err:#}");
            if let Some(hint) = hints::flag_hint(&err) {
                eprintln!("hint: {hint}");
            }
            1
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    zonecast::logging::log_to_stderr();
    let command = cli
        .command
        .or_else(|| Cli::parse_from(["zonecast", "run"]).command);
    match command {
        None => unreachable!("`run` parses"),
        Some(Command::Run(args)) => run_cmd::run(args),
        Some(Command::Batch(args)) => batch_cmd::run(args),
        Some(Command::Serve(args)) => serve_cmd::run(args),
        Some(Command::Aggregate(args)) => aggregate_cmd::run(args),
        Some(Command::Generate(args)) => generate_cmd::run(args),
        Some(Command::Replay(args)) => replay_cmd::run(args),
        Some(Command::Train(args)) => train_cmd::run(args),
        Some(Command::Evaluate(args)) => evaluate_cmd::run(args),
    }
}
