//! A PostgreSQL wire proxy between the hub and the server, for injecting
//! faults where they hurt: the connection cut right before a COMMIT, or
//! right after the server committed but before the hub hears it, or the
//! COMMIT's answer held back. It runs on a thread and runtime of its own,
//! so a test blocked in a query of its own never stalls the hub's traffic.
//!
//! A fault is armed for the next COMMIT of a transaction that ran a
//! statement containing a marker (e.g. `register_events`: every change of
//! a caja writes there), or for the next such statement run outside a
//! transaction (it commits by itself: a sale is one statement). Diesel keeps statements prepared, so the proxy
//! remembers each statement's text from its Parse and looks it up on Bind.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The COMMIT never reaches the server; the connection drops (the
    /// server rolls the transaction back).
    CutBeforeCommit,
    /// The server commits; its answer is thrown away and the connection
    /// drops: the hub cannot know the sale was committed.
    CutAfterCommit,
    /// The server commits; its answer waits in the proxy until released.
    HoldCommitAnswer,
}

/// One armed fault: whether it fired, and (for a held answer) the release.
pub struct Trigger {
    fired: watch::Sender<bool>,
    released: watch::Sender<bool>,
}

impl Trigger {
    /// Resolves once the fault has happened.
    pub async fn fired(&self) {
        let mut fired = self.fired.subscribe();
        let _ = fired.wait_for(|fired| *fired).await;
    }

    /// Lets a held answer go on to the hub.
    pub fn release(&self) {
        self.released.send_replace(true);
    }
}

#[derive(Default)]
struct Control {
    /// Faults armed, each for after the one before it has fired.
    armed: Mutex<VecDeque<(Fault, String, Arc<Trigger>)>>,
    /// Statements executed through the proxy (a simple query or a Bind).
    executed: std::sync::atomic::AtomicUsize,
    /// Times a client waited for the server: each simple query and each
    /// Sync (which ends a batch of extended-protocol messages).
    round_trips: std::sync::atomic::AtomicUsize,
}

pub struct PgProxy {
    address: SocketAddr,
    control: Arc<Control>,
}

impl PgProxy {
    /// A proxy on a free port of 127.0.0.1, in front of the test server.
    pub fn start() -> Self {
        let upstream = upstream_address();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let address = listener.local_addr().expect("proxy address");
        let control = Arc::new(Control::default());
        let shared = control.clone();
        std::thread::Builder::new()
            .name("pg-proxy".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("tokio listener");
                    while let Ok((client, _)) = listener.accept().await {
                        let control = shared.clone();
                        tokio::spawn(async move {
                            if let Ok(server) = TcpStream::connect(upstream).await {
                                let _ = client.set_nodelay(true);
                                let _ = server.set_nodelay(true);
                                relay(client, server, control).await;
                            }
                        });
                    }
                });
            })
            .expect("proxy thread");
        Self { address, control }
    }

    /// The URL of `database` through this proxy.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@{}/{database}?sslmode=disable",
            self.address
        )
    }

    /// How many statements its clients have executed so far.
    pub fn executed(&self) -> usize {
        self.control
            .executed
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many round trips its clients have made so far.
    pub fn round_trips(&self) -> usize {
        self.control
            .round_trips
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Arms `fault` for the next COMMIT of a transaction whose statements
    /// mention `marker` (or the next such statement outside a transaction),
    /// once the faults armed before it have fired.
    pub fn arm(&self, fault: Fault, marker: &str) -> Arc<Trigger> {
        let trigger = Arc::new(Trigger {
            fired: watch::Sender::new(false),
            released: watch::Sender::new(false),
        });
        self.control
            .armed
            .lock()
            .unwrap()
            .push_back((fault, marker.to_owned(), trigger.clone()));
        trigger
    }
}

/// Where the test server listens, from the tests' admin URL.
fn upstream_address() -> SocketAddr {
    let url = crate::helpers::admin_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let host_port = rest.split('/').next().unwrap_or_default();
    let host_port = host_port.rsplit('@').next().unwrap_or(host_port);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&host_port)
        .ok()
        .and_then(|mut addresses| addresses.next())
        .expect("the test server's address")
}

/// What the client of one connection said so far.
#[derive(Default)]
struct ClientState {
    /// Still in the start-up exchange (messages without a type byte).
    starting: bool,
    /// Prepared statements' text, by name.
    statements: HashMap<String, String>,
    /// The transaction ran a statement with the armed marker.
    marked: bool,
    /// Between a BEGIN and its COMMIT or ROLLBACK.
    in_transaction: bool,
}

/// What happens to the server's bytes now.
enum Answer {
    Forward,
    /// Drop everything up to the next ReadyForQuery, then close.
    Swallow(Arc<Trigger>),
    /// Keep everything until released.
    Hold(Arc<Trigger>, Vec<u8>),
}

async fn relay(mut client: TcpStream, mut server: TcpStream, control: Arc<Control>) {
    let mut from_client = Vec::new();
    let mut from_server = Vec::new();
    let mut state = ClientState {
        starting: true,
        ..Default::default()
    };
    let mut answer = Answer::Forward;
    let (mut client_buf, mut server_buf) = ([0u8; 8192], [0u8; 8192]);
    loop {
        let held = match &answer {
            Answer::Hold(trigger, _) => Some(trigger.released.subscribe()),
            _ => None,
        };
        let release = async move {
            match held {
                Some(mut released) => {
                    let _ = released.wait_for(|released| *released).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = client.read(&mut client_buf) => {
                let Ok(n @ 1..) = read else { return };
                from_client.extend_from_slice(&client_buf[..n]);
                while let Some(message) = take_client_message(&mut from_client, &mut state) {
                    match fault_for(&message, &mut state, &control) {
                        Some((Fault::CutBeforeCommit, trigger)) => {
                            trigger.fired.send_replace(true);
                            return;
                        }
                        Some((Fault::CutAfterCommit, trigger)) => answer = Answer::Swallow(trigger),
                        Some((Fault::HoldCommitAnswer, trigger)) => answer = Answer::Hold(trigger, Vec::new()),
                        None => {}
                    }
                    if server.write_all(&message).await.is_err() {
                        return;
                    }
                }
            }
            read = server.read(&mut server_buf) => {
                let Ok(n @ 1..) = read else { return };
                from_server.extend_from_slice(&server_buf[..n]);
                // Before start-up ends the server may answer a TLS request
                // with one byte; that never happens with sslmode=disable.
                while let Some(message) = take_server_message(&mut from_server) {
                    let ready = message.first() == Some(&b'Z');
                    match &mut answer {
                        Answer::Forward => {
                            if client.write_all(&message).await.is_err() {
                                return;
                            }
                        }
                        Answer::Swallow(trigger) => {
                            if ready {
                                trigger.fired.send_replace(true);
                                return;
                            }
                        }
                        Answer::Hold(trigger, kept) => {
                            kept.extend_from_slice(&message);
                            if ready {
                                trigger.fired.send_replace(true);
                            }
                        }
                    }
                }
            }
            () = release => {
                if let Answer::Hold(_, kept) = std::mem::replace(&mut answer, Answer::Forward)
                    && client.write_all(&kept).await.is_err()
                {
                    return;
                }
            }
        }
    }
}

/// The next whole message from the client, if it has arrived.
fn take_client_message(buffer: &mut Vec<u8>, state: &mut ClientState) -> Option<Vec<u8>> {
    if state.starting {
        let length = u32::from_be_bytes(buffer.get(..4)?.try_into().ok()?) as usize;
        if buffer.len() < length {
            return None;
        }
        let code = u32::from_be_bytes(buffer.get(4..8)?.try_into().ok()?);
        // A StartupMessage (protocol 3.0) ends the untyped part; TLS and
        // GSS requests come before one.
        if code >> 16 == 3 {
            state.starting = false;
        }
        return Some(buffer.drain(..length).collect());
    }
    take_typed(buffer)
}

fn take_server_message(buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    take_typed(buffer)
}

/// A message with a type byte and a length (which counts itself).
fn take_typed(buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    let length = u32::from_be_bytes(buffer.get(1..5)?.try_into().ok()?) as usize;
    if buffer.len() < 1 + length {
        return None;
    }
    Some(buffer.drain(..1 + length).collect())
}

/// The C string at the start of `bytes`, and what follows it.
fn cstring(bytes: &[u8]) -> (String, &[u8]) {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    (
        String::from_utf8_lossy(&bytes[..end]).into_owned(),
        bytes.get(end + 1..).unwrap_or_default(),
    )
}

/// Tracks the statements of the client's transaction; returns the armed
/// fault when this message is the COMMIT it waits for.
fn fault_for(
    message: &[u8],
    state: &mut ClientState,
    control: &Control,
) -> Option<(Fault, Arc<Trigger>)> {
    let body = message.get(5..)?;
    let marker = control
        .armed
        .lock()
        .unwrap()
        .front()
        .map(|(_, marker, _)| marker.clone());
    if matches!(message.first(), Some(b'B' | b'Q')) {
        control
            .executed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    if matches!(message.first(), Some(b'S' | b'Q')) {
        control
            .round_trips
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
    let sql = match message.first()? {
        b'P' => {
            let (name, rest) = cstring(body);
            let (sql, _) = cstring(rest);
            state.statements.insert(name, sql.clone());
            sql
        }
        b'B' => {
            let (_portal, rest) = cstring(body);
            let (statement, _) = cstring(rest);
            state
                .statements
                .get(&statement)
                .cloned()
                .unwrap_or_default()
        }
        b'Q' => cstring(body).0,
        _ => return None,
    };
    let word = sql.trim().trim_end_matches(';').to_ascii_uppercase();
    let executes = matches!(message.first(), Some(b'B' | b'Q'));
    let has_marker = marker
        .as_ref()
        .is_some_and(|marker| sql.contains(marker.as_str()));
    let take = || {
        control
            .armed
            .lock()
            .unwrap()
            .pop_front()
            .map(|(fault, _, trigger)| (fault, trigger))
    };
    if executes && word.starts_with("BEGIN") {
        state.in_transaction = true;
    } else if executes && !state.in_transaction && has_marker {
        // A statement outside a transaction is its own COMMIT.
        return take();
    } else if has_marker && state.in_transaction {
        state.marked = true;
    }
    if executes && (word == "COMMIT" || word == "ROLLBACK") {
        state.in_transaction = false;
        let marked = std::mem::take(&mut state.marked);
        if word == "COMMIT" && marked {
            return take();
        }
    }
    None
}
