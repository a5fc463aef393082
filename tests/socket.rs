//! The socket source over real loopback TCP: several clients at once, one sending garbage and
//! one dying mid-line; the table equals the file-based result for the good rows.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{zonecast, Scratch};
use zonecast::dataflows::aggregate::AggregateJob;
use zonecast::jobs::{SocketSource, Source};
use zonecast::runtime::Cluster;
use zonecast::time::Span;
use zonecast::watermark::WatermarkPolicy;

fn keep_everything() -> WatermarkPolicy {
    WatermarkPolicy {
        allowed_lateness: Span::from_secs(3650 * 86_400),
        max_ahead: Span::from_secs(3650 * 86_400),
        min_support: 3,
    }
}

#[test]
fn concurrent_clients_with_garbage_and_a_dropped_line_match_the_file_result() {
    let dir = Scratch::new();
    let csv = dir.path("trips.csv");
    common::generate(&csv, 9000, 2, 3);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let rows: Vec<String> = lines.map(String::from).collect();

    let mut job = AggregateJob::new(Source::Socket(SocketSource {
        exit_when_idle: Some(Duration::from_millis(400)),
        ..SocketSource::new("127.0.0.1:0")
    }));
    job.policy = keep_everything();
    job.cluster = Cluster::threads(2);
    let running = job.start().unwrap();
    let addr = running
        .wait_ready(Duration::from_secs(10))
        .unwrap()
        .socket
        .expect("socket bound");

    let mut clients = Vec::new();
    for part in rows.chunks(rows.len() / 3 + 1).map(|c| c.to_vec()) {
        let header = header.clone();
        clients.push(std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            writeln!(s, "{header}").unwrap();
            for (i, row) in part.iter().enumerate() {
                writeln!(s, "{row}").unwrap();
                if i % 500 == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }));
    }
    let garbage_header = header.clone();
    clients.push(std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        writeln!(s, "{garbage_header}").unwrap();
        for i in 0..50u32 {
            s.write_all(&[0xff, b'x', (i as u8) | 0x80, b',', b'"', b'\n'])
                .unwrap();
            writeln!(s, "1,not a time,also bad").unwrap();
        }
    }));
    let dying_header = header.clone();
    clients.push(std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "{dying_header}\n1,2024-01-01 00:10:00,2024-01-01 00:2").unwrap();
        // dropped here: the partial line is lost and reported
    }));
    for c in clients {
        c.join().unwrap();
    }
    let outcome = running.join().unwrap().unwrap();
    let report = &outcome.report;
    assert!(report.balanced(), "{report:?}");
    assert_eq!(report.accepted, rows.len() as u64);
    assert_eq!(report.rejected_by_reason.get("partial_line"), Some(&1));
    assert_eq!(report.rejected(), 101, "{:?}", report.rejected_by_reason);
    assert_eq!(outcome.source_names.len(), 5);

    let mut file_job = AggregateJob::files(vec![csv]);
    file_job.policy = keep_everything();
    let from_file = file_job.run().unwrap().unwrap();
    assert_eq!(outcome.table.to_csv(), from_file.table.to_csv());
}

#[test]
fn replay_command_feeds_a_listening_aggregate() {
    let dir = Scratch::new();
    let csv = dir.path("trips.csv");
    common::generate(&csv, 3000, 1, 9);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let out = dir.path("socket.csv");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .args([
            "aggregate",
            "--listen",
            &addr,
            "--exit-when-idle",
            "1",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut tries = 0;
    while TcpStream::connect(&addr).is_err() {
        tries += 1;
        assert!(tries < 200, "server did not start");
        std::thread::sleep(Duration::from_millis(25));
    }
    zonecast(&["replay", csv.to_str().unwrap(), "--to", &addr]);
    let status = server.wait().unwrap();
    assert!(status.success());
    let file_out = dir.path("file.csv");
    zonecast(&[
        "aggregate",
        "--input",
        csv.to_str().unwrap(),
        "--quiet",
        "--out",
        file_out.to_str().unwrap(),
    ]);
    assert_eq!(dir.read("socket.csv"), dir.read("file.csv"));
}

#[test]
fn sigterm_stops_a_listening_aggregate_cleanly_with_outputs() {
    let dir = Scratch::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let out = dir.path("out.csv");
    let server = std::process::Command::new(env!("CARGO_BIN_EXE_zonecast"))
        .args([
            "aggregate",
            "--listen",
            &addr,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut client = loop {
        match TcpStream::connect(&addr) {
            Ok(s) => break s,
            Err(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    };
    writeln!(
        client,
        "pickup_datetime,pickup_zone\n2024-01-01 00:10:00,4\n2024-01-01 00:20:00,4"
    )
    .unwrap();
    drop(client);
    std::thread::sleep(Duration::from_millis(300));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = server.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        dir.read("out.csv"),
        "zone,hour,pickups,mean_distance,mean_fare,mean_total\n4,2024-01-01 00:00:00,2,,,\n"
    );
}

#[test]
fn clients_over_the_cap_are_refused_and_a_silent_client_cannot_hold_exit_when_idle() {
    let mut job = AggregateJob::new(Source::Socket(SocketSource {
        exit_when_idle: Some(Duration::from_millis(300)),
        max_clients: 2,
        client_idle_timeout: Duration::from_millis(500),
        ..SocketSource::new("127.0.0.1:0")
    }));
    job.policy = keep_everything();
    let running = job.start().unwrap();
    let addr = running
        .wait_ready(Duration::from_secs(10))
        .unwrap()
        .socket
        .expect("socket bound");
    let header = "tpep_pickup_datetime,PULocationID";
    let mut first = TcpStream::connect(addr).unwrap();
    writeln!(first, "{header}\n2024-01-01 00:10:00,4").unwrap();
    let _silent = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // A third client is told why and closed; its row never counts.
    let mut third = TcpStream::connect(addr).unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = writeln!(third, "{header}\n2024-01-01 00:20:00,5");
    let mut reply = String::new();
    let _ = std::io::Read::read_to_string(&mut third, &mut reply);
    assert!(reply.contains("2 clients connected"), "{reply:?}");
    drop(first);
    // The silent client is dropped after its idle timeout, so the source ends by itself.
    let started = std::time::Instant::now();
    let outcome = running.join().unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(outcome.report.rows_read, 1);
    assert_eq!(outcome.table.rows().len(), 1);
}
