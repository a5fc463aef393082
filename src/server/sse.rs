//! `GET /v1/stream`: the publisher's broadcast of events in, a Server-Sent Events response
//! out. A client that reconnects with `Last-Event-ID` first gets the forecast events it missed
//! (from the last [`super::publisher::REPLAY_EVENTS`]); one that falls too far behind gets a
//! `resync` event (refetch the list) instead of silently missing changes; every stream ends
//! when the server shuts down.
//!
//! Ids are consecutive within one start and begin at the start time in microseconds, so an id
//! from an earlier start (or from the future, e.g. another server) is recognised: that client
//! gets `resync` and then every new event.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::StreamExt;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use warp::sse::Event;

use super::{ServerState, SseMessage};

/// Counts a connected client while alive.
struct ClientGuard(Arc<ServerState>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.sse_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

fn event_of(message: &SseMessage) -> Event {
    let event = Event::default()
        .event(message.kind)
        .data(message.data.clone());
    match message.id {
        Some(id) => event.id(id.to_string()),
        None => event,
    }
}

fn resync(reason: &str) -> Event {
    Event::default()
        .event("resync")
        .data(format!("{{\"reason\":\"{reason}\"}}"))
}

/// The events a client that saw `last` missed (a `resync` first when some are gone), and the
/// last id replayed.
fn missed(state: &ServerState, last: u64) -> (Vec<Event>, u64) {
    let recent = state.recent.lock().expect("recent events");
    let newest = recent
        .back()
        .and_then(|m| m.id)
        .unwrap_or(state.event_id_base);
    if last < state.event_id_base || last > newest {
        // Not an id of this start: the client's state is from another run.
        return (vec![resync("unknown_event_id")], state.event_id_base);
    }
    let mut events = Vec::new();
    let oldest = recent.front().and_then(|m| m.id);
    if oldest.is_some_and(|oldest| oldest > last + 1) {
        events.push(resync("lagged"));
    }
    let mut replayed = last;
    for message in recent.iter().filter(|m| m.id.is_some_and(|id| id > last)) {
        events.push(event_of(message));
        replayed = replayed.max(message.id.unwrap_or(0));
    }
    (events, replayed)
}

/// The event stream reply; `last_event_id` is the client's `Last-Event-ID` header.
pub fn stream(state: Arc<ServerState>, last_event_id: Option<u64>) -> impl warp::Reply {
    // Subscribe before reading the replay buffer, so no event falls between the two.
    let receiver = state.events.subscribe();
    let state_keep_alive = state.limits.keep_alive();
    let (replay, replayed) = match last_event_id {
        Some(last) => missed(&state, last),
        None => (Vec::new(), 0),
    };
    state.sse_clients.fetch_add(1, Ordering::Relaxed);
    let guard = ClientGuard(state.clone());
    let mut closing = state.closing();
    let closed = async move {
        let _ = closing.wait_for(|closed| *closed).await;
    };
    let live = BroadcastStream::new(receiver).filter_map(move |message| {
        let _alive = &guard;
        let event = match message {
            // Already replayed.
            Ok(message) if message.id.is_some_and(|id| id <= replayed) => None,
            Ok(message) => Some(event_of(&message)),
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                tracing::debug!(missed, "event stream client lagged");
                Some(resync("lagged"))
            }
        };
        std::future::ready(event.map(Ok::<Event, Infallible>))
    });
    let events = futures_util::stream::iter(replay.into_iter().map(Ok::<Event, Infallible>))
        .chain(live)
        .take_until(closed);
    let keep_alive = warp::sse::keep_alive().interval(state_keep_alive);
    warp::sse::reply(keep_alive.stream(events))
}
