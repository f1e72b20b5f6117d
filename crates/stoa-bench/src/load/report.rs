//! The results as a table on stdout, read from the JSON document the run produced.

/// Prints the figures of `results` (the JSON document written by `--json-out`).
pub fn print_table(results: &serde_json::Value) {
    let number = |path: &str| results.pointer(path).and_then(serde_json::Value::as_f64);
    let text = |path: &str| {
        results
            .pointer(path)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let show = |path: &str, decimals: usize| {
        number(path).map_or("—".to_owned(), |value| format!("{value:.decimals$}"))
    };
    let mib = |path: &str| {
        number(path).map_or("—".to_owned(), |bytes| {
            format!("{:.1}", bytes / (1024.0 * 1024.0))
        })
    };
    println!();
    let load = match number("/model/posts_per_second_target") {
        Some(rate) => format!("{rate:.1} posts/s target"),
        None => format!(
            "saturating: {} posters × {} in flight, fan-out {}",
            show("/posts/posters", 0),
            show("/posts/in_flight_per_poster", 0),
            show("/model/mean_fanout", 0),
        ),
    };
    println!(
        "Stoa, mode {} (scale {}; {} users, {} connected; rooms {}/{}/{}/{} small/medium/large/poster; \
         {} subscriptions; mean fan-out {}; {load}; posts over {})",
        text("/mode"),
        show("/model/scale", 3),
        show("/model/users", 0),
        show("/sessions/initial", 0),
        show("/model/rooms/small", 0),
        show("/model/rooms/medium", 0),
        show("/model/rooms/large", 0),
        show("/model/rooms/poster", 0),
        show("/model/subscriptions", 0),
        show("/model/mean_fanout", 1),
        text("/posts/via"),
    );
    println!("{:<48} {:>16} {:>14}", "figure", "value", "÷ baseline");
    let row = |name: &str, value: String, ratio: String| {
        println!("{name:<48} {value:>16} {ratio:>14}");
    };
    row(
        "baseline: SQLite rows/s (WAL, FULL, 1 per commit)",
        show("/baselines/sqlite_rows_per_second", 0),
        "1.000".to_owned(),
    );
    if number("/baselines/sqlite_rows_per_second_batched").is_some() {
        row(
            &format!(
                "baseline: SQLite rows/s, {} per commit",
                show("/baselines/sqlite_rows_per_transaction_batched", 0)
            ),
            show("/baselines/sqlite_rows_per_second_batched", 0),
            "1.000".to_owned(),
        );
    }
    row(
        &format!(
            "baseline: bare WebSocket fan-out, {} conns",
            show("/baselines/websocket_fanout_connections", 0)
        ),
        show("/baselines/websocket_fanout_deliveries_per_second", 0),
        "1.000".to_owned(),
    );
    row(
        "durable posts/s (÷ 1-per-commit baseline)",
        show("/posts/durable_per_second", 1),
        show("/baselines/durable_posts_over_storage_limit", 4),
    );
    if number("/baselines/durable_posts_over_batched_storage_limit").is_some() {
        row(
            "durable posts/s (÷ batched baseline)",
            show("/posts/durable_per_second", 1),
            show("/baselines/durable_posts_over_batched_storage_limit", 4),
        );
    }
    row(
        "posts acknowledged / errors / skipped",
        format!(
            "{} / {} / {}",
            show("/posts/acknowledged", 0),
            show("/posts/errors", 0),
            show("/posts/skipped_in_flight_limit", 0)
        ),
        String::new(),
    );
    row(
        "deliveries/s",
        show("/deliveries/per_second", 0),
        show("/baselines/deliveries_over_network_limit", 4),
    );
    row(
        "deliveries received ÷ expected",
        show("/deliveries/fraction_received", 4),
        String::new(),
    );
    row(
        "posts reaching every subscribed member",
        format!(
            "{} / {}",
            show("/completion/posts_reaching_every_member", 0),
            show("/completion/posts_followed", 0)
        ),
        String::new(),
    );
    row(
        "setup / connect (s)",
        format!(
            "{} / {}",
            show("/setup/seconds", 1),
            show("/setup/connect_seconds", 1)
        ),
        String::new(),
    );
    row(
        "subscriptions/s while connecting",
        show("/setup/subscriptions_per_second", 0),
        String::new(),
    );
    row(
        "server CPU µs per subscription",
        show("/setup/server_cpu_us_per_subscription", 0),
        String::new(),
    );
    row(
        "sessions held (failed to connect)",
        format!(
            "{} ({})",
            show("/sessions/held", 0),
            show("/sessions/failed_to_connect", 0)
        ),
        String::new(),
    );
    row(
        "server RSS before / after sessions (MiB)",
        format!(
            "{} / {}",
            mib("/server/rss_before_sessions_bytes"),
            mib("/server/rss_connected_bytes")
        ),
        String::new(),
    );
    row(
        "server RSS growth per session (KiB)",
        number("/server/rss_growth_per_session_bytes")
            .map_or("—".to_owned(), |bytes| format!("{:.1}", bytes / 1024.0)),
        String::new(),
    );
    row(
        "  … marginal, after the first second (KiB)",
        number("/server/rss_growth_per_session_marginal_bytes")
            .map_or("—".to_owned(), |bytes| format!("{:.1}", bytes / 1024.0)),
        String::new(),
    );
    row(
        "server RSS peak / end (MiB)",
        format!(
            "{} / {}",
            mib("/server/rss_peak_bytes"),
            mib("/server/rss_end_bytes")
        ),
        String::new(),
    );
    row(
        "server CPU ms per 1,000 deliveries",
        show("/server/cpu_ms_per_thousand_deliveries", 1),
        String::new(),
    );
    row(
        "server CPU µs per durable post",
        show("/server/cpu_us_per_post", 0),
        String::new(),
    );
    row(
        "server / load generator CPU (s)",
        format!(
            "{} / {}",
            show("/server/cpu_seconds", 1),
            show("/load_generator/cpu_seconds", 1)
        ),
        String::new(),
    );
    println!();
    println!(
        "{:<30} {:>9} {:>10} {:>10} {:>10} {:>10}",
        "latency (ms)", "count", "p50", "p99", "p99.9", "max"
    );
    let mut rows = vec![
        (
            "post acknowledgement".to_owned(),
            "/posts/ack_latency_ms".to_owned(),
        ),
        (
            "post to delivery".to_owned(),
            "/deliveries/post_to_delivery_ms".to_owned(),
        ),
    ];
    if let Some(kinds) = results
        .pointer("/deliveries/post_to_delivery_by_room_kind_ms")
        .and_then(serde_json::Value::as_object)
        .filter(|kinds| kinds.len() > 1)
    {
        for kind in kinds.keys() {
            rows.push((
                format!("  … in {kind} rooms"),
                format!("/deliveries/post_to_delivery_by_room_kind_ms/{kind}"),
            ));
        }
    }
    for (name, path) in [
        (
            "post to its last member",
            "/completion/time_to_last_member_ms",
        ),
        ("join (sign-in → subscribed)", "/joins/join_ms"),
        ("history on join", "/joins/history_on_join_ms"),
    ] {
        rows.push((name.to_owned(), path.to_owned()));
    }
    for (name, path) in rows {
        println!(
            "{:<30} {:>9} {:>10} {:>10} {:>10} {:>10}",
            name,
            show(&format!("{path}/count"), 0),
            show(&format!("{path}/p50"), 2),
            show(&format!("{path}/p99"), 2),
            show(&format!("{path}/p99_9"), 2),
            show(&format!("{path}/max"), 2),
        );
    }
    for (name, path) in [
        ("first post error", "/posts/first_error"),
        ("first session error", "/sessions/first_error"),
    ] {
        let message = text(path);
        if !message.is_empty() {
            println!("{name}: {message}");
        }
    }
}
