//! Each caller's share of the calls in flight: who a caller is, and how many calls it has running.
//!
//! A caller is its bearer credential (the `authorization` header) or, without one, the address it
//! connects from. Only a keyed hash of either is kept, with a key chosen afresh in every process,
//! so the table of callers holds nothing a token could be recovered from. A caller's entry lives
//! while it has a call in flight and is removed with its last one, so the table is never larger
//! than the number of calls in flight.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use http::Request;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// Calls in flight by caller, each caller allowed at most `share` at once.
#[derive(Debug)]
pub(super) struct Callers {
    share: usize,
    keys: RandomState,
    in_flight: Mutex<HashMap<u64, usize>>,
}

impl Callers {
    pub(super) fn new(share: usize) -> Self {
        Self { share: share.max(1), keys: RandomState::new(), in_flight: Mutex::new(HashMap::new()) }
    }

    pub(super) fn share(&self) -> usize {
        self.share
    }

    /// Who is calling: a hash of the credential presented, else of the peer's address (every
    /// caller without either counts as one).
    pub(super) fn caller_of<B>(&self, request: &Request<B>) -> u64 {
        if let Some(credential) = request.headers().get(http::header::AUTHORIZATION) {
            return self.keys.hash_one(("credential", credential.as_bytes()));
        }
        self.keys.hash_one(("peer", peer_ip(request)))
    }

    /// One more call of `caller` in flight, or `None` when it already has its share.
    pub(super) fn enter(self: &Arc<Self>, caller: u64) -> Option<CallerSlot> {
        let mut in_flight = self.table();
        let count = in_flight.entry(caller).or_insert(0);
        if *count >= self.share {
            return None;
        }
        *count += 1;
        Some(CallerSlot { callers: self.clone(), caller })
    }

    /// Callers with a call in flight.
    #[cfg(test)]
    pub(super) fn tracked(&self) -> usize {
        self.table().len()
    }

    fn table(&self) -> MutexGuard<'_, HashMap<u64, usize>> {
        // Nothing panics while holding the lock; should it ever, the counts are still whole.
        self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A caller's call in flight; dropping it (the call answered, failed or abandoned) gives the slot
/// back and forgets a caller with none left.
#[derive(Debug)]
pub(super) struct CallerSlot {
    callers: Arc<Callers>,
    caller: u64,
}

impl Drop for CallerSlot {
    fn drop(&mut self) {
        let mut in_flight = self.callers.table();
        if let Some(count) = in_flight.get_mut(&self.caller) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_flight.remove(&self.caller);
            }
        }
    }
}

/// The peer's IP address, as tonic records the connection in the request (plain TCP, or TCP
/// under the kit's TLS).
fn peer_ip<B>(request: &Request<B>) -> Option<IpAddr> {
    let extensions = request.extensions();
    let tcp = extensions
        .get::<TcpConnectInfo>()
        .or_else(|| extensions.get::<TlsConnectInfo<TcpConnectInfo>>().map(TlsConnectInfo::get_ref));
    tcp.and_then(TcpConnectInfo::remote_addr).map(|address| address.ip())
}
