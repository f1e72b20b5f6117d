//! One module per group of subcommands. Each command parses its flags into a wire request,
//! makes one API call through `stoa-client`, and prints the answer.

pub mod access;
pub mod compliance;
pub mod configuration;
pub mod directory;
pub mod files;
pub mod messages;
pub mod pool;
pub mod rooms;
pub mod serve;
pub mod sessions;

use std::io::BufRead;

use anyhow::{Context, bail};

use crate::cli::Command;
use crate::session;

/// Runs every subcommand other than `serve`.
pub async fn run_client_command(command: Command, json: bool) -> anyhow::Result<()> {
    match command {
        Command::Login(args) => sessions::login(args, json).await,
        Command::Logout => sessions::logout().await,
        Command::Whoami => sessions::whoami(&session::client()?, json).await,
        Command::User(command) => directory::user(&session::client()?, command, json).await,
        Command::Group(command) => directory::group(&session::client()?, command, json).await,
        Command::Category(command) => rooms::category(&session::client()?, command, json).await,
        Command::Room(command) => rooms::room(&session::client()?, command, json).await,
        Command::Message(command) => messages::run(&session::client()?, command, json).await,
        Command::Access(command) => access::explain(&session::client()?, command, json).await,
        Command::Principal(command) => access::principal(&session::client()?, command, json).await,
        Command::Policy(command) => access::policy(&session::client()?, command, json).await,
        Command::Role(command) => access::role(&session::client()?, command, json).await,
        Command::Invitation(command) => {
            access::invitation(&session::client()?, command, json).await
        }
        Command::Compliance(command) => compliance::run(&session::client()?, command, json).await,
        Command::Pool(command) => pool::run(&session::client()?, command, json).await,
        Command::File(command) => files::run(&session::client()?, command, json).await,
        Command::Addin(command) => configuration::addin(&session::client()?, command, json).await,
        Command::Config(command) => configuration::config(&session::client()?, command, json).await,
        Command::Serve(_) => bail!("serve is not a client command"),
    }
}

/// Reads one line (a password) from standard input, without its line ending.
pub fn read_secret_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let secret = line.trim_end_matches(['\r', '\n']).to_owned();
    if secret.is_empty() {
        bail!("no password on standard input");
    }
    Ok(secret)
}
