//! The remembered sign-in: which server and token later commands use.
//!
//! `stoa login` writes `session.json` under `$STOA_CONFIG_DIR` (default `~/.config/stoa`),
//! readable only by its owner. `STOA_SERVER` and `STOA_TOKEN` override what it holds, so
//! scripts can act as several users without touching the file.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use stoa_client::Client;

const SESSION_FILE: &str = "session.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct SavedSession {
    pub server: String,
    pub user: String,
    pub token: String,
}

fn config_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("STOA_CONFIG_DIR").filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .context("neither STOA_CONFIG_DIR nor HOME is set; set STOA_CONFIG_DIR")?;
    Ok(PathBuf::from(home).join(".config").join("stoa"))
}

pub fn save(session: &SavedSession) -> anyhow::Result<PathBuf> {
    let dir = config_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(SESSION_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(serde_json::to_string_pretty(session)?.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn load() -> anyhow::Result<Option<SavedSession>> {
    let path = config_dir()?.join(SESSION_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is damaged; run stoa login again", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub fn forget() -> anyhow::Result<()> {
    let path = config_dir()?.join(SESSION_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot remove {}", path.display())),
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// A client for the remembered (or overridden) server and token.
pub fn client() -> anyhow::Result<Client> {
    let saved = load()?;
    let server = non_empty_env("STOA_SERVER").or_else(|| saved.as_ref().map(|s| s.server.clone()));
    let token = non_empty_env("STOA_TOKEN").or_else(|| saved.as_ref().map(|s| s.token.clone()));
    let Some(server) = server else {
        bail!(
            "not signed in: run `stoa login --server URL --user NAME --password-stdin` or set STOA_SERVER and STOA_TOKEN"
        );
    };
    let client = Client::new(&server)?;
    Ok(match token {
        Some(token) => client.with_token(token),
        None => client,
    })
}
