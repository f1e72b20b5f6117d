//! `stoa login`, `stoa logout` and `stoa whoami`.

use stoa_client::Client;
use stoa_wire::UserView;

use crate::cli::LoginArgs;
use crate::commands::read_secret_line;
use crate::output::{optional, print_json, print_record, yes_no};
use crate::session::{self, SavedSession};

pub async fn login(args: LoginArgs, json: bool) -> anyhow::Result<()> {
    let password = read_secret_line()?;
    let client = Client::new(&args.server)?;
    let response = client.login(&args.user, &password).await?;
    let path = session::save(&SavedSession {
        server: args.server.clone(),
        user: response.user.login.clone(),
        token: response.token.clone(),
    })?;
    if json {
        print_json(&serde_json::json!({
            "server": args.server,
            "user": response.user,
            "expires_at": response.expires_at,
            "session_file": path,
        }))
    } else {
        println!(
            "Signed in to {} as {}; session saved in {} (expires {}).",
            args.server,
            response.user.login,
            path.display(),
            response.expires_at
        );
        Ok(())
    }
}

pub async fn logout() -> anyhow::Result<()> {
    if let Ok(client) = session::client()
        && client.token().is_some()
    {
        // The session may already have expired; forgetting it locally is what matters.
        if let Err(error) = client.logout().await {
            eprintln!("warning: the server did not end the session: {error}");
        }
    }
    session::forget()?;
    println!("Signed out.");
    Ok(())
}

pub async fn whoami(client: &Client, json: bool) -> anyhow::Result<()> {
    let user = client.me().await?;
    if json {
        print_json(&user)
    } else {
        print_user(&user);
        Ok(())
    }
}

pub fn print_user(user: &UserView) {
    print_record(vec![
        ("login", user.login.clone()),
        ("display name", user.display_name.clone()),
        ("email", optional(&user.email)),
        ("container", optional(&user.container)),
        ("disabled", yes_no(user.disabled)),
        ("administrator", yes_no(user.administrator)),
        ("policy", optional(&user.policy)),
        (
            "chat enabled",
            format!(
                "{} (by {})",
                yes_no(user.chat_enabled),
                user.effective_policy
            ),
        ),
        ("created", user.created_at.clone()),
    ]);
}
