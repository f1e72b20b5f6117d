//! Throttling of failed sign-ins, so that passwords cannot be guessed at the server's speed
//! and an attacker still cannot lock a user out for good.
//!
//! Failures are counted three ways, each with a few free failures and then a wait that
//! doubles with every further failure (1 s, 2 s, 4 s, …) up to a cap:
//!
//! | counted by            | free | longest wait |
//! |-----------------------|------|--------------|
//! | account and address   | 5    | 15 min       |
//! | source address        | 20   | 15 min       |
//! | account, any address  | 10   | 1 min        |
//!
//! While a wait runs, sign-ins it covers are answered `429` with `Retry-After` before any
//! password is checked, so guessing costs the attacker the wait and the server nothing. The
//! account-wide count is what stops a guesser spread over many machines; its wait stays
//! short, and it does not apply at all to an address the user signed in from before, so
//! the user keeps getting in from their own machine while someone elsewhere guesses at
//! their password. A success forgets the failures of the account (not of the address). A
//! count forgets its failures 15 minutes after its last one.
//!
//! Counts live in each node's memory: a pool of `n` nodes lets a guesser try `n` times as
//! often, and a restart forgets them.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// A count forgets its failures this long after the last one.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// An address the user signed in from stays known for this long.
const KNOWN_ADDRESS_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// The most counts kept; past it, forgotten ones are swept out, then the oldest.
const MAX_COUNTS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Rule {
    free_failures: u32,
    longest_wait: Duration,
}

const BY_ACCOUNT_AND_ADDRESS: Rule = Rule {
    free_failures: 5,
    longest_wait: Duration::from_secs(15 * 60),
};
const BY_ADDRESS: Rule = Rule {
    free_failures: 20,
    longest_wait: Duration::from_secs(15 * 60),
};
const BY_ACCOUNT: Rule = Rule {
    free_failures: 10,
    longest_wait: Duration::from_secs(60),
};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    AccountAndAddress(String, IpAddr),
    Address(IpAddr),
    Account(String),
}

impl Key {
    fn rule(&self) -> Rule {
        match self {
            Key::AccountAndAddress(..) => BY_ACCOUNT_AND_ADDRESS,
            Key::Address(_) => BY_ADDRESS,
            Key::Account(_) => BY_ACCOUNT,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    last_failure: Instant,
    wait_until: Instant,
}

#[derive(Default)]
struct Counts {
    failures: HashMap<Key, Count>,
    known_addresses: HashMap<(String, IpAddr), Instant>,
}

/// The failed sign-ins this node has seen; see the module documentation.
#[derive(Default)]
pub struct SignInThrottle {
    counts: Mutex<Counts>,
}

/// The address a request came from, when the server knows it (not for a router driven
/// directly, as some tests do).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

impl SignInThrottle {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Every critical section leaves the maps consistent, even if it panicked.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long a sign-in as `account` from `address` must wait, if it must.
    pub fn wait(&self, account: &str, address: ClientAddress) -> Option<Duration> {
        let now = Instant::now();
        let address = address.0.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let account = account.trim().to_lowercase();
        let counts = self.lock();
        let known = counts
            .known_addresses
            .get(&(account.clone(), address))
            .is_some_and(|since| now.duration_since(*since) < KNOWN_ADDRESS_FOR);
        let mut keys = vec![
            Key::AccountAndAddress(account.clone(), address),
            Key::Address(address),
        ];
        if !known {
            keys.push(Key::Account(account));
        }
        keys.iter()
            .filter_map(|key| counts.failures.get(key))
            .filter(|count| count.wait_until > now)
            .map(|count| count.wait_until - now)
            .max()
    }

    /// Counts a failed sign-in (a wrong password, or an unknown login).
    pub fn failed(&self, account: &str, address: ClientAddress) {
        let now = Instant::now();
        let address = address.0.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let account = account.trim().to_lowercase();
        let mut counts = self.lock();
        if counts.failures.len() >= MAX_COUNTS {
            sweep(&mut counts.failures, now);
        }
        for key in [
            Key::AccountAndAddress(account.clone(), address),
            Key::Address(address),
            Key::Account(account),
        ] {
            let rule = key.rule();
            let count = counts.failures.entry(key).or_insert(Count {
                failures: 0,
                last_failure: now,
                wait_until: now,
            });
            if now.duration_since(count.last_failure) > FORGET_AFTER {
                count.failures = 0;
            }
            count.failures += 1;
            count.last_failure = now;
            if count.failures > rule.free_failures {
                let doublings = (count.failures - rule.free_failures - 1).min(20);
                let wait = Duration::from_secs(1u64 << doublings).min(rule.longest_wait);
                count.wait_until = now + wait;
            }
        }
    }

    /// Forgets the account's failures after a successful sign-in, and remembers the address.
    pub fn succeeded(&self, account: &str, address: ClientAddress) {
        let now = Instant::now();
        let address = address.0.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let account = account.trim().to_lowercase();
        let mut counts = self.lock();
        counts
            .failures
            .remove(&Key::AccountAndAddress(account.clone(), address));
        counts.failures.remove(&Key::Account(account.clone()));
        if counts.known_addresses.len() >= MAX_COUNTS {
            counts
                .known_addresses
                .retain(|_, since| now.duration_since(*since) < KNOWN_ADDRESS_FOR);
            if counts.known_addresses.len() >= MAX_COUNTS {
                counts.known_addresses.clear();
            }
        }
        counts.known_addresses.insert((account, address), now);
    }
}

/// Drops the counts that have forgotten their failures, and if that is not enough, the half
/// whose last failure is oldest.
fn sweep(failures: &mut HashMap<Key, Count>, now: Instant) {
    failures.retain(|_, count| {
        count.wait_until > now || now.duration_since(count.last_failure) <= FORGET_AFTER
    });
    if failures.len() >= MAX_COUNTS {
        let mut ages: Vec<Instant> = failures.values().map(|count| count.last_failure).collect();
        ages.sort_unstable();
        let cut = ages[ages.len() / 2];
        failures.retain(|_, count| count.last_failure > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(octet: u8) -> ClientAddress {
        ClientAddress(Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, octet))))
    }

    #[test]
    fn waits_start_after_the_free_failures_and_double() {
        let throttle = SignInThrottle::default();
        for _ in 0..5 {
            assert_eq!(throttle.wait("alice", from(1)), None);
            throttle.failed("alice", from(1));
        }
        assert_eq!(throttle.wait("alice", from(1)), None, "five are free");
        throttle.failed("alice", from(1));
        let first = throttle.wait("alice", from(1)).unwrap();
        assert!(first <= Duration::from_secs(1) && first > Duration::from_millis(900));
        throttle.failed("Alice", from(1));
        let second = throttle.wait("ALICE ", from(1)).unwrap();
        assert!(second > Duration::from_millis(1900), "{second:?}");
        assert_eq!(
            throttle.wait("alice", from(2)),
            None,
            "another address is not held"
        );
        assert_eq!(
            throttle.wait("bob", from(1)),
            None,
            "another account is not held"
        );
    }

    #[test]
    fn guessing_from_many_addresses_holds_the_account_but_not_where_its_user_signed_in() {
        let throttle = SignInThrottle::default();
        throttle.succeeded("alice", from(100));
        for octet in 1..=11 {
            throttle.failed("alice", from(octet));
        }
        assert!(
            throttle.wait("alice", from(50)).is_some(),
            "a new address waits"
        );
        assert!(
            throttle.wait("alice", from(50)).unwrap() <= Duration::from_secs(60),
            "never long"
        );
        assert_eq!(
            throttle.wait("alice", from(100)),
            None,
            "the user's own address"
        );
    }

    #[test]
    fn an_address_guessing_at_many_accounts_is_held_for_all() {
        let throttle = SignInThrottle::default();
        for index in 0..21 {
            throttle.failed(&format!("user{index}"), from(7));
        }
        assert!(throttle.wait("someone-else", from(7)).is_some());
        assert_eq!(throttle.wait("someone-else", from(8)), None);
    }
}
