//! Issue 13: faults on the file service's path. An upload whose client vanishes midway, or
//! that meets a full disk, keeps nothing (no staged bytes, no content, no message), and the
//! next upload works once the fault is gone.

use std::path::Path;
use std::time::Duration;

use stoa_client::{Client, ClientError};
use stoa_test_support::SmallFilesystem;
use tokio::io::AsyncWriteExt;

use crate::harness::{ADMIN_PASSWORD, BinaryServer, TestServer};
use crate::load::{ROOM, prepare};

/// The entries under the data directory's `files`: staged uploads and kept contents.
fn files_under(data_dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut directories = vec![data_dir.join("files")];
    while let Some(directory) = directories.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                directories.push(entry.path());
            } else {
                found.push(entry.path().display().to_string());
            }
        }
    }
    found
}

async fn nothing_kept(client: &Client, data_dir: &Path) {
    for _ in 0..100 {
        if files_under(data_dir).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(files_under(data_dir), Vec::<String>::new());
    assert!(client.room_files(ROOM).await.unwrap().is_empty());
    assert!(
        client
            .history(ROOM, Default::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_upload_whose_client_vanishes_midway_keeps_nothing() {
    let server = TestServer::start().await;
    let (_admin, alice, _bob) = prepare(&server.url).await;
    let address = server.url.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/v1/rooms/{ROOM}/files?name=half.bin HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {}\r\nContent-Length: 1000000\r\n\r\n",
        alice.token().unwrap()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&vec![1_u8; 300_000]).await.unwrap();
    socket.flush().await.unwrap();
    // The server has begun staging the upload before its client goes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(socket);
    nothing_kept(&alice, server.data_dir()).await;

    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("whole.bin"), vec![2_u8; 300_000]).unwrap();
    alice
        .upload_file(ROOM, &folder.path().join("whole.bin"), "whole.bin")
        .await
        .unwrap();
    assert_eq!(alice.room_files(ROOM).await.unwrap().len(), 1);
    server.shut_down().await;
}

#[tokio::test]
async fn an_upload_that_meets_a_full_disk_is_refused_and_keeps_nothing() {
    let filesystem = match SmallFilesystem::mount(16 << 20) {
        Ok(filesystem) => filesystem,
        Err(why) => {
            eprintln!("{why}: this machine cannot mount a small file system; skipped");
            return;
        }
    };
    let data_dir = filesystem.path().join("data");
    let server = BinaryServer::start_with(&data_dir, Some(ADMIN_PASSWORD), None, &[]).await;
    let (_admin, alice, _bob) = prepare(&server.url).await;
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("big.bin");
    std::fs::write(&path, vec![3_u8; 2_000_000]).unwrap();

    let ballast = filesystem.fill();
    match alice.upload_file(ROOM, &path, "big.bin").await {
        Err(ClientError::Api { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (503, "storage_unavailable"));
        }
        other => panic!("expected the full disk to refuse the upload, got {other:?}"),
    }
    drop(ballast);
    nothing_kept(&alice, &data_dir).await;
    alice.upload_file(ROOM, &path, "big.bin").await.unwrap();
    assert_eq!(alice.room_files(ROOM).await.unwrap().len(), 1);
    server.kill_9().await;
}
