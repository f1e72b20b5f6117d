//! PostgreSQL's storage faults, under an in-process node: its database connections cut in
//! the middle of transactions (a proxy between node and database resets them all at once,
//! then refuses new ones for a while), and a primary that stops accepting writes.

use std::time::Duration;

use sqlx::Connection;
use stoa_client::Client;
use stoa_server::{ServerOptions, Settings};
use stoa_test_support::CuttingProxy;

use crate::harness::TestServer;
use crate::load::{
    LiveReader, PostLoad, ROOM, assert_health_reports, prepare, until_healthy, whole_history,
};

async fn start_node(data_dir: &std::path::Path, database: &str) -> TestServer {
    TestServer::start_with_options(ServerOptions {
        database: Some(database.to_owned()),
        settings: Settings {
            storage_probe_interval: Duration::from_millis(200),
            ..Settings::default()
        },
        ..ServerOptions::new(data_dir.to_owned())
    })
    .await
}

/// `url` pointing at `address` instead of its own server.
fn through(url: &str, address: std::net::SocketAddr) -> String {
    let mut url = reqwest::Url::parse(url).unwrap();
    url.set_host(Some(&address.ip().to_string())).unwrap();
    url.set_port(Some(address.port())).unwrap();
    url.to_string()
}

fn server_address(url: &str) -> std::net::SocketAddr {
    let url = reqwest::Url::parse(url).unwrap();
    let host = url.host_str().unwrap();
    let port = url.port().unwrap_or(5432);
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .unwrap()
        .next()
        .unwrap()
}

/// Waits until `/healthz` names one of `faults`.
async fn until_health_reports(admin: &Client, faults: &[&str]) {
    for _ in 0..100 {
        if let Err(error) = admin.health().await
            && faults.iter().any(|fault| error.to_string().contains(fault))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/healthz never named any of {faults:?}");
}

/// Issue 11, delivery 1: a node's database connections cut in the middle of transactions,
/// three times, and then the database unreachable for a while: nothing the node could not
/// commit is acknowledged, `/healthz` says so, the node recovers by itself, and every
/// acknowledged post is stored exactly once and reaches the live reader.
#[tokio::test(flavor = "multi_thread")]
async fn issue_11_database_connections_cut_mid_transaction_never_lose_an_acknowledged_post() {
    let database = stoa_test_support::fresh_postgres_database().await;
    let proxy = CuttingProxy::start(server_address(&database)).await;
    let data_dir = tempfile::tempdir().unwrap();
    let server = start_node(data_dir.path(), &through(&database, proxy.address())).await;
    let (admin, alice, _) = prepare(&server.url).await;
    let reader = LiveReader::start(&alice, ROOM).await;
    let load = PostLoad::start(&[alice.clone(), admin.clone()], ROOM, 3).await;

    for _ in 0..3 {
        load.until_acknowledged(40).await;
        proxy.cut();
    }
    load.until_acknowledged(40).await;
    let refused_before = load.refusals();
    proxy.refuse(true);
    load.until_refused(refused_before + 5).await;
    until_health_reports(&admin, &["connection_lost", "unreachable"]).await;
    proxy.refuse(false);
    load.until_acknowledged(40).await;
    until_healthy(&admin).await;
    let ledger = load.stop().await;
    reader.check_received(&ledger).await;

    server.shut_down().await;
    let server = start_node(data_dir.path(), &database).await;
    ledger.check_history(&whole_history(&server.admin, ROOM).await);
}

/// Issue 11, delivery 1: a primary that stops accepting writes (every session read-only, as
/// a demoted primary's are) refuses posts with `storage_unavailable`, and once it takes
/// writes again the node does too, without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn issue_11_a_primary_that_stops_accepting_writes_refuses_posts_until_it_takes_them() {
    let database = stoa_test_support::fresh_postgres_database().await;
    let name = reqwest::Url::parse(&database).unwrap().path()[1..].to_owned();
    let data_dir = tempfile::tempdir().unwrap();
    let server = start_node(data_dir.path(), &database).await;
    let (admin, alice, _) = prepare(&server.url).await;
    let reader = LiveReader::start(&alice, ROOM).await;
    let load = PostLoad::start(&[alice.clone(), admin.clone()], ROOM, 3).await;
    load.until_acknowledged(40).await;

    let mut superuser = sqlx::PgConnection::connect(&database).await.unwrap();
    let refused_before = load.refusals();
    sqlx::query(&format!(
        "ALTER DATABASE {name} SET default_transaction_read_only = on"
    ))
    .execute(&mut superuser)
    .await
    .unwrap();
    // Sessions take the setting when they start: end the node's.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .execute(&mut superuser)
    .await
    .unwrap();
    load.until_refused(refused_before + 10).await;
    until_health_reports(&admin, &["read_only"]).await;
    assert_health_reports(&admin, "read_only").await;

    sqlx::query(&format!(
        "ALTER DATABASE {name} RESET default_transaction_read_only"
    ))
    .execute(&mut superuser)
    .await
    .unwrap();
    load.until_acknowledged(40).await;
    until_healthy(&admin).await;
    let ledger = load.stop().await;
    reader.check_received(&ledger).await;
    // Every connection the node opened while the primary refused writes is gone: posts on
    // many connections at once all go through.
    let mut after = ledger;
    for round in 0..4 {
        let posts = (0..12).map(|n| {
            let admin = admin.clone();
            async move {
                let body = format!("after {round}.{n}");
                let posted = admin.post_message_once(ROOM, &body, None).await;
                (body, posted)
            }
        });
        for (body, posted) in futures_util::future::join_all(posts).await {
            let posted = posted.unwrap_or_else(|error| panic!("{body} is refused: {error}"));
            after.acknowledged.insert(body, posted.message.seq);
        }
    }

    server.shut_down().await;
    let server = start_node(data_dir.path(), &database).await;
    after.check_history(&whole_history(&server.admin, ROOM).await);
}
