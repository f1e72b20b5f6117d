//! `stoa config` and `stoa addin`: the chat service's configuration and its add-ins.

use std::collections::BTreeMap;

use stoa_client::Client;
use stoa_wire::{AddinView, ConfigurationView, UpdateConfigurationRequest};

use crate::cli::{AddinCommand, ConfigCommand};
use crate::commands::directory::done;
use crate::output::{print_json, print_record, print_table};

pub async fn config(client: &Client, command: ConfigCommand, json: bool) -> anyhow::Result<()> {
    let view = match command {
        ConfigCommand::Get => client.configuration().await?,
        ConfigCommand::Set {
            scope,
            default_chat_history,
            max_file_size_kb,
            participant_update_limit,
            room_management_url,
        } => {
            let values: BTreeMap<String, String> = [
                ("DefaultChatHistory", default_chat_history),
                ("MaxFileSizeKB", max_file_size_kb),
                ("ParticipantUpdateLimit", participant_update_limit),
                ("RoomManagementUrl", room_management_url),
            ]
            .into_iter()
            .filter_map(|(key, value)| value.map(|value| (key.to_owned(), value)))
            .collect();
            if values.is_empty() {
                anyhow::bail!(
                    "name a setting to change: --default-chat-history, --max-file-size-kb, \
                     --participant-update-limit or --room-management-url"
                );
            }
            let request = UpdateConfigurationRequest {
                scope: Some(scope),
                values,
            };
            client.set_configuration(&request).await?
        }
    };
    if json {
        return print_json(&view);
    }
    show_configuration(&view);
    Ok(())
}

fn show_configuration(view: &ConfigurationView) {
    println!("In force on node {} (site {}):", view.node, view.site);
    let rows = view
        .effective
        .iter()
        .map(|entry| vec![entry.key.clone(), entry.value.clone(), entry.scope.clone()])
        .collect();
    print_table(&["setting", "value", "from"], rows);
    println!();
    println!("Set:");
    let rows = view
        .set
        .iter()
        .map(|entry| vec![entry.scope.clone(), entry.key.clone(), entry.value.clone()])
        .collect();
    print_table(&["scope", "setting", "value"], rows);
}

fn show_addin(addin: &AddinView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(addin);
    }
    print_record(vec![
        ("name", addin.name.clone()),
        ("url", addin.url.clone()),
    ]);
    Ok(())
}

pub async fn addin(client: &Client, command: AddinCommand, json: bool) -> anyhow::Result<()> {
    match command {
        AddinCommand::New { name, url } => {
            show_addin(&client.create_addin(&name, &url).await?, json)
        }
        AddinCommand::Set { name, url } => show_addin(&client.set_addin(&name, &url).await?, json),
        AddinCommand::Get { name: Some(name) } => show_addin(&client.addin(&name).await?, json),
        AddinCommand::Get { name: None } => {
            let addins = client.addins().await?;
            if json {
                return print_json(&addins);
            }
            let rows = addins
                .iter()
                .map(|addin| vec![addin.name.clone(), addin.url.clone()])
                .collect();
            print_table(&["name", "url"], rows);
            Ok(())
        }
        AddinCommand::Remove { name } => {
            client.remove_addin(&name).await?;
            done(json, &format!("Removed add-in {name}."))
        }
    }
}
