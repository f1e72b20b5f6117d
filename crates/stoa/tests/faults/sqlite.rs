//! SQLite's storage faults: the data directory's file system filling up and being freed
//! (a real `tmpfs` under the real `stoa serve` binary where the machine lets tests mount
//! one), and, through the fault-injecting VFS under an in-process server, I/O errors on
//! write, failed fsyncs, a read-only database, a full disk, and a power cut that loses every
//! write not fsync'd.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use stoa_client::Client;
use stoa_server::{ServerOptions, Settings};
use stoa_test_support::SmallFilesystem;
use stoa_test_support::faulty_vfs::{self, Faults};

use crate::harness::{ADMIN_PASSWORD, BinaryServer, TestServer, sign_in};
use crate::load::{
    LiveReader, PostLoad, ROOM, assert_health_reports, prepare, until_healthy, whole_history,
};

/// An in-process server on `data_dir` whose SQLite goes through the fault VFS, probing a
/// failed storage often.
async fn start_faulty(data_dir: &Path) -> (TestServer, Arc<Faults>) {
    let faults = faulty_vfs::faults_for(data_dir);
    let server = start_in(data_dir, Some(faulty_vfs::VFS_NAME)).await;
    (server, faults)
}

async fn start_in(data_dir: &Path, vfs: Option<&str>) -> TestServer {
    // A server stopped a moment ago may still be letting go of the directory's lock.
    for _ in 0..50 {
        let lock = std::fs::File::open(data_dir.join("stoa.lock"));
        if lock.is_err() || lock.is_ok_and(|lock| lock.try_lock().is_ok()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    TestServer::start_with_options(ServerOptions {
        sqlite_vfs: vfs.map(str::to_owned),
        settings: Settings {
            storage_probe_interval: Duration::from_millis(200),
            ..Settings::default()
        },
        ..ServerOptions::new(data_dir.to_owned())
    })
    .await
}

/// Turns a fault on under load, checks that posts are refused and `/healthz` names it, then
/// turns it off and checks that the server recovers by itself.
async fn weather(load: &PostLoad, admin: &Client, fault: &str, switch: impl Fn(bool)) {
    load.until_acknowledged(30).await;
    let refused_before = load.refusals();
    switch(true);
    load.until_refused(refused_before + 10).await;
    assert_health_reports(admin, fault).await;
    let acknowledged = load.acknowledged();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        load.acknowledged() <= acknowledged + 8,
        "posts are not acknowledged during {fault}"
    );
    switch(false);
    load.until_acknowledged(30).await;
    until_healthy(admin).await;
}

/// Issue 11, finding 1: once a post hit the full disk, every later post was acknowledged
/// without being stored (the writer connection was left inside a transaction that never
/// committed), and all of them were gone after a restart.
#[tokio::test]
async fn issue_11_a_full_disk_never_acknowledges_a_post_it_did_not_store() {
    let filesystem = match SmallFilesystem::mount(16 << 20) {
        Ok(filesystem) => filesystem,
        Err(why) => {
            eprintln!("{why}: filling the disk through the fault VFS instead");
            return full_disk_through_the_fault_vfs().await;
        }
    };
    let data_dir = filesystem.path().join("data");
    let server = BinaryServer::start_with(&data_dir, Some(ADMIN_PASSWORD), None, &[]).await;
    let (admin, alice, bob) = prepare(&server.url).await;
    let reader = LiveReader::start(&bob, ROOM).await;
    let load = PostLoad::start(&[alice.clone(), admin.clone()], ROOM, 3).await;

    let ballast = std::sync::Mutex::new(None);
    weather(&load, &admin, "disk_full", |on| {
        let mut ballast = ballast.lock().unwrap();
        *ballast = if on { Some(filesystem.fill()) } else { None };
    })
    .await;
    let ledger = load.stop().await;
    reader.check_received(&ledger).await;

    server.kill_9().await;
    let server = BinaryServer::start_with(&data_dir, Some(ADMIN_PASSWORD), None, &[]).await;
    let admin = sign_in(&server.url, "admin", ADMIN_PASSWORD).await;
    ledger.check_history(&whole_history(&admin, ROOM).await);
}

/// Where no file system can be mounted: the same load against a disk the VFS says is full.
async fn full_disk_through_the_fault_vfs() {
    let data_dir = tempfile::tempdir().unwrap();
    let (server, faults) = start_faulty(data_dir.path()).await;
    let (admin, alice, bob) = prepare(&server.url).await;
    let reader = LiveReader::start(&bob, ROOM).await;
    let load = PostLoad::start(&[alice, admin.clone()], ROOM, 3).await;
    weather(&load, &admin, "disk_full", |on| faults.full(on)).await;
    let ledger = load.stop().await;
    reader.check_received(&ledger).await;
    server.shut_down().await;
    let server = start_in(data_dir.path(), None).await;
    ledger.check_history(&whole_history(&server.admin, ROOM).await);
}

/// Issue 11, delivery 1: I/O errors on write, failed fsyncs, a database that turns read-only
/// and a full disk, one after another under HTTP, group-commit and WebSocket posting: each
/// is refused with `storage_unavailable` and named by `/healthz`, nothing refused is
/// acknowledged, the server recovers by itself each time, and after a restart every
/// acknowledged post is there exactly once.
#[tokio::test]
async fn issue_11_write_and_fsync_errors_and_a_read_only_database_are_survived() {
    let data_dir = tempfile::tempdir().unwrap();
    let (server, faults) = start_faulty(data_dir.path()).await;
    let (admin, alice, bob) = prepare(&server.url).await;
    let reader = LiveReader::start(&bob, ROOM).await;
    let load = PostLoad::start(&[alice, admin.clone()], ROOM, 3).await;

    weather(&load, &admin, "io_error", |on| faults.fail_writes(on)).await;
    weather(&load, &admin, "io_error", |on| faults.fail_syncs(on)).await;
    weather(&load, &admin, "read_only", |on| faults.read_only(on)).await;
    weather(&load, &admin, "disk_full", |on| faults.full(on)).await;
    let ledger = load.stop().await;
    reader.check_received(&ledger).await;

    server.shut_down().await;
    let server = start_in(data_dir.path(), None).await;
    ledger.check_history(&whole_history(&server.admin, ROOM).await);
}

/// Issue 11, delivery 2: acknowledgement means fsync. The VFS holds every write back until
/// its file is fsync'd, then the power is cut: whatever was acknowledged must have been
/// fsync'd, so it is all there when the database is opened again. (`kill -9` alone proves
/// less: the page cache survives it.)
#[tokio::test]
async fn issue_11_every_acknowledged_post_survives_a_power_cut_that_loses_unsynced_writes() {
    let data_dir = tempfile::tempdir().unwrap();
    let (server, faults) = start_faulty(data_dir.path()).await;
    let (admin, alice, _) = prepare(&server.url).await;
    // From here on nothing reaches the disk before an fsync.
    faults.hold_unsynced_writes(true);
    let load = PostLoad::start(&[alice, admin], ROOM, 3).await;
    load.until_acknowledged(300).await;

    faults.power_cut();
    let ledger = load.stop().await;
    assert!(ledger.acknowledged.len() >= 300);
    server.shut_down().await;

    let server = start_in(data_dir.path(), None).await;
    ledger.check_history(&whole_history(&server.admin, ROOM).await);
}

/// A replayed post commits without touching the disk, so it must not pass for a sign that
/// a full disk has recovered: `/healthz` keeps naming the fault until a write reaches it.
#[tokio::test]
async fn a_replayed_post_does_not_hide_a_full_disk() {
    let data_dir = tempfile::tempdir().unwrap();
    let faults = faulty_vfs::faults_for(data_dir.path());
    // No probes or heartbeats to speak for the disk: only the posts below do.
    let server = TestServer::start_with_options(ServerOptions {
        sqlite_vfs: Some(faulty_vfs::VFS_NAME.to_owned()),
        settings: Settings {
            storage_probe_interval: Duration::from_secs(3600),
            pool_heartbeat_interval: Duration::from_secs(3600),
            ..Settings::default()
        },
        ..ServerOptions::new(data_dir.path().to_owned())
    })
    .await;
    let (admin, alice, _) = prepare(&server.url).await;
    let first = alice
        .post_message_once(ROOM, "before", Some("k"))
        .await
        .unwrap();

    faults.full(true);
    let refused = alice
        .post_message_once(ROOM, "during", Some("k2"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("storage_unavailable"), "{refused}");
    assert_health_reports(&admin, "disk_full").await;
    let replayed = alice
        .post_message_once(ROOM, "before", Some("k"))
        .await
        .unwrap();
    assert!(replayed.replayed);
    assert_eq!(replayed.message.seq, first.message.seq);
    assert_health_reports(&admin, "disk_full").await;

    faults.full(false);
    alice
        .post_message_once(ROOM, "during", Some("k2"))
        .await
        .unwrap();
    until_healthy(&admin).await;
}

/// Issue 13: a removal or a clear that meets a full disk or a failed fsync is refused with
/// `storage_unavailable` and changes nothing: history still shows the message, and live
/// subscribers hear of no change; once the storage recovers the same removal works.
#[tokio::test]
async fn a_removal_or_clear_the_storage_refuses_changes_nothing() {
    use stoa_wire::{ClientFrame, RemoveMessagesRequest, ServerFrame};
    let data_dir = tempfile::tempdir().unwrap();
    let (server, faults) = start_faulty(data_dir.path()).await;
    let (admin, alice, bob) = prepare(&server.url).await;
    alice.post_message(ROOM, "to be removed").await.unwrap();
    let mut live = bob.connect_live().await.unwrap();
    live.send(&ClientFrame::Subscribe {
        room: ROOM.to_owned(),
        since: Some(1),
        changes_since: Some(0),
    })
    .await
    .unwrap();
    assert!(matches!(
        live.next_frame().await.unwrap(),
        ServerFrame::Subscribed { .. }
    ));
    let remove = RemoveMessagesRequest::default();
    let switches: [(&str, &dyn Fn(bool)); 2] = [
        ("disk_full", &|on| faults.full(on)),
        ("fsync_failed", &|on| faults.fail_syncs(on)),
    ];
    for (fault, switch) in switches {
        switch(true);
        for refused in [
            admin.remove_messages(ROOM, &remove).await.map(|_| ()),
            admin.clear_room(ROOM, "2999-01-01").await.map(|_| ()),
        ] {
            match refused {
                Err(stoa_client::ClientError::Api { status, code, .. }) => {
                    assert_eq!(
                        (status, code.as_str()),
                        (503, "storage_unavailable"),
                        "{fault}"
                    );
                }
                other => panic!("{fault}: expected a refusal, got {other:?}"),
            }
        }
        switch(false);
        until_healthy(&admin).await;
        let history = whole_history(&bob, ROOM).await;
        assert_eq!(history[0].body, "to be removed", "{fault} changed nothing");
    }
    // No change reached the subscriber: the next frame is the one the removal now makes.
    let removed = admin.remove_messages(ROOM, &remove).await.unwrap();
    assert_eq!(removed.changed.len(), 1);
    match tokio::time::timeout(Duration::from_secs(10), live.next_frame())
        .await
        .unwrap()
        .unwrap()
    {
        ServerFrame::Changed(change) => assert_eq!((change.change, change.seq), (1, 1)),
        other => panic!("expected the one change, got {other:?}"),
    }
    server.shut_down().await;
}
