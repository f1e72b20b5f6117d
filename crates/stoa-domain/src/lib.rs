//! Stoa's domain: the vocabulary every other crate speaks.
//!
//! This crate is pure. It performs no IO, reads no clock and knows nothing of SQL, HTTP or
//! tokio; callers pass in everything a decision needs (including the current time) and get
//! back plain values. That keeps the rules of SPEC §2 and §3 in one place where table-driven
//! and property tests can exercise them exhaustively.

pub mod access;
pub mod configuration;
pub mod directory;
pub mod ids;
pub mod model;
pub mod moderation;
pub mod policy;
pub mod principal;
pub mod validation;

pub use ids::{CategoryId, GroupId, PublicRoomId, RoomId, Seq, Timestamp, UserId};
pub use principal::{ContainerPath, DomainName, GroupName, Login, PrincipalRef, UserIdentity};
pub use validation::ValidationError;
