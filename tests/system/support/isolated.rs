//! A service that can be crashed: it runs on a Tokio runtime of its own, so dropping that runtime
//! kills every task it started (server connections, feed consumers, transactions mid-flight) at
//! whatever point they had reached, much like the process dying. It can then be started again on
//! the same port with the same database, as a restarted pod would be.

use std::{future::Future, net::SocketAddr, time::Duration};

use csm_kit::RunError;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

/// Starts a service given its listener and shutdown signal.
pub type Launch = Box<dyn Fn(tokio::net::TcpListener, CancellationToken) -> ServiceFuture + Send + Sync>;
pub type ServiceFuture = std::pin::Pin<Box<dyn Future<Output = Result<(), RunError>> + Send>>;

pub struct Isolated {
    pub address: SocketAddr,
    launch: Launch,
    running: Option<Running>,
}

/// One life of the service: its runtime, its shutdown signal, and where its result arrives.
struct Running {
    runtime: Runtime,
    stop: CancellationToken,
    finished: tokio::sync::oneshot::Receiver<Result<(), RunError>>,
}

impl Isolated {
    /// Starts the service on `address` (port 0 picks a free port, kept across restarts).
    pub fn start(address: SocketAddr, launch: Launch) -> Self {
        let mut service = Self { address, launch, running: None };
        service.boot();
        service
    }

    fn boot(&mut self) {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        // Binding can fail briefly while the previous instance's socket is being torn down.
        let listener = (0..200)
            .find_map(|_| match std::net::TcpListener::bind(self.address) {
                Ok(listener) => Some(listener),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(10));
                    None
                }
            })
            .expect("port free again");
        listener.set_nonblocking(true).expect("non-blocking listener");
        self.address = listener.local_addr().expect("bound address");
        let stop = CancellationToken::new();
        let (done, finished) = tokio::sync::oneshot::channel();
        let service = {
            let _entered = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            (self.launch)(listener, stop.clone())
        };
        let address = self.address;
        runtime.spawn(async move {
            let result = service.await;
            if let Err(error) = &result {
                eprintln!("the service on {address} stopped: {error}");
            }
            let _ = done.send(result);
        });
        self.running = Some(Running { runtime, stop, finished });
    }

    /// Kills the service where it stands.
    pub fn crash(&mut self) {
        if let Some(running) = self.running.take() {
            running.runtime.shutdown_background();
        }
    }

    /// Stops the service gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(Running { runtime, stop, finished }) = self.running.take() {
            stop.cancel();
            let outcome = tokio::time::timeout(Duration::from_secs(30), finished).await;
            runtime.shutdown_background();
            match outcome {
                Ok(Ok(result)) => result.expect("service stopped cleanly"),
                Ok(Err(_)) => panic!("service task vanished"),
                Err(_) => panic!("service did not stop within 30 s"),
            }
        }
    }

    pub fn restart(&mut self) {
        self.crash();
        self.boot();
    }

    /// Starts it again after a stop or a crash.
    pub fn start_again(&mut self) {
        assert!(self.running.is_none(), "still running");
        self.boot();
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        self.crash();
    }
}
