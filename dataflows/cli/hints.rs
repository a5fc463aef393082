//! Flag hints: a failed command's error in, the command-line flag that addresses it out.
//!
//! The library's errors say what to do in plain words ("raise the lock timeout"); only the
//! command line knows which flag that is. [`flag_hint`] walks the error chain, looks inside the
//! job wrapper (`JobError`, `SourceError::Schema`), and names the flag.

use std::error::Error;

use zonecast::features::hourly_input::HourlyInputError;
use zonecast::format::UnknownFormat;
use zonecast::generator::GeneratorError;
use zonecast::jobs::JobError;
use zonecast::live::zones::ZoneLookupError;
use zonecast::model::ModelError;
use zonecast::runtime::RuntimeError;
use zonecast::schema::SchemaError;
use zonecast::server::ServerError;
use zonecast::sources::SourceError;
use zonecast::store::StoreError;

/// The flag to use for `err`, if one of the library errors in its chain has one.
pub fn flag_hint(err: &anyhow::Error) -> Option<String> {
    err.chain().find_map(hint_for)
}

/// The hint for one error of the chain (looking inside transparent wrappers, whose `source`
/// skips the wrapped error itself).
fn hint_for(err: &(dyn Error + 'static)) -> Option<String> {
    if let Some(e) = err.downcast_ref::<JobError>() {
        return job(e);
    }
    if let Some(e) = err.downcast_ref::<SourceError>() {
        return source(e);
    }
    if let Some(e) = err.downcast_ref::<SchemaError>() {
        return schema(e);
    }
    if let Some(e) = err.downcast_ref::<RuntimeError>() {
        return runtime(e);
    }
    if let Some(e) = err.downcast_ref::<StoreError>() {
        return store(e);
    }
    if let Some(e) = err.downcast_ref::<ServerError>() {
        return server(e);
    }
    if let Some(e) = err.downcast_ref::<ModelError>() {
        return model(e);
    }
    if let Some(e) = err.downcast_ref::<HourlyInputError>() {
        return hourly(e);
    }
    if let Some(e) = err.downcast_ref::<GeneratorError>() {
        return generator(e);
    }
    if err.downcast_ref::<UnknownFormat>().is_some() {
        return Some(format_hint());
    }
    if let Some(e) = err.downcast_ref::<ZoneLookupError>() {
        return zones(e);
    }
    None
}

fn zones(e: &ZoneLookupError) -> Option<String> {
    match e {
        ZoneLookupError::MissingColumn { .. } => {
            Some("pass TLC's taxi_zone_lookup.csv with --zones".into())
        }
        _ => None,
    }
}

fn job(e: &JobError) -> Option<String> {
    match e {
        JobError::Source(e) => source(e),
        JobError::Hourly(e) => hourly(e),
        JobError::Runtime(e) => runtime(e),
        JobError::Server(e) => server(e),
        JobError::Store(e) => store(e),
        JobError::Model(e) => model(e),
        JobError::Zones(e) => zones(e),
        JobError::Checkpoint(e) => checkpoint(e),
        JobError::Failed(_)
        | JobError::Panicked(_)
        | JobError::Output { .. }
        | JobError::Stopped
        | JobError::Unbounded
        | JobError::NotReady(_)
        | JobError::EndedBeforeReady => None,
    }
}

fn checkpoint(e: &zonecast::checkpoint::CheckpointError) -> Option<String> {
    use zonecast::checkpoint::CheckpointError;
    match e {
        CheckpointError::Mismatch { setting, .. } => {
            let flags = match *setting {
                "the feature spec" => "the same --model (its lags, same-hour weeks and trends)",
                "lateness rules" => {
                    "the same --allowed-lateness, --max-ahead and --watermark-support"
                }
                "retention hours" => "the same --retention-hours",
                "batch rows" => "the same --batch-rows",
                _ => "the same --input files (unchanged) and --listen",
            };
            Some(format!(
                "restart with {flags}, or give --state-dir a new folder"
            ))
        }
        CheckpointError::InUse { .. } => Some(
            "each running job needs its own --state-dir; a killed job's lock is released when its process ends".into(),
        ),
        CheckpointError::Io { .. } => {
            Some("check --state-dir: it must be a writable folder with space".into())
        }
    }
}

fn source(e: &SourceError) -> Option<String> {
    match e {
        SourceError::Schema(e) => schema(e),
        SourceError::UnsupportedColumn { .. } => {
            Some("map another column to the field with --column FIELD=NAME".into())
        }
        SourceError::UnknownFormat(_) => Some(
            "pass --format csv or --format parquet, or name the file *.csv or *.parquet".into(),
        ),
        SourceError::Bind { .. } => {
            Some("pick a free port with --listen 127.0.0.1:PORT (0 picks one)".into())
        }
        SourceError::OnePassInput(..) => Some("use --processes 1".into()),
        SourceError::Io { .. }
        | SourceError::StdinTwice
        | SourceError::Compressed(_)
        | SourceError::HeaderTooLong(_)
        | SourceError::Parquet { .. }
        | SourceError::Empty(_)
        | SourceError::Producer(_)
        | SourceError::Chain
        | SourceError::ChannelTaken => None,
    }
}

fn schema(e: &SchemaError) -> Option<String> {
    match e {
        SchemaError::MissingColumn { field, .. } => Some(format!("use --column {field}=NAME")),
        _ => Some("use --column FIELD=NAME".into()),
    }
}

fn runtime(e: &RuntimeError) -> Option<String> {
    match e {
        RuntimeError::NoHostfile(_) => {
            Some("use --hostfile FILE (one host:port per process, process 0 first)".into())
        }
        RuntimeError::TooFewHosts { .. } | RuntimeError::Hostfile { .. } => Some(
            "list one host:port per --processes in the --hostfile FILE, process 0 first".into(),
        ),
        RuntimeError::BadProcessIndex { processes, .. } => Some(format!(
            "use --process 0 to {} with --processes {processes}",
            processes.saturating_sub(1)
        )),
        RuntimeError::Timely(_) => None,
    }
}

fn store(e: &StoreError) -> Option<String> {
    match e {
        StoreError::Locked { .. } => Some("raise --lock-timeout-secs".into()),
        StoreError::Corrupt { .. } | StoreError::Foreign { .. } => Some("pass another --db".into()),
        StoreError::Missing(path) | StoreError::Empty(path) => Some(format!(
            "write it with `zonecast batch --db {}` first",
            path.display()
        )),
        StoreError::HotJournal(path) => Some(format!(
            "run `zonecast batch --db {}` to finish the rollback",
            path.display()
        )),
        StoreError::Sqlite { .. } | StoreError::Lock { .. } | StoreError::Writer(_) => None,
    }
}

fn server(e: &ServerError) -> Option<String> {
    match e {
        ServerError::Bind { .. } => {
            Some("pick a free port with --http 127.0.0.1:PORT (0 picks one)".into())
        }
        ServerError::Runtime(_) => None,
    }
}

fn model(e: &ModelError) -> Option<String> {
    match e {
        ModelError::Corrupt { .. } => {
            Some("train a model with `zonecast train --out FILE` and pass it with --model".into())
        }
        ModelError::SpecMismatch { .. } => {
            Some("retrain with `zonecast train --lags ...` matching the pipeline".into())
        }
        ModelError::TooLittleHistory { .. } => {
            Some("give more --input, a later --until or shorter --lags".into())
        }
        _ => None,
    }
}

fn hourly(e: &HourlyInputError) -> Option<String> {
    match e {
        HourlyInputError::MissingColumn { .. } => {
            Some("name the table's columns with --zone-col, --hour-col and --count-col".into())
        }
        HourlyInputError::UnknownFormat(_) => Some(format_hint()),
        HourlyInputError::Io { .. } | HourlyInputError::Unreadable { .. } => None,
    }
}

fn generator(e: &GeneratorError) -> Option<String> {
    match e {
        GeneratorError::UnknownFormat(_) => Some(format_hint()),
        GeneratorError::Io { .. } | GeneratorError::Parquet { .. } => None,
    }
}

fn format_hint() -> String {
    "name the file *.csv or *.parquet".into()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    #[test]
    fn hints_name_the_flag_through_wrappers_and_context() {
        let locked = StoreError::Locked {
            path: PathBuf::from("p.sqlite"),
            waited: Duration::from_secs(1),
        };
        let err = anyhow::Error::from(JobError::Store(locked)).context("batch failed");
        assert_eq!(
            flag_hint(&err).as_deref(),
            Some("raise --lock-timeout-secs")
        );

        let err = anyhow::Error::from(JobError::Runtime(RuntimeError::NoHostfile(2)));
        assert!(flag_hint(&err).unwrap().contains("--hostfile"));

        let err = anyhow::Error::from(JobError::Server(ServerError::Bind {
            addr: "127.0.0.1:1".into(),
            source: std::io::Error::other("in use"),
        }));
        assert!(flag_hint(&err).unwrap().contains("--http 127.0.0.1:PORT"));

        let err = anyhow::Error::from(JobError::Failed("x".into()));
        assert_eq!(flag_hint(&err), None);
    }
}
