//! End-to-end tests: a real server on `127.0.0.1:0`, driven through the typed client, real
//! WebSockets and the real `stoa` binary, the way users and their scripts drive it.
//!
//! All end-to-end tests live in this one test binary so that it links once.

// Test helpers fail loudly: a panic with the value that surprised us is the report.
#![allow(clippy::unwrap_used)]

mod access;
mod api;
mod browser_security;
mod cli;
mod compliance;
mod configuration;
mod directory;
mod files;
mod harness;
mod hidden_rooms;
mod live;
mod matrix;
mod moderation;
mod posting;
mod roster;
mod sign_in;
