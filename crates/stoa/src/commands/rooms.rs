//! `stoa category …` and `stoa room …`.

use stoa_client::Client;
use stoa_wire::{
    CategoryView, CreateCategoryRequest, CreateRoomRequest, Invitations, Privacy, RoomType,
    RoomView, UpdateCategoryRequest, UpdateRoomRequest,
};

use crate::cli::{CategoryCommand, InvitationsArg, PrivacyArg, RoomCommand, RoomTypeArg};
use crate::commands::directory::done;
use crate::output::{list, optional, print_json, print_record, print_table, yes_no};

fn show_category(category: &CategoryView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(category);
    }
    let mut fields = vec![
        ("name", category.name.clone()),
        ("description", category.description.clone()),
    ];
    for (name, principals) in [
        ("allowed members", &category.allowed_members),
        ("denied members", &category.denied_members),
        ("creators", &category.creators),
    ] {
        if let Some(principals) = principals {
            fields.push((name, list(principals)));
        }
    }
    fields.extend([
        ("file upload", yes_no(category.file_upload)),
        ("chat history", yes_no(category.chat_history)),
        ("invitations", yes_no(category.invitations)),
    ]);
    print_record(fields);
    Ok(())
}

pub async fn category(client: &Client, command: CategoryCommand, json: bool) -> anyhow::Result<()> {
    match command {
        CategoryCommand::New(args) => {
            let request = CreateCategoryRequest {
                name: args.name,
                description: args.description,
                allowed_members: args.add_allowed_members,
                denied_members: args.add_denied_members,
                creators: args.add_creators,
                file_upload: args.switches.file_upload,
                chat_history: args.switches.chat_history,
                invitations: args.switches.invitations,
            };
            show_category(&client.create_category(&request).await?, json)
        }
        CategoryCommand::Set(args) => {
            let request = UpdateCategoryRequest {
                name: args.new_name,
                description: args.description,
                add_allowed_members: args.add_allowed_members,
                remove_allowed_members: args.remove_allowed_members,
                add_denied_members: args.add_denied_members,
                remove_denied_members: args.remove_denied_members,
                add_creators: args.add_creators,
                remove_creators: args.remove_creators,
                file_upload: args.switches.file_upload,
                chat_history: args.switches.chat_history,
                invitations: args.switches.invitations,
            };
            show_category(&client.update_category(&args.name, &request).await?, json)
        }
        CategoryCommand::Get { name: Some(name) } => {
            show_category(&client.category(&name).await?, json)
        }
        CategoryCommand::Get { name: None } => {
            let categories = client.list_categories().await?;
            if json {
                return print_json(&categories);
            }
            let rows = categories
                .iter()
                .map(|category| {
                    let shown = |principals: &Option<Vec<String>>| {
                        principals
                            .as_deref()
                            .map(list)
                            .unwrap_or_else(|| "(hidden)".to_owned())
                    };
                    vec![
                        category.name.clone(),
                        shown(&category.allowed_members),
                        shown(&category.denied_members),
                        shown(&category.creators),
                    ]
                })
                .collect();
            print_table(
                &["name", "allowed members", "denied members", "creators"],
                rows,
            );
            Ok(())
        }
        CategoryCommand::Remove { name } => {
            client.remove_category(&name).await?;
            done(json, &format!("Removed category {name}."))
        }
    }
}

fn privacy(arg: PrivacyArg) -> Privacy {
    match arg {
        PrivacyArg::Open => Privacy::Open,
        PrivacyArg::Closed => Privacy::Closed,
        PrivacyArg::Secret => Privacy::Secret,
    }
}

fn room_type(arg: RoomTypeArg) -> RoomType {
    match arg {
        RoomTypeArg::Normal => RoomType::Normal,
        RoomTypeArg::Auditorium => RoomType::Auditorium,
    }
}

fn invitations(arg: InvitationsArg) -> Invitations {
    match arg {
        InvitationsArg::Inherit => Invitations::Inherit,
        InvitationsArg::False => Invitations::Off,
    }
}

/// The text form of a wire enum, as the API spells it.
fn text_of<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn show_room(room: &RoomView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(room);
    }
    // A room's card (for those who may find it but are not its members) has no member or
    // presenter lists and no activity; its record leaves those lines out.
    let mut record = vec![
        ("name", room.name.clone()),
        ("id", room.id.clone()),
        ("description", room.description.clone()),
        ("category", room.category.clone()),
        ("privacy", text_of(&room.privacy)),
        ("type", text_of(&room.room_type)),
        ("invitations", text_of(&room.invitations)),
    ];
    if let Some(members) = &room.members {
        record.push(("members", list(members)));
    }
    record.push(("managers", list(&room.managers)));
    if let Some(presenters) = &room.presenters {
        record.push(("presenters", list(presenters)));
    }
    record.push(("add-in", optional(&room.addin)));
    if let Some(url) = &room.addin_url {
        record.push(("add-in url", url.clone()));
    }
    record.push(("disabled", yes_no(room.disabled)));
    if let Some(last_seq) = room.last_seq {
        record.push(("messages", last_seq.to_string()));
    }
    record.push(("created", room.created_at.clone()));
    print_record(record);
    Ok(())
}

pub async fn room(client: &Client, command: RoomCommand, json: bool) -> anyhow::Result<()> {
    match command {
        RoomCommand::New(args) => {
            let request = CreateRoomRequest {
                name: args.name,
                category: args.category,
                description: args.settings.description,
                privacy: args.settings.privacy.map(privacy),
                room_type: args.settings.room_type.map(room_type),
                invitations: args.settings.invitations.map(invitations),
                addin: args.settings.addin,
                disabled: args.settings.disabled,
                members: args.add_members,
                managers: args.add_managers,
                presenters: args.add_presenters,
            };
            show_room(&client.create_room(&request).await?, json)
        }
        RoomCommand::Set(args) => {
            let request = UpdateRoomRequest {
                name: args.new_name,
                description: args.settings.description,
                category: args.category,
                privacy: args.settings.privacy.map(privacy),
                room_type: args.settings.room_type.map(room_type),
                invitations: args.settings.invitations.map(invitations),
                addin: args.settings.addin,
                disabled: args.settings.disabled,
                add_members: args.add_members,
                remove_members: args.remove_members,
                add_managers: args.add_managers,
                remove_managers: args.remove_managers,
                add_presenters: args.add_presenters,
                remove_presenters: args.remove_presenters,
            };
            show_room(&client.update_room(&args.name, &request).await?, json)
        }
        RoomCommand::Get {
            name: Some(name), ..
        } => show_room(&client.room(&name).await?, json),
        RoomCommand::Get {
            name: None,
            category,
        } => show_rooms(&client.list_rooms(category.as_deref()).await?, json),
        RoomCommand::Search {
            text,
            category,
            limit,
            after,
        } => show_rooms(
            &client
                .search_rooms(
                    Some(&text),
                    category.as_deref(),
                    Some(limit),
                    after.as_deref(),
                )
                .await?,
            json,
        ),
        RoomCommand::Remove { name } => {
            client.remove_room(&name).await?;
            done(json, &format!("Removed room {name}."))
        }
        RoomCommand::Clear { name, end_date } => {
            let cleared = client.clear_room(&name, &end_date).await?;
            if json {
                return print_json(&cleared);
            }
            match cleared.through_seq {
                Some(through) => println!(
                    "Cleared {} message(s) of {}, up to message {through}.",
                    cleared.messages, cleared.room
                ),
                None => println!(
                    "Nothing of {} was posted on or before {end_date} that was not already cleared.",
                    cleared.room
                ),
            }
            Ok(())
        }
    }
}

/// Prints rooms as a table (or JSON): name, id, category, privacy, type, disabled, messages.
fn show_rooms(rooms: &[stoa_wire::RoomView], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&rooms);
    }
    let rows = rooms
        .iter()
        .map(|room| {
            vec![
                room.name.clone(),
                room.id.clone(),
                room.category.clone(),
                text_of(&room.privacy),
                text_of(&room.room_type),
                yes_no(room.disabled),
                room.last_seq
                    .map_or_else(|| "-".to_owned(), |seq| seq.to_string()),
            ]
        })
        .collect();
    print_table(
        &[
            "name", "id", "category", "privacy", "type", "disabled", "messages",
        ],
        rows,
    );
    Ok(())
}
