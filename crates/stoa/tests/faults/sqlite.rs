//! SQLite's storage faults, on the real `stoa serve` binary: the data directory's file
//! system filling up and being freed.

use stoa_client::Client;
use stoa_test_support::SmallFilesystem;
use stoa_wire::{CreateRoomRequest, CreateUserRequest, Privacy};

use crate::harness::{ADMIN_PASSWORD, BinaryServer, USER_PASSWORD, sign_in};
use crate::load::{LiveReader, PostLoad, assert_health_reports, until_healthy, whole_history};

const ROOM: &str = "Lobby";

/// An open room and two users besides the administrator, signed in.
async fn prepare(url: &str) -> (Client, Client, Client) {
    let admin = sign_in(url, "admin", ADMIN_PASSWORD).await;
    admin
        .create_room(&CreateRoomRequest {
            name: ROOM.to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let mut users = Vec::new();
    for login in ["alice@contoso.com", "bob@contoso.com"] {
        admin
            .create_user(&CreateUserRequest {
                login: login.to_owned(),
                password: Some(USER_PASSWORD.to_owned()),
                ..CreateUserRequest::default()
            })
            .await
            .unwrap();
        users.push(sign_in(url, login, USER_PASSWORD).await);
    }
    let bob = users.pop().unwrap();
    let alice = users.pop().unwrap();
    (admin, alice, bob)
}

/// Issue 11, finding 1: once a post hit the full disk, every later post was acknowledged
/// without being stored (the writer connection was left inside a transaction that never
/// committed), and all of them were gone after a restart.
#[tokio::test]
async fn issue_11_a_full_disk_never_acknowledges_a_post_it_did_not_store() {
    let filesystem = SmallFilesystem::mount(16 << 20)
        .unwrap_or_else(|why| panic!("this test needs a small file system: {why}"));
    let data_dir = filesystem.path().join("data");
    let server = BinaryServer::start_with(&data_dir, Some(ADMIN_PASSWORD), None, &[]).await;
    let (admin, alice, bob) = prepare(&server.url).await;
    let reader = LiveReader::start(&bob, ROOM).await;
    let load = PostLoad::start(&[alice.clone(), admin.clone()], ROOM, 3).await;
    load.until_acknowledged(50).await;

    let ballast = filesystem.fill();
    load.until_refused(20).await;
    assert_health_reports(&admin, "disk_full").await;
    // Still refused a while later: the first refusal did not turn into false acknowledgements.
    let refused_so_far = load.acknowledged();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_health_reports(&admin, "disk_full").await;
    assert!(
        load.acknowledged() <= refused_so_far + 8,
        "posts are not acknowledged while the disk is full"
    );

    ballast.remove();
    load.until_acknowledged(100).await;
    until_healthy(&admin).await;
    let ledger = load.stop().await;
    assert!(ledger.refusals() >= 20);
    reader.check_received(&ledger).await;

    server.kill_9().await;
    let server = BinaryServer::start_with(&data_dir, Some(ADMIN_PASSWORD), None, &[]).await;
    let admin = sign_in(&server.url, "admin", ADMIN_PASSWORD).await;
    ledger.check_history(&whole_history(&admin, ROOM).await);
}
