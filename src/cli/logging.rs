//! Logging to stderr without a system call per line.
//!
//! The access log writes a line for every request. Written straight to stderr that is
//! one `write(2)` per request on the worker that served it, which on one keep-alive
//! connection of pings (W4) was one of the eight system calls a request cost the
//! gateway (strace). Here lines are appended to a shared buffer, and a thread of its
//! own writes the buffer out at most every [`FLUSH_EVERY`], in one call. So a line
//! reaches stderr at most that long after it was made, the workers never block on a
//! slow log reader (journald, a pipe), and memory stays bounded: a buffer over
//! [`MAX_BUFFERED`] is written out by the thread that would grow it, which is then the
//! back-pressure a slow reader exerts. [`Flusher`] writes out what is left when it is
//! dropped, which `main` does last.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use super::LogFormat;

/// Sets up the global logger: `level` is a tracing filter, lines go to stderr through
/// the buffer. Keep the returned [`Flusher`] until the end of `main`; without a thread
/// for it, lines go straight to stderr.
pub fn init(format: LogFormat, level: &str) -> Option<Flusher> {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|err| {
        eprintln!("buildgate: --log-level {level:?} is not a valid filter ({err}); using info");
        EnvFilter::new("info")
    });
    let ansi = io::stderr().is_terminal();
    let (writer, flusher) = match buffered(Box::new(io::stderr())) {
        Ok((writer, flusher)) => (Some(writer), Some(flusher)),
        Err(err) => {
            eprintln!("buildgate: cannot start the log thread ({err}); logging unbuffered");
            (None, None)
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match (format, writer) {
        (LogFormat::Text, Some(writer)) => builder.with_writer(writer).init(),
        (LogFormat::Json, Some(writer)) => builder.json().with_writer(writer).init(),
        (LogFormat::Text, None) => builder.with_writer(io::stderr).init(),
        (LogFormat::Json, None) => builder.json().with_writer(io::stderr).init(),
    }
    flusher
}

/// How long a line may wait in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Above this many buffered bytes, the thread that adds a line writes the buffer out
/// itself.
pub const MAX_BUFFERED: usize = 1 << 20;

/// Where the lines finally go. `Send` so that the flusher thread can own it.
pub type Sink = Box<dyn Write + Send>;

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    buffer: Vec<u8>,
    sink: Sink,
    /// The flusher is waiting for a first line (not merely sleeping between flushes):
    /// only then does a writer have to wake it.
    idle: bool,
    stop: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A writer that panicked mid-append leaves at worst a partial line.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The [`MakeWriter`] handed to `tracing_subscriber`; cheap to clone.
#[derive(Clone)]
pub struct Buffered {
    shared: Arc<Shared>,
}

/// Owns the flusher thread; dropping it writes out everything buffered and stops it.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    stopped: Arc<AtomicBool>,
}

/// Starts the flusher thread in front of `sink`.
pub fn buffered(sink: Sink) -> io::Result<(Buffered, Flusher)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            buffer: Vec::new(),
            sink,
            idle: false,
            stop: false,
        }),
        wake: Condvar::new(),
    });
    let stopped = Arc::new(AtomicBool::new(false));
    let thread = {
        let shared = shared.clone();
        let stopped = stopped.clone();
        std::thread::Builder::new()
            .name("buildgate-log".to_string())
            .spawn(move || flush_loop(&shared, &stopped))?
    };
    Ok((
        Buffered {
            shared: shared.clone(),
        },
        Flusher {
            shared,
            thread: Some(thread),
            stopped,
        },
    ))
}

fn flush_loop(shared: &Shared, stopped: &AtomicBool) {
    loop {
        let mut state = shared.lock();
        while state.buffer.is_empty() && !state.stop {
            state.idle = true;
            state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner());
            state.idle = false;
        }
        let stop = state.stop;
        write_out(&mut state);
        drop(state);
        if stop {
            stopped.store(true, Ordering::Release);
            return;
        }
        std::thread::sleep(FLUSH_EVERY);
    }
}

/// Writes the buffer to the sink. A sink that fails (stderr closed) loses the lines:
/// there is nowhere else to report that.
fn write_out(state: &mut State) {
    if state.buffer.is_empty() {
        return;
    }
    let State { buffer, sink, .. } = state;
    let _ = sink.write_all(buffer);
    let _ = sink.flush();
    buffer.clear();
    // Keep a large burst's buffer from pinning memory after it has gone out.
    if buffer.capacity() > MAX_BUFFERED {
        buffer.shrink_to(64 * 1024);
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // If the thread died, write out what is left from here.
        if !self.stopped.load(Ordering::Acquire) {
            write_out(&mut self.shared.lock());
        }
    }
}

/// One event's writer: `tracing_subscriber` formats a whole line and writes it at once.
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut state = self.shared.lock();
        if state.stop {
            // After shutdown began nothing flushes any more: write through.
            let _ = state.sink.write_all(data);
            return Ok(data.len());
        }
        let wake = state.idle && state.buffer.is_empty();
        state.buffer.extend_from_slice(data);
        if state.buffer.len() > MAX_BUFFERED {
            write_out(&mut state);
        }
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffered {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A sink that records every `write_all` as one chunk.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Recorder {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(data.to_vec());
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Recorder {
        fn bytes(&self) -> Vec<u8> {
            self.0.lock().unwrap().concat()
        }
        fn writes(&self) -> usize {
            self.0.lock().unwrap().len()
        }
    }

    fn wait_for(mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// A line written while the flusher is idle comes out without waiting for more.
    #[test]
    fn a_lone_line_is_written_out() {
        let sink = Recorder::default();
        let (writer, _flusher) = buffered(Box::new(sink.clone())).unwrap();
        writer.make_writer().write_all(b"one\n").unwrap();
        assert!(wait_for(|| sink.bytes() == b"one\n"), "{:?}", sink.bytes());
    }

    /// Many lines in a burst go out in far fewer writes than lines, in order, whole.
    #[test]
    fn a_burst_is_batched_and_ordered() {
        let sink = Recorder::default();
        let (writer, flusher) = buffered(Box::new(sink.clone())).unwrap();
        let mut want = Vec::new();
        for i in 0..10_000 {
            let line = format!("line {i}\n");
            writer.make_writer().write_all(line.as_bytes()).unwrap();
            want.extend_from_slice(line.as_bytes());
        }
        drop(flusher);
        assert_eq!(sink.bytes(), want);
        assert!(
            sink.writes() < 100,
            "{} writes for 10,000 lines",
            sink.writes()
        );
    }

    /// Lines from several threads never interleave within a line.
    #[test]
    fn threads_do_not_tear_lines() {
        let sink = Recorder::default();
        let (writer, flusher) = buffered(Box::new(sink.clone())).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        let line = format!("thread {t} line {i} {}\n", "x".repeat(i % 50));
                        writer.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(flusher);
        let text = String::from_utf8(sink.bytes()).unwrap();
        let mut seen = 0;
        for line in text.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts.len(), 5, "{line:?}");
            let i: usize = parts[3].parse().unwrap();
            assert_eq!(parts[4], "x".repeat(i % 50), "{line:?}");
            seen += 1;
        }
        assert_eq!(seen, 8000);
    }

    /// A buffer over the cap is written out by the writer itself, so memory is bounded
    /// even while the flusher sleeps.
    #[test]
    fn the_buffer_is_bounded() {
        let sink = Recorder::default();
        let (writer, _flusher) = buffered(Box::new(sink.clone())).unwrap();
        let line = vec![b'y'; 4096];
        for _ in 0..(3 * MAX_BUFFERED / line.len()) {
            writer.make_writer().write_all(&line).unwrap();
            assert!(writer.shared.lock().buffer.len() <= MAX_BUFFERED + line.len());
        }
    }

    /// Whatever is buffered at shutdown comes out, and later lines still do.
    #[test]
    fn drop_writes_out_the_rest() {
        let sink = Recorder::default();
        let (writer, flusher) = buffered(Box::new(sink.clone())).unwrap();
        writer.make_writer().write_all(b"a\n").unwrap();
        writer.make_writer().write_all(b"b\n").unwrap();
        drop(flusher);
        assert_eq!(sink.bytes(), b"a\nb\n");
        writer.make_writer().write_all(b"c\n").unwrap();
        assert_eq!(sink.bytes(), b"a\nb\nc\n");
    }
}
