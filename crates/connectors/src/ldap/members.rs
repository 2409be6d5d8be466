//! New members of a group, added together. A directory server writes (and syncs to disk)
//! each modify on its own, so when a whole school is provisioned at once, one modify per
//! student joining the school's group would cost as many writes as the accounts themselves.
//! Instead, while one operation's modify adds members to a group, the members other
//! operations want in that same group queue up, and the next modify adds all of them (at
//! most [`MAX_VALUES`]). Nothing waits on a timer: a lone operation writes at once.
//!
//! Each operation still waits until its member is written and gets its own outcome. A
//! modify adding several values fails as a whole when one of them is there already; then
//! its values are added one at a time, each with the outcome it would have had alone. An
//! operation whose batch was being written by an operation that was stopped (its job
//! cancelled) adds its member alone.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use ldap3::Mod;
use tokio::sync::oneshot;

use super::dn;
use super::session::{
    Session, Written, ATTRIBUTE_OR_VALUE_EXISTS, ENTRY_ALREADY_EXISTS, NO_SUCH_OBJECT,
};
use crate::TargetError;

/// Most values one modify adds.
pub(crate) const MAX_VALUES: usize = 500;

/// What adding a member ends with: as [`Session::modify_expecting`] answers it.
pub(crate) type Outcome = Result<Written, TargetError>;

/// The result codes that mean the value is there already (Active Directory answers
/// entryAlreadyExists), or the group is gone.
const EXPECTED: [u32; 3] = [
    ATTRIBUTE_OR_VALUE_EXISTS,
    ENTRY_ALREADY_EXISTS,
    NO_SUCH_OBJECT,
];

/// What a queued operation is told.
enum Turn {
    /// Its member was written (or not): the outcome.
    Done(Outcome),
    /// It writes the next batch for the group.
    Lead,
}

struct Waiter {
    value: String,
    tx: oneshot::Sender<Turn>,
}

/// (normalized group DN, lower-cased attribute).
type Key = (String, String);

/// The groups a modify is being written to, each with the members waiting for the next one.
/// A group is in the map while an operation has the turn to write to it.
#[derive(Default)]
pub(crate) struct MemberQueues(Mutex<HashMap<Key, VecDeque<Waiter>>>);

/// Whose turn it is to write to a group; handed to the next waiting operation when dropped
/// (also when the holder is stopped half-way).
struct TurnGuard<'a> {
    queues: &'a MemberQueues,
    key: Key,
}

impl TurnGuard<'_> {
    /// The values waiting for this group (at most `n`).
    fn take(&self, n: usize) -> Vec<Waiter> {
        let mut map = self.queues.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get_mut(&self.key)
            .map(|q| q.drain(..n.min(q.len())).collect())
            .unwrap_or_default()
    }
}

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.queues.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(q) = map.get_mut(&self.key) {
            while let Some(w) = q.pop_front() {
                if w.tx.send(Turn::Lead).is_ok() {
                    return;
                }
            }
        }
        map.remove(&self.key);
    }
}

/// A place in a group's queue. Dropped while the turn to write is on its way to it (the
/// operation stopped just then), it passes the turn on, so the group's queue never stalls.
struct Ticket<'a> {
    queues: &'a MemberQueues,
    /// `None` once the turn is taken.
    key: Option<Key>,
    rx: oneshot::Receiver<Turn>,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let (Some(key), Ok(Turn::Lead)) = (self.key.take(), self.rx.try_recv()) {
            drop(TurnGuard {
                queues: self.queues,
                key,
            });
        }
    }
}

/// How a member gets written: in a batch, or alone after the batch's writer went away.
pub(crate) enum Role<'a> {
    /// The outcome is known (another operation wrote it).
    Done(Outcome),
    /// Write the batch's values and hand each outcome over with [`Batch::finish`].
    Write(Batch<'a>),
    /// Write this one value alone.
    Alone,
}

/// A batch to write, and the turn to write it: this operation's value first, then those
/// of the operations that were waiting. Dropped unfinished, the waiting operations write
/// their values alone and the turn passes on.
pub(crate) struct Batch<'a> {
    pub values: Vec<String>,
    waiters: Vec<oneshot::Sender<Turn>>,
    _turn: TurnGuard<'a>,
}

impl Batch<'_> {
    /// Hands every waiting operation its outcome and passes the turn on; returns this
    /// operation's outcome.
    pub fn finish(self, mut outcomes: Vec<Outcome>) -> Outcome {
        let mine = if outcomes.is_empty() {
            Err(TargetError::retryable("no outcome for the member"))
        } else {
            outcomes.remove(0)
        };
        for (tx, o) in self.waiters.into_iter().zip(outcomes) {
            let _ = tx.send(Turn::Done(o));
        }
        mine
    }
}

impl MemberQueues {
    /// Joins the queue of `group`: at once when nobody is writing to it (a batch of one),
    /// else when this operation's member is written, or it is its turn to write.
    pub async fn join(&self, group: &str, attribute: &str, value: &str) -> Role<'_> {
        let key = (dn::normalize(group), attribute.to_ascii_lowercase());
        let rx = {
            let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(q) = map.get_mut(&key) {
                let (tx, rx) = oneshot::channel();
                q.push_back(Waiter {
                    value: value.to_owned(),
                    tx,
                });
                Some(rx)
            } else {
                map.insert(key.clone(), VecDeque::new());
                None
            }
        };
        let key = match rx {
            None => key,
            Some(rx) => {
                let mut ticket = Ticket {
                    queues: self,
                    key: Some(key),
                    rx,
                };
                match (&mut ticket.rx).await {
                    Ok(Turn::Done(o)) => return Role::Done(o),
                    Ok(Turn::Lead) => ticket.key.take().unwrap_or_default(),
                    Err(_) => return Role::Alone,
                }
            }
        };
        let turn = TurnGuard { queues: self, key };
        let others = turn.take(MAX_VALUES - 1);
        let mut values = vec![value.to_owned()];
        let mut waiters = Vec::with_capacity(others.len());
        for w in others {
            values.push(w.value);
            waiters.push(w.tx);
        }
        Role::Write(Batch {
            values,
            waiters,
            _turn: turn,
        })
    }
}

/// Adds `values` to `attribute` of `group`: in one modify, or, when that is refused, one
/// at a time. One outcome per value, in order.
pub(crate) async fn write(
    s: &mut Session,
    group: &str,
    attribute: &str,
    values: &[String],
) -> Vec<Outcome> {
    let name = || attribute.as_bytes().to_vec();
    if values.len() > 1 {
        let set: HashSet<Vec<u8>> = values.iter().map(|v| v.as_bytes().to_vec()).collect();
        match s
            .modify_expecting(group, vec![Mod::Add(name(), set)], &EXPECTED)
            .await
        {
            Ok(w @ (Written::Changed | Written::Found(NO_SUCH_OBJECT))) => {
                return vec![Ok(w); values.len()];
            }
            Err(e) if e.is_retryable() => return vec![Err(e); values.len()],
            // A value is there already, or the server refused the batch for one of its
            // values: each on its own says which.
            Ok(Written::Found(_)) | Err(_) => {}
        }
    }
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let one = HashSet::from([v.as_bytes().to_vec()]);
        out.push(
            s.modify_expecting(group, vec![Mod::Add(name(), one)], &EXPECTED)
                .await,
        );
    }
    out
}

impl super::LdapTarget {
    /// Adds `value` to `attribute` of `group`, together with other operations' additions
    /// to the same group (see the module documentation).
    pub(crate) async fn add_member_batched(
        &self,
        group: &str,
        attribute: &str,
        value: &str,
    ) -> Outcome {
        match self.member_queues.join(group, attribute, value).await {
            Role::Done(o) => o,
            Role::Write(batch) => {
                let outcomes = self.write_members(group, attribute, &batch.values).await;
                batch.finish(outcomes)
            }
            Role::Alone => self
                .write_members(group, attribute, &[value.to_owned()])
                .await
                .pop()
                .unwrap_or_else(|| Err(TargetError::retryable("no outcome for the member"))),
        }
    }

    /// [`write`] on a pooled connection (once more on a new one when a reused connection
    /// turns out to be closed).
    async fn write_members(&self, group: &str, attribute: &str, values: &[String]) -> Vec<Outcome> {
        let mut first = true;
        loop {
            let mut lease = match self.pool.get(&self.endpoint).await {
                Ok(l) => l,
                Err(e) => return vec![Err(e); values.len()],
            };
            let outcomes = write(lease.session(), group, attribute, values).await;
            let overall = outcomes
                .iter()
                .find_map(|o| o.as_ref().err().cloned())
                .map_or(Ok(()), Err);
            if std::mem::take(&mut first) && lease.went_stale(&overall) {
                continue;
            }
            lease.finish(&overall).await;
            return outcomes;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::{pin, Pin};
    use std::task::{Context, Poll, Waker};

    use super::*;

    const G: &str = "cn=club,ou=Groups,dc=example,dc=org";

    fn poll<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    fn writes(role: Poll<Role<'_>>) -> Batch<'_> {
        match role {
            Poll::Ready(Role::Write(b)) => b,
            Poll::Ready(Role::Done(o)) => panic!("expected to write, got the outcome {o:?}"),
            Poll::Ready(Role::Alone) => panic!("expected to write a batch, got alone"),
            Poll::Pending => panic!("expected to write, still waiting"),
        }
    }

    #[test]
    fn members_waiting_for_a_group_are_written_in_the_next_batch() {
        let q = MemberQueues::default();
        let a = writes(poll(pin!(q.join(G, "member", "a"))));
        assert_eq!(
            a.values,
            ["a"],
            "nobody else waits: a batch of one, at once"
        );
        let mut b = pin!(q.join(G, "member", "b"));
        // The same group and attribute, spelled otherwise.
        let mut c = pin!(q.join("CN=Club, ou=groups,DC=example,dc=org", "Member", "c"));
        let mut other = pin!(q.join("cn=other,ou=Groups,dc=example,dc=org", "member", "x"));
        assert!(poll(b.as_mut()).is_pending());
        assert!(poll(c.as_mut()).is_pending());
        assert!(
            matches!(poll(other.as_mut()), Poll::Ready(Role::Write(_))),
            "another group does not wait"
        );
        assert_eq!(a.finish(vec![Ok(Written::Changed)]), Ok(Written::Changed));
        let batch = writes(poll(b.as_mut()));
        assert_eq!(batch.values, ["b", "c"]);
        assert!(poll(c.as_mut()).is_pending(), "c waits for b's write");
        let mine = batch.finish(vec![
            Ok(Written::Changed),
            Ok(Written::Found(ATTRIBUTE_OR_VALUE_EXISTS)),
        ]);
        assert_eq!(mine, Ok(Written::Changed));
        assert!(matches!(
            poll(c.as_mut()),
            Poll::Ready(Role::Done(Ok(Written::Found(ATTRIBUTE_OR_VALUE_EXISTS))))
        ));
        writes(poll(pin!(q.join(G, "member", "d"))));
    }

    #[test]
    fn a_writer_stopped_half_way_leaves_nobody_waiting() {
        let q = MemberQueues::default();
        let a = writes(poll(pin!(q.join(G, "member", "a"))));
        let mut b = pin!(q.join(G, "member", "b"));
        let mut c = pin!(q.join(G, "member", "c"));
        assert!(poll(b.as_mut()).is_pending());
        assert!(poll(c.as_mut()).is_pending());
        // Stopped before writing: the turn passes to the next one waiting.
        drop(a);
        let batch = writes(poll(b.as_mut()));
        assert_eq!(batch.values, ["b", "c"]);
        // Stopped with c's value in its batch: c writes alone.
        drop(batch);
        assert!(matches!(poll(c.as_mut()), Poll::Ready(Role::Alone)));
        writes(poll(pin!(q.join(G, "member", "d"))));
    }

    #[test]
    fn an_operation_stopped_as_its_turn_came_passes_it_on() {
        let q = MemberQueues::default();
        let a = writes(poll(pin!(q.join(G, "member", "a"))));
        let mut b = Box::pin(q.join(G, "member", "b"));
        let mut c = pin!(q.join(G, "member", "c"));
        assert!(poll(b.as_mut()).is_pending());
        assert!(poll(c.as_mut()).is_pending());
        assert_eq!(a.finish(vec![Ok(Written::Changed)]), Ok(Written::Changed));
        // b's turn is on its way when b is stopped.
        drop(b);
        let batch = writes(poll(c.as_mut()));
        assert_eq!(batch.values, ["c"]);
        drop(batch);
        writes(poll(pin!(q.join(G, "member", "d"))));
    }
}
