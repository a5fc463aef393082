//! Shared by the serving benchmarks: a tiny blocking HTTP GET, status polling, and a
//! Server-Sent Events line reader (jobs start and stop through their own handles).
#![allow(dead_code)]

pub mod hour_turn;
pub mod paced;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// `GET path` with `Connection: close`; returns the body.
pub fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// `GET /v1/status` as JSON.
pub fn status(addr: SocketAddr) -> serde_json::Value {
    serde_json::from_str(&get(addr, "/v1/status")).expect("status JSON")
}

/// Waits until `check(status)` holds.
pub fn wait_for(addr: SocketAddr, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    for _ in 0..6000 {
        let s = status(addr);
        if check(&s) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for the job");
}

/// Reads `data:` lines of `forecast` events from `/v1/stream`, calling `on_event` with each.
pub fn follow_forecasts(addr: SocketAddr, mut on_event: impl FnMut(&str) + Send + 'static) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET /v1/stream HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::spawn(move || {
        let reader = BufReader::new(stream);
        let mut forecast = false;
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(kind) = line.strip_prefix("event:") {
                forecast = kind.trim() == "forecast";
            } else if let Some(data) = line.strip_prefix("data:") {
                if forecast {
                    on_event(data.trim());
                }
            }
        }
    });
}

/// Percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
