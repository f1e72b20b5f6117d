//! The one place where failures become HTTP answers.
//!
//! Every handler returns [`ApiError`] on failure. Client mistakes become 4xx answers whose
//! message says what to fix; server faults become an opaque 500 that is logged (inside the
//! request's span, which carries the request id) and never echoes internals.

use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use stoa_domain::ValidationError;
use stoa_store::StoreError;
use stoa_wire::{ErrorBody, ErrorDetail, error_code};

/// A failed request: the status, a stable code and a message safe to show the caller.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// For 429 and 503: how many seconds to wait before trying again (`Retry-After`); 1
    /// unless set.
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    /// The same error, telling the client to wait `seconds` before trying again.
    pub fn with_retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after_seconds = Some(seconds.max(1));
        self
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            error_code::INVALID_REQUEST,
            message,
        )
    }

    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            error_code::NOT_FOUND,
            format!("{what} not found"),
        )
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, error_code::FORBIDDEN, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            error_code::UNAUTHENTICATED,
            message,
        )
    }

    /// This node is not an active server of the pool, so it takes no new sessions.
    pub fn node_inactive() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            error_code::NODE_INACTIVE,
            "this node is not an active server of the pool; sign in on an active node",
        )
    }

    /// A write the storage could not take (answered 503 with `Retry-After`); `message` says
    /// what is wrong and whether anything may have been stored.
    pub fn storage_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            error_code::STORAGE_UNAVAILABLE,
            message,
        )
    }

    /// A server fault. `detail` goes to the log only.
    pub fn internal(detail: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "request failed with an internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            error_code::INTERNAL,
            "internal server error; the server log has details under the x-request-id of this response",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            let seconds = self.retry_after_seconds.unwrap_or(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> ApiError {
        match error {
            ValidationError::TooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                error_code::TOO_LARGE,
                error.to_string(),
            ),
            ValidationError::Invalid { .. } => ApiError::invalid(error.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, error_code::CONFLICT, message)
            }
            StoreError::Invalid(validation) => validation.into(),
            StoreError::Storage { .. } => {
                tracing::warn!(error = %DisplayChain(&error), "a write failed in the storage");
                ApiError::storage_unavailable(error.to_string())
            }
            StoreError::Database(_) if error.is_unavailable() => {
                tracing::warn!(error = %DisplayChain(&error), "the database is unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    error_code::UNAVAILABLE,
                    "the database is unavailable; try again shortly",
                )
            }
            StoreError::Files(message) => ApiError::storage_unavailable(message),
            StoreError::Corrupt(_)
            | StoreError::Database(_)
            | StoreError::Migration(_)
            | StoreError::DataDirectory(_)
            | StoreError::InvalidDatabaseUrl(_)
            | StoreError::ChangeRefused => ApiError::internal(&DisplayChain(&error)),
        }
    }
}

/// Formats an error with its sources, for the log.
pub struct DisplayChain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

/// A parser's complaint in API terms: what is wrong and, where the parser knows it, which
/// field, without the parser's own words for the server's types (`expected struct
/// ComplianceVerifyRequest`), the library's preamble, or positions in the text.
pub fn in_api_terms(complaint: &str) -> String {
    let mut text = complaint.to_owned();
    for preamble in [
        "Failed to deserialize the JSON body into the target type: ",
        "Failed to parse the request body as JSON: ",
        "Failed to deserialize query string: ",
        "Failed to deserialize path: ",
        "Invalid URL: ",
    ] {
        if let Some(rest) = text.strip_prefix(preamble) {
            text = rest.to_owned();
        }
    }
    if let Some(at) = text.rfind(" at line ") {
        let tail = &text[at + " at line ".len()..];
        let is_position = tail
            .split(" column ")
            .all(|number| !number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit()));
        if is_position {
            text.truncate(at);
        }
    }
    // The parser names the server's own types; say what shape was expected instead.
    let mut words: Vec<String> = Vec::new();
    let mut tokens = text.split(' ').peekable();
    while let Some(token) = tokens.next() {
        match token {
            "struct" | "enum" if words.last().is_some_and(|word| word == "expected") => {
                tokens.next();
                words.push(if token == "struct" {
                    "a JSON object".to_owned()
                } else {
                    "one of the allowed values".to_owned()
                });
            }
            "internally" if tokens.peek() == Some(&"tagged") => {
                tokens.next();
                tokens.next();
                tokens.next();
                words.push("a JSON object with a \"type\" field".to_owned());
            }
            "map," | "map" => words.push(token.replace("map", "object")),
            "sequence," | "sequence" => words.push(token.replace("sequence", "array")),
            _ => words.push(token.to_owned()),
        }
    }
    words.join(" ").replace('`', "")
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        match &rejection {
            JsonRejection::JsonSyntaxError(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                error_code::MALFORMED_JSON,
                in_api_terms(&rejection.body_text()),
            ),
            JsonRejection::JsonDataError(_) => {
                ApiError::invalid(in_api_terms(&rejection.body_text()))
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                error_code::INVALID_REQUEST,
                "send the body as JSON with Content-Type: application/json",
            ),
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                error_code::TOO_LARGE,
                "the request body is larger than the server accepts",
            ),
            _ => ApiError::invalid(in_api_terms(&rejection.body_text())),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::invalid(in_api_terms(&rejection.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::invalid(in_api_terms(&rejection.body_text()))
    }
}

/// `axum::Json`, answering malformed bodies in Stoa's error format.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Path`, answering bad paths in Stoa's error format.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum::extract::Query`, answering bad query strings in Stoa's error format.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::in_api_terms;

    #[test]
    fn parser_complaints_lose_type_names_preambles_and_positions() {
        assert_eq!(
            in_api_terms(
                "Failed to deserialize the JSON body into the target type: invalid type: \
                 sequence, expected struct ComplianceVerifyRequest at line 1 column 5"
            ),
            "invalid type: array, expected a JSON object"
        );
        assert_eq!(
            in_api_terms("expected internally tagged enum ClientFrame at line 1 column 2"),
            "expected a JSON object with a \"type\" field"
        );
        assert_eq!(
            in_api_terms("user: missing field `password` at line 1 column 14"),
            "user: missing field password"
        );
        assert_eq!(
            in_api_terms("unknown variant `shout`, expected one of `subscribe`, `post`"),
            "unknown variant shout, expected one of subscribe, post"
        );
    }
}
