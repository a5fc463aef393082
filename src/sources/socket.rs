//! The TCP socket source: CSV lines from many concurrent clients in, epochs of trips out.
//!
//! Each client sends a CSV header line, then rows (or only rows, when the job declares the
//! header with [`SocketOptions::header`]). Every client is parsed on its own thread; a bad line
//! is rejected on its own and the connection goes on; a client that disconnects mid-line loses
//! only that partial line, which is reported. Epochs close every `batch_interval` (or after
//! `batch_rows` rows), so a trip reaches the dataflow within one interval of arriving.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::reject::{Reject, RejectReason};
use crate::schema::ColumnMap;
use crate::sources::acks::AckBoard;
use crate::sources::csv_rows::{split_header, strip_line_end, CsvRowParser, MAX_LINE_BYTES};
use crate::sources::{Batch, FeedPoll, SourceError, TripFeed, Waker};
use crate::trip::RowPos;

pub use crate::sources::source_names::SourceNames;

/// How the socket source behaves.
#[derive(Clone, Debug)]
pub struct SocketOptions {
    /// Column mapping for client headers.
    pub columns: ColumnMap,
    /// A declared header: clients then send rows only.
    pub header: Option<Vec<String>>,
    /// Close an epoch at least this often while rows arrive.
    pub batch_interval: Duration,
    /// Close an epoch after this many rows.
    pub batch_rows: u64,
    /// Stop this long after the last client left (once at least one came).
    pub exit_when_idle: Option<Duration>,
    /// Set to stop (SIGINT/SIGTERM handlers set it).
    pub shutdown: Arc<AtomicBool>,
    /// Clients connected at once at most; one more is told so and closed.
    pub max_clients: usize,
    /// A client that sends nothing for this long is disconnected (its partial line reported).
    pub client_idle_timeout: Duration,
    /// Where the feed records what was handed on, for clients in `#ack` mode.
    pub acks: Arc<AckBoard>,
}

impl SocketOptions {
    /// The default cap on connected clients.
    pub const DEFAULT_MAX_CLIENTS: usize = 256;
    /// The default idle timeout of a client.
    pub const DEFAULT_CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            columns: ColumnMap::default(),
            header: None,
            batch_interval: Duration::from_millis(20),
            batch_rows: 8192,
            exit_when_idle: None,
            shutdown: Arc::new(AtomicBool::new(false)),
            max_clients: Self::DEFAULT_MAX_CLIENTS,
            client_idle_timeout: Self::DEFAULT_CLIENT_IDLE_TIMEOUT,
            acks: Arc::default(),
        }
    }
}

enum Event {
    Connected,
    Rows(Batch),
    Disconnected,
}

/// The worker-side end of the socket source.
pub struct SocketFeed {
    events: Receiver<Event>,
    options: SocketOptions,
    stop: Arc<AtomicBool>,
    epoch: u64,
    batch: Batch,
    opened: Option<Instant>,
    active: u64,
    ever_connected: bool,
    idle_since: Option<Instant>,
    progress: Arc<AtomicU64>,
    waker: Arc<OnceLock<Waker>>,
}

impl std::fmt::Debug for SocketFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketFeed")
            .field("epoch", &self.epoch)
            .field("active", &self.active)
            .finish()
    }
}

impl Drop for SocketFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Binds `addr` and starts accepting clients. Returns the feed and the bound address.
/// Client `i` gets source index `first_source + i` in `names`.
pub fn listen(
    addr: &str,
    options: SocketOptions,
    names: SourceNames,
    progress: Arc<AtomicU64>,
) -> Result<(SocketFeed, SocketAddr), SourceError> {
    let bind_error = |source| SourceError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = TcpListener::bind(addr).map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let (sender, events) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    let accept_stop = stop.clone();
    let waker: Arc<OnceLock<Waker>> = Arc::default();
    let accept = Acceptor {
        names,
        columns: options.columns.clone(),
        header: options.header.clone(),
        stop: accept_stop,
        waker: waker.clone(),
        max_clients: options.max_clients.max(1),
        idle_timeout: options.client_idle_timeout,
        active: Arc::new(AtomicU64::new(0)),
        acks: options.acks.clone(),
    };
    thread::Builder::new()
        .name("zonecast-accept".into())
        .spawn(move || accept.run(listener, sender))
        .map_err(bind_error)?;
    tracing::info!(%local, "socket source listening");
    let feed = SocketFeed {
        events,
        options,
        stop,
        epoch: 0,
        batch: Batch::default(),
        opened: None,
        active: 0,
        ever_connected: false,
        idle_since: None,
        progress,
        waker,
    };
    Ok((feed, local))
}

/// Accepts clients: one thread each, at most `max_clients` at once.
struct Acceptor {
    names: SourceNames,
    columns: ColumnMap,
    header: Option<Vec<String>>,
    stop: Arc<AtomicBool>,
    waker: Arc<OnceLock<Waker>>,
    max_clients: usize,
    idle_timeout: Duration,
    active: Arc<AtomicU64>,
    acks: Arc<AckBoard>,
}

impl Acceptor {
    fn run(self, listener: TcpListener, sender: Sender<Event>) {
        while !self.stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer, &sender),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(5))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn admit(&self, mut stream: TcpStream, peer: SocketAddr, sender: &Sender<Event>) {
        if self.active.load(Ordering::SeqCst) >= self.max_clients as u64 {
            tracing::warn!(%peer, max = self.max_clients, "socket source refused a client over the cap");
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = std::io::Write::write_all(
                &mut stream,
                format!(
                    "error: this source already has {} clients connected, the most it takes; retry later\n",
                    self.max_clients
                )
                .as_bytes(),
            );
            return;
        }
        let source = self.names.connect(format!("tcp:{peer}"));
        tracing::debug!(%peer, source, "client connected");
        self.active.fetch_add(1, Ordering::SeqCst);
        let _ = sender.send(Event::Connected);
        let (client_sender, names, columns, header, stop, waker, active) = (
            sender.clone(),
            self.names.clone(),
            self.columns.clone(),
            self.header.clone(),
            self.stop.clone(),
            self.waker.clone(),
            self.active.clone(),
        );
        let idle_timeout = self.idle_timeout;
        let acks = self.acks.clone();
        let name = format!("tcp:{peer}");
        let spawned = thread::Builder::new()
            .name("zonecast-client".into())
            .spawn(move || {
                let mut client = Client::new(source, name, columns, header);
                client.acks = acks.clone();
                client.run(stream, &client_sender, &stop, idle_timeout, &waker);
                acks.unregister(source);
                active.fetch_sub(1, Ordering::SeqCst);
                names.disconnect(source);
                let _ = client_sender.send(Event::Disconnected);
                if let Some(wake) = waker.get() {
                    wake();
                }
            });
        if spawned.is_err() {
            self.active.fetch_sub(1, Ordering::SeqCst);
            self.names.disconnect(source);
            let _ = sender.send(Event::Disconnected);
        }
    }
}

/// One client connection: bytes in, parsed rows out.
struct Client {
    source: u32,
    name: String,
    columns: ColumnMap,
    parser: Option<Result<CsvRowParser, String>>,
    line_no: u64,
    line: Vec<u8>,
    overflow: u64,
    /// `#ack` mode.
    ack: Option<AckState>,
    acks: Arc<AckBoard>,
}

/// A client in `#ack` mode (see [`crate::sources::acks`]).
struct AckState {
    id: String,
    /// The number of the last row read (rows are numbered from the `#ack` line's FROM + 1).
    row: u64,
    /// Rows up to here were durable when the client connected (resent: dropped).
    durable_before: u64,
    /// The last `ack` sent.
    acked: u64,
}

impl Client {
    fn new(source: u32, name: String, columns: ColumnMap, header: Option<Vec<String>>) -> Self {
        let mut client = Client {
            source,
            name,
            columns,
            parser: None,
            line_no: 0,
            line: Vec::new(),
            overflow: 0,
            ack: None,
            acks: Arc::default(),
        };
        if let Some(header) = header {
            client.parser = Some(client.make_parser(&header));
        }
        client
    }

    fn make_parser(&self, header: &[String]) -> Result<CsvRowParser, String> {
        CsvRowParser::new(&self.name, header, &self.columns).map_err(|e| e.to_string())
    }

    fn run(
        &mut self,
        mut stream: TcpStream,
        sender: &Sender<Event>,
        stop: &AtomicBool,
        idle_timeout: Duration,
        waker: &OnceLock<Waker>,
    ) {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
        let mut buffer = vec![0u8; 64 * 1024];
        let mut last_data = Instant::now();
        loop {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    last_data = Instant::now();
                    let batch = self.feed(&buffer[..n]);
                    if !self.still_current() {
                        tracing::info!(client = %self.name, "a newer connection of this #ack client took over: disconnected");
                        return;
                    }
                    if batch.rows_read > 0 {
                        if sender.send(Event::Rows(batch)).is_err() {
                            return;
                        }
                        if let Some(wake) = waker.get() {
                            wake();
                        }
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) =>
                {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if last_data.elapsed() >= idle_timeout {
                        tracing::info!(client = %self.name, "socket client idle too long: disconnected");
                        break;
                    }
                }
                Err(e) => {
                    tracing::debug!(client = %self.name, error = %e, "client read failed");
                    break;
                }
            }
            if self.send_acks(&mut stream).is_err() {
                break;
            }
        }
        let mut batch = Batch::default();
        if !self.line.is_empty() || self.overflow > 0 {
            self.line_no += 1;
            let bytes = self.line.len() as u64 + self.overflow;
            if let Some(pos) = self.row_pos() {
                batch.rows_read += 1;
                batch.rejects.push(Reject {
                    pos,
                    reason: RejectReason::PartialLine(bytes),
                });
            }
            if !self.still_current() {
                return;
            }
            let _ = sender.send(Event::Rows(batch));
            if let Some(wake) = waker.get() {
                wake();
            }
        }
        // A client in `#ack` mode that finished sending waits for its last acknowledgement.
        let deadline = Instant::now() + idle_timeout.min(Duration::from_secs(60));
        while let Some(ack) = &self.ack {
            if ack.acked >= ack.row || stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                break;
            }
            self.acks
                .wait_beyond(&ack.id, ack.acked, Duration::from_millis(100));
            if self.send_acks(&mut stream).is_err() {
                break;
            }
        }
    }

    /// Records the rows read so far (`#ack` mode); `false` when a newer connection of the
    /// same client id replaced this one (its rows are dropped: the new one resends them).
    fn still_current(&self) -> bool {
        self.ack
            .as_ref()
            .is_none_or(|ack| self.acks.read_up_to(self.source, &ack.id, ack.row))
    }

    /// Writes `ack N` when more of this client's rows are durable (`#ack` mode).
    fn send_acks(&mut self, stream: &mut TcpStream) -> std::io::Result<()> {
        let Some(ack) = self.ack.as_mut() else {
            return Ok(());
        };
        let durable = self.acks.durable(&ack.id);
        if durable > ack.acked {
            ack.acked = durable;
            std::io::Write::write_all(stream, format!("ack {durable}\n").as_bytes())?;
        }
        Ok(())
    }

    /// Where the next row is reported: its line, or in `#ack` mode its row number (`None`:
    /// a resent row that is already durable, dropped).
    fn row_pos(&mut self) -> Option<RowPos> {
        let Some(ack) = self.ack.as_mut() else {
            return Some(self.pos());
        };
        ack.row += 1;
        (ack.row > ack.durable_before).then_some(RowPos {
            source: self.source,
            line: ack.row,
        })
    }

    /// `#ack ID [FROM]`: acknowledged mode (see [`crate::sources::acks`]).
    fn start_acks(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let mut words = text.split_whitespace().skip(1);
        let id = words
            .next()
            .map_or_else(|| self.name.clone(), str::to_string);
        let from = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let durable = self.acks.register(self.source, &id);
        tracing::debug!(client = %self.name, %id, from, durable, "client in acknowledged mode");
        self.ack = Some(AckState {
            id,
            row: from,
            durable_before: durable,
            acked: 0,
        });
    }

    fn pos(&self) -> RowPos {
        RowPos {
            source: self.source,
            line: self.line_no,
        }
    }

    /// Splits bytes into lines and parses every complete one.
    fn feed(&mut self, mut bytes: &[u8]) -> Batch {
        let mut batch = Batch::default();
        while !bytes.is_empty() {
            let (part, rest, complete) = match memchr::memchr(b'\n', bytes) {
                Some(i) => (&bytes[..i], &bytes[i + 1..], true),
                None => (bytes, &bytes[bytes.len()..], false),
            };
            if self.line.len() + part.len() > MAX_LINE_BYTES {
                self.overflow += (self.line.len() + part.len()) as u64;
                self.line.clear();
            } else {
                self.line.extend_from_slice(part);
            }
            bytes = rest;
            if complete {
                self.line_no += 1;
                self.finish_line(&mut batch);
            }
        }
        batch
    }

    fn finish_line(&mut self, batch: &mut Batch) {
        let line = std::mem::take(&mut self.line);
        let overflow = std::mem::take(&mut self.overflow);
        if overflow == 0 && strip_line_end(&line).is_empty() {
            return;
        }
        if self.line_no == 1 && overflow == 0 && strip_line_end(&line).starts_with(b"#ack") {
            self.start_acks(strip_line_end(&line));
            return;
        }
        if self.parser.is_none() && overflow == 0 {
            self.parser = Some(self.make_parser(&split_header(&line)));
            if let Some(Err(message)) = &self.parser {
                tracing::warn!(client = %self.name, %message, "client header unusable; its rows will be rejected");
            }
            return;
        }
        let Some(pos) = self.row_pos() else {
            return;
        };
        batch.rows_read += 1;
        if overflow > 0 {
            batch.rejects.push(Reject {
                pos,
                reason: RejectReason::LineTooLong(overflow + line.len() as u64),
            });
            return;
        }
        match self.parser.as_mut().expect("header seen") {
            Ok(parser) => match parser.parse(&line) {
                Ok(trip) => batch.trips.push((trip, pos)),
                Err(reason) => batch.rejects.push(Reject { pos, reason }),
            },
            Err(message) => batch.rejects.push(Reject {
                pos,
                reason: RejectReason::BadHeader(message.clone()),
            }),
        }
    }
}

impl SocketFeed {
    fn drain(&mut self) {
        loop {
            match self.events.try_recv() {
                Ok(Event::Connected) => {
                    self.active += 1;
                    self.ever_connected = true;
                    self.idle_since = None;
                }
                Ok(Event::Disconnected) => {
                    self.active = self.active.saturating_sub(1);
                    if self.active == 0 {
                        self.idle_since = Some(Instant::now());
                    }
                }
                Ok(Event::Rows(rows)) => {
                    self.opened.get_or_insert_with(Instant::now);
                    self.progress.fetch_add(rows.rows_read, Ordering::Relaxed);
                    self.batch.rows_read += rows.rows_read;
                    self.batch.trips.extend(rows.trips);
                    self.batch.rejects.extend(rows.rejects);
                    if self.batch.rows_read >= self.options.batch_rows {
                        return;
                    }
                }
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => return,
            }
        }
    }

    fn take_batch(&mut self) -> FeedPoll {
        self.opened = None;
        let epoch = self.epoch;
        self.epoch += 1;
        FeedPoll::Ready(epoch, std::mem::take(&mut self.batch))
    }

    fn finished(&self) -> bool {
        if self.options.shutdown.load(Ordering::SeqCst) {
            return true;
        }
        match (self.options.exit_when_idle, self.idle_since) {
            (Some(limit), Some(since)) => {
                self.ever_connected && self.active == 0 && since.elapsed() >= limit
            }
            _ => false,
        }
    }
}

impl TripFeed for SocketFeed {
    fn set_waker(&mut self, waker: Waker) {
        let _ = self.waker.set(waker);
    }

    fn poll(&mut self) -> FeedPoll {
        self.drain();
        let has_rows = self.batch.rows_read > 0;
        let due = self
            .opened
            .is_some_and(|t| t.elapsed() >= self.options.batch_interval);
        if has_rows && (due || self.batch.rows_read >= self.options.batch_rows) {
            return self.take_batch();
        }
        if self.finished() {
            if has_rows {
                return self.take_batch();
            }
            self.stop.store(true, Ordering::SeqCst);
            return FeedPoll::Done;
        }
        let wait = match self.opened {
            Some(t) => self.options.batch_interval.saturating_sub(t.elapsed()),
            None => Duration::from_millis(5),
        };
        FeedPoll::Pending(wait.clamp(Duration::from_millis(1), Duration::from_millis(5)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Lines a client might send: valid rows, dirty rows, blank lines and raw bytes.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (1u16..=265, 0u32..60)
                .prop_map(
                    |(zone, minute)| format!("2024-01-01 00:{minute:02}:00,{zone}").into_bytes()
                ),
            Just(b"not a time,4".to_vec()),
            Just(Vec::new()),
            Just(b"2024-01-01 00:10:00,4\r".to_vec()),
            vec(
                any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
                0..80
            ),
        ]
    }

    fn client() -> Client {
        Client::new(0, "tcp:test".into(), ColumnMap::default(), None)
    }

    /// Many clients that connect, send a row and leave: the names held stay bounded, while
    /// every row is still read.
    #[test]
    fn clients_that_come_and_go_leave_a_bounded_number_of_names() {
        let names = SourceNames::default();
        names.push("trips.csv");
        let options = SocketOptions {
            header: Some(vec!["pickup".into(), "zone".into()]),
            ..SocketOptions::default()
        };
        let (mut feed, addr) =
            listen("127.0.0.1:0", options, names.clone(), Arc::default()).unwrap();
        let clients = SourceNames::RETAINED_DEPARTED + 1500;
        let mut rows = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        // In bursts (the acceptor sleeps 5 ms when its queue is empty), under the cap.
        for burst in (0..clients).collect::<Vec<_>>().chunks(100) {
            let streams: Vec<TcpStream> = burst
                .iter()
                .map(|i| {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    let row = format!("2024-01-01 00:00:00,{}\n", 1 + i % 265);
                    std::io::Write::write_all(&mut stream, row.as_bytes()).unwrap();
                    stream
                })
                .collect();
            drop(streams);
            while feed.active > 0 || rows < (burst[burst.len() - 1] + 1) as u64 {
                assert!(
                    Instant::now() < deadline,
                    "rows {rows}, active {}",
                    feed.active
                );
                match feed.poll() {
                    FeedPoll::Ready(_, batch) => rows += batch.rows_read,
                    _ => thread::sleep(Duration::from_millis(1)),
                }
            }
        }
        assert_eq!(rows, clients as u64);
        assert_eq!(names.held(), 1 + SourceNames::RETAINED_DEPARTED);
        assert_eq!(names.name(0), "trips.csv");
        assert_eq!(names.name(1), "source #1");
    }

    /// Polls `feed` until `rows` rows were read (a minute at most).
    fn read_rows(feed: &mut SocketFeed, rows: &mut Vec<u64>, until: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while rows.len() < until {
            assert!(Instant::now() < deadline, "{} of {until} rows", rows.len());
            match feed.poll() {
                FeedPoll::Ready(_, batch) => rows.extend(batch.trips.iter().map(|(_, p)| p.line)),
                _ => thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    /// An `#ack` client that reconnects while its old connection is still open resends from
    /// its last ack (none yet): the rows already read are dropped, every row comes once.
    #[test]
    fn an_ack_client_reconnecting_mid_stream_is_read_once() {
        let options = SocketOptions::default();
        let (mut feed, addr) = listen(
            "127.0.0.1:0",
            options,
            SourceNames::default(),
            Arc::default(),
        )
        .unwrap();
        let rows = |from: u64, to: u64| -> String {
            (from..to)
                .map(|i| format!("2024-01-01 00:{:02}:00,{}\n", i % 60, 1 + i % 200))
                .collect()
        };
        let header = "tpep_pickup_datetime,PULocationID\n";
        let mut first = TcpStream::connect(addr).unwrap();
        let hello = format!("#ack blip 0\n{header}{}", rows(0, 100));
        std::io::Write::write_all(&mut first, hello.as_bytes()).unwrap();
        let mut read = Vec::new();
        read_rows(&mut feed, &mut read, 100);
        // The new connection sends everything again, and 50 more rows.
        let mut second = TcpStream::connect(addr).unwrap();
        let again = format!("#ack blip 0\n{header}{}", rows(0, 150));
        std::io::Write::write_all(&mut second, again.as_bytes()).unwrap();
        read_rows(&mut feed, &mut read, 150);
        // The old connection is cut off: what it still sends is dropped.
        let _ = std::io::Write::write_all(&mut first, rows(100, 120).as_bytes());
        thread::sleep(Duration::from_millis(300));
        while let FeedPoll::Ready(_, batch) = feed.poll() {
            read.extend(batch.trips.iter().map(|(_, p)| p.line));
        }
        read.sort_unstable();
        assert_eq!(read, (1..=150).collect::<Vec<u64>>());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// However the bytes are cut into reads, the same rows come out, and every non-blank
        /// line after the header is counted once.
        #[test]
        fn lines_cut_anywhere_read_the_same(
            lines in vec(line(), 0..40),
            cuts in vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let mut bytes = b"tpep_pickup_datetime,PULocationID\n".to_vec();
            for l in &lines {
                bytes.extend_from_slice(l);
                bytes.push(b'\n');
            }
            let whole = client().feed(&bytes);
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            at.push(0);
            at.push(bytes.len());
            at.sort_unstable();
            let mut reader = client();
            let mut pieces = Batch::default();
            for w in at.windows(2) {
                let b = reader.feed(&bytes[w[0]..w[1]]);
                pieces.trips.extend(b.trips);
                pieces.rejects.extend(b.rejects);
                pieces.rows_read += b.rows_read;
            }
            prop_assert_eq!(&whole.trips, &pieces.trips);
            prop_assert_eq!(&whole.rejects, &pieces.rejects);
            prop_assert_eq!(whole.rows_read, pieces.rows_read);
            prop_assert_eq!(whole.rows_read as usize, whole.trips.len() + whole.rejects.len());
            let counted = lines.iter().filter(|l| !strip_line_end(l).is_empty()).count();
            prop_assert_eq!(whole.rows_read as usize, counted);
        }
    }
}
