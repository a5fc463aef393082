//! Load on the read path: keep-alive `GET /v1/predictions/{zone}` from many connections over
//! loopback while the dataflow ingests a generated stream; requests/s, errors and latency
//! percentiles out. Run: `cargo bench --bench http_load` (`LOAD_SECS` default 60,
//! `LOAD_CONNECTIONS` default 32).

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{percentile, wait_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zonecast::dataflows::live::LiveJob;
use zonecast::features::FeatureSpec;
use zonecast::jobs::Source;
use zonecast::model::{Baseline, ModelFile};
use zonecast::sources::generated::GeneratedInput;
use zonecast::time::days_from_civil;

/// One connection's results: latencies (µs) and errors.
async fn client(
    addr: std::net::SocketAddr,
    zones: Vec<u16>,
    until: Instant,
    offset: usize,
) -> (Vec<u32>, u64) {
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut errors = 0u64;
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return (latencies, 1);
    };
    stream.set_nodelay(true).unwrap();
    let requests: Vec<Vec<u8>> = zones
        .iter()
        .map(|z| format!("GET /v1/predictions/{z} HTTP/1.1\r\nHost: bench\r\n\r\n").into_bytes())
        .collect();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut i = offset;
    while Instant::now() < until {
        let started = Instant::now();
        if stream
            .write_all(&requests[i % requests.len()])
            .await
            .is_err()
        {
            errors += 1;
            break;
        }
        i += 1;
        // Read one response: headers, then Content-Length bytes.
        let mut filled = 0;
        let ok = loop {
            match stream.read(&mut buffer[filled..]).await {
                Ok(0) | Err(_) => break false,
                Ok(n) => filled += n,
            }
            let Some(end) = buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = std::str::from_utf8(&buffer[..end]).unwrap_or("");
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if filled >= end + 4 + length {
                break head.starts_with("HTTP/1.1 200");
            }
        };
        if ok {
            latencies.push(started.elapsed().as_micros() as u32);
        } else {
            errors += 1;
            break;
        }
    }
    (latencies, errors)
}

fn main() {
    let secs: u64 = std::env::var("LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let connections: usize = std::env::var("LOAD_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let model = ModelFile::baseline(
        Baseline::FourWeekMean,
        FeatureSpec::new(FeatureSpec::parse_lags("1-24").unwrap(), 1),
    );
    let mut job = LiveJob::new(model).serving("127.0.0.1:0");
    let start = days_from_civil(2024, 1, 1) * 86_400;
    job.source = Source::Generated(GeneratedInput::backfill_then_live(
        42, start, 3, 17_000, 3600.0,
    ));
    job.cluster = zonecast::runtime::Cluster::threads(2);
    let handle = job.start().unwrap();
    let http = handle
        .wait_ready(Duration::from_secs(120))
        .unwrap()
        .http
        .unwrap();
    wait_for(http, |s| s["ready"] == true);
    let list: serde_json::Value =
        serde_json::from_str(&support::get(http, "/v1/predictions")).unwrap();
    let zones: Vec<u16> = list["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["zone"].as_u64().unwrap() as u16)
        .collect();
    let before = support::status(http);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|c| tokio::spawn(client(http, zones.clone(), until, c * 7)))
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap());
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    let after = support::status(http);
    let errors: u64 = results.iter().map(|r| r.1).sum();
    let mut latencies: Vec<f64> = results
        .into_iter()
        .flat_map(|r| r.0)
        .map(|us| us as f64 / 1000.0)
        .collect();
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let ingested = after["rows_read"].as_u64().unwrap() - before["rows_read"].as_u64().unwrap();
    let epochs = after["epoch"].as_u64().unwrap() - before["epoch"].as_u64().unwrap();
    println!("load: GET /v1/predictions/{{zone}}, {connections} keep-alive connections, {secs} s, one client thread");
    println!("requests       {}", latencies.len());
    println!("requests/s     {:.0}", latencies.len() as f64 / elapsed);
    println!("errors         {errors}");
    println!(
        "latency ms     p50 {:.3}  p99 {:.3}  max {:.3}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "meanwhile      {ingested} trips ingested ({:.0}/s), {epochs} epochs published",
        ingested as f64 / elapsed
    );
    handle.stop();
    handle.join().unwrap();
}
