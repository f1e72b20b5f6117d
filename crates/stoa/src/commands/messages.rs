//! `stoa message post`, `stoa message history` and `stoa message remove`.

use std::io::Read;

use anyhow::Context;
use stoa_client::{Client, HistoryQuery};

use crate::cli::{KeywordMatchArg, MessageCommand, MessageRemoveArgs};
use crate::output::{print_json, print_table};

pub async fn run(client: &Client, command: MessageCommand, json: bool) -> anyhow::Result<()> {
    match command {
        MessageCommand::Post {
            room,
            text,
            idempotency_key,
        } => {
            let body = if text == "-" {
                let mut body = String::new();
                std::io::stdin()
                    .read_to_string(&mut body)
                    .context("cannot read the message from standard input")?;
                body
            } else {
                text
            };
            let key = idempotency_key.unwrap_or_else(stoa_client::new_idempotency_key);
            let posted = client.post_message_retrying(&room, &body, &key).await?;
            let message = posted.message;
            if json {
                print_json(&message)
            } else if posted.replayed {
                println!(
                    "Message {} in {} was already posted with this idempotency key; nothing new was stored.",
                    message.seq, message.room
                );
                Ok(())
            } else {
                println!("Posted message {} to {}.", message.seq, message.room);
                Ok(())
            }
        }
        MessageCommand::History {
            room,
            limit,
            before,
            after,
        } => {
            let query = HistoryQuery {
                after,
                before,
                limit,
            };
            let messages = client.history(&room, query).await?;
            if json {
                return print_json(&messages);
            }
            let rows = messages
                .iter()
                .map(|message| {
                    vec![
                        message.seq.to_string(),
                        message.created_at.clone(),
                        message.author.clone(),
                        state_name(message.state).to_owned(),
                        match &message.file {
                            Some(file) => {
                                format!("[file {}] {} ({} bytes)", file.id, file.name, file.size)
                            }
                            None => message.body.clone(),
                        },
                    ]
                })
                .collect();
            print_table(&["seq", "time", "author", "state", "message"], rows);
            Ok(())
        }
        MessageCommand::Remove(args) => remove(client, args, json).await,
    }
}

async fn remove(client: &Client, args: MessageRemoveArgs, json: bool) -> anyhow::Result<()> {
    let (replace, replacement) = match args.replace {
        Some(text) => (true, text),
        None => (false, None),
    };
    let request = stoa_wire::RemoveMessagesRequest {
        user: args.user,
        keywords: args.keywords,
        matching: match args.matching {
            KeywordMatchArg::All => stoa_wire::KeywordMatch::All,
            KeywordMatchArg::Any => stoa_wire::KeywordMatch::Any,
            KeywordMatchArg::Exact => stoa_wire::KeywordMatch::Exact,
        },
        case_sensitive: args.case_sensitive,
        start_date: args.start_date,
        end_date: args.end_date,
        replace,
        replacement,
    };
    let removed = client.remove_messages(&args.room, &request).await?;
    if json {
        return print_json(&removed);
    }
    let verb = if replace { "Replaced" } else { "Removed" };
    if removed.changed.is_empty() {
        println!("No message of {} matched; nothing changed.", removed.room);
        return Ok(());
    }
    let rows = removed
        .changed
        .iter()
        .map(|message| {
            vec![
                message.seq.to_string(),
                message.created_at.clone(),
                message.author.clone(),
                state_name(message.state).to_owned(),
            ]
        })
        .collect();
    print_table(&["seq", "time", "author", "state"], rows);
    println!(
        "{verb} {} message(s) in {}.",
        removed.changed.len(),
        removed.room
    );
    Ok(())
}

/// How a message's state reads in a table.
pub fn state_name(state: stoa_wire::MessageState) -> &'static str {
    match state {
        stoa_wire::MessageState::Posted => "posted",
        stoa_wire::MessageState::Removed => "removed",
        stoa_wire::MessageState::Replaced => "replaced",
        stoa_wire::MessageState::Cleared => "cleared",
    }
}
