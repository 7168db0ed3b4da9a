//! Worker threads: each client connection lives on one thread for its whole life.
//!
//! A build moves every byte of its context from the client's socket through the
//! pipeline to the daemon's socket. On tokio's work-stealing runtime the tasks and I/O
//! events of one build kept moving between worker threads, and the gateway spent more
//! CPU waking threads (futexes, context switches) than parsing, and a second worker
//! thread made one build slower instead of faster (`benches/README.md` has the
//! numbers). So the gateway runs one single-threaded
//! runtime per worker thread, gives each accepted connection to the least busy worker,
//! and everything that connection starts (its daemon connections, its upgrade splices)
//! stays on that thread. Several builds still use several cores.
//!
//! The price is that a worker's connections share its thread: a connection that keeps
//! it busy slows the others on the same worker. The heaviest work a client can ask for,
//! decompressing its context (bzip2 is slow to decode), therefore runs on a
//! thread of its own (see [`crate::build`]); the rest is parsing at memory speed, and
//! tokio's cooperative budget makes every task yield regularly. New connections go to
//! the workers with the fewest.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// The pool. Dropping it stops the workers; connections still open are cut.
pub struct Workers {
    workers: Vec<Worker>,
    /// Where the search for the least busy worker starts, so ties go round-robin.
    next: AtomicUsize,
}

struct Worker {
    handle: Handle,
    /// Connections running on this worker.
    load: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Workers {
    /// Starts `threads` workers; 0 means one per CPU.
    pub fn start(threads: usize) -> io::Result<Workers> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let mut workers = Vec::with_capacity(threads);
        for i in 0..threads {
            let (stop, stopped) = oneshot::channel::<()>();
            let (started_tx, started) = std::sync::mpsc::channel();
            // The runtime is made, run and dropped on its own thread: a runtime must not
            // be dropped inside another one's async context, as it would be here if
            // the thread could not be started after the runtime was built.
            let thread = std::thread::Builder::new()
                .name(format!("buildgate-worker-{i}"))
                .spawn(move || {
                    let runtime = match Builder::new_current_thread().enable_all().build() {
                        Ok(runtime) => runtime,
                        Err(err) => {
                            let _ = started_tx.send(Err(err));
                            return;
                        }
                    };
                    let _ = started_tx.send(Ok(runtime.handle().clone()));
                    // Runs the worker's tasks until told to stop (or the pool is gone);
                    // dropping the runtime then drops whatever is still running.
                    runtime.block_on(async move {
                        tokio::select! {
                            _ = stopped => {}
                            () = heartbeat() => {}
                        }
                    });
                })?;
            let handle = started
                .recv()
                .map_err(|_| io::Error::other("a worker thread died while starting"))??;
            workers.push(Worker {
                handle,
                load: Arc::new(AtomicUsize::new(0)),
                stop: Some(stop),
                thread: Some(thread),
            });
        }
        Ok(Workers {
            workers,
            next: AtomicUsize::new(0),
        })
    }

    /// How many worker threads there are.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Never true: a pool has at least one worker.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Runs `connection` to completion on the least busy worker. It is made on that
    /// worker (`make` runs there), so sockets it creates or adopts register with that
    /// worker's I/O driver, not with the caller's.
    pub fn spawn<M, F>(&self, make: M)
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let n = self.workers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let Some(worker) = (0..n)
            .map(|k| &self.workers[(start + k) % n])
            .min_by_key(|w| w.load.load(Ordering::Relaxed))
        else {
            return;
        };
        let load = Load::new(worker.load.clone());
        worker.handle.spawn(async move {
            let _load = load;
            make().await;
        });
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            if let Some(stop) = worker.stop.take() {
                let _ = stop.send(());
            }
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// A timer that is always due within [`HEARTBEAT`], on every worker.
///
/// Every request arms timers of its own (hyper's header-read timeout for the next
/// request on a keep-alive connection, the upstream response timeout), 30 s or more
/// ahead. tokio's time driver wakes its own thread through an eventfd write whenever
/// a new timer is due earlier than the driver's next wake-up, which without any other
/// timer meant one extra system call per request (measured with strace on W4). With a
/// timer always due within a second, per-request timers are never the earliest, so
/// arming them costs no system call. The price is one wake-up per second per worker.
async fn heartbeat() {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// See [`heartbeat`]: shorter than any timeout a request arms.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(1);

/// One connection counted against its worker while it lives.
struct Load(Arc<AtomicUsize>);

impl Load {
    fn new(counter: Arc<AtomicUsize>) -> Load {
        counter.fetch_add(1, Ordering::Relaxed);
        Load(counter)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Polls `done` until it holds or five seconds pass.
    fn eventually(mut done: impl FnMut() -> bool) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    fn loads(workers: &Workers) -> Vec<usize> {
        workers
            .workers
            .iter()
            .map(|w| w.load.load(Ordering::Relaxed))
            .collect()
    }

    /// Each connection runs on one worker thread from start to end, even across awaits
    /// that park it, and concurrent connections are spread over the workers.
    #[test]
    fn connections_stay_on_one_thread_and_spread() {
        let workers = Workers::start(3).unwrap();
        assert_eq!(workers.len(), 3);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let (release_tx, _) = tokio::sync::broadcast::channel::<()>(1);
        for _ in 0..6 {
            let seen = seen.clone();
            let started_tx = started_tx.clone();
            let done_tx = done_tx.clone();
            let mut release = release_tx.subscribe();
            workers.spawn(move || async move {
                let first = std::thread::current().id();
                started_tx.send(()).unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                let _ = release.recv().await;
                let last = std::thread::current().id();
                seen.lock().unwrap().push((first, last));
                done_tx.send(()).unwrap();
            });
        }
        // All six are in flight at once before any is released.
        for _ in 0..6 {
            started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        assert_eq!(loads(&workers), vec![2, 2, 2], "least busy first");
        release_tx.send(()).unwrap();
        for _ in 0..6 {
            done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        let seen = seen.lock().unwrap();
        assert!(seen.iter().all(|(first, last)| first == last));
        let threads: HashSet<_> = seen.iter().map(|(first, _)| *first).collect();
        assert_eq!(threads.len(), 3);
        // Finished connections no longer count (their load is released just after
        // they report done, so wait for it).
        assert!(
            eventually(|| loads(&workers) == vec![0, 0, 0]),
            "{:?}",
            loads(&workers)
        );
    }

    /// Dropping the pool stops its threads even while connections are still open.
    #[test]
    fn drop_cuts_open_connections() {
        let workers = Workers::start(2).unwrap();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        workers.spawn(move || async move {
            let _tx = tx;
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        drop(workers);
        // The task, and the sender it held, is gone.
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
    }
}
