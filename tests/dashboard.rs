//! The dashboard in a real browser: headless Chromium loads `GET /` from a running job, the
//! page fills its table from `/v1/predictions`, then applies forecast changes from the event
//! stream (the page closes the stream after `?max_forecasts=N` events so the DOM can be dumped).
//!
//! Needs Debian's `chromium` (installed by `.ci/run`); in CI a missing browser fails the test,
//! elsewhere it is skipped with a message.

mod common;

use std::process::Command;
use std::time::Duration;

use common::live::{generated_job, Served};

fn chromium() -> Option<String> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = Command::new(name).arg("--version").output();
        if found.is_ok_and(|o| o.status.success()) {
            return Some(name.to_string());
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("chromium not found: .ci/run installs Debian's chromium; CI must have it");
    }
    eprintln!("SKIPPED: chromium not found (apt-get install chromium to run this test)");
    None
}

/// The page's DOM after `url` loaded and ran until the stream closed.
fn dump_dom(browser: &str, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("timeout")
        .arg("90")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The text of the element with `id`.
fn text_of(dom: &str, id: &str) -> String {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let open = start + dom[start..].find('>').unwrap() + 1;
    let close = open + dom[open..].find('<').unwrap();
    dom[open..close].to_string()
}

#[test]
fn dashboard_shows_forecasts_and_then_their_changes() {
    let Some(browser) = chromium() else { return };
    let running = generated_job(3, 3600.0).start().unwrap();
    running.wait_for(Duration::from_secs(60), |s| s["ready"] == true);
    let dom = dump_dom(
        &browser,
        &format!("http://{}/?max_forecasts=60", running.http()),
    );
    assert!(
        dom.contains("data-state=\"ready\""),
        "the page loaded its data"
    );
    let rows = dom.matches("<tr data-zone=").count();
    assert!(rows > 100, "{rows} zone rows");
    assert_eq!(text_of(&dom, "zone-count").trim(), rows.to_string());
    let applied: u64 = text_of(&dom, "forecast-updates").trim().parse().unwrap();
    assert!(
        applied >= 60,
        "the page applied {applied} forecast changes from the stream"
    );
    assert!(
        !text_of(&dom, "watermark").contains('\u{2014}'),
        "a watermark is shown"
    );
    assert!(
        dom.contains("class=\"forecast\" d=\"M"),
        "the chart draws the selected zone's forecasts"
    );
    assert!(
        dom.contains("class=\"actual\" d=\"M"),
        "and its actual counts"
    );
}
