//! `stoa`: runs the server (`stoa serve`) and administers one (every other subcommand, each a
//! thin call through `stoa-client` to the server's API, like Lync's remote cmdlets).

mod cli;
mod commands;
mod output;
mod session;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args).await,
        command => commands::run_client_command(command, cli.json).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", output::describe_error(&error));
            ExitCode::FAILURE
        }
    }
}
