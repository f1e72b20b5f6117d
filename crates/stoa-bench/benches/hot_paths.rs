//! Micro-benchmarks of the paths every message takes, run with
//! `cargo bench -p stoa-bench --bench hot_paths` (divan; add a filter such as `fan_out` to run
//! one group).
//!
//! The end-to-end harness (`src/main.rs`) says how fast the whole server is; these say which
//! part a regression is in:
//!
//! - `access_decision`: `stoa_domain::access::decide` for a member posting in a closed room of
//!   a category with several allowed and denied principals. Every post and every subscription
//!   asks it, so it is on the critical path of each request; `subject_groups` shows how it
//!   scales when the user belongs to many groups and the lists name groups.
//! - `message_encode`: serialising one `ServerFrame::Message` to JSON text, which `ws/subscriptions.rs` does
//!   once per delivery, i.e. once per subscriber for every post.
//! - `fan_out`: `Hub::publish` of one message to N subscribed connections. It runs under the
//!   hub's lock, so its cost bounds how many posts per second one node can hand out. The
//!   queues are drained outside the timed part.
//! - `history_page`: reading the newest page of a room's history from a real SQLite store
//!   filled with [`HISTORY_MESSAGES`] messages: what a client pays on subscribe and scroll-back.

use std::collections::BTreeSet;
use std::sync::Arc;

use divan::Bencher;
use divan::counter::BytesCount;
use stoa_domain::access::{Action, RoomFinder, Subject, Target, decide};
use stoa_domain::model::{
    Category, HistoryPage, Message, NewRoom, NewUser, Room, RoomInvitations, RoomPrivacy, RoomType,
};
use stoa_domain::policy::EffectivePolicy;
use stoa_domain::{
    CategoryId, ContainerPath, GroupName, Login, PrincipalRef, RoomId, Timestamp, UserId,
    UserIdentity,
};
use stoa_server::hub::{Hub, Inbox, QueueBound};
use stoa_store::{Act, Store};
use stoa_wire::{MessageView, ServerFrame};

fn main() {
    divan::main();
}

const NOW: Timestamp = Timestamp(1_700_000_000_000);

/// Iterations per sample for the sub-microsecond benchmarks. Divan otherwise sizes samples from
/// the first ones, and one cold or preempted early sample leaves every sample a single
/// iteration, which the 20 ns timer measures poorly.
const FAST_SAMPLE_SIZE: u32 = 64;

fn principals(texts: &[&str]) -> Vec<PrincipalRef> {
    texts
        .iter()
        .map(|text| text.parse().expect("a valid principal"))
        .collect()
}

fn category(allowed: &[&str], denied: &[&str]) -> Category {
    Category {
        id: CategoryId(2),
        name: "Legal".to_owned(),
        description: String::new(),
        allowed_members: principals(allowed),
        denied_members: principals(denied),
        creators: principals(&["user:cora@contoso.com"]),
        file_upload: true,
        chat_history: true,
        invitations: true,
    }
}

fn closed_room(category: &Category, members: &[&str]) -> Room {
    Room {
        id: RoomId(1),
        public_id: stoa_domain::PublicRoomId::from_random_bits(1),
        name: "Closed".to_owned(),
        description: String::new(),
        category_id: category.id,
        category_name: category.name.clone(),
        privacy: RoomPrivacy::Closed,
        room_type: RoomType::Normal,
        invitations: RoomInvitations::Inherit,
        members: principals(members),
        managers: principals(&["group:room-managers"]),
        presenters: Vec::new(),
        addin: None,
        disabled: false,
        last_seq: 0,
        created_at: Timestamp(0),
    }
}

fn identity(
    login: &str,
    container: &str,
    groups: impl IntoIterator<Item = String>,
) -> UserIdentity {
    UserIdentity {
        login: Login::parse(login).expect("a valid login"),
        container: Some(ContainerPath::parse(container).expect("a valid container")),
        groups: groups
            .into_iter()
            .map(|group| GroupName::parse(&group).expect("a valid group name"))
            .collect::<BTreeSet<_>>(),
    }
}

mod access_decision {
    use super::*;

    fn as_strs(list: &[String]) -> Vec<&str> {
        list.iter().map(String::as_str).collect()
    }

    /// The common case: alice, admitted by her OU, posts in a closed room that lists her
    /// among other members; the category denies a group and a user she is not.
    #[divan::bench(sample_size = FAST_SAMPLE_SIZE)]
    fn member_posts_in_closed_room(bencher: Bencher) {
        let category = category(
            &["group:auditors", "domain:fabrikam.com", "ou:contoso/legal"],
            &["group:contractors", "user:mallory@contoso.com"],
        );
        let room = closed_room(
            &category,
            &[
                "user:bob@contoso.com",
                "user:carol@contoso.com",
                "user:dave@contoso.com",
                "user:alice@contoso.com",
            ],
        );
        let alice = identity(
            "alice@contoso.com",
            "contoso/legal/emea",
            ["everyone".to_owned()],
        );
        let policy = EffectivePolicy::enabled_by_global();
        let subject = Subject {
            identity: &alice,
            is_administrator: false,
            policy: &policy,
        };
        let decision = decide(
            &subject,
            Action::PostInRoom,
            Target::Room {
                room: &room,
                category: &category,
            },
        );
        assert!(decision.is_allowed(), "{decision}");
        bencher.bench_local(|| {
            decide(
                divan::black_box(&subject),
                divan::black_box(Action::PostInRoom),
                Target::Room {
                    room: divan::black_box(&room),
                    category: divan::black_box(&category),
                },
            )
        });
    }

    /// The same decision for a user in `groups` groups, where the category and room name ten
    /// groups each and only the last one matches: every list scan probes the user's group set.
    #[divan::bench(args = [1, 50, 500], sample_size = FAST_SAMPLE_SIZE)]
    fn subject_groups(bencher: Bencher, groups: usize) {
        let listed = |prefix: &str| -> Vec<String> {
            (0..10)
                .map(|i| format!("group:{prefix}-{i}"))
                .chain([format!("group:member-{}", groups - 1)])
                .collect()
        };
        let allowed = listed("other-allowed");
        let denied: Vec<String> = (0..10).map(|i| format!("group:denied-{i}")).collect();
        let members = listed("other-member");
        let category = category(&as_strs(&allowed), &as_strs(&denied));
        let room = closed_room(&category, &as_strs(&members));
        let user = identity(
            "alice@contoso.com",
            "contoso/legal/emea",
            (0..groups).map(|i| format!("member-{i}")),
        );
        let policy = EffectivePolicy::enabled_by_global();
        let subject = Subject {
            identity: &user,
            is_administrator: false,
            policy: &policy,
        };
        let target = Target::Room {
            room: &room,
            category: &category,
        };
        let decision = decide(&subject, Action::PostInRoom, target);
        assert!(decision.is_allowed(), "{decision}");
        bencher.bench_local(|| {
            decide(
                divan::black_box(&subject),
                Action::PostInRoom,
                divan::black_box(target),
            )
        });
    }
}

/// Chat-like text of exactly `len` bytes, with the odd quote and newline for the escaper.
fn body(len: usize) -> String {
    const TEXT: &str = "Let's move the \"Q3 review\" to Thursday; the contract draft is in \
                        the shared folder.\nPlease check section 4 before then. ";
    TEXT.chars().cycle().take(len).collect()
}

/// Serialising one live message for one subscriber, as `ws/subscriptions.rs` does per delivery.
#[divan::bench(args = [200, 4096], sample_size = FAST_SAMPLE_SIZE)]
fn message_encode(bencher: Bencher, body_len: usize) {
    let frame = ServerFrame::Message(MessageView {
        room: "Contract Review".to_owned(),
        room_id: "r000000000000002a".to_owned(),
        seq: 123_456,
        author: "alice@contoso.com".to_owned(),
        body: body(body_len),
        created_at: stoa_server::time::format(NOW),
        state: Default::default(),
        file: None,
    });
    let encoded = serde_json::to_string(&frame).expect("a frame encodes");
    assert!(encoded.starts_with(r#"{"type":"message","#), "{encoded}");
    // The text is freed inside the timed part, as the socket frees each one it has sent:
    // divan would otherwise keep a sample's strings alive and time fresh allocations only.
    bencher.counter(BytesCount::new(body_len)).bench_local(|| {
        serde_json::to_string(divan::black_box(&frame))
            .expect("a frame encodes")
            .len()
    });
}

/// Messages one sample publishes; every queue holds them all, so none overflows and every
/// publish takes the same path as in production when clients keep up.
const FAN_OUT_SAMPLE_SIZE: u32 = 32;

fn drain(inboxes: &mut [Inbox]) {
    // Every queue receives every message, so the first says whether there is work.
    if inboxes.first().is_some_and(|inbox| inbox.is_empty()) {
        return;
    }
    for inbox in inboxes {
        while inbox.try_recv().is_some() {}
    }
}

/// One `Hub::publish` to `subscribers` connections subscribed to the message's room.
#[divan::bench(args = [1, 100, 1_000, 10_000], sample_size = FAN_OUT_SAMPLE_SIZE)]
fn fan_out(bencher: Bencher, subscribers: usize) {
    let hub = Arc::new(Hub::default());
    let room = RoomId(1);
    let mut inboxes: Vec<Inbox> = (0..subscribers)
        .map(|_| {
            hub.connect(QueueBound {
                messages: 2 * FAN_OUT_SAMPLE_SIZE as usize,
                bytes: usize::MAX,
            })
        })
        .collect();
    for inbox in &inboxes {
        hub.subscribe(room, inbox, 0);
    }
    let message = Arc::new(Message {
        room_id: room,
        seq: 1,
        author_id: UserId(1),
        author_login: Login::parse("alice@contoso.com").expect("a valid login"),
        body: body(200),
        created_at: NOW,
        state: Default::default(),
        changed_by: 0,
        file: None,
    });
    bencher
        .with_inputs(|| drain(&mut inboxes))
        .bench_local_values(|()| hub.publish(Arc::clone(&message)));
    drain(&mut inboxes);
    assert!(
        inboxes.iter().all(|inbox| !inbox.overflowed.is_cancelled()),
        "a queue overflowed: the benchmark measured the overflow path"
    );
}

/// How many messages the history benchmark's room holds. Each post is a durable SQLite commit
/// (an fsync), so filling takes a few seconds (about 5 s on a 2-core VM); the newest page is an index range scan, so a
/// larger room would not change the figure much.
const HISTORY_MESSAGES: usize = 10_000;

/// The newest page of 50 messages of a room, read from SQLite on disk.
///
/// Each read hands the query to SQLx's worker thread and waits to be woken, so on a small VM
/// the median moves between runs (about 100 to 350 µs on 2 cores); compare `fastest` first.
#[divan::bench(sample_count = 500)]
fn history_page(bencher: Bencher) {
    // A current-thread runtime: the query runs on SQLx's worker thread either way, and the
    // figure varies less than with a multi-thread runtime on a small machine.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let data = tempfile::tempdir().expect("a temporary directory");
    let (store, room) = runtime.block_on(fill(data.path()));
    let page = HistoryPage::new(None, None, Some(50)).expect("a valid page");
    let newest = runtime
        .block_on(store.history(room, page))
        .expect("history reads");
    assert_eq!(newest.len(), 50);
    assert_eq!(
        newest.last().map(|message| message.seq),
        Some(HISTORY_MESSAGES as i64)
    );
    // Settle the caches (and the OS's writeback of the fill) before timing.
    for _ in 0..50 {
        runtime
            .block_on(store.history(room, page))
            .expect("history reads");
    }
    bencher.bench_local(|| {
        runtime
            .block_on(store.history(room, divan::black_box(page)))
            .expect("history reads")
    });
    // Close the pool before the directory goes away.
    drop(store);
    drop(runtime);
    drop(data);
}

async fn fill(data_dir: &std::path::Path) -> (Store, RoomId) {
    let store = Store::open_sqlite(data_dir)
        .await
        .expect("a SQLite store opens");
    let act = Act {
        user: None,
        node: "bench",
        at: NOW,
        details: "{}",
    };
    let user = store
        .create_user(
            &act,
            &NewUser {
                login: Login::parse("alice@contoso.com").expect("a valid login"),
                display_name: "Alice".to_owned(),
                email: None,
                container: None,
                disabled: false,
                password_hash: None,
            },
        )
        .await
        .expect("the user is created");
    let default = store
        .category("default")
        .await
        .expect("the default category exists");
    let room = store
        .create_room(
            &act,
            &NewRoom {
                name: "History".to_owned(),
                description: String::new(),
                category_id: default.id,
                privacy: RoomPrivacy::Open,
                room_type: RoomType::Normal,
                invitations: RoomInvitations::Inherit,
                addin: None,
                disabled: false,
                members: Vec::new(),
                managers: Vec::new(),
                presenters: Vec::new(),
            },
            &RoomFinder::Everything,
        )
        .await
        .expect("the room is created");
    let body = body(200);
    for i in 0..HISTORY_MESSAGES {
        let posted = Act {
            user: Some(user.id),
            at: Timestamp(NOW.0 + i as i64),
            details: "",
            ..act
        };
        store
            .post_message(room.id, &posted, stoa_store::NewPost::text(&body))
            .await
            .expect("the post is stored");
    }
    (store, room.id)
}
