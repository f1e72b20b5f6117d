//! `stoa message post` and `stoa message history`.

use std::io::Read;

use anyhow::Context;
use stoa_client::{Client, HistoryQuery};

use crate::cli::MessageCommand;
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
                        message.body.clone(),
                    ]
                })
                .collect();
            print_table(&["seq", "time", "author", "message"], rows);
            Ok(())
        }
    }
}
