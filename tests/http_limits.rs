//! Hostile or careless HTTP clients cannot take the server down: a connection that sends
//! nothing (or half a request head) is closed after the header-read timeout, an idle keep-alive
//! connection after the idle timeout, connections over the cap get a clear `503`, and an event
//! stream with nothing to say stays open on keep-alives.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::http::{get, SseClient};
use common::live::{generated_job, Served};
use zonecast::server::ConnectionLimits;

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        max_connections: 8,
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(600),
    }
}

/// Reads until the server closes the connection; returns what it sent and how long it took.
fn until_closed(mut stream: TcpStream) -> (String, Duration) {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut text = Vec::new();
    let _ = stream.read_to_end(&mut text);
    (
        String::from_utf8_lossy(&text).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn silent_and_half_sent_connections_are_closed_after_the_header_timeout() {
    let mut job = generated_job(1, 300.0);
    job.http_limits = limits();
    let running = job.start().unwrap();
    let http = running.http();
    let silent = TcpStream::connect(http).unwrap();
    let mut half = TcpStream::connect(http).unwrap();
    half.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x")
        .unwrap();
    for stream in [silent, half] {
        let (_, took) = until_closed(stream);
        assert!(took < Duration::from_secs(5), "closed after {took:?}");
    }
    // An idle keep-alive connection is closed too, after answering its request.
    let mut idle = TcpStream::connect(http).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (text, took) = until_closed(idle);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    assert_eq!(get(http, "/healthz").status, 200);
}

/// A client that connects and sends nothing is closed at the header timeout, long before the
/// idle timeout.
#[test]
fn a_silent_connection_is_closed_at_the_header_timeout_not_the_idle_timeout() {
    let mut job = generated_job(1, 300.0);
    job.http_limits = ConnectionLimits {
        idle_timeout: Duration::from_secs(60),
        ..limits()
    };
    let running = job.start().unwrap();
    let (_, took) = until_closed(TcpStream::connect(running.http()).unwrap());
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
}

#[test]
fn connections_over_the_cap_get_a_503_and_the_server_recovers() {
    let mut job = generated_job(1, 300.0);
    job.http_limits = ConnectionLimits {
        idle_timeout: Duration::from_secs(30),
        header_read_timeout: Duration::from_secs(30),
        ..limits()
    };
    let running = job.start().unwrap();
    let http = running.http();
    let held: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(http).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut over = TcpStream::connect(http).unwrap();
    over.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (text, _) = until_closed(over);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("too_many_connections"), "{text}");
    drop(held);
    // The held connections' slots come back as soon as they close.
    let started = Instant::now();
    loop {
        let mut probe = TcpStream::connect(http).unwrap();
        probe
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        if until_closed(probe).0.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no recovery");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_quiet_event_stream_outlives_the_idle_timeout_on_keep_alives() {
    let mut job = generated_job(1, 300.0);
    job.http_limits = limits();
    let running = job.start().unwrap();
    let mut client = SseClient::connect(running.http());
    let started = Instant::now();
    // Events keep coming (status, keep-alives) for three idle timeouts.
    while started.elapsed() < Duration::from_millis(1_800) {
        assert!(client.next_event().is_some(), "the stream ended");
    }
}
