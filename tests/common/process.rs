//! `zonecast` as a child process: started with its standard error read line by line on a
//! thread, and the HTTP address it prints.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// Starts `command` (standard output discarded); its stderr lines arrive on the receiver.
pub fn spawn_command(mut command: Command) -> (Child, Receiver<String>) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start zonecast");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// The HTTP address the process prints (its `dashboard` line).
pub fn http_addr(lines: &Receiver<String>) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        if let Some(url) = line.trim().strip_prefix("dashboard") {
            let url = url
                .trim()
                .trim_start_matches("http://")
                .trim_end_matches('/');
            return url.parse().unwrap();
        }
    }
    panic!("the process never printed its address");
}

/// A hostfile in `dir` for a 2-process job on this machine (two free ports).
pub fn two_process_hostfile(dir: &std::path::Path) -> std::path::PathBuf {
    let hosts = dir.join("hosts.txt");
    let ports = (super::free_port(), super::free_port());
    std::fs::write(
        &hosts,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", ports.0, ports.1),
    )
    .unwrap();
    hosts
}
