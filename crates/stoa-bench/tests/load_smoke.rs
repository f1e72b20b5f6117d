//! Keeps `stoa-load` runnable: each mode, tiny, against this workspace's `stoa` binary,
//! with the results read back from its JSON. What is checked is that the harness drives a
//! real server end to end and accounts for every post and delivery, not how fast it is.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

/// The `stoa` binary beside `stoa-load`, built if this test runs before anything built it.
fn stoa_binary() -> PathBuf {
    let load = PathBuf::from(env!("CARGO_BIN_EXE_stoa-load"));
    let stoa = load.with_file_name("stoa");
    if !stoa.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "-p", "stoa", "--bin", "stoa"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building stoa failed");
    }
    stoa
}

/// Runs `stoa-load` with `arguments` and returns its JSON results.
fn run(arguments: &[&str]) -> serde_json::Value {
    let output_dir = tempfile::tempdir().unwrap();
    let json = output_dir.path().join("results.json");
    let output = Command::new(env!("CARGO_BIN_EXE_stoa-load"))
        .arg("--stoa")
        .arg(stoa_binary())
        .args(["--baseline-seconds", "0.3", "--json-out"])
        .arg(&json)
        .args(arguments)
        .output()
        .expect("stoa-load runs");
    assert!(
        output.status.success(),
        "stoa-load {arguments:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("durable posts/s"),
        "the table is printed: {table}"
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

fn number(results: &serde_json::Value, pointer: &str) -> f64 {
    results
        .pointer(pointer)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {results:#}"))
}

/// Every post acknowledged, none refused, and every post received by every member that was
/// subscribed when it was sent. Without joins, deliveries also match the expected count
/// exactly; joiners connecting and leaving during the run make that count approximate.
fn assert_complete(results: &serde_json::Value, with_joins: bool) {
    assert!(number(results, "/posts/acknowledged") > 0.0, "{results:#}");
    assert_eq!(number(results, "/posts/errors"), 0.0, "{results:#}");
    assert_eq!(
        number(results, "/completion/fraction_complete"),
        1.0,
        "{results:#}"
    );
    let received = number(results, "/deliveries/fraction_received");
    if with_joins {
        assert!((0.95..=1.05).contains(&received), "{results:#}");
    } else {
        assert_eq!(received, 1.0, "{results:#}");
    }
    assert!(number(results, "/deliveries/post_to_delivery_ms/count") > 0.0);
    assert!(number(results, "/server/rss_connected_bytes") > 0.0);
}

#[test]
fn lync_model_with_joins_posts_over_the_websocket_and_http() {
    for post_via in ["ws", "http"] {
        let results = run(&[
            "--scale",
            "0.004",
            "--duration",
            "2s",
            "--posts-per-second",
            "40",
            "--joins-per-second",
            "2",
            "--post-via",
            post_via,
        ]);
        assert_complete(&results, true);
        assert!(number(&results, "/joins/completed") > 0.0, "{results:#}");
    }
}

#[test]
fn saturating_big_room_and_busy_room_modes_run() {
    let saturated = run(&[
        "--scale",
        "0.004",
        "--saturate",
        "--posters",
        "4",
        "--max-in-flight",
        "16",
        "--duration",
        "2s",
        "--no-network-baseline",
    ]);
    assert_complete(&saturated, false);
    let big = run(&[
        "--big-room",
        "60",
        "--posts-per-second",
        "5",
        "--duration",
        "2s",
        "--no-network-baseline",
    ]);
    assert_complete(&big, false);
    assert_eq!(number(&big, "/sessions/held"), 60.0, "{big:#}");
    let busy = run(&[
        "--busy-room",
        "12",
        "--posters",
        "4",
        "--duration",
        "2s",
        "--no-network-baseline",
    ]);
    assert_complete(&busy, false);
    assert_eq!(number(&busy, "/posts/posters"), 4.0, "{busy:#}");
    assert!(number(&busy, "/server/cpu_us_per_post") > 0.0, "{busy:#}");
}

#[test]
fn nonsense_options_are_refused_before_anything_runs() {
    for (arguments, complaint) in [
        (&["--scale", "0"][..], "must be more than 0"),
        (&["--posts-per-second=-5"][..], "must be more than 0"),
        (&["--duration", "0s"][..], "is not a positive duration"),
        (&["--big-room", "1"][..], "is not in 2.."),
        (&["--body-bytes", "70000"][..], "is not in 1..=65536"),
        (&["--joiner-fraction", "1.5"][..], "below 1"),
        (&["--saturate", "--posters", "0"][..], "1 or more"),
        (
            &["--busy-room", "8", "--post-via", "http"][..],
            "posts over WebSocket",
        ),
        (
            &["--busy-room", "8", "--saturate"][..],
            "cannot be used with",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_stoa-load"))
            .args(["--stoa", "/nonexistent/stoa"])
            .args(arguments)
            .output()
            .expect("stoa-load runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}: {stderr}");
        assert!(stderr.contains(complaint), "{arguments:?}: {stderr}");
    }
}
