//! Issue 13: the file service. Files posted with the CLI and the API download byte for byte
//! (whole, by range, revalidated by ETag) by members only; uploads the rules or the limits
//! refuse keep nothing; clearing a room takes its files with it.

use sha2::{Digest, Sha256};
use stoa_client::{Client, ClientError};
use stoa_wire::{
    CreateCategoryRequest, CreateRoomRequest, Privacy, ServerFrame, UpdateConfigurationRequest,
};

use crate::harness::{CliOutput, TestServer, stoa_cli_with_env};
use crate::live::next;

/// Runs the CLI as the user behind `client`.
async fn cli_as(server: &TestServer, client: &Client, args: &[&str]) -> CliOutput {
    let config = tempfile::tempdir().unwrap();
    let token = client.token().unwrap().to_owned();
    stoa_cli_with_env(
        config.path(),
        args,
        "",
        &[("STOA_SERVER", &server.url), ("STOA_TOKEN", &token)],
    )
    .await
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Bytes that compress badly and differ from run to run.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len + 8);
    let mut state = u64::from(std::process::id()) ^ 0x9E37_79B9_7F4A_7C15;
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

async fn closed_room(server: &TestServer, name: &str, category: Option<&str>, members: &[&str]) {
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: name.to_owned(),
            category: category.map(str::to_owned),
            privacy: Some(Privacy::Closed),
            members: members.iter().map(|m| format!("user:{m}")).collect(),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
}

fn status(error: ClientError) -> (u16, String) {
    match error {
        ClientError::Api { status, code, .. } => (status, code),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// The bytes under `data_dir/files`, outside the staging directory: every content kept.
fn kept_contents(data_dir: &std::path::Path) -> Vec<String> {
    let mut kept = Vec::new();
    let Ok(entries) = std::fs::read_dir(data_dir.join("files")) else {
        return kept;
    };
    for entry in entries.flatten() {
        if entry.file_name() == "incoming" {
            assert_eq!(
                std::fs::read_dir(entry.path()).unwrap().count(),
                0,
                "a staged upload was left behind"
            );
            continue;
        }
        for inner in std::fs::read_dir(entry.path()).unwrap().flatten() {
            kept.push(inner.file_name().to_string_lossy().into_owned());
        }
    }
    kept
}

#[tokio::test]
async fn a_file_posted_with_the_cli_downloads_byte_for_byte_by_members_only() {
    let server = TestServer::start().await;
    let alice = server.user("alice@contoso.com").await;
    let bob = server.user("bob@contoso.com").await;
    let outsider = server.user("mallory@contoso.com").await;
    closed_room(
        &server,
        "Designs",
        None,
        &["alice@contoso.com", "bob@contoso.com"],
    )
    .await;
    let mut live = bob.connect_live().await.unwrap();
    live.subscribe("Designs", Some(0)).await.unwrap();
    assert!(matches!(
        next(&mut live).await,
        ServerFrame::Subscribed { .. }
    ));

    // A 20 MB file, streamed by the CLI.
    let content = random_bytes(20 * 1000 * 1000);
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("plans v2 (final).bin");
    std::fs::write(&path, &content).unwrap();
    let uploaded = cli_as(
        &server,
        &alice,
        &[
            "--json",
            "file",
            "upload",
            "--room",
            "Designs",
            path.to_str().unwrap(),
        ],
    )
    .await
    .json();
    let file = &uploaded["file"];
    assert_eq!(file["name"], "plans v2 (final).bin");
    assert_eq!(file["size"], content.len());
    assert_eq!(file["sha256"], sha256_hex(&content));
    let file_id = file["id"].as_str().unwrap().to_owned();

    // The live member sees the message that carries it.
    match next(&mut live).await {
        ServerFrame::Message(message) => {
            assert_eq!(message.body, "plans v2 (final).bin");
            assert_eq!(message.file.unwrap().id, file_id);
        }
        other => panic!("expected the file's message, got {other:?}"),
    }

    // Another member downloads it with the CLI: the same SHA-256.
    let target = folder.path().join("downloaded.bin");
    let listed = cli_as(
        &server,
        &bob,
        &["--json", "file", "get", "--room", "Designs"],
    )
    .await
    .json();
    assert_eq!(listed[0]["id"], file_id);
    let downloaded = cli_as(
        &server,
        &bob,
        &[
            "--json",
            "file",
            "download",
            "--room",
            "Designs",
            &file_id,
            "-o",
            target.to_str().unwrap(),
        ],
    )
    .await
    .json();
    assert_eq!(downloaded["bytes"], content.len());
    assert_eq!(
        sha256_hex(&std::fs::read(&target).unwrap()),
        sha256_hex(&content)
    );

    // Over HTTP: the headers, a range, and revalidation.
    let url = format!("{}/api/v1/rooms/Designs/files/{file_id}", server.url);
    let http = reqwest::Client::new();
    let whole = http
        .get(&url)
        .bearer_auth(bob.token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), 200);
    let headers = whole.headers().clone();
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&content)));
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(headers["accept-ranges"], "bytes");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"plans v2 (final).bin\"; \
         filename*=UTF-8''plans%20v2%20%28final%29%2Ebin"
    );
    assert_eq!(whole.bytes().await.unwrap().len(), content.len());
    let range = http
        .get(&url)
        .bearer_auth(bob.token().unwrap())
        .header("range", "bytes=1000000-1999999")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), 206);
    assert_eq!(
        range.headers()["content-range"],
        format!("bytes 1000000-1999999/{}", content.len())
    );
    assert_eq!(
        &range.bytes().await.unwrap()[..],
        &content[1_000_000..2_000_000]
    );
    let suffix = http
        .get(&url)
        .bearer_auth(bob.token().unwrap())
        .header("range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(suffix.status(), 206);
    assert_eq!(
        &suffix.bytes().await.unwrap()[..],
        &content[content.len() - 10..]
    );
    let beyond = http
        .get(&url)
        .bearer_auth(bob.token().unwrap())
        .header("range", format!("bytes={}-", content.len() + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), 416);
    let current = http
        .get(&url)
        .bearer_auth(bob.token().unwrap())
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), 304);

    // Authorisation is checked on every request: an outsider, a stranger without a session,
    // and a member once removed from the room are refused.
    let refused = http
        .get(&url)
        .bearer_auth(outsider.token().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        matches!(refused.status().as_u16(), 403 | 404),
        "{}",
        refused.status()
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(body["error"]["code"].is_string());
    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let outsider_cli = cli_as(
        &server,
        &outsider,
        &["file", "download", "--room", "Designs", &file_id, "-o", "-"],
    )
    .await;
    assert!(!outsider_cli.success);
    server
        .admin
        .update_room(
            "Designs",
            &stoa_wire::UpdateRoomRequest {
                remove_members: vec!["user:bob@contoso.com".to_owned()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let after_removal = http
        .get(&url)
        .bearer_auth(bob.token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(after_removal.status(), 403);
    server.shut_down().await;
}

#[tokio::test]
async fn uploads_the_rules_or_the_limits_refuse_keep_nothing() {
    let server = TestServer::start().await;
    let alice = server.user("alice@contoso.com").await;
    let outsider = server.user("mallory@contoso.com").await;
    server
        .admin
        .create_category(&CreateCategoryRequest {
            name: "NoFiles".to_owned(),
            allowed_members: vec!["domain:contoso.com".to_owned()],
            file_upload: Some(false),
            ..CreateCategoryRequest::default()
        })
        .await
        .unwrap();
    closed_room(&server, "Plain", Some("NoFiles"), &["alice@contoso.com"]).await;
    closed_room(&server, "Files", None, &["alice@contoso.com"]).await;
    let folder = tempfile::tempdir().unwrap();
    let small = folder.path().join("small.txt");
    std::fs::write(&small, b"hello").unwrap();

    // FileUpload off, through the CLI.
    let off = cli_as(
        &server,
        &alice,
        &["file", "upload", "--room", "Plain", small.to_str().unwrap()],
    )
    .await;
    assert!(!off.success);
    assert!(off.stderr.contains("FileUpload"), "{}", off.stderr);

    // Not a member.
    let error = outsider
        .upload_file("Files", &small, "small.txt")
        .await
        .unwrap_err();
    assert!(matches!(status(error).0, 403 | 404));

    // Names that are not safe as a file's name.
    for name in [
        "../etc/passwd",
        "a\\b",
        "..",
        "bell\u{7}.txt",
        "  ",
        "\u{202E}txt.exe",
    ] {
        let (code, _) = status(alice.upload_file("Files", &small, name).await.unwrap_err());
        assert_eq!(code, 400, "{name:?}");
    }

    // Over MaxFileSizeKB: refused whether the size is declared or only found while reading.
    server
        .admin
        .set_configuration(&UpdateConfigurationRequest {
            scope: None,
            values: [("MaxFileSizeKB".to_owned(), "1".to_owned())].into(),
        })
        .await
        .unwrap();
    let large = folder.path().join("large.bin");
    std::fs::write(&large, random_bytes(1025)).unwrap();
    let (code, _) = status(
        alice
            .upload_file("Files", &large, "large.bin")
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 413);
    let chunked = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/rooms/Files/files?name=large.bin",
            server.url
        ))
        .bearer_auth(alice.token().unwrap())
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            (0..4).map(|_| Ok::<_, std::io::Error>(vec![7_u8; 512])),
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), 413);
    // Exactly at the limit is allowed.
    let exact = folder.path().join("exact.bin");
    std::fs::write(&exact, random_bytes(1024)).unwrap();
    alice
        .upload_file("Files", &exact, "exact.bin")
        .await
        .unwrap();

    // Nothing of the refused uploads was kept: one file, one message, one content.
    assert_eq!(alice.room_files("Files").await.unwrap().len(), 1);
    assert_eq!(alice.room_files("Plain").await.unwrap().len(), 0);
    let history = alice.history("Files", Default::default()).await.unwrap();
    assert_eq!(history.len(), 1);
    if server.database.is_none() {
        assert_eq!(kept_contents(server.data_dir()).len(), 1);
    }
    server.shut_down().await;
}

#[tokio::test]
async fn clearing_a_room_or_removing_a_message_takes_its_files_with_it() {
    let server = TestServer::start().await;
    let alice = server.user("alice@contoso.com").await;
    closed_room(&server, "Archive", None, &["alice@contoso.com"]).await;
    closed_room(&server, "Elsewhere", None, &["alice@contoso.com"]).await;
    let folder = tempfile::tempdir().unwrap();
    let shared = folder.path().join("shared.bin");
    std::fs::write(&shared, random_bytes(10_000)).unwrap();
    let own = folder.path().join("own.bin");
    std::fs::write(&own, random_bytes(20_000)).unwrap();
    let first = alice
        .upload_file("Archive", &shared, "shared.bin")
        .await
        .unwrap();
    alice.upload_file("Archive", &own, "own.bin").await.unwrap();
    // The same bytes in another room share one content.
    let kept_elsewhere = alice
        .upload_file("Elsewhere", &shared, "copy.bin")
        .await
        .unwrap();
    if server.database.is_none() {
        assert_eq!(kept_contents(server.data_dir()).len(), 2);
    }

    // Removing the first message drops its file; its content stays for the other room.
    server
        .admin
        .remove_messages(
            "Archive",
            &stoa_wire::RemoveMessagesRequest {
                keywords: vec!["shared.bin".to_owned()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let first_id = first.file.unwrap().id;
    let url = format!("{}/api/v1/rooms/Archive/files/{first_id}", server.url);
    let gone = reqwest::Client::new()
        .get(&url)
        .bearer_auth(alice.token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let history = alice.history("Archive", Default::default()).await.unwrap();
    assert!(history[0].file.is_none());

    // Clearing the room drops the rest; only the content another room refers to is kept.
    server
        .admin
        .clear_room("Archive", "2999-01-01")
        .await
        .unwrap();
    assert!(alice.room_files("Archive").await.unwrap().is_empty());
    if server.database.is_none() {
        assert_eq!(
            kept_contents(server.data_dir()),
            vec![kept_elsewhere.file.as_ref().unwrap().sha256.clone()]
        );
    }
    let mut out = Vec::new();
    alice
        .download_file("Elsewhere", &kept_elsewhere.file.unwrap().id, &mut out)
        .await
        .unwrap();
    assert_eq!(out, std::fs::read(&shared).unwrap());
    server.shut_down().await;
}
