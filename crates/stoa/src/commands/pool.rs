//! `stoa pool`: the nodes of the pool, its active servers and its state.

use stoa_client::Client;
use stoa_wire::{PoolView, UpdateActiveServersRequest, UpdatePoolStateRequest};

use crate::cli::PoolCommand;
use crate::output::{print_json, print_record, print_table, yes_no};

pub async fn run(client: &Client, command: PoolCommand, json: bool) -> anyhow::Result<()> {
    let pool = match command {
        PoolCommand::Nodes => {
            let pool = client.pool().await?;
            if json {
                return print_json(&pool.nodes);
            }
            print_nodes(&pool);
            return Ok(());
        }
        PoolCommand::ActiveServers { set, swap, all } => {
            let pool = if set.is_some() || swap || all {
                let request = UpdateActiveServersRequest { servers: set, swap };
                client.set_active_servers(&request).await?
            } else {
                client.pool().await?
            };
            if !json {
                print_record(vec![(
                    "active servers",
                    pool.active_servers
                        .as_ref()
                        .map_or_else(|| "every node".to_owned(), |servers| servers.join(", ")),
                )]);
                print_nodes(&pool);
                return Ok(());
            }
            pool
        }
        PoolCommand::State { set } => {
            let pool = match set {
                Some(state) => {
                    client
                        .set_pool_state(&UpdatePoolStateRequest { state })
                        .await?
                }
                None => client.pool().await?,
            };
            if !json {
                print_record(vec![("state", pool.state.clone())]);
                return Ok(());
            }
            pool
        }
    };
    print_json(&pool)
}

fn print_nodes(pool: &PoolView) {
    print_table(
        &["node", "address", "site", "active", "last heartbeat"],
        pool.nodes
            .iter()
            .map(|node| {
                vec![
                    node.name.clone(),
                    node.address.clone(),
                    node.site.clone(),
                    yes_no(node.active),
                    node.last_heartbeat.clone(),
                ]
            })
            .collect(),
    );
}
