//! `GET /v1/stream`: the publisher's broadcast of events in, a Server-Sent Events response
//! out. A client that falls too far behind gets a `resync` event (refetch the list) instead of
//! silently missing changes; every stream ends when the server shuts down.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::StreamExt;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use warp::sse::Event;

use super::ServerState;

/// Counts a connected client while alive.
struct ClientGuard(Arc<ServerState>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.sse_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The event stream reply.
pub fn stream(state: Arc<ServerState>) -> impl warp::Reply {
    let receiver = state.events.subscribe();
    state.sse_clients.fetch_add(1, Ordering::Relaxed);
    let guard = ClientGuard(state.clone());
    let mut closing = state.closing();
    let closed = async move {
        let _ = closing.wait_for(|closed| *closed).await;
    };
    let events = BroadcastStream::new(receiver)
        .map(move |message| {
            let _alive = &guard;
            let event = match message {
                Ok(message) => {
                    let event = Event::default()
                        .event(message.kind)
                        .data(message.data.clone());
                    match message.id {
                        Some(id) => event.id(id.to_string()),
                        None => event,
                    }
                }
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "event stream client lagged");
                    Event::default()
                        .event("resync")
                        .data("{\"reason\":\"lagged\"}")
                }
            };
            Ok::<Event, Infallible>(event)
        })
        .take_until(closed);
    warp::sse::reply(warp::sse::keep_alive().stream(events))
}
