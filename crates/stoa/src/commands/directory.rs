//! `stoa user …` and `stoa group …`.

use stoa_client::Client;
use stoa_wire::{
    CreateGroupRequest, CreateUserRequest, GroupView, UpdateGroupRequest, UpdateUserRequest,
    UserView,
};

use crate::cli::{GroupCommand, UserCommand, UserFields};
use crate::commands::read_secret_line;
use crate::commands::sessions::print_user;
use crate::output::{list, optional, print_json, print_record, print_table, yes_no};

fn password(fields: &UserFields) -> anyhow::Result<Option<String>> {
    if fields.password_stdin {
        read_secret_line().map(Some)
    } else {
        Ok(None)
    }
}

fn show_user(user: &UserView, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(user)
    } else {
        print_user(user);
        Ok(())
    }
}

pub async fn user(client: &Client, command: UserCommand, json: bool) -> anyhow::Result<()> {
    match command {
        UserCommand::New(args) => {
            let request = CreateUserRequest {
                password: password(&args.fields)?,
                login: args.login,
                display_name: args.fields.display_name,
                email: args.fields.email,
                container: args.fields.container,
                disabled: args.fields.disabled,
            };
            show_user(&client.create_user(&request).await?, json)
        }
        UserCommand::Set(args) => {
            let request = UpdateUserRequest {
                password: password(&args.fields)?,
                display_name: args.fields.display_name,
                email: args.fields.email,
                container: args.fields.container,
                disabled: args.fields.disabled,
            };
            show_user(&client.update_user(&args.login, &request).await?, json)
        }
        UserCommand::Get { login: Some(login) } => show_user(&client.user(&login).await?, json),
        UserCommand::Get { login: None } => {
            let users = client.list_users().await?;
            if json {
                return print_json(&users);
            }
            let rows = users
                .iter()
                .map(|user| {
                    vec![
                        user.login.clone(),
                        user.display_name.clone(),
                        optional(&user.container),
                        yes_no(user.disabled),
                        yes_no(user.administrator),
                    ]
                })
                .collect();
            print_table(
                &[
                    "login",
                    "display name",
                    "container",
                    "disabled",
                    "administrator",
                ],
                rows,
            );
            Ok(())
        }
        UserCommand::Remove { login } => {
            client.remove_user(&login).await?;
            done(json, &format!("Removed user {login}."))
        }
    }
}

fn show_group(group: &GroupView, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(group)
    } else {
        print_record(vec![
            ("name", group.name.clone()),
            ("description", group.description.clone()),
            ("members", list(&group.members)),
        ]);
        Ok(())
    }
}

pub async fn group(client: &Client, command: GroupCommand, json: bool) -> anyhow::Result<()> {
    match command {
        GroupCommand::New {
            name,
            description,
            members,
        } => {
            let request = CreateGroupRequest {
                name,
                description,
                members,
            };
            show_group(&client.create_group(&request).await?, json)
        }
        GroupCommand::Get { name: Some(name) } => show_group(&client.group(&name).await?, json),
        GroupCommand::Get { name: None } => {
            let groups = client.list_groups().await?;
            if json {
                return print_json(&groups);
            }
            let rows = groups
                .iter()
                .map(|group| {
                    vec![
                        group.name.clone(),
                        group.description.clone(),
                        list(&group.members),
                    ]
                })
                .collect();
            print_table(&["name", "description", "members"], rows);
            Ok(())
        }
        GroupCommand::Remove { name } => {
            client.remove_group(&name).await?;
            done(json, &format!("Removed group {name}."))
        }
        GroupCommand::AddMember { name, members } => {
            let request = UpdateGroupRequest {
                add_members: members,
                remove_members: Vec::new(),
            };
            show_group(&client.update_group(&name, &request).await?, json)
        }
        GroupCommand::RemoveMember { name, members } => {
            let request = UpdateGroupRequest {
                add_members: Vec::new(),
                remove_members: members,
            };
            show_group(&client.update_group(&name, &request).await?, json)
        }
    }
}

/// Reports a command that returns nothing.
pub fn done(json: bool, message: &str) -> anyhow::Result<()> {
    if json {
        print_json(&serde_json::json!({ "ok": true }))
    } else {
        println!("{message}");
        Ok(())
    }
}
