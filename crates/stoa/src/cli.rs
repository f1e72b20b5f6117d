//! The command line, declared once: every subcommand and flag with the help text users see.
//!
//! Names follow SPEC §7: Lync cmdlet settings become kebab-case flags, list edits take the
//! form `--add-members user:bob --remove-members group:x` (comma-separated or repeated), and
//! every command prints a table by default and JSON with `--json`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "stoa",
    version,
    about = "Stoa persistent chat server and its administration tool"
)]
pub struct Cli {
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Sign in to a server and remember the session for later commands.
    Login(LoginArgs),
    /// End the remembered session.
    Logout,
    /// Show the signed-in user.
    Whoami,
    /// Manage users of the built-in directory.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage groups of the built-in directory.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Manage categories.
    #[command(subcommand)]
    Category(CategoryCommand),
    /// Manage rooms.
    #[command(subcommand)]
    Room(RoomCommand),
    /// Post and read messages.
    #[command(subcommand)]
    Message(MessageCommand),
    /// Ask the access rules why (administrators).
    #[command(subcommand)]
    Access(AccessCommand),
    /// Expand principals (administrators).
    #[command(subcommand)]
    Principal(PrincipalCommand),
    /// Manage persistent chat policies (administrators).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Grant and revoke the administrator role (administrators).
    #[command(subcommand)]
    Role(RoleCommand),
    /// Answer your pending room invitations.
    #[command(subcommand)]
    Invitation(InvitationCommand),
    /// Compliance capture and export (administrators).
    #[command(subcommand)]
    Compliance(ComplianceCommand),
    /// See and steer the pool of nodes (administrators).
    #[command(subcommand)]
    Pool(PoolCommand),
    /// Post, list and download the files of a room.
    #[command(subcommand)]
    File(FileCommand),
    /// Manage add-ins, the web pages shown beside rooms (administrators).
    #[command(subcommand)]
    Addin(AddinCommand),
    /// See and change the chat service's configuration (administrators).
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Post a file to a room, where its category allows files, up to MaxFileSizeKB.
    Upload {
        /// The room's name, or its id (shown by `stoa room get`) where several rooms share the name.
        #[arg(long)]
        room: String,
        /// The file to post.
        path: std::path::PathBuf,
        /// The name it is posted under (default: the file's own name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Download a file of a room.
    Download {
        /// The room's name, or its id where several rooms share the name.
        #[arg(long)]
        room: String,
        /// The file's id (shown by `stoa file get`), or its name (the newest file so named).
        file: String,
        /// Where to write it (default: its name, in the current directory; `-` for
        /// standard output).
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
    },
    /// List a room's files, newest first.
    Get {
        /// The room's name, or its id where several rooms share the name.
        #[arg(long)]
        room: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AddinCommand {
    /// Create an add-in: a name and an https or http URL.
    New {
        name: String,
        #[arg(long)]
        url: String,
    },
    /// Change an add-in's URL.
    Set {
        name: String,
        #[arg(long)]
        url: String,
    },
    /// Show one add-in, or all of them.
    Get { name: Option<String> },
    /// Remove an add-in that no room uses.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show the values set at each scope, and those in force on the node that answers.
    Get,
    /// Set values at one scope; an empty value unsets it there.
    Set {
        /// `global` (the default), `site:NAME` or `node:NAME`.
        #[arg(long, default_value = "global")]
        scope: String,
        /// Messages a client gets when it joins a room (1-500).
        #[arg(long = "default-chat-history", value_name = "N")]
        default_chat_history: Option<String>,
        /// Largest file that may be posted, in KB.
        #[arg(long = "max-file-size-kb", value_name = "KB")]
        max_file_size_kb: Option<String>,
        /// Above this many participants a room stops sending roster updates.
        #[arg(long = "participant-update-limit", value_name = "N")]
        participant_update_limit: Option<String>,
        /// Where clients send users to manage rooms (https or http URL).
        #[arg(long = "room-management-url", value_name = "URL")]
        room_management_url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// Show whether compliance data is kept, and every adapter's settings.
    Get,
    /// Create an adapter, or change the settings given. Configuring the first adapter turns
    /// capture on: from then on every event is kept until every adapter has exported it.
    Set(ComplianceSetArgs),
    /// Remove an adapter. With no adapter left, no compliance data is kept.
    Remove {
        #[arg(long, default_value = "default")]
        adapter_name: String,
    },
    /// Export now, whatever the run interval, and print what each adapter exported.
    Run,
    /// Per adapter: how far it has exported, events pending, its last run and last error.
    Status,
    /// Check the stored hash chain and the exported files; exits non-zero at the first
    /// break, naming its position.
    Verify {
        /// Check the files in this directory on the server (default: every adapter's).
        #[arg(long)]
        output_directory: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ComplianceSetArgs {
    /// The adapter to create or change (AdapterName); it starts every file name it writes.
    #[arg(long, default_value = "default")]
    pub adapter_name: String,
    /// AdapterType: xml (Lync's format) or jsonl (one event per line).
    #[arg(long)]
    pub adapter_type: Option<String>,
    /// AdapterOutputDirectory: where the files go, on the server; a relative path is taken
    /// from this command's working directory. Each adapter needs its own.
    #[arg(long)]
    pub adapter_output_directory: Option<PathBuf>,
    /// OneChatRoomPerOutputFile: one file per room in each export.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub one_chat_room_per_output_file: Option<bool>,
    /// CreateFileAttachmentsManifest: write .ATTACH manifests beside files with uploads.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub create_file_attachments_manifest: Option<bool>,
    /// AddChatRoomDetails: rooms' ids and categories in the XML.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub add_chat_room_details: Option<bool>,
    /// AddUserDetails: users' display names and emails in the XML.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub add_user_details: Option<bool>,
    /// RunInterval: how often the adapter exports, from 1m to 30d (e.g. 90s, 15m, 2h, 1d).
    #[arg(long)]
    pub run_interval: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// List the nodes alive now, with their address, site and whether they are active.
    Nodes,
    /// Show or choose the nodes that accept new sessions (Set-CsPersistentChatActiveServer).
    /// A node that is not active refuses sign-ins and new live connections with 503 and
    /// keeps the sessions it has.
    ActiveServers {
        /// The active nodes, comma-separated.
        #[arg(long, value_delimiter = ',', conflicts_with_all = ["swap", "all"])]
        set: Option<Vec<String>>,
        /// Make the standby nodes active and the active ones standby.
        #[arg(long, conflicts_with = "all")]
        swap: bool,
        /// Make every node active again.
        #[arg(long)]
        all: bool,
    },
    /// Show or set the pool's state (Set-CsPersistentChatState): `normal`, or `failed-over`
    /// while it runs on its disaster-recovery database.
    State {
        /// `normal` or `failed-over`.
        #[arg(long)]
        set: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Show what the access rules decide for a user, naming the rule and the principal.
    Explain {
        /// The user's login.
        #[arg(long)]
        user: String,
        /// The room the action is about.
        #[arg(long, required_unless_present = "category")]
        room: Option<String>,
        /// The category the action is about; with --room and change-category, where the
        /// room would move.
        #[arg(long)]
        category: Option<String>,
        /// find, read, join, read-history, post, upload-file, manage, change-category,
        /// delete, send-invitations, find-category, create-room or administer.
        #[arg(long)]
        action: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PrincipalCommand {
    /// List the users a category or room admits, with groups, containers and domains
    /// expanded.
    Eligible {
        #[arg(long, conflicts_with = "room", required_unless_present = "room")]
        category: Option<String>,
        #[arg(long)]
        room: Option<String>,
        /// Only the room's presenters.
        #[arg(long, requires = "room")]
        presenters: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Create a policy: `site:NAME`, `node:NAME`, or a user policy `NAME` to grant to users.
    New {
        identity: String,
        /// Whether users under this policy may use persistent chat (default true).
        #[arg(long, value_name = "BOOL")]
        enable_persistent_chat: Option<bool>,
    },
    /// Change a policy.
    Set {
        identity: String,
        #[arg(long, value_name = "BOOL")]
        enable_persistent_chat: Option<bool>,
    },
    /// Show one policy, or all of them.
    Get { identity: Option<String> },
    /// Remove a policy that is granted to no one (the global policy stays).
    Remove { identity: String },
    /// Grant a user policy to a user, or take their grant away with --none.
    Grant {
        #[arg(long)]
        user: String,
        #[arg(long, required_unless_present = "none", conflicts_with = "none")]
        policy: Option<String>,
        /// Remove the user's grant; the node, site or global policy applies again.
        #[arg(long)]
        none: bool,
    },
}

/// The one built-in role, which role commands name by default.
pub const ADMINISTRATOR_ROLE: &str = "administrator";

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Show who holds the role: `stoa role get [administrator]`.
    Get { role: Option<String> },
    /// Grant the role: `stoa role grant [administrator] user:bob@contoso.com group:admins`.
    Grant {
        /// An optional role name (only `administrator` exists), then principals (user:… or
        /// group:…), space- or comma-separated.
        #[arg(
            required = true,
            value_delimiter = ',',
            value_name = "[ROLE] PRINCIPAL"
        )]
        arguments: Vec<String>,
    },
    /// Revoke the role: `stoa role revoke [administrator] user:bob@contoso.com`. The role is
    /// never left empty.
    Revoke {
        #[arg(
            required = true,
            value_delimiter = ',',
            value_name = "[ROLE] PRINCIPAL"
        )]
        arguments: Vec<String>,
    },
}

/// Splits `[ROLE] PRINCIPAL…`: a first word without `:` names the role.
pub fn role_and_principals(mut arguments: Vec<String>) -> (String, Vec<String>) {
    match arguments.first() {
        Some(first) if !first.contains(':') => {
            let role = arguments.remove(0);
            (role, arguments)
        }
        _ => (ADMINISTRATOR_ROLE.to_owned(), arguments),
    }
}

#[derive(Debug, Subcommand)]
pub enum InvitationCommand {
    /// List your pending invitations.
    List,
    /// Accept an invitation; the room is then followed.
    Accept { room: String },
    /// Decline an invitation.
    Decline { room: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Directory holding the database and other state.
    #[arg(long, default_value = "./stoa-data", env = "STOA_DATA")]
    pub data: PathBuf,
    /// PostgreSQL URL for a multi-server pool, e.g. postgres://stoa@db1:5432/stoa. Name a
    /// primary and its standbys as postgres://stoa@db1:5432,db2:5432/stoa to follow a
    /// promotion without a restart. Without it, Stoa uses the embedded SQLite database.
    #[arg(long, env = "STOA_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// PostgreSQL URL of a database of its own for the compliance store (Lync's
    /// PersistentChatComplianceStore); needs --database. Without it, the compliance tables
    /// live beside the content.
    #[arg(
        long,
        env = "STOA_COMPLIANCE_DATABASE",
        hide_env_values = true,
        requires = "database"
    )]
    pub compliance_database: Option<String>,
    /// Address to listen on. Port 0 picks a free port; the URL printed at start says which.
    #[arg(long, default_value = "127.0.0.1:8080", env = "STOA_LISTEN")]
    pub listen: SocketAddr,
    /// Log format.
    #[arg(long, value_enum, default_value = "pretty", env = "STOA_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// This node's name, for `node:NAME` policies (default: the host name).
    #[arg(long, env = "STOA_NODE")]
    pub node: Option<String>,
    /// This node's site, for `site:NAME` policies.
    #[arg(long, default_value = "default", env = "STOA_SITE")]
    pub site: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Server URL, such as http://127.0.0.1:8080.
    #[arg(long, env = "STOA_SERVER")]
    pub server: String,
    /// Login name.
    #[arg(long)]
    pub user: String,
    /// Read the password from the first line of standard input.
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    New(UserNewArgs),
    /// Change a user.
    Set(UserSetArgs),
    /// Show one user, or all users.
    Get { login: Option<String> },
    /// Remove a user. Their messages stay.
    Remove { login: String },
}

#[derive(Debug, Args)]
pub struct UserFields {
    /// Name shown to other users.
    #[arg(long)]
    pub display_name: Option<String>,
    /// Email address; empty to clear.
    #[arg(long)]
    pub email: Option<String>,
    /// Container path such as contoso/sales/emea; empty to clear.
    #[arg(long)]
    pub container: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Disable the account (`--disabled` or `--disabled=false` to enable).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub disabled: Option<bool>,
}

#[derive(Debug, Args)]
pub struct UserNewArgs {
    /// Login, such as alice@contoso.com.
    pub login: String,
    #[command(flatten)]
    pub fields: UserFields,
}

#[derive(Debug, Args)]
pub struct UserSetArgs {
    pub login: String,
    #[command(flatten)]
    pub fields: UserFields,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    New {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Initial members (user:… or group:…), comma-separated or repeated.
        #[arg(long, value_delimiter = ',')]
        members: Vec<String>,
    },
    /// Show one group, or all groups.
    Get { name: Option<String> },
    /// Remove a group that nothing refers to.
    Remove { name: String },
    /// Add members (user:… or group:…).
    AddMember {
        name: String,
        #[arg(required = true, value_delimiter = ',')]
        members: Vec<String>,
    },
    /// Remove members.
    RemoveMember {
        name: String,
        #[arg(required = true, value_delimiter = ',')]
        members: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CategoryCommand {
    /// Create a category. It admits no one until its allowed members are set.
    New(CategoryNewArgs),
    /// Change a category.
    Set(CategorySetArgs),
    /// Show one category, or all categories.
    Get { name: Option<String> },
    /// Remove a category that has no rooms.
    Remove { name: String },
}

#[derive(Debug, Args)]
pub struct CategorySwitches {
    /// Whether files may be posted in the category's rooms.
    #[arg(long, value_name = "BOOL")]
    pub file_upload: Option<bool>,
    /// Whether members may read messages from before they joined.
    #[arg(long, value_name = "BOOL")]
    pub chat_history: Option<bool>,
    /// Whether rooms of the category may send invitations.
    #[arg(long, value_name = "BOOL")]
    pub invitations: Option<bool>,
}

#[derive(Debug, Args)]
pub struct CategoryNewArgs {
    pub name: String,
    #[arg(long)]
    pub description: Option<String>,
    /// Principals admitted (user:, group:, ou:, domain:), comma-separated or repeated.
    #[arg(long, visible_alias = "allowed-members", value_delimiter = ',')]
    pub add_allowed_members: Vec<String>,
    /// Principals refused even if allowed; deny always wins.
    #[arg(long, visible_alias = "denied-members", value_delimiter = ',')]
    pub add_denied_members: Vec<String>,
    /// Principals who may create rooms in the category.
    #[arg(long, visible_alias = "creators", value_delimiter = ',')]
    pub add_creators: Vec<String>,
    #[command(flatten)]
    pub switches: CategorySwitches,
}

#[derive(Debug, Args)]
pub struct CategorySetArgs {
    pub name: String,
    /// New name.
    #[arg(long = "name", value_name = "NEW_NAME")]
    pub new_name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[arg(long, value_delimiter = ',')]
    pub add_allowed_members: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub remove_allowed_members: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub add_denied_members: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub remove_denied_members: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub add_creators: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub remove_creators: Vec<String>,
    #[command(flatten)]
    pub switches: CategorySwitches,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PrivacyArg {
    Open,
    Closed,
    Secret,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoomTypeArg {
    Normal,
    Auditorium,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum InvitationsArg {
    Inherit,
    False,
}

#[derive(Debug, Subcommand)]
pub enum RoomCommand {
    /// Create a room.
    New(RoomNewArgs),
    /// Change a room's settings or membership.
    Set(RoomSetArgs),
    /// Show one room, or the rooms you can find.
    Get {
        /// The room's name, or its id (shown by `stoa room get`) where several rooms share the name.
        name: Option<String>,
        /// Only rooms of this category.
        #[arg(long)]
        category: Option<String>,
    },
    /// Delete a room and its messages (administrators only).
    Remove {
        /// The room's name, or its id (shown by `stoa room get`) where several rooms share the name.
        name: String,
    },
    /// Search the rooms you can find by name, description, category or manager (any case),
    /// a page at a time.
    Search {
        /// Text the room's name, description, category name or a manager contains.
        text: String,
        /// Only rooms of this category.
        #[arg(long)]
        category: Option<String>,
        /// At most this many rooms (1–1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Only rooms after the room of this id (the last id of the previous page).
        #[arg(long)]
        after: Option<String>,
    },
    /// Clear a room's messages posted on or before a date (administrators only): they keep
    /// their place, without their text. Live clients are told; compliance records it.
    Clear {
        /// The room's name, or its id (shown by `stoa room get`) where several rooms share the name.
        name: String,
        /// A date (YYYY-MM-DD, the whole day, UTC) or an RFC 3339 time.
        #[arg(long)]
        end_date: String,
    },
}

#[derive(Debug, Args)]
pub struct RoomSettings {
    #[arg(long)]
    pub description: Option<String>,
    /// Who can find and take part (default closed).
    #[arg(long, value_enum)]
    pub privacy: Option<PrivacyArg>,
    /// Who can post: every member (normal) or only presenters (auditorium).
    #[arg(long = "type", value_enum)]
    pub room_type: Option<RoomTypeArg>,
    /// Follow the category's invitations setting, or turn them off.
    #[arg(long, value_enum)]
    pub invitations: Option<InvitationsArg>,
    /// Name of the add-in shown beside the room; empty to clear.
    #[arg(long)]
    pub addin: Option<String>,
    /// Disable the room (`--disabled` or `--disabled=false` to enable).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub disabled: Option<bool>,
}

#[derive(Debug, Args)]
pub struct RoomNewArgs {
    pub name: String,
    /// Category of the room (default: default).
    #[arg(long)]
    pub category: Option<String>,
    #[command(flatten)]
    pub settings: RoomSettings,
    /// First members, comma-separated or repeated; they must be eligible in the category.
    #[arg(long, visible_alias = "members", value_delimiter = ',')]
    pub add_members: Vec<String>,
    #[arg(long, visible_alias = "managers", value_delimiter = ',')]
    pub add_managers: Vec<String>,
    #[arg(long, visible_alias = "presenters", value_delimiter = ',')]
    pub add_presenters: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RoomSetArgs {
    /// The room's name, or its id (shown by `stoa room get`) where several rooms share the name.
    pub name: String,
    /// New name.
    #[arg(long = "name", value_name = "NEW_NAME")]
    pub new_name: Option<String>,
    /// Move the room to this category.
    #[arg(long)]
    pub category: Option<String>,
    #[command(flatten)]
    pub settings: RoomSettings,
    #[arg(long, value_delimiter = ',')]
    pub add_members: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub remove_members: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub add_managers: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub remove_managers: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub add_presenters: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub remove_presenters: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum MessageCommand {
    /// Post a message to a room. The post is retried (with the same idempotency key) while
    /// its answer is lost or the server asks to retry, so it is stored once.
    Post {
        /// The room's name, or its id (shown by `stoa room get`) where several rooms share the name.
        #[arg(long)]
        room: String,
        /// The message; `-` reads it from standard input.
        text: String,
        /// Makes running the command again safe: the same key (1-128 visible ASCII
        /// characters, such as a UUID) within 24 hours stores nothing and prints the message
        /// first stored under it. Without it, each run uses a key of its own.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Read a room's history, oldest first.
    History {
        /// The room's name, or its id (shown by `stoa room get`) where several rooms share the name.
        #[arg(long)]
        room: String,
        /// At most this many messages (1-500, default 50).
        #[arg(long)]
        limit: Option<u32>,
        /// Only messages before this sequence number.
        #[arg(long)]
        before: Option<i64>,
        /// Only messages after this sequence number.
        #[arg(long)]
        after: Option<i64>,
    },
    /// Remove messages, or replace their text (administrators only). Prints what changed;
    /// live clients see it at once; each changed message is a compliance event that keeps
    /// its original text.
    Remove(MessageRemoveArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["replace", "remove"])))]
pub struct MessageRemoveArgs {
    /// The room's name, or its id (shown by `stoa room get`) where several rooms share the name.
    #[arg(long)]
    pub room: String,
    /// Only messages by this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only messages containing these words (see --match and --case-sensitive).
    #[arg(long, num_args = 1..)]
    pub keywords: Vec<String>,
    /// How the keywords must appear: all of them, any of them, or exactly the whole text.
    #[arg(long = "match", value_enum, default_value = "all")]
    pub matching: KeywordMatchArg,
    /// Match the keywords' case too.
    #[arg(long)]
    pub case_sensitive: bool,
    /// Only messages posted on or after this date (YYYY-MM-DD, UTC) or RFC 3339 time.
    #[arg(long)]
    pub start_date: Option<String>,
    /// Only messages posted on or before this date (the whole day, UTC) or time.
    #[arg(long)]
    pub end_date: Option<String>,
    /// Replace the text, with TEXT or with "This message was replaced by the administrator."
    #[arg(long, num_args = 0..=1, value_name = "TEXT")]
    pub replace: Option<Option<String>>,
    /// Remove the messages.
    #[arg(long)]
    pub remove: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeywordMatchArg {
    All,
    Any,
    Exact,
}
