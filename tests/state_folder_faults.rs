//! A live job's state folder under faults, in one process: a folder that stops being
//! writable, a real full disk (a small tmpfs, where this machine allows mounting one) and an
//! endless stream. The job keeps serving and reports the failure; pushed rows wait while the
//! write-ahead log cannot take them; checkpoints and the log resume when the disk does, and a
//! restart from the folder loses and doubles nothing.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::http::get;
use common::live::{push_hours, pushed_job, served_status, wait_status};

#[test]
fn a_failing_state_folder_is_reported_while_the_job_serves_and_recovers_with_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (handle, http, sender) = pushed_job(&state, |_| {});
    let start = 473_000; // an hour in 2023
    push_hours(&sender, start, 48);
    wait_status(http, "first checkpoint", |s| {
        s["checkpoint"]["written"].as_u64() >= Some(1)
    });
    // The folder goes away and a file takes its place: every write in it fails, even as root.
    let moved = dir.path().join("moved");
    std::fs::rename(&state, &moved).unwrap();
    std::fs::write(&state, b"not a folder").unwrap();
    push_hours(&sender, start + 48, 24);
    // Both the log (its next segment) and the next checkpoint fail.
    let failing = wait_status(http, "the failure is reported", |s| {
        s["checkpoint"]["failing"] == true && s["checkpoint"]["failed"].as_u64() >= Some(1)
    });
    assert!(
        failing["checkpoint"]["failed"].as_u64() >= Some(1),
        "{failing}"
    );
    assert!(failing["checkpoint"]["last_error"]
        .as_str()
        .unwrap()
        .contains("state folder"));
    let metrics = common::http::get(http, "/metrics").text();
    assert!(
        metrics.contains("zonecast_checkpoint_failing 1"),
        "{metrics}"
    );
    // Still serving (pushed rows wait while the log cannot take them).
    assert_eq!(get(http, "/v1/predictions").status, 200);
    // The disk comes back: checkpoints resume and the failure clears.
    std::fs::remove_file(&state).unwrap();
    std::fs::rename(&moved, &state).unwrap();
    let written = failing["checkpoint"]["written"].as_u64().unwrap();
    push_hours(&sender, start + 72, 24);
    let recovered = wait_status(http, "checkpoints resume", |s| {
        s["checkpoint"]["failing"] == false && s["checkpoint"]["written"].as_u64() > Some(written)
    });
    assert!(
        recovered["checkpoint"]["last_error"].is_null(),
        "{recovered}"
    );
    // Every pushed row got in, once.
    wait_status(http, "every row read", |s| s["rows_read"] == 96 * 20);
    sender.close();
    handle.stop();
    handle.join().unwrap();
}

#[test]
fn the_state_folder_stays_bounded_on_an_endless_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, http, sender) = pushed_job(dir.path(), |job| {
        job.policy.retention_hours = 24;
        job.serving_retention_hours = 48;
    });
    let folder_bytes = || -> u64 {
        walk(dir.path())
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .sum()
    };
    let start = 473_000;
    let mut sizes = Vec::new();
    // 40 rounds of a day each: far more than every retention window.
    for round in 0..40 {
        push_hours(&sender, start + round * 24, 24);
        let rows = (round as u64 + 1) * 24 * 20;
        wait_status(http, "rows read", |s| s["rows_read"].as_u64() == Some(rows));
        std::thread::sleep(Duration::from_millis(150));
        sizes.push(folder_bytes());
        let files = walk(dir.path());
        let checkpoints = files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "zcc"))
            .count();
        let segments = files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .count();
        assert!(checkpoints <= 2, "round {round}: {checkpoints} checkpoints");
        assert!(segments <= 4, "round {round}: {segments} log segments");
    }
    // The folder's size levels off: the last rounds are no bigger than the middle ones.
    let middle = sizes[15..25].iter().max().copied().unwrap();
    let last = sizes[30..].iter().max().copied().unwrap();
    assert!(last <= middle * 3 / 2, "sizes by round: {sizes:?}");
    sender.close();
    handle.stop();
    handle.join().unwrap();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A tmpfs of `bytes` mounted on `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (with the reason printed) where this machine does not let the test mount one.
    fn mount(dir: &Path, bytes: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir)
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(out) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs for a full disk here (run the tests as root with CAP_SYS_ADMIN): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(error) => {
                eprintln!("SKIPPED: no mount command for a full-disk tmpfs: {error}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes `path` until the disk is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![7u8; 4096];
    let mut written = 0;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    let _ = file.sync_all();
    written
}

#[test]
fn a_full_disk_is_reported_the_job_keeps_serving_and_recovers_losing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), 8 << 20) else {
        return;
    };
    let state = disk.0.join("state");
    let (handle, http, sender) = pushed_job(&state, |_| {});
    let start = 473_000; // an hour in 2023
    push_hours(&sender, start, 48);
    wait_status(http, "a first checkpoint", |s| {
        s["rows_read"] == 48 * 20 && s["checkpoint"]["written"].as_u64() >= Some(1)
    });
    // The disk fills up: the next log record and the next checkpoint cannot be written.
    let filler = disk.0.join("filler");
    assert!(fill(&filler) > 0);
    push_hours(&sender, start + 48, 24);
    let full = wait_status(http, "the full disk reported", |s| {
        s["checkpoint"]["failing"] == true
            && s["checkpoint"]["wal_failures"].as_u64() >= Some(1)
            && s["checkpoint"]["failed"].as_u64() >= Some(1)
    });
    let said = full["checkpoint"]["wal_last_error"].as_str().unwrap();
    assert!(said.contains("No space left"), "{full}");
    let metrics = get(http, "/metrics").text();
    assert!(
        metrics.contains("zonecast_checkpoint_failing 1"),
        "{metrics}"
    );
    // Serving goes on; the pushed rows wait for the log (none is taken without it).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get(http, "/v1/predictions").status, 200);
    assert_eq!(served_status(http)["rows_read"], 48 * 20);
    // Space comes back: the waiting rows get in, the log and checkpoints resume.
    let written = served_status(http)["checkpoint"]["written"]
        .as_u64()
        .unwrap();
    std::fs::remove_file(&filler).unwrap();
    wait_status(http, "recovered", |s| {
        s["rows_read"] == 72 * 20
            && s["checkpoint"]["failing"] == false
            && s["checkpoint"]["written"].as_u64() > Some(written)
            && s["checkpoint"]["wal_last_error"].is_null()
    });
    push_hours(&sender, start + 72, 24);
    let before = wait_status(http, "every row read", |s| s["rows_read"] == 96 * 20);
    let predictions = get(http, "/v1/predictions").json();
    sender.close();
    handle.stop();
    handle.join().unwrap();
    // A restart from the folder (checkpoint, then the log after it) has every row once.
    let (handle, http, sender) = pushed_job(&state, |_| {});
    let after = wait_status(http, "restored", |s| s["rows_read"] == 96 * 20);
    assert_eq!(
        (&after["accepted"], &after["late"]),
        (&before["accepted"], &before["late"]),
        "{after}"
    );
    assert_eq!(
        without_clock(get(http, "/v1/predictions").json()),
        without_clock(predictions)
    );
    sender.close();
    handle.stop();
    handle.join().unwrap();
}

/// Predictions without the fields that depend on the wall clock.
fn without_clock(mut predictions: serde_json::Value) -> serde_json::Value {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for key in ["served_at", "generated_at", "age_seconds", "updated_at"] {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut predictions);
    predictions
}
