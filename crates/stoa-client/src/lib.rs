//! A typed client for Stoa's HTTP API and WebSocket live delivery.
//!
//! The CLI, the end-to-end tests and the benchmarks all talk to the server through this
//! crate, so the API is exercised exactly as users' programs exercise it. Requests and
//! answers are the [`stoa_wire`] types; API errors come back as [`ClientError::Api`] with the
//! server's status, code and message.

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde::de::DeserializeOwned;
use stoa_wire::{
    CategoryView, ClientFrame, ComplianceRunView, ComplianceStatusView, ComplianceVerifyRequest,
    ComplianceVerifyView, ComplianceView, CreateCategoryRequest, CreateGroupRequest,
    CreatePolicyRequest, CreateRoomRequest, CreateUserRequest, EligibleUser, ErrorBody,
    ExplainView, GrantPolicyRequest, GroupView, Health, HistoryView, InvitationView, LoginRequest,
    LoginResponse, MessageView, PolicyView, PoolView, PostMessageRequest, RoleView, RoomView,
    ServerFrame, UpdateActiveServersRequest, UpdateCategoryRequest, UpdateComplianceAdapterRequest,
    UpdateGroupRequest, UpdatePolicyRequest, UpdatePoolStateRequest, UpdateRoleRequest,
    UpdateRoomRequest, UpdateUserRequest, UserView,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Message as WsMessage, http::header::AUTHORIZATION};
use url::Url;

/// What can go wrong talking to a Stoa server.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// The server could not be reached or the connection failed.
    #[error("cannot reach the server: {0}")]
    Transport(String),
    /// The server answered something this client does not understand.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The server address is not a usable URL.
    #[error("invalid server URL `{0}`: use a URL such as http://127.0.0.1:8080")]
    InvalidUrl(String),
    /// A local file could not be read or written.
    #[error("{0}")]
    Io(String),
}

impl ClientError {
    /// The API error code, when the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

/// How many times [`Client::post_message`] tries a post whose answer is lost or deferred.
pub const POST_ATTEMPTS: u32 = 5;
/// The header that carries a post's idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// The header the server sets on the answer to a post whose key it already knew.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// A fresh idempotency key for one post: a random UUID.
pub fn new_idempotency_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A stored post, as the server acknowledged it.
#[derive(Debug, Clone, PartialEq)]
pub struct PostedMessage {
    pub message: MessageView,
    /// The server already knew the post's idempotency key: this is the post first stored
    /// under it, and nothing was stored now.
    pub replayed: bool,
}

/// Whether a failed post is worth sending again (with the same key): its answer was lost,
/// or the server asked to retry later.
fn worth_retrying(error: &ClientError) -> bool {
    match error {
        ClientError::Transport(_) => true,
        ClientError::Api { status, .. } => *status == 503,
        ClientError::Protocol(_) | ClientError::InvalidUrl(_) | ClientError::Io(_) => false,
    }
}

/// Which slice of a room's history to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryQuery {
    pub after: Option<i64>,
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

impl HistoryQuery {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("after", self.after.map(|n| n.to_string())),
            ("before", self.before.map(|n| n.to_string())),
            ("limit", self.limit.map(|n| n.to_string())),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| (key, value)))
        .collect()
    }
}

/// A connection to one Stoa server, optionally signed in.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl Client {
    /// A client for the server at `base_url` (such as `http://127.0.0.1:8080`).
    pub fn new(base_url: &str) -> ClientResult<Client> {
        let mut base =
            Url::parse(base_url).map_err(|_| ClientError::InvalidUrl(base_url.to_owned()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ClientError::InvalidUrl(base_url.to_owned()));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("stoa-client/", env!("CARGO_PKG_VERSION")))
            // The server closes connections idle for about 30 s (at least 22.5 s); letting
            // go of them sooner means a request never races the server's close.
            .pool_idle_timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|error| ClientError::Transport(error.to_string()))?;
        Ok(Client {
            http,
            base,
            token: None,
        })
    }

    /// The same client, sending `token` as its bearer token.
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The URL of an API path given as segments, each percent-encoded as needed, so that
    /// room names with spaces or slashes address the right room.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for segment in segments {
                path.push(segment);
            }
        }
        url
    }

    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: Option<&[(&str, String)]>,
        body: Option<&dyn erased::Body>,
    ) -> ClientResult<T> {
        let response = self.send(method, segments, query, body).await?;
        let text = response
            .text()
            .await
            .map_err(|error| ClientError::Transport(error.to_string()))?;
        serde_json::from_str(&text).map_err(|error| ClientError::Protocol(error.to_string()))
    }

    async fn request_no_content(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&dyn erased::Body>,
    ) -> ClientResult<()> {
        self.send(method, segments, None, body).await.map(|_| ())
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: Option<&[(&str, String)]>,
        body: Option<&dyn erased::Body>,
    ) -> ClientResult<reqwest::Response> {
        let mut request = self.http.request(method, self.url(segments));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(query) = query {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_json());
        }
        let response = request
            .send()
            .await
            .map_err(|error| ClientError::Transport(error_chain(&error)))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(api_error(response).await)
    }

    pub async fn health(&self) -> ClientResult<Health> {
        self.request(Method::GET, &["healthz"], None, None).await
    }

    /// The server's OpenAPI document.
    pub async fn openapi(&self) -> ClientResult<serde_json::Value> {
        self.request(Method::GET, &["api", "v1", "openapi.json"], None, None)
            .await
    }

    /// Signs in. The returned token is not kept; use [`Client::with_token`].
    pub async fn login(&self, user: &str, password: &str) -> ClientResult<LoginResponse> {
        let body = LoginRequest {
            user: user.to_owned(),
            password: password.to_owned(),
        };
        self.request(Method::POST, &["api", "v1", "sessions"], None, Some(&body))
            .await
    }

    /// Ends this client's session.
    pub async fn logout(&self) -> ClientResult<()> {
        self.request_no_content(Method::DELETE, &["api", "v1", "sessions", "current"], None)
            .await
    }

    pub async fn me(&self) -> ClientResult<UserView> {
        self.request(Method::GET, &["api", "v1", "me"], None, None)
            .await
    }

    pub async fn list_users(&self) -> ClientResult<Vec<UserView>> {
        self.request(Method::GET, &["api", "v1", "users"], None, None)
            .await
    }

    pub async fn create_user(&self, request: &CreateUserRequest) -> ClientResult<UserView> {
        self.request(Method::POST, &["api", "v1", "users"], None, Some(request))
            .await
    }

    pub async fn user(&self, login: &str) -> ClientResult<UserView> {
        self.request(Method::GET, &["api", "v1", "users", login], None, None)
            .await
    }

    pub async fn update_user(
        &self,
        login: &str,
        request: &UpdateUserRequest,
    ) -> ClientResult<UserView> {
        self.request(
            Method::PATCH,
            &["api", "v1", "users", login],
            None,
            Some(request),
        )
        .await
    }

    pub async fn remove_user(&self, login: &str) -> ClientResult<()> {
        self.request_no_content(Method::DELETE, &["api", "v1", "users", login], None)
            .await
    }

    pub async fn list_groups(&self) -> ClientResult<Vec<GroupView>> {
        self.request(Method::GET, &["api", "v1", "groups"], None, None)
            .await
    }

    pub async fn create_group(&self, request: &CreateGroupRequest) -> ClientResult<GroupView> {
        self.request(Method::POST, &["api", "v1", "groups"], None, Some(request))
            .await
    }

    pub async fn group(&self, name: &str) -> ClientResult<GroupView> {
        self.request(Method::GET, &["api", "v1", "groups", name], None, None)
            .await
    }

    pub async fn update_group(
        &self,
        name: &str,
        request: &UpdateGroupRequest,
    ) -> ClientResult<GroupView> {
        self.request(
            Method::PATCH,
            &["api", "v1", "groups", name],
            None,
            Some(request),
        )
        .await
    }

    pub async fn remove_group(&self, name: &str) -> ClientResult<()> {
        self.request_no_content(Method::DELETE, &["api", "v1", "groups", name], None)
            .await
    }

    pub async fn list_categories(&self) -> ClientResult<Vec<CategoryView>> {
        self.request(Method::GET, &["api", "v1", "categories"], None, None)
            .await
    }

    pub async fn create_category(
        &self,
        request: &CreateCategoryRequest,
    ) -> ClientResult<CategoryView> {
        self.request(
            Method::POST,
            &["api", "v1", "categories"],
            None,
            Some(request),
        )
        .await
    }

    pub async fn category(&self, name: &str) -> ClientResult<CategoryView> {
        self.request(Method::GET, &["api", "v1", "categories", name], None, None)
            .await
    }

    pub async fn update_category(
        &self,
        name: &str,
        request: &UpdateCategoryRequest,
    ) -> ClientResult<CategoryView> {
        self.request(
            Method::PATCH,
            &["api", "v1", "categories", name],
            None,
            Some(request),
        )
        .await
    }

    pub async fn remove_category(&self, name: &str) -> ClientResult<()> {
        self.request_no_content(Method::DELETE, &["api", "v1", "categories", name], None)
            .await
    }

    /// The rooms the signed-in user can find, optionally only those of one category.
    pub async fn list_rooms(&self, category: Option<&str>) -> ClientResult<Vec<RoomView>> {
        let query: Vec<(&str, String)> = category
            .map(|category| vec![("category", category.to_owned())])
            .unwrap_or_default();
        self.request(Method::GET, &["api", "v1", "rooms"], Some(&query), None)
            .await
    }

    /// Searches the rooms directory: rooms whose name, description, category or a manager
    /// contains `text` (any case), optionally of one category, `limit` at a time after the
    /// room of id `after`.
    pub async fn search_rooms(
        &self,
        text: Option<&str>,
        category: Option<&str>,
        limit: Option<u32>,
        after: Option<&str>,
    ) -> ClientResult<Vec<RoomView>> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(text) = text {
            query.push(("q", text.to_owned()));
        }
        if let Some(category) = category {
            query.push(("category", category.to_owned()));
        }
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(after) = after {
            query.push(("after", after.to_owned()));
        }
        self.request(Method::GET, &["api", "v1", "rooms"], Some(&query), None)
            .await
    }

    pub async fn create_room(&self, request: &CreateRoomRequest) -> ClientResult<RoomView> {
        self.request(Method::POST, &["api", "v1", "rooms"], None, Some(request))
            .await
    }

    pub async fn room(&self, name: &str) -> ClientResult<RoomView> {
        self.request(Method::GET, &["api", "v1", "rooms", name], None, None)
            .await
    }

    pub async fn update_room(
        &self,
        name: &str,
        request: &UpdateRoomRequest,
    ) -> ClientResult<RoomView> {
        self.request(
            Method::PATCH,
            &["api", "v1", "rooms", name],
            None,
            Some(request),
        )
        .await
    }

    pub async fn remove_room(&self, name: &str) -> ClientResult<()> {
        self.request_no_content(Method::DELETE, &["api", "v1", "rooms", name], None)
            .await
    }

    /// Removes the messages of a room that `request` selects, or replaces their text
    /// (administrators only).
    pub async fn remove_messages(
        &self,
        room: &str,
        request: &stoa_wire::RemoveMessagesRequest,
    ) -> ClientResult<stoa_wire::RemovedMessagesView> {
        self.request(
            Method::POST,
            &["api", "v1", "rooms", room, "messages", "remove"],
            None,
            Some(request),
        )
        .await
    }

    /// Posts the file at `path` to `room` under `name`, streaming it from disk. Answers the
    /// message that carries it.
    pub async fn upload_file(
        &self,
        room: &str,
        path: &std::path::Path,
        name: &str,
    ) -> ClientResult<stoa_wire::MessageView> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|error| ClientError::Io(format!("{}: {error}", path.display())))?;
        let length = file
            .metadata()
            .await
            .map_err(|error| ClientError::Io(format!("{}: {error}", path.display())))?
            .len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        let mut request = self
            .http
            .post(self.url(&["api", "v1", "rooms", room, "files"]))
            .query(&[("name", name)])
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|error| ClientError::Transport(error_chain(&error)))?;
        if !response.status().is_success() {
            return Err(api_error(response).await);
        }
        let text = response
            .text()
            .await
            .map_err(|error| ClientError::Transport(error.to_string()))?;
        serde_json::from_str(&text).map_err(|error| ClientError::Protocol(error.to_string()))
    }

    /// A room's files, newest first.
    pub async fn room_files(&self, room: &str) -> ClientResult<Vec<stoa_wire::RoomFileView>> {
        self.request(
            Method::GET,
            &["api", "v1", "rooms", room, "files"],
            Some(&[("limit", "1000".to_owned())]),
            None,
        )
        .await
    }

    /// Downloads file `file_id` of `room` into `out`, streaming it; answers how many bytes
    /// were written.
    pub async fn download_file(
        &self,
        room: &str,
        file_id: &str,
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> ClientResult<u64> {
        use tokio::io::AsyncWriteExt;
        let response = self
            .send(
                Method::GET,
                &["api", "v1", "rooms", room, "files", file_id],
                None,
                None,
            )
            .await?;
        let mut written = 0;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| ClientError::Transport(error_chain(&error)))?;
            out.write_all(&chunk)
                .await
                .map_err(|error| ClientError::Io(error.to_string()))?;
            written += chunk.len() as u64;
        }
        out.flush()
            .await
            .map_err(|error| ClientError::Io(error.to_string()))?;
        Ok(written)
    }

    pub async fn configuration(&self) -> ClientResult<stoa_wire::ConfigurationView> {
        self.request(Method::GET, &["api", "v1", "configuration"], None, None)
            .await
    }

    pub async fn set_configuration(
        &self,
        request: &stoa_wire::UpdateConfigurationRequest,
    ) -> ClientResult<stoa_wire::ConfigurationView> {
        self.request(
            Method::PATCH,
            &["api", "v1", "configuration"],
            None,
            Some(request),
        )
        .await
    }

    pub async fn client_configuration(&self) -> ClientResult<stoa_wire::ClientConfigurationView> {
        self.request(
            Method::GET,
            &["api", "v1", "client-configuration"],
            None,
            None,
        )
        .await
    }

    pub async fn addins(&self) -> ClientResult<Vec<stoa_wire::AddinView>> {
        self.request(Method::GET, &["api", "v1", "addins"], None, None)
            .await
    }

    pub async fn addin(&self, name: &str) -> ClientResult<stoa_wire::AddinView> {
        self.request(Method::GET, &["api", "v1", "addins", name], None, None)
            .await
    }

    pub async fn create_addin(&self, name: &str, url: &str) -> ClientResult<stoa_wire::AddinView> {
        let request = stoa_wire::CreateAddinRequest {
            name: name.to_owned(),
            url: url.to_owned(),
        };
        self.request(Method::POST, &["api", "v1", "addins"], None, Some(&request))
            .await
    }

    pub async fn set_addin(&self, name: &str, url: &str) -> ClientResult<stoa_wire::AddinView> {
        let request = stoa_wire::UpdateAddinRequest {
            url: url.to_owned(),
        };
        self.request(
            Method::PATCH,
            &["api", "v1", "addins", name],
            None,
            Some(&request),
        )
        .await
    }

    pub async fn remove_addin(&self, name: &str) -> ClientResult<()> {
        self.request_no_content(Method::DELETE, &["api", "v1", "addins", name], None)
            .await
    }

    /// Clears a room's messages posted on or before `end_date` (administrators only).
    pub async fn clear_room(
        &self,
        room: &str,
        end_date: &str,
    ) -> ClientResult<stoa_wire::ClearedRoomView> {
        let request = stoa_wire::ClearRoomRequest {
            end_date: end_date.to_owned(),
        };
        self.request(
            Method::POST,
            &["api", "v1", "rooms", room, "clear"],
            None,
            Some(&request),
        )
        .await
    }

    /// Posts a message; returns once the server has stored it durably. The post carries an
    /// idempotency key of its own, and is tried again with the same key when its answer is
    /// lost or the server asks to retry (503), so it is never stored twice (see
    /// [`Client::post_message_retrying`]).
    pub async fn post_message(&self, room: &str, body: &str) -> ClientResult<MessageView> {
        let key = new_idempotency_key();
        Ok(self.post_message_retrying(room, body, &key).await?.message)
    }

    /// Posts a message under idempotency key `key`, trying up to [`POST_ATTEMPTS`] times
    /// (waiting a little longer each time) while the answer is lost or the server answers
    /// 503. Every try sends the same key, so however many reach the server, the message is
    /// stored once; a script that retries across runs passes the same key each run.
    pub async fn post_message_retrying(
        &self,
        room: &str,
        body: &str,
        key: &str,
    ) -> ClientResult<PostedMessage> {
        let mut attempt = 1;
        loop {
            match self.post_message_once(room, body, Some(key)).await {
                Err(error) if attempt < POST_ATTEMPTS && worth_retrying(&error) => {
                    tokio::time::sleep(std::time::Duration::from_millis(250 << (attempt - 1)))
                        .await;
                    attempt += 1;
                }
                answer => return answer,
            }
        }
    }

    /// Posts a message once, with an idempotency key if given, and says whether the server
    /// already knew the key (then it stored nothing and answered with the first post).
    pub async fn post_message_once(
        &self,
        room: &str,
        body: &str,
        key: Option<&str>,
    ) -> ClientResult<PostedMessage> {
        let request = PostMessageRequest {
            body: body.to_owned(),
        };
        let mut http = self
            .http
            .post(self.url(&["api", "v1", "rooms", room, "messages"]))
            .json(&request);
        if let Some(token) = &self.token {
            http = http.bearer_auth(token);
        }
        if let Some(key) = key {
            http = http.header(IDEMPOTENCY_KEY_HEADER, key);
        }
        let response = http
            .send()
            .await
            .map_err(|error| ClientError::Transport(error_chain(&error)))?;
        if !response.status().is_success() {
            return Err(api_error(response).await);
        }
        let replayed = response
            .headers()
            .get(REPLAYED_HEADER)
            .is_some_and(|value| value == "true");
        let message = response
            .json()
            .await
            .map_err(|error| ClientError::Protocol(error.to_string()))?;
        Ok(PostedMessage { message, replayed })
    }

    /// A page of a room's history, in ascending `seq` order.
    pub async fn history(&self, room: &str, query: HistoryQuery) -> ClientResult<Vec<MessageView>> {
        let view: HistoryView = self
            .request(
                Method::GET,
                &["api", "v1", "rooms", room, "messages"],
                Some(&query.pairs()),
                None,
            )
            .await?;
        Ok(view.messages)
    }

    /// What the access rules decide for `user` doing `action` on a room or category (with
    /// both for `change-category`: the room and where it would move).
    pub async fn explain(
        &self,
        user: &str,
        action: &str,
        room: Option<&str>,
        category: Option<&str>,
    ) -> ClientResult<ExplainView> {
        let mut query = vec![("user", user.to_owned()), ("action", action.to_owned())];
        query.extend(room.map(|room| ("room", room.to_owned())));
        query.extend(category.map(|category| ("category", category.to_owned())));
        self.request(
            Method::GET,
            &["api", "v1", "access", "explain"],
            Some(&query),
            None,
        )
        .await
    }

    /// The users a category or a room admits (with `presenters`, a room's presenters).
    pub async fn eligible(
        &self,
        category: Option<&str>,
        room: Option<&str>,
        presenters: bool,
    ) -> ClientResult<Vec<EligibleUser>> {
        let mut query = Vec::new();
        query.extend(category.map(|category| ("category", category.to_owned())));
        query.extend(room.map(|room| ("room", room.to_owned())));
        if presenters {
            query.push(("presenters", "true".to_owned()));
        }
        self.request(
            Method::GET,
            &["api", "v1", "principals", "eligible"],
            Some(&query),
            None,
        )
        .await
    }

    pub async fn list_policies(&self) -> ClientResult<Vec<PolicyView>> {
        self.request(Method::GET, &["api", "v1", "policies"], None, None)
            .await
    }

    pub async fn create_policy(&self, request: &CreatePolicyRequest) -> ClientResult<PolicyView> {
        self.request(
            Method::POST,
            &["api", "v1", "policies"],
            None,
            Some(request),
        )
        .await
    }

    pub async fn policy(&self, identity: &str) -> ClientResult<PolicyView> {
        self.request(
            Method::GET,
            &["api", "v1", "policies", identity],
            None,
            None,
        )
        .await
    }

    pub async fn update_policy(
        &self,
        identity: &str,
        request: &UpdatePolicyRequest,
    ) -> ClientResult<PolicyView> {
        self.request(
            Method::PATCH,
            &["api", "v1", "policies", identity],
            None,
            Some(request),
        )
        .await
    }

    pub async fn remove_policy(&self, identity: &str) -> ClientResult<()> {
        self.request_no_content(Method::DELETE, &["api", "v1", "policies", identity], None)
            .await
    }

    /// Grants a user policy to a user; `None` removes the grant.
    pub async fn grant_policy(&self, login: &str, policy: Option<&str>) -> ClientResult<UserView> {
        let request = GrantPolicyRequest {
            policy: policy.map(str::to_owned),
        };
        self.request(
            Method::PUT,
            &["api", "v1", "users", login, "policy"],
            None,
            Some(&request),
        )
        .await
    }

    pub async fn role(&self, role: &str) -> ClientResult<RoleView> {
        self.request(Method::GET, &["api", "v1", "roles", role], None, None)
            .await
    }

    pub async fn update_role(
        &self,
        role: &str,
        request: &UpdateRoleRequest,
    ) -> ClientResult<RoleView> {
        self.request(
            Method::PATCH,
            &["api", "v1", "roles", role],
            None,
            Some(request),
        )
        .await
    }

    pub async fn compliance(&self) -> ClientResult<ComplianceView> {
        self.request(Method::GET, &["api", "v1", "compliance"], None, None)
            .await
    }

    pub async fn put_compliance_adapter(
        &self,
        name: &str,
        request: &UpdateComplianceAdapterRequest,
    ) -> ClientResult<ComplianceView> {
        self.request(
            Method::PUT,
            &["api", "v1", "compliance", "adapters", name],
            None,
            Some(request),
        )
        .await
    }

    pub async fn remove_compliance_adapter(&self, name: &str) -> ClientResult<()> {
        self.request_no_content(
            Method::DELETE,
            &["api", "v1", "compliance", "adapters", name],
            None,
        )
        .await
    }

    pub async fn run_compliance(&self) -> ClientResult<Vec<ComplianceRunView>> {
        self.request(
            Method::POST,
            &["api", "v1", "compliance", "run"],
            None,
            Some(&serde_json::json!({})),
        )
        .await
    }

    pub async fn compliance_status(&self) -> ClientResult<ComplianceStatusView> {
        self.request(
            Method::GET,
            &["api", "v1", "compliance", "status"],
            None,
            None,
        )
        .await
    }

    pub async fn verify_compliance(
        &self,
        request: &ComplianceVerifyRequest,
    ) -> ClientResult<ComplianceVerifyView> {
        self.request(
            Method::POST,
            &["api", "v1", "compliance", "verify"],
            None,
            Some(request),
        )
        .await
    }

    pub async fn pool(&self) -> ClientResult<PoolView> {
        self.request(Method::GET, &["api", "v1", "pool"], None, None)
            .await
    }

    pub async fn set_active_servers(
        &self,
        request: &UpdateActiveServersRequest,
    ) -> ClientResult<PoolView> {
        self.request(
            Method::PUT,
            &["api", "v1", "pool", "active-servers"],
            None,
            Some(request),
        )
        .await
    }

    pub async fn set_pool_state(&self, request: &UpdatePoolStateRequest) -> ClientResult<PoolView> {
        self.request(
            Method::PUT,
            &["api", "v1", "pool", "state"],
            None,
            Some(request),
        )
        .await
    }

    pub async fn invitations(&self) -> ClientResult<Vec<InvitationView>> {
        self.request(Method::GET, &["api", "v1", "invitations"], None, None)
            .await
    }

    /// Accepts an invitation; the room is then followed.
    pub async fn accept_invitation(&self, room: &str) -> ClientResult<RoomView> {
        self.request(
            Method::POST,
            &["api", "v1", "invitations", room, "accept"],
            None,
            None,
        )
        .await
    }

    pub async fn decline_invitation(&self, room: &str) -> ClientResult<()> {
        self.request_no_content(
            Method::POST,
            &["api", "v1", "invitations", room, "decline"],
            None,
        )
        .await
    }

    /// The rooms the signed-in user follows.
    pub async fn followed_rooms(&self) -> ClientResult<Vec<RoomView>> {
        self.request(Method::GET, &["api", "v1", "me", "follows"], None, None)
            .await
    }

    pub async fn follow(&self, room: &str) -> ClientResult<RoomView> {
        self.request(
            Method::PUT,
            &["api", "v1", "me", "follows", room],
            None,
            None,
        )
        .await
    }

    pub async fn unfollow(&self, room: &str) -> ClientResult<()> {
        self.request_no_content(Method::DELETE, &["api", "v1", "me", "follows", room], None)
            .await
    }

    /// Opens a live connection, authenticated with this client's token on the upgrade
    /// request, and waits for the server's `ready`.
    pub async fn connect_live(&self) -> ClientResult<LiveConnection> {
        let mut url = self.url(&["api", "v1", "ws"]);
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme)
            .map_err(|()| ClientError::InvalidUrl(url.to_string()))?;
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|error| ClientError::Protocol(error.to_string()))?;
        if let Some(token) = &self.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|error| ClientError::Protocol(error.to_string()))?;
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        // Small buffers: a process may hold thousands of live connections, and the library's
        // default read buffer (128 KiB) is filled on first use. Larger frames still arrive
        // whole; the buffer grows for them.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(0);
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .map_err(websocket_error)?;
        let mut connection = LiveConnection { socket };
        match connection.next_frame().await? {
            ServerFrame::Ready { .. } => Ok(connection),
            ServerFrame::Closing { code, message } => Err(ClientError::Api {
                status: 401,
                code,
                message,
            }),
            other => Err(ClientError::Protocol(format!(
                "expected ready, got {other:?}"
            ))),
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open live connection.
pub struct LiveConnection {
    socket: Socket,
}

impl LiveConnection {
    /// Sends one frame.
    pub async fn send(&mut self, frame: &ClientFrame) -> ClientResult<()> {
        let text = serde_json::to_string(frame)
            .map_err(|error| ClientError::Protocol(error.to_string()))?;
        self.socket
            .send(WsMessage::Text(text.into()))
            .await
            .map_err(websocket_error)
    }

    /// Subscribes to a room; `since` is the last `seq` the caller has.
    pub async fn subscribe(&mut self, room: &str, since: Option<i64>) -> ClientResult<()> {
        self.send(&ClientFrame::Subscribe {
            room: room.to_owned(),
            since,
            changes_since: None,
        })
        .await
    }

    /// Subscribes to a room, resuming from the last `seq` and the last change to earlier
    /// messages the caller has seen.
    pub async fn resume(&mut self, room: &str, since: i64, changes_since: i64) -> ClientResult<()> {
        self.send(&ClientFrame::Subscribe {
            room: room.to_owned(),
            since: Some(since),
            changes_since: Some(changes_since),
        })
        .await
    }

    /// Posts a message over the connection. The answer arrives later among the frames: a
    /// `posted` frame, or an `error` frame, carrying `reference`.
    pub async fn post(
        &mut self,
        room: &str,
        body: &str,
        reference: Option<String>,
    ) -> ClientResult<()> {
        self.post_with_key(room, body, reference, None).await
    }

    /// [`LiveConnection::post`] with an idempotency key, so that sending the post again (on
    /// this connection or another, after a lost answer) never stores it twice.
    pub async fn post_with_key(
        &mut self,
        room: &str,
        body: &str,
        reference: Option<String>,
        idempotency_key: Option<String>,
    ) -> ClientResult<()> {
        self.send(&ClientFrame::Post {
            room: room.to_owned(),
            body: body.to_owned(),
            reference,
            idempotency_key,
        })
        .await
    }

    /// The next frame from the server. Pings are answered and skipped. Fails when the
    /// connection closes.
    pub async fn next_frame(&mut self) -> ClientResult<ServerFrame> {
        loop {
            let message = self
                .socket
                .next()
                .await
                .ok_or_else(|| ClientError::Transport("the live connection closed".to_owned()))?
                .map_err(websocket_error)?;
            match message {
                WsMessage::Text(text) => {
                    return serde_json::from_str(&text)
                        .map_err(|error| ClientError::Protocol(error.to_string()));
                }
                WsMessage::Close(_) => {
                    return Err(ClientError::Transport(
                        "the live connection closed".to_owned(),
                    ));
                }
                WsMessage::Ping(_)
                | WsMessage::Pong(_)
                | WsMessage::Binary(_)
                | WsMessage::Frame(_) => {}
            }
        }
    }

    /// Sends raw text, for testing how the server treats malformed frames.
    pub async fn send_raw_text(&mut self, text: &str) -> ClientResult<()> {
        self.socket
            .send(WsMessage::Text(text.to_owned().into()))
            .await
            .map_err(websocket_error)
    }

    /// Closes the connection politely.
    pub async fn close(mut self) -> ClientResult<()> {
        self.socket.close(None).await.map_err(websocket_error)
    }
}

fn websocket_error(error: tokio_tungstenite::tungstenite::Error) -> ClientError {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        Error::Http(response) => {
            let status = response.status().as_u16();
            let body: Option<ErrorBody> = response
                .body()
                .as_ref()
                .and_then(|body| serde_json::from_slice(body).ok());
            match body {
                Some(body) => ClientError::Api {
                    status,
                    code: body.error.code,
                    message: body.error.message,
                },
                None => ClientError::Api {
                    status,
                    code: "http_error".to_owned(),
                    message: format!("the server refused the live connection ({status})"),
                },
            }
        }
        other => ClientError::Transport(other.to_string()),
    }
}

async fn api_error(response: reqwest::Response) -> ClientError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => ClientError::Api {
            status: status.as_u16(),
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => ClientError::Api {
            status: status.as_u16(),
            code: "http_error".to_owned(),
            message: format!(
                "the server answered {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
        },
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// An object-safe view of request bodies, so one private `send` serves every endpoint.
mod erased {
    pub trait Body: Sync {
        fn to_json(&self) -> String;
    }

    impl<T: serde::Serialize + Sync> Body for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}
