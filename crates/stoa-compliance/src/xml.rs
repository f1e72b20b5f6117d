//! The XML adapter's format: Lync 2013's compliance XML, extended so that every exported event
//! can be checked against the hash chain.
//!
//! The schema is `schema/stoa-compliance.xsd`; `docs/compliance-formats.md` describes it for operators. A file
//! looks like this (one line per message; attributes in this order, always):
//!
//! ```xml
//! <?xml version="1.0" encoding="utf-8"?>
//! <Conversations version="1" adapter="A" part="all" firstPosition="1" lastPosition="9"
//!     previousHash="…64 hex…" lastHash="…64 hex…" chatRoomDetails="false" userDetails="false">
//!   <Conversation>
//!     <Channel uri="ma-chan://stoa/room/7" name="General"/>
//!     <FirstMessage type="JOIN" content="" id="1" position="1" node="n1" previousHash="…" hash="…"><Sender id="3" internal="true" uri="alice@contoso.com"/><DateTimeUTC since1970="…" string="…" long="…"/></FirstMessage>
//!     <Messages>
//!       <Message type="JOIN" content="" id="1" position="1" node="n1" previousHash="…" hash="…"><Sender …/><DateTimeUTC …/></Message>
//!       <Message type="CHAT" content="hi" id="1" position="3" seq="1" node="n1" …>…</Message>
//!     </Messages>
//!     <StartTimeUTC since1970="…" string="…" long="…"/>
//!     <EndTimeUTC since1970="…" string="…" long="…"/>
//!   </Conversation>
//! </Conversations>
//! ```
//!
//! - **Root** `<Conversations>` (no namespace, like Lync's): `version` is `1`; `adapter` names
//!   the adapter; `part` is `all`, `room-{id}` or `server` (which events of the batch the file
//!   holds, as in its name); `firstPosition`/`lastPosition` are the batch's range;
//!   `previousHash` is the hash before the batch's first event and `lastHash` the hash of its
//!   last event (for every file of a batch, whatever its part); `chatRoomDetails` and
//!   `userDetails` record `AddChatRoomDetails` and `AddUserDetails`, so a reader knows which
//!   optional attributes are absent because they were not asked for.
//! - **One `<Conversation>` per room**, in order of the room's first event in the batch; the
//!   events that concern no room form one conversation on `ma-chan://stoa/server`, named
//!   `(server)`, placed by the same rule. Its messages are in chain order.
//! - **`<Channel uri name/>`**: `uri` is `ma-chan://stoa/room/{room id}`; `name` is the room's
//!   name at the conversation's first event. With `AddChatRoomDetails` it also carries `id`
//!   (the room id) and `category` (the category at that event). The server channel never does.
//! - **`<FirstMessage>`** is an exact copy of the conversation's first `<Message>` element:
//!   same attributes in the same order, same children; only the element name differs.
//! - **`<Message>`** attributes: `type` is the event kind (`JOIN`, `PART`, `CHAT`, `BACKCHAT`,
//!   `FILEUPLOAD`, `FILEDOWNLOAD`, `ADMIN`); `content` is the message text, the uploaded or
//!   downloaded file's name, or for `ADMIN` the JSON description of the change; `id` is the
//!   message's sequence number in its room when the event has one, else the chain position
//!   (Lync's readers expect an id on every message); `action` (only when the event has one,
//!   i.e. `ADMIN`) says which administrative act; `position` is the chain position; `seq`
//!   (only when the event has one) the message sequence number; `node` the node that acted;
//!   `previousHash` and `hash` the event's links in the chain.
//! - **`<Sender>`** (absent when no user acted): `id` is the user id, `uri` the login,
//!   `internal` always `true`. With `AddUserDetails` it also carries `UserName` (the display
//!   name) and `email` (when the user has one). The attribute order is Lync's:
//!   `UserName id email internal uri`.
//! - **`<DateTimeUTC>`**, **`<StartTimeUTC>`**, **`<EndTimeUTC>`**: `since1970` is
//!   milliseconds since the Unix epoch, `string` the same instant as RFC 3339 UTC with
//!   milliseconds (`2026-01-02T03:04:05.678Z`), `long` .NET ticks (`since1970 * 10000 +
//!   621355968000000000`). Start and end are the times of the conversation's first and last
//!   messages in chain order.
//!
//! **Text.** Attribute values escape `&`, `<`, `>` and `"` as entities and tab, line feed and
//! carriage return as character references (`&#9;`, `&#10;`, `&#13;`), so XML's attribute
//! normalization cannot turn them into spaces. Characters XML 1.0 cannot carry at all (C0
//! controls other than those three, U+FFFE, U+FFFF) are written as U+FFFD; the verifier
//! compares stored text through the same substitution. The JSON Lines format is exact.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::{Reader, XmlVersion};

use crate::event::{Event, EventKind};
use crate::naming::{ExportFileName, FilePart};
use crate::read::{
    ExportBreak, ExportedEvent, ExportedFile, ExportedRoom, ExportedUser, ExportedUserDetails,
};
use crate::settings::AdapterSettings;
use crate::utc;

/// The channel URI of a room.
const ROOM_URI_PREFIX: &str = "ma-chan://stoa/room/";
/// The channel URI of the events that concern no room.
const SERVER_URI: &str = "ma-chan://stoa/server";
/// The channel name of the events that concern no room.
const SERVER_NAME: &str = "(server)";
/// The value of the root's `version` attribute.
const FORMAT_VERSION: &str = "1";

/// What XML 1.0 cannot carry is written as this.
const REPLACEMENT: &str = "\u{FFFD}";

// --- Writing -----------------------------------------------------------------------------

/// Writes one file: the events `conversations` picks out of `batch`, grouped as given (each
/// inner list is one conversation, in chain order). `batch` is the whole batch, which the root
/// describes.
pub(crate) fn write_file(
    out: &mut impl Write,
    settings: &AdapterSettings,
    name: &ExportFileName,
    batch: &[Event],
    conversations: &[Vec<usize>],
) -> io::Result<()> {
    let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
        return Ok(());
    };
    out.write_all(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Conversations version=\"")?;
    out.write_all(FORMAT_VERSION.as_bytes())?;
    out.write_all(b"\" adapter=\"")?;
    write_escaped(out, &settings.name)?;
    out.write_all(b"\" part=\"")?;
    out.write_all(name.part.to_attribute().as_bytes())?;
    out.write_all(b"\" firstPosition=\"")?;
    write_integer(out, first.position)?;
    out.write_all(b"\" lastPosition=\"")?;
    write_integer(out, last.position)?;
    out.write_all(b"\" previousHash=\"")?;
    write_escaped(out, &first.previous_hash)?;
    out.write_all(b"\" lastHash=\"")?;
    write_escaped(out, &last.hash)?;
    out.write_all(b"\" chatRoomDetails=\"")?;
    out.write_all(boolean(settings.add_chat_room_details))?;
    out.write_all(b"\" userDetails=\"")?;
    out.write_all(boolean(settings.add_user_details))?;
    out.write_all(b"\">\n")?;
    for conversation in conversations {
        let (Some(&first_index), Some(&last_index)) = (conversation.first(), conversation.last())
        else {
            continue;
        };
        let first_event = &batch[first_index];
        out.write_all(b"  <Conversation>\n    <Channel uri=\"")?;
        match &first_event.room {
            Some(room) => {
                out.write_all(ROOM_URI_PREFIX.as_bytes())?;
                write_integer(out, room.id)?;
                out.write_all(b"\" name=\"")?;
                write_escaped(out, &room.name)?;
                if settings.add_chat_room_details {
                    out.write_all(b"\" id=\"")?;
                    write_integer(out, room.id)?;
                    out.write_all(b"\" category=\"")?;
                    write_escaped(out, &room.category)?;
                }
            }
            None => {
                out.write_all(SERVER_URI.as_bytes())?;
                out.write_all(b"\" name=\"")?;
                out.write_all(SERVER_NAME.as_bytes())?;
            }
        }
        out.write_all(b"\"/>\n    ")?;
        write_message(out, "FirstMessage", first_event, settings)?;
        out.write_all(b"\n    <Messages>\n")?;
        for &index in conversation {
            out.write_all(b"      ")?;
            write_message(out, "Message", &batch[index], settings)?;
            out.write_all(b"\n")?;
        }
        out.write_all(b"    </Messages>\n    ")?;
        write_time(out, "StartTimeUTC", first_event.occurred_at)?;
        out.write_all(b"\n    ")?;
        write_time(out, "EndTimeUTC", batch[last_index].occurred_at)?;
        out.write_all(b"\n  </Conversation>\n")?;
    }
    out.write_all(b"</Conversations>\n")
}

fn write_message(
    out: &mut impl Write,
    element: &str,
    event: &Event,
    settings: &AdapterSettings,
) -> io::Result<()> {
    out.write_all(b"<")?;
    out.write_all(element.as_bytes())?;
    out.write_all(b" type=\"")?;
    out.write_all(event.kind.as_str().as_bytes())?;
    out.write_all(b"\" content=\"")?;
    write_escaped(out, &event.content)?;
    out.write_all(b"\" id=\"")?;
    write_integer(out, event.message_seq.unwrap_or(event.position))?;
    if let Some(action) = &event.action {
        out.write_all(b"\" action=\"")?;
        write_escaped(out, action)?;
    }
    out.write_all(b"\" position=\"")?;
    write_integer(out, event.position)?;
    if let Some(seq) = event.message_seq {
        out.write_all(b"\" seq=\"")?;
        write_integer(out, seq)?;
    }
    out.write_all(b"\" node=\"")?;
    write_escaped(out, &event.node)?;
    out.write_all(b"\" previousHash=\"")?;
    write_escaped(out, &event.previous_hash)?;
    out.write_all(b"\" hash=\"")?;
    write_escaped(out, &event.hash)?;
    out.write_all(b"\">")?;
    if let Some(user) = &event.user {
        out.write_all(b"<Sender ")?;
        if settings.add_user_details {
            out.write_all(b"UserName=\"")?;
            write_escaped(out, &user.display_name)?;
            out.write_all(b"\" ")?;
        }
        out.write_all(b"id=\"")?;
        write_integer(out, user.id)?;
        if settings.add_user_details
            && let Some(email) = &user.email
        {
            out.write_all(b"\" email=\"")?;
            write_escaped(out, email)?;
        }
        out.write_all(b"\" internal=\"true\" uri=\"")?;
        write_escaped(out, &user.login)?;
        out.write_all(b"\"/>")?;
    }
    write_time(out, "DateTimeUTC", event.occurred_at)?;
    out.write_all(b"</")?;
    out.write_all(element.as_bytes())?;
    out.write_all(b">")
}

fn write_time(out: &mut impl Write, element: &str, millis: i64) -> io::Result<()> {
    let (Some(text), Some(ticks)) = (utc::rfc3339_millis(millis), utc::dotnet_ticks(millis)) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("time {millis} ms is outside the years 0001 to 9999"),
        ));
    };
    out.write_all(b"<")?;
    out.write_all(element.as_bytes())?;
    out.write_all(b" since1970=\"")?;
    write_integer(out, millis)?;
    out.write_all(b"\" string=\"")?;
    out.write_all(text.as_str().as_bytes())?;
    out.write_all(b"\" long=\"")?;
    write_integer(out, ticks)?;
    out.write_all(b"\"/>")
}

fn boolean(value: bool) -> &'static [u8] {
    if value { b"true" } else { b"false" }
}

/// Writes an integer without going through `fmt`.
fn write_integer(out: &mut impl Write, value: i64) -> io::Result<()> {
    let mut buffer = [0u8; 20];
    let mut cursor = buffer.len();
    let mut magnitude = value.unsigned_abs();
    loop {
        cursor -= 1;
        buffer[cursor] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if value < 0 {
        out.write_all(b"-")?;
    }
    out.write_all(&buffer[cursor..])
}

/// Writes `text` as the inside of a double-quoted attribute value (see the module docs).
fn write_escaped(out: &mut impl Write, text: &str) -> io::Result<()> {
    let bytes = text.as_bytes();
    let mut clean_from = 0;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let (replacement, width): (&[u8], usize) = match byte {
            b'&' => (b"&amp;", 1),
            b'<' => (b"&lt;", 1),
            b'>' => (b"&gt;", 1),
            b'"' => (b"&quot;", 1),
            b'\t' => (b"&#9;", 1),
            b'\n' => (b"&#10;", 1),
            b'\r' => (b"&#13;", 1),
            0x00..=0x1f => (REPLACEMENT.as_bytes(), 1),
            // U+FFFE and U+FFFF are EF BF BE and EF BF BF in UTF-8.
            0xef if bytes.get(index + 1) == Some(&0xbf)
                && matches!(bytes.get(index + 2), Some(0xbe | 0xbf)) =>
            {
                (REPLACEMENT.as_bytes(), 3)
            }
            _ => {
                index += 1;
                continue;
            }
        };
        out.write_all(&bytes[clean_from..index])?;
        out.write_all(replacement)?;
        index += width;
        clean_from = index;
    }
    out.write_all(&bytes[clean_from..])
}

/// `true` for the characters XML 1.0 documents cannot contain, even as references.
fn not_xml_char(character: char) -> bool {
    matches!(character, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// `text` as an XML file carries it: characters XML 1.0 cannot contain become U+FFFD.
pub fn xml_text(text: &str) -> Cow<'_, str> {
    if text.chars().any(not_xml_char) {
        Cow::Owned(
            text.chars()
                .map(|character| {
                    if not_xml_char(character) {
                        '\u{FFFD}'
                    } else {
                        character
                    }
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

// --- Reading -----------------------------------------------------------------------------

/// Reads one XML output file, checking it against its name and against itself (the copies
/// and derived values the format repeats).
pub(crate) fn read_file(path: &Path, name: ExportFileName) -> Result<ExportedFile, ExportBreak> {
    let file_name = name.to_string();
    let file = File::open(path).map_err(|error| ExportBreak::Unreadable {
        file: file_name.clone(),
        position: None,
        reason: error.to_string(),
    })?;
    let mut parser = Parser {
        file: file_name,
        tokens: Tokens {
            reader: Reader::from_reader(BufReader::with_capacity(1 << 16, file)),
            buffer: Vec::new(),
        },
    };
    parser.document(name, path)
}

/// One start, empty or end tag, with its attributes in document order.
enum Token {
    Open {
        name: String,
        attributes: Attributes,
        empty: bool,
    },
    Close {
        name: String,
    },
    EndOfFile,
}

struct Tokens<R> {
    reader: Reader<R>,
    buffer: Vec<u8>,
}

impl<R: BufRead> Tokens<R> {
    /// The next tag, skipping the declaration, comments and whitespace between tags; anything
    /// else (text, CDATA, DTDs, processing instructions) does not belong in the format.
    fn next(&mut self) -> Result<Token, String> {
        loop {
            self.buffer.clear();
            let event = self
                .reader
                .read_event_into(&mut self.buffer)
                .map_err(|error| {
                    format!(
                        "malformed XML at byte {}: {error}",
                        self.reader.error_position()
                    )
                })?;
            match event {
                XmlEvent::Start(start) => {
                    return Ok(Token::Open {
                        name: start.name().as_ref().to_owned(),
                        attributes: Attributes::of(&start)?,
                        empty: false,
                    });
                }
                XmlEvent::Empty(start) => {
                    return Ok(Token::Open {
                        name: start.name().as_ref().to_owned(),
                        attributes: Attributes::of(&start)?,
                        empty: true,
                    });
                }
                XmlEvent::End(end) => {
                    return Ok(Token::Close {
                        name: end.name().as_ref().to_owned(),
                    });
                }
                XmlEvent::Eof => return Ok(Token::EndOfFile),
                XmlEvent::Decl(_) | XmlEvent::Comment(_) => {}
                XmlEvent::Text(text) if text.trim().is_empty() => {}
                XmlEvent::Text(_) | XmlEvent::GeneralRef(_) => {
                    return Err("unexpected text between elements".to_owned());
                }
                XmlEvent::CData(_) => return Err("unexpected CDATA section".to_owned()),
                XmlEvent::DocType(_) => return Err("unexpected DOCTYPE".to_owned()),
                XmlEvent::PI(_) => return Err("unexpected processing instruction".to_owned()),
            }
        }
    }
}

/// An element's attributes, taken one by one so that leftovers can be refused.
struct Attributes(Vec<(String, String)>);

impl Attributes {
    fn of(start: &BytesStart<'_>) -> Result<Attributes, String> {
        let mut attributes = Vec::new();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|error| format!("malformed attribute: {error}"))?;
            let value = attribute
                .normalized_value_with(XmlVersion::Explicit1_0, 1, resolve_predefined_entity)
                .map_err(|error| format!("malformed attribute value: {error}"))?;
            attributes.push((attribute.key.as_ref().to_owned(), value.into_owned()));
        }
        Ok(Attributes(attributes))
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let index = self.0.iter().position(|(key, _)| key == name)?;
        Some(self.0.remove(index).1)
    }
}

/// A parsed `<Message>` or `<FirstMessage>`, compared field by field with its copy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct XmlMessage {
    kind: EventKind,
    content: String,
    id: i64,
    action: Option<String>,
    position: i64,
    seq: Option<i64>,
    node: String,
    previous_hash: String,
    hash: String,
    sender: Option<XmlSender>,
    time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct XmlSender {
    id: i64,
    login: String,
    details: Option<ExportedUserDetails>,
}

/// What a `<Channel>` says.
struct Channel {
    room_id: Option<i64>,
    name: String,
    category: Option<String>,
}

struct Parser<R> {
    file: String,
    tokens: Tokens<R>,
}

struct Root {
    adapter: String,
    part: FilePart,
    first_position: i64,
    last_position: i64,
    previous_hash: String,
    last_hash: String,
    chat_room_details: bool,
    user_details: bool,
}

impl<R: BufRead> Parser<R> {
    fn unreadable(&self, position: Option<i64>, reason: impl Into<String>) -> ExportBreak {
        ExportBreak::Unreadable {
            file: self.file.clone(),
            position,
            reason: reason.into(),
        }
    }

    fn altered(&self, position: i64, field: &'static str) -> ExportBreak {
        ExportBreak::Altered {
            file: self.file.clone(),
            position,
            field,
        }
    }

    fn next(&mut self, position: Option<i64>) -> Result<Token, ExportBreak> {
        self.tokens
            .next()
            .map_err(|reason| self.unreadable(position, reason))
    }

    /// Expects `<name …>` or `<name …/>` and returns its attributes and whether it was empty.
    fn open(
        &mut self,
        expected: &str,
        position: Option<i64>,
    ) -> Result<(Attributes, bool), ExportBreak> {
        match self.next(position)? {
            Token::Open {
                name,
                attributes,
                empty,
            } if name == expected => Ok((attributes, empty)),
            Token::Open { name, .. } => {
                Err(self.unreadable(position, format!("expected <{expected}>, found <{name}>")))
            }
            Token::Close { name } => {
                Err(self.unreadable(position, format!("expected <{expected}>, found </{name}>")))
            }
            Token::EndOfFile => Err(self.unreadable(
                position,
                format!("expected <{expected}>, found the end of the file"),
            )),
        }
    }

    fn close(&mut self, expected: &str, position: Option<i64>) -> Result<(), ExportBreak> {
        match self.next(position)? {
            Token::Close { name } if name == expected => Ok(()),
            Token::Close { name } => {
                Err(self.unreadable(position, format!("expected </{expected}>, found </{name}>")))
            }
            Token::Open { name, .. } => {
                Err(self.unreadable(position, format!("expected </{expected}>, found <{name}>")))
            }
            Token::EndOfFile => Err(self.unreadable(
                position,
                format!("expected </{expected}>, found the end of the file"),
            )),
        }
    }

    /// An element without children: `<name …/>` or `<name …></name>`.
    fn leaf(&mut self, expected: &str, position: Option<i64>) -> Result<Attributes, ExportBreak> {
        let (attributes, empty) = self.open(expected, position)?;
        if !empty {
            self.close(expected, position)?;
        }
        Ok(attributes)
    }

    fn required(
        &self,
        attributes: &mut Attributes,
        element: &str,
        name: &str,
        position: Option<i64>,
    ) -> Result<String, ExportBreak> {
        attributes
            .take(name)
            .ok_or_else(|| self.unreadable(position, format!("<{element}> has no {name}")))
    }

    fn integer(
        &self,
        text: &str,
        element: &str,
        name: &str,
        position: Option<i64>,
    ) -> Result<i64, ExportBreak> {
        text.parse().map_err(|_| {
            self.unreadable(
                position,
                format!("<{element}> {name} {text:?} is not an integer"),
            )
        })
    }

    fn no_leftovers(
        &self,
        attributes: &Attributes,
        element: &str,
        position: Option<i64>,
    ) -> Result<(), ExportBreak> {
        match attributes.0.first() {
            None => Ok(()),
            Some((name, _)) => Err(self.unreadable(
                position,
                format!("<{element}> has an unexpected attribute {name}"),
            )),
        }
    }

    fn document(&mut self, name: ExportFileName, path: &Path) -> Result<ExportedFile, ExportBreak> {
        let (mut attributes, empty) = self.open("Conversations", None)?;
        let root = self.root(&mut attributes)?;
        if root.adapter != name.adapter
            || root.part != name.part
            || root.first_position != name.first_position
            || root.last_position != name.last_position
        {
            return Err(ExportBreak::RangeMismatch {
                file: self.file.clone(),
                position: None,
                reason: format!(
                    "the file says adapter {} part {} positions {}..={}, its name says adapter {} part {} positions {}..={}",
                    root.adapter,
                    root.part.to_attribute(),
                    root.first_position,
                    root.last_position,
                    name.adapter,
                    name.part.to_attribute(),
                    name.first_position,
                    name.last_position
                ),
            });
        }
        let mut events = Vec::new();
        if !empty {
            loop {
                match self.next(None)? {
                    Token::Open {
                        name: element,
                        attributes,
                        empty,
                    } if element == "Conversation" && !empty => {
                        self.no_leftovers(&attributes, "Conversation", None)?;
                        self.conversation(&root, &mut events)?;
                    }
                    Token::Close { name: element } if element == "Conversations" => break,
                    _ => {
                        return Err(self.unreadable(
                            events.last().map(|event: &ExportedEvent| event.position),
                            "expected <Conversation> or </Conversations>",
                        ));
                    }
                }
            }
        }
        match self.next(None)? {
            Token::EndOfFile => {}
            _ => return Err(self.unreadable(None, "content after </Conversations>")),
        }
        for event in &events {
            if event.position < name.first_position || event.position > name.last_position {
                return Err(ExportBreak::RangeMismatch {
                    file: self.file.clone(),
                    position: Some(event.position),
                    reason: format!(
                        "position {} is outside the file's range {}..={}",
                        event.position, name.first_position, name.last_position
                    ),
                });
            }
        }
        Ok(ExportedFile {
            path: path.to_owned(),
            name,
            previous_hash: Some(root.previous_hash),
            last_hash: Some(root.last_hash),
            events,
        })
    }

    fn root(&self, attributes: &mut Attributes) -> Result<Root, ExportBreak> {
        let element = "Conversations";
        let version = self.required(attributes, element, "version", None)?;
        if version != FORMAT_VERSION {
            return Err(self.unreadable(None, format!("unknown format version {version:?}")));
        }
        let adapter = self.required(attributes, element, "adapter", None)?;
        let part_text = self.required(attributes, element, "part", None)?;
        let part = FilePart::parse_attribute(&part_text)
            .ok_or_else(|| self.unreadable(None, format!("unknown part {part_text:?}")))?;
        let first = self.required(attributes, element, "firstPosition", None)?;
        let last = self.required(attributes, element, "lastPosition", None)?;
        let previous_hash = self.required(attributes, element, "previousHash", None)?;
        let last_hash = self.required(attributes, element, "lastHash", None)?;
        let chat_room_details = self.required(attributes, element, "chatRoomDetails", None)?;
        let user_details = self.required(attributes, element, "userDetails", None)?;
        self.no_leftovers(attributes, element, None)?;
        Ok(Root {
            adapter,
            part,
            first_position: self.integer(&first, element, "firstPosition", None)?,
            last_position: self.integer(&last, element, "lastPosition", None)?,
            previous_hash,
            last_hash,
            chat_room_details: self.flag(&chat_room_details, "chatRoomDetails")?,
            user_details: self.flag(&user_details, "userDetails")?,
        })
    }

    fn flag(&self, text: &str, name: &str) -> Result<bool, ExportBreak> {
        match text {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.unreadable(
                None,
                format!("<Conversations> {name} must be true or false"),
            )),
        }
    }

    fn conversation(
        &mut self,
        root: &Root,
        events: &mut Vec<ExportedEvent>,
    ) -> Result<(), ExportBreak> {
        let near = events.last().map(|event| event.position);
        let mut attributes = self.leaf("Channel", near)?;
        let channel = self.channel(&mut attributes, root, near)?;
        let (attributes, empty) = self.open("FirstMessage", near)?;
        let first_copy = self.message("FirstMessage", attributes, empty, root)?;
        let near = Some(first_copy.position);
        let (attributes, empty) = self.open("Messages", near)?;
        self.no_leftovers(&attributes, "Messages", near)?;
        let mut messages: Vec<XmlMessage> = Vec::new();
        if !empty {
            loop {
                let near = messages
                    .last()
                    .map_or(near, |message| Some(message.position));
                match self.next(near)? {
                    Token::Open {
                        name,
                        attributes,
                        empty,
                    } if name == "Message" => {
                        messages.push(self.message("Message", attributes, empty, root)?);
                    }
                    Token::Close { name } if name == "Messages" => break,
                    _ => return Err(self.unreadable(near, "expected <Message> or </Messages>")),
                }
            }
        }
        let near = messages
            .last()
            .map_or(near, |message| Some(message.position));
        let start = self.time_element("StartTimeUTC", near)?;
        let end = self.time_element("EndTimeUTC", near)?;
        self.close("Conversation", near)?;

        // The copies and summaries must agree with the messages they repeat.
        match messages.first() {
            Some(first) if *first == first_copy => {}
            _ => return Err(self.altered(first_copy.position, "FirstMessage")),
        }
        if let (Some(first), Some(last)) = (messages.first(), messages.last()) {
            if first.time != start {
                return Err(self.altered(first.position, "StartTimeUTC"));
            }
            if last.time != end {
                return Err(self.altered(last.position, "EndTimeUTC"));
            }
        }
        let in_its_part = match root.part {
            FilePart::All => true,
            FilePart::Server => channel.room_id.is_none(),
            FilePart::Room(file_room) => channel.room_id == Some(file_room),
        };
        if !in_its_part {
            return Err(self.misplaced(&messages));
        }

        let mut previous_position = None;
        for (index, message) in messages.into_iter().enumerate() {
            if previous_position.is_some_and(|previous| message.position <= previous) {
                return Err(ExportBreak::OutOfOrder {
                    file: self.file.clone(),
                    position: message.position,
                });
            }
            previous_position = Some(message.position);
            // The channel describes the room as of the conversation's first event.
            let room = channel.room_id.map(|id| ExportedRoom {
                id,
                name: (index == 0).then(|| channel.name.clone()),
                category: if index == 0 {
                    channel.category.clone()
                } else {
                    None
                },
            });
            events.push(ExportedEvent {
                position: message.position,
                kind: message.kind,
                action: message.action,
                occurred_at: message.time,
                node: message.node,
                user: message.sender.map(|sender| ExportedUser {
                    id: sender.id,
                    login: sender.login,
                    details: sender.details,
                }),
                room,
                message_seq: message.seq,
                content: message.content,
                previous_hash: message.previous_hash,
                hash: message.hash,
            });
        }
        Ok(())
    }

    fn misplaced(&self, messages: &[XmlMessage]) -> ExportBreak {
        match messages.first() {
            Some(message) => ExportBreak::Misplaced {
                file: self.file.clone(),
                position: message.position,
            },
            None => self.unreadable(None, "a conversation of another room"),
        }
    }

    fn channel(
        &self,
        attributes: &mut Attributes,
        root: &Root,
        near: Option<i64>,
    ) -> Result<Channel, ExportBreak> {
        let element = "Channel";
        let uri = self.required(attributes, element, "uri", near)?;
        let name = self.required(attributes, element, "name", near)?;
        let id = attributes.take("id");
        let category = attributes.take("category");
        self.no_leftovers(attributes, element, near)?;
        if uri == SERVER_URI {
            if name != SERVER_NAME || id.is_some() || category.is_some() {
                return Err(self.unreadable(
                    near,
                    "the server channel has a name other than (server), or room details",
                ));
            }
            return Ok(Channel {
                room_id: None,
                name,
                category: None,
            });
        }
        let room_id = uri
            .strip_prefix(ROOM_URI_PREFIX)
            .and_then(|id| id.parse::<i64>().ok())
            .filter(|id| format!("{ROOM_URI_PREFIX}{id}") == uri)
            .ok_or_else(|| self.unreadable(near, format!("unknown channel uri {uri:?}")))?;
        let category = match (root.chat_room_details, id, category) {
            (true, Some(id), Some(category)) if id == room_id.to_string() => Some(category),
            (false, None, None) => None,
            _ => {
                return Err(self.unreadable(
                    near,
                    "<Channel> room details do not match the uri or the chatRoomDetails setting",
                ));
            }
        };
        Ok(Channel {
            room_id: Some(room_id),
            name,
            category,
        })
    }

    fn message(
        &mut self,
        element: &'static str,
        mut attributes: Attributes,
        empty: bool,
        root: &Root,
    ) -> Result<XmlMessage, ExportBreak> {
        let position_text = attributes.take("position");
        let position = position_text.as_deref().and_then(|text| text.parse().ok());
        let Some(position) = position else {
            return Err(self.unreadable(None, format!("<{element}> has no valid position")));
        };
        let near = Some(position);
        let kind_text = self.required(&mut attributes, element, "type", near)?;
        let kind = EventKind::parse(&kind_text).ok_or_else(|| {
            self.unreadable(near, format!("<{element}> has unknown type {kind_text:?}"))
        })?;
        let content = self.required(&mut attributes, element, "content", near)?;
        let id_text = self.required(&mut attributes, element, "id", near)?;
        let id = self.integer(&id_text, element, "id", near)?;
        let action = attributes.take("action");
        let seq = match attributes.take("seq") {
            Some(text) => Some(self.integer(&text, element, "seq", near)?),
            None => None,
        };
        let node = self.required(&mut attributes, element, "node", near)?;
        let previous_hash = self.required(&mut attributes, element, "previousHash", near)?;
        let hash = self.required(&mut attributes, element, "hash", near)?;
        self.no_leftovers(&attributes, element, near)?;
        if id != seq.unwrap_or(position) {
            return Err(self.altered(position, "id"));
        }
        if empty {
            return Err(self.unreadable(near, format!("<{element}> has no <DateTimeUTC>")));
        }
        let mut sender = None;
        let mut token = self.next(near)?;
        if let Token::Open {
            name,
            attributes,
            empty,
        } = &mut token
            && name == "Sender"
        {
            let empty = *empty;
            let mut sender_attributes = std::mem::replace(attributes, Attributes(Vec::new()));
            if !empty {
                self.close("Sender", near)?;
            }
            sender = Some(self.sender(&mut sender_attributes, root, position)?);
            token = self.next(near)?;
        }
        let time = match token {
            Token::Open {
                name,
                mut attributes,
                empty,
            } if name == "DateTimeUTC" => {
                if !empty {
                    self.close("DateTimeUTC", near)?;
                }
                self.time(&mut attributes, "DateTimeUTC", near)?
            }
            _ => {
                return Err(self.unreadable(
                    near,
                    format!("<{element}> must hold an optional <Sender> and a <DateTimeUTC>"),
                ));
            }
        };
        self.close(element, near)?;
        Ok(XmlMessage {
            kind,
            content,
            id,
            action,
            position,
            seq,
            node,
            previous_hash,
            hash,
            sender,
            time,
        })
    }

    fn sender(
        &self,
        attributes: &mut Attributes,
        root: &Root,
        position: i64,
    ) -> Result<XmlSender, ExportBreak> {
        let near = Some(position);
        let user_name = attributes.take("UserName");
        let id_text = self.required(attributes, "Sender", "id", near)?;
        let id = self.integer(&id_text, "Sender", "id", near)?;
        let email = attributes.take("email");
        let internal = self.required(attributes, "Sender", "internal", near)?;
        let login = self.required(attributes, "Sender", "uri", near)?;
        self.no_leftovers(attributes, "Sender", near)?;
        if internal != "true" {
            return Err(self.altered(position, "Sender"));
        }
        let details = match (root.user_details, user_name) {
            (true, Some(display_name)) => Some(ExportedUserDetails {
                display_name,
                email,
            }),
            (false, None) if email.is_none() => None,
            _ => return Err(self.altered(position, "Sender")),
        };
        Ok(XmlSender { id, login, details })
    }

    fn time_element(&mut self, element: &str, near: Option<i64>) -> Result<i64, ExportBreak> {
        let mut attributes = self.leaf(element, near)?;
        self.time(&mut attributes, element, near)
    }

    /// The three spellings of a time; they must agree.
    fn time(
        &self,
        attributes: &mut Attributes,
        element: &str,
        near: Option<i64>,
    ) -> Result<i64, ExportBreak> {
        let since1970 = self.required(attributes, element, "since1970", near)?;
        let text = self.required(attributes, element, "string", near)?;
        let ticks = self.required(attributes, element, "long", near)?;
        self.no_leftovers(attributes, element, near)?;
        let millis = self.integer(&since1970, element, "since1970", near)?;
        let consistent = utc::rfc3339_millis(millis)
            .is_some_and(|expected| expected.as_str() == text)
            && utc::dotnet_ticks(millis).is_some_and(|expected| expected.to_string() == ticks);
        if consistent {
            Ok(millis)
        } else {
            match near {
                Some(position) => Err(self.altered(
                    position,
                    match element {
                        "StartTimeUTC" => "StartTimeUTC",
                        "EndTimeUTC" => "EndTimeUTC",
                        _ => "DateTimeUTC",
                    },
                )),
                None => Err(self.unreadable(
                    None,
                    format!("<{element}> since1970, string and long disagree"),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = Vec::new();
        write_escaped(&mut out, text).unwrap_or_default();
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn escapes_markup_quotes_and_line_breaks() {
        assert_eq!(
            escaped("a<b>&\"c'\n\t\r😀"),
            "a&lt;b&gt;&amp;&quot;c'&#10;&#9;&#13;😀"
        );
        assert_eq!(
            escaped("\u{0}x\u{1f}\u{fffe}\u{ffff}\u{fffd}"),
            "\u{fffd}x\u{fffd}\u{fffd}\u{fffd}\u{fffd}"
        );
        assert_eq!(xml_text("a\u{1}\u{ffff}b\n"), "a\u{fffd}\u{fffd}b\n");
    }

    #[test]
    fn integers_are_written_in_full() {
        for value in [0, 7, -7, 1_234_567_890, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_integer(&mut out, value).unwrap_or_default();
            assert_eq!(
                String::from_utf8(out).unwrap_or_default(),
                value.to_string()
            );
        }
    }
}
