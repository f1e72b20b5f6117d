//! `stoa file`: posting a file to a room, listing a room's files, downloading one.

use anyhow::{Context, bail};
use stoa_client::Client;

use crate::cli::FileCommand;
use crate::output::{print_json, print_record, print_table};

pub async fn run(client: &Client, command: FileCommand, json: bool) -> anyhow::Result<()> {
    match command {
        FileCommand::Upload { room, path, name } => {
            let name = match name {
                Some(name) => name,
                None => path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .context("name the file with --name")?,
            };
            let message = client.upload_file(&room, &path, &name).await?;
            if json {
                return print_json(&message);
            }
            let Some(file) = &message.file else {
                bail!("the server answered without the file");
            };
            print_record(vec![
                ("room", message.room.clone()),
                ("seq", message.seq.to_string()),
                ("file", file.id.clone()),
                ("name", file.name.clone()),
                ("size", file.size.to_string()),
                ("type", file.content_type.clone()),
                ("sha256", file.sha256.clone()),
            ]);
            Ok(())
        }
        FileCommand::Get { room } => {
            let files = client.room_files(&room).await?;
            if json {
                return print_json(&files);
            }
            let rows = files
                .iter()
                .map(|file| {
                    vec![
                        file.file.id.clone(),
                        file.seq.to_string(),
                        file.file.name.clone(),
                        file.file.size.to_string(),
                        file.file.content_type.clone(),
                        file.file.sha256.clone(),
                    ]
                })
                .collect();
            print_table(&["file", "seq", "name", "size", "type", "sha256"], rows);
            Ok(())
        }
        FileCommand::Download { room, file, output } => {
            let files = client.room_files(&room).await?;
            let found = files
                .iter()
                .find(|listed| listed.file.id == file)
                .or_else(|| files.iter().find(|listed| listed.file.name == file))
                .map(|listed| listed.file.clone());
            let found = match found {
                Some(found) => found,
                // An id older than the listing's newest 1,000 files is fetched as it is.
                None if is_file_id(&file) => stoa_wire::FileView {
                    id: file.clone(),
                    name: file.clone(),
                    size: 0,
                    content_type: String::new(),
                    sha256: String::new(),
                },
                None => bail!(
                    "room {room} has no file {file}; `stoa file get --room {room}` lists them"
                ),
            };
            let written = match output.as_deref() {
                Some(path) if path.as_os_str() == "-" => {
                    // The content is the output: nothing else may be printed beside it.
                    let mut out = tokio::io::stdout();
                    client.download_file(&room, &found.id, &mut out).await?;
                    return Ok(());
                }
                _ => {
                    // Without -o, the file's own name in the current directory: its last
                    // component only, whatever a server sent, and never over a file there.
                    let path = match output {
                        Some(path) => path,
                        None => {
                            let name = std::path::Path::new(&found.name)
                                .file_name()
                                .context("the file's name cannot name a local file; use -o")?
                                .to_owned();
                            let path = std::path::PathBuf::from(name);
                            if path.exists() {
                                bail!("{} exists; name where to write with -o", path.display());
                            }
                            path
                        }
                    };
                    let mut partial = path.clone().into_os_string();
                    partial.push(".partial");
                    let partial = std::path::PathBuf::from(partial);
                    let mut out = tokio::fs::File::create(&partial)
                        .await
                        .with_context(|| format!("cannot write {}", partial.display()))?;
                    let written = client.download_file(&room, &found.id, &mut out).await;
                    let written = match written {
                        Ok(written) => written,
                        Err(error) => {
                            let _ = tokio::fs::remove_file(&partial).await;
                            return Err(error.into());
                        }
                    };
                    out.sync_all().await?;
                    tokio::fs::rename(&partial, &path)
                        .await
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    if !json {
                        eprintln!("Wrote {} ({written} bytes).", path.display());
                    }
                    written
                }
            };
            if json {
                print_json(&serde_json::json!({
                    "file": found.id,
                    "name": found.name,
                    "bytes": written,
                    "sha256": found.sha256,
                }))?;
            }
            Ok(())
        }
    }
}

/// Whether `text` has the form of a file id: `f` and 16 hex digits.
fn is_file_id(text: &str) -> bool {
    text.len() == 17
        && text.starts_with('f')
        && text[1..].bytes().all(|byte| byte.is_ascii_hexdigit())
}
