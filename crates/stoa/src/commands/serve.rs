//! `stoa serve`: sets up logging, opens the server and runs it until SIGINT or SIGTERM.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use stoa_server::{AdminBootstrap, Server, ServerOptions};
use tracing_subscriber::EnvFilter;

use crate::cli::{LogFormat, ServeArgs};

/// Environment variable holding the first administrator's password.
const ADMIN_PASSWORD_VARIABLE: &str = "STOA_ADMIN_PASSWORD";

fn init_logging(format: LogFormat) {
    // `STOA_LOG` takes the usual `RUST_LOG` syntax, e.g. `debug` or `stoa_server=debug`.
    let filter = EnvFilter::try_from_env("STOA_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        LogFormat::Pretty => builder.init(),
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let admin_password = std::env::var(ADMIN_PASSWORD_VARIABLE)
        .ok()
        .filter(|password| !password.is_empty());
    let mut options = ServerOptions::new(args.data.clone());
    options.admin_password = admin_password;
    options.site = args.site;
    if let Some(node) = args.node {
        options.node = node;
    }
    let opening = match &args.database {
        Some(url) => format!(
            "cannot open database {}",
            stoa_server::redact_database_url(url)
        ),
        None => format!("cannot open data directory {}", args.data.display()),
    };
    options.database = args.database;
    options.compliance_database = args.compliance_database;
    let mut server = Server::open(options).await.context(opening)?;
    let listener = stoa_server::connections::listen(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    // Before the URL is printed: a second node under a name already running is refused.
    server.claim_node_name(&format!("http://{address}")).await?;

    let mut stdout = std::io::stdout().lock();
    if let AdminBootstrap::CreatedWithGeneratedPassword { password, file } = &server.bootstrap {
        writeln!(
            stdout,
            "Created administrator `admin` with password {password}\n(also written to {}; it is not shown again)",
            file.display()
        )?;
    }
    // One write of the whole text (formatting straight into stdout writes it piece by
    // piece): whoever reads the URL may close the pipe right after, and a later write would
    // fail the server with a broken pipe.
    let banner = format!(
        "Stoa is serving at http://{address}\nOpen http://{address}/ in a browser to chat\n"
    );
    stdout.write_all(banner.as_bytes())?;
    stdout.flush()?;
    drop(stdout);

    server.serve(listener, shutdown_signal()).await?;
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
