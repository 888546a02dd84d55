//! Dead-letter queues from the console: see what is in one, with each
//! message's `x-rectoken-reason`, and redrive it to its work queue.
//!
//! Both walk the queue the way [`Delivery::dead_letter`] moves a message:
//! publish a copy (confirmed), then ack the original, so a crash in between
//! duplicates a message and never loses one. Inspecting copies each message
//! back to the tail of the same queue (order changes, content does not);
//! redriving copies it to the work queue. Only the messages there when the
//! walk starts are visited (at most [`MAX_WALK`]), one at a time, taken
//! with [`Bus::get`] rather than a consumer: a consumer would be pushed the
//! first copy as soon as it acked the last original, and that copy would be
//! out of the queue until the consumer's channel closed.
//!
//! A message refused for its proof of origin (reason `origin: …`) is never
//! redriven: the ingress signs what it publishes to the sync queues, so a
//! redrive would turn an unsigned message into a signed one. It stays in
//! the dead-letter queue.

use rectoken_bus::topology::REASON_HEADER;
use rectoken_bus::{Bus, BusError, Delivery, OutgoingMessage};

/// Most messages one inspection or redrive visits.
pub const MAX_WALK: u32 = 1000;
/// How many of the newest visited messages the page shows.
pub const SHOWN: usize = 20;
/// How much of a body the page shows.
const BODY_EXCERPT: usize = 300;

/// One dead-lettered message as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dead {
    /// AMQP `message_id`.
    pub message_id: Option<String>,
    /// Why it was dead-lettered (`x-rectoken-reason`; none when the broker
    /// dead-lettered it past the delivery limit).
    pub reason: Option<String>,
    /// The routing key it was first published with.
    pub routing_key: Option<String>,
    /// The start of its body.
    pub body: String,
}

/// What a walk did.
#[derive(Debug, Default)]
pub struct Walk {
    /// The newest visited messages, newest last (at most [`SHOWN`]).
    pub newest: Vec<Dead>,
    /// Messages visited.
    pub visited: u32,
    /// Messages moved to the work queue.
    pub moved: u32,
    /// Messages left in the dead-letter queue (refused for their origin).
    pub kept: u32,
    /// The walk stopped before visiting every message it counted (another
    /// consumer took them).
    pub stopped_early: bool,
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(BODY_EXCERPT) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.into_owned(),
    }
}

/// Whether `d` was refused for its proof of origin (never redriven).
pub fn origin_refused(d: &Delivery) -> bool {
    d.headers
        .get(REASON_HEADER)
        .is_some_and(|r| r.starts_with("origin"))
}

fn copy(d: &Delivery, routing_key: &str) -> OutgoingMessage {
    let id = d
        .message_id
        .clone()
        .unwrap_or_else(|| format!("dlq-{}", crate::join::hex_id()));
    let mut m = OutgoingMessage::json("", routing_key, d.body.clone(), id);
    m.headers = d.headers.clone();
    m.reply_to = d.reply_to.clone();
    m.correlation_id = d.correlation_id.clone();
    m
}

/// Visit the messages of `dlq`: back to its tail (`redrive_to` none), or
/// to the work queue `redrive_to`.
pub async fn walk(bus: &dyn Bus, dlq: &str, redrive_to: Option<&str>) -> Result<Walk, BusError> {
    let mut out = Walk::default();
    let count = bus.queue_depth(dlq).await?.min(MAX_WALK);
    if count == 0 {
        return Ok(out);
    }
    for _ in 0..count {
        // Empty before `count`: another ingress is walking the same queue.
        let Some(d) = bus.get(dlq).await? else {
            out.stopped_early = true;
            break;
        };
        out.visited += 1;
        out.newest.push(Dead {
            message_id: d.message_id.clone(),
            reason: d.headers.get(REASON_HEADER).cloned(),
            routing_key: d.headers.get("x-rectoken-routing-key").cloned(),
            body: excerpt(&d.body),
        });
        if out.newest.len() > SHOWN {
            out.newest.remove(0);
        }
        let target = match redrive_to {
            Some(t) if !origin_refused(&d) => t,
            _ => dlq,
        };
        if let Err(e) = bus.publish(copy(&d, target)).await {
            // Not moved: back where it was, for another try.
            let _ = d.requeue().await;
            return Err(e);
        }
        d.ack().await?;
        if target == dlq {
            if redrive_to.is_some() {
                out.kept += 1;
            }
        } else {
            out.moved += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rectoken_bus::Topology;
    use rectoken_bus::memory::MemoryBus;

    use super::*;

    async fn dead(bus: &MemoryBus, dlq: &str, id: &str, reason: &str) {
        let m = OutgoingMessage::json("", dlq, format!("{{\"n\":\"{id}\"}}"), id)
            .with_header(REASON_HEADER, reason);
        bus.publish(m).await.unwrap();
    }

    #[tokio::test]
    async fn inspecting_keeps_every_message_and_shows_the_reasons() {
        let bus = Arc::new(MemoryBus::new(Topology::default()));
        let dlq = Topology::dlq(&Topology::default().sync_queue());
        for i in 0..25 {
            dead(&bus, &dlq, &format!("m{i}"), &format!("bad {i}")).await;
        }
        let w = walk(bus.as_ref(), &dlq, None).await.unwrap();
        assert_eq!(
            (w.visited, w.moved, w.kept, w.stopped_early),
            (25, 0, 0, false)
        );
        assert_eq!(w.newest.len(), SHOWN);
        assert_eq!(
            w.newest.last().unwrap().reason.as_deref(),
            Some("bad 24"),
            "newest last"
        );
        assert_eq!(w.newest[0].message_id.as_deref(), Some("m5"));
        assert_eq!(bus.queue_depth(&dlq).await.unwrap(), 25, "nothing lost");
    }

    #[tokio::test]
    async fn redrive_moves_all_but_origin_refusals() {
        let bus = Arc::new(MemoryBus::new(Topology::default()));
        let work = Topology::default().sync_queue();
        let dlq = Topology::dlq(&work);
        dead(&bus, &dlq, "a", "handler failed").await;
        dead(&bus, &dlq, "b", "origin: unsigned").await;
        dead(&bus, &dlq, "c", "handler failed").await;
        let w = walk(bus.as_ref(), &dlq, Some(&work)).await.unwrap();
        assert_eq!((w.visited, w.moved, w.kept), (3, 2, 1));
        assert_eq!(bus.queue_depth(&work).await.unwrap(), 2);
        assert_eq!(
            bus.queue_depth(&dlq).await.unwrap(),
            1,
            "the unsigned one stays"
        );
        let empty = walk(
            bus.as_ref(),
            &Topology::dlq(&Topology::default().join_queue()),
            Some("x"),
        )
        .await
        .unwrap();
        assert_eq!(empty.visited, 0);
    }

    #[test]
    fn bodies_are_cut() {
        assert_eq!(excerpt(b"short"), "short");
        let long = "é".repeat(400);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), BODY_EXCERPT + 1);
    }
}
