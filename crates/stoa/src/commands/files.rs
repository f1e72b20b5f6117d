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
            let Some(found) = files
                .iter()
                .find(|listed| listed.file.id == file)
                .or_else(|| files.iter().find(|listed| listed.file.name == file))
            else {
                bail!("room {room} has no file {file}; `stoa file get --room {room}` lists them");
            };
            let written = match output.as_deref() {
                Some(path) if path.as_os_str() == "-" => {
                    // The content is the output: nothing else may be printed beside it.
                    let mut out = tokio::io::stdout();
                    client
                        .download_file(&room, &found.file.id, &mut out)
                        .await?;
                    return Ok(());
                }
                _ => {
                    // The server's name has no path separators; a name from elsewhere would
                    // be refused there, so none can escape the current directory.
                    let path = output.unwrap_or_else(|| found.file.name.clone().into());
                    let mut partial = path.clone().into_os_string();
                    partial.push(".partial");
                    let partial = std::path::PathBuf::from(partial);
                    let mut out = tokio::fs::File::create(&partial)
                        .await
                        .with_context(|| format!("cannot write {}", partial.display()))?;
                    let written = client.download_file(&room, &found.file.id, &mut out).await;
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
                    "file": found.file.id,
                    "name": found.file.name,
                    "bytes": written,
                    "sha256": found.file.sha256,
                }))?;
            }
            Ok(())
        }
    }
}
