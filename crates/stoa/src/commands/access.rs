//! `stoa access explain`, `stoa principal eligible`, `stoa policy …`, `stoa role …` and
//! `stoa invitation …`.

use stoa_client::Client;
use stoa_wire::{CreatePolicyRequest, PolicyView, UpdatePolicyRequest, UpdateRoleRequest};

use crate::cli::{
    ADMINISTRATOR_ROLE, AccessCommand, InvitationCommand, PolicyCommand, PrincipalCommand,
    RoleCommand, role_and_principals,
};
use crate::commands::directory::done;
use crate::commands::sessions::print_user;
use crate::output::{list, optional, print_json, print_record, print_table, yes_no};

pub async fn explain(client: &Client, command: AccessCommand, json: bool) -> anyhow::Result<()> {
    let AccessCommand::Explain {
        user,
        room,
        category,
        action,
    } = command;
    let explained = client
        .explain(&user, &action, room.as_deref(), category.as_deref())
        .await?;
    if json {
        return print_json(&explained);
    }
    print_record(vec![
        ("user", explained.user),
        ("action", explained.action),
        ("target", explained.target),
        ("decision", explained.outcome),
        ("rule", format!("SPEC §3 rule {}", explained.rule)),
        ("reason", explained.reason),
    ]);
    Ok(())
}

pub async fn principal(
    client: &Client,
    command: PrincipalCommand,
    json: bool,
) -> anyhow::Result<()> {
    let PrincipalCommand::Eligible {
        category,
        room,
        presenters,
    } = command;
    let users = client
        .eligible(category.as_deref(), room.as_deref(), presenters)
        .await?;
    if json {
        return print_json(&users);
    }
    let rows = users
        .iter()
        .map(|user| vec![user.login.clone(), user.display_name.clone()])
        .collect();
    print_table(&["login", "display name"], rows);
    Ok(())
}

fn show_policy(policy: &PolicyView, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(policy);
    }
    print_record(vec![
        ("identity", policy.identity.clone()),
        ("scope", policy.scope.clone()),
        (
            "enable persistent chat",
            yes_no(policy.enable_persistent_chat),
        ),
    ]);
    Ok(())
}

pub async fn policy(client: &Client, command: PolicyCommand, json: bool) -> anyhow::Result<()> {
    match command {
        PolicyCommand::New {
            identity,
            enable_persistent_chat,
        } => {
            let request = CreatePolicyRequest {
                identity,
                enable_persistent_chat,
            };
            show_policy(&client.create_policy(&request).await?, json)
        }
        PolicyCommand::Set {
            identity,
            enable_persistent_chat,
        } => {
            let request = UpdatePolicyRequest {
                enable_persistent_chat,
            };
            show_policy(&client.update_policy(&identity, &request).await?, json)
        }
        PolicyCommand::Get {
            identity: Some(identity),
        } => show_policy(&client.policy(&identity).await?, json),
        PolicyCommand::Get { identity: None } => {
            let policies = client.list_policies().await?;
            if json {
                return print_json(&policies);
            }
            let rows = policies
                .iter()
                .map(|policy| {
                    vec![
                        policy.identity.clone(),
                        policy.scope.clone(),
                        yes_no(policy.enable_persistent_chat),
                    ]
                })
                .collect();
            print_table(&["identity", "scope", "enable persistent chat"], rows);
            Ok(())
        }
        PolicyCommand::Remove { identity } => {
            client.remove_policy(&identity).await?;
            done(json, &format!("Removed policy {identity}."))
        }
        PolicyCommand::Grant { user, policy, none } => {
            let policy = if none { None } else { policy };
            let user = client.grant_policy(&user, policy.as_deref()).await?;
            if json {
                print_json(&user)
            } else {
                print_user(&user);
                Ok(())
            }
        }
    }
}

pub async fn role(client: &Client, command: RoleCommand, json: bool) -> anyhow::Result<()> {
    let role = match command {
        RoleCommand::Get { role } => {
            client
                .role(role.as_deref().unwrap_or(ADMINISTRATOR_ROLE))
                .await?
        }
        RoleCommand::Grant { arguments } => {
            let (role, principals) = role_and_principals(arguments);
            if principals.is_empty() {
                anyhow::bail!("name at least one principal to grant the {role} role to");
            }
            let request = UpdateRoleRequest {
                add_members: principals,
                remove_members: Vec::new(),
            };
            client.update_role(&role, &request).await?
        }
        RoleCommand::Revoke { arguments } => {
            let (role, principals) = role_and_principals(arguments);
            if principals.is_empty() {
                anyhow::bail!("name at least one principal to revoke the {role} role from");
            }
            let request = UpdateRoleRequest {
                add_members: Vec::new(),
                remove_members: principals,
            };
            client.update_role(&role, &request).await?
        }
    };
    if json {
        return print_json(&role);
    }
    print_record(vec![("role", role.role), ("members", list(&role.members))]);
    Ok(())
}

pub async fn invitation(
    client: &Client,
    command: InvitationCommand,
    json: bool,
) -> anyhow::Result<()> {
    match command {
        InvitationCommand::List => {
            let invitations = client.invitations().await?;
            if json {
                return print_json(&invitations);
            }
            let rows = invitations
                .iter()
                .map(|invitation| {
                    vec![
                        invitation.room.clone(),
                        optional(&invitation.invited_by),
                        invitation.created_at.clone(),
                    ]
                })
                .collect();
            print_table(&["room", "invited by", "since"], rows);
            Ok(())
        }
        InvitationCommand::Accept { room } => {
            let room = client.accept_invitation(&room).await?;
            if json {
                print_json(&room)
            } else {
                println!("Accepted; you now follow {}.", room.name);
                Ok(())
            }
        }
        InvitationCommand::Decline { room } => {
            client.decline_invitation(&room).await?;
            done(json, &format!("Declined the invitation to {room}."))
        }
    }
}
