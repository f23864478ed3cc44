//! Panics caught as findings.
//!
//! A sweep or a shrink must go on past a seed on which the simulator panics, and report the
//! panic as a finding of that seed: its message and where it was raised. Rust's default panic
//! hook would also print every such panic to stderr, interleaved by whichever worker thread
//! got there first; a sweep of thousands of seeds would drown its own summary. So a thread
//! may ask to capture its panics instead ([`capture`]): the process's hook (installed once,
//! chained in front of the one that was there) then records the message and location for that
//! thread and prints nothing. Any other thread's panic goes to the previous hook, so a
//! `kafka-sim run` or a test that panics prints exactly as before.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

thread_local! {
    /// Set while this thread runs inside [`capture`].
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    /// The last panic this thread captured, as `message (at file:line:column)`.
    static CAPTURED: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

fn install_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if CAPTURING.with(Cell::get) {
                let text = describe(info);
                CAPTURED.with(|c| *c.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

/// `message (at file:line:column)`: the same text for the same panic on every run.
fn describe(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    };
    match info.location() {
        Some(at) => format!("{message} (at {}:{}:{})", at.file(), at.line(), at.column()),
        None => message,
    }
}

/// Whether this thread is capturing its panics: a thread it spawns for the same work should
/// capture too (see [`capture_if`]).
pub fn capturing() -> bool {
    CAPTURING.with(Cell::get)
}

/// Runs `f`, and turns a panic inside it into `Err` with the panic's message and location,
/// printing nothing.
pub fn capture<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let was = CAPTURING.with(|c| c.replace(true));
    CAPTURED.with(|c| c.borrow_mut().take());
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    CAPTURING.with(|c| c.set(was));
    result.map_err(|payload| {
        CAPTURED
            .with(|c| c.borrow_mut().take())
            .unwrap_or_else(|| crate::world::panic_message(&payload))
    })
}

/// [`capture`] if `quiet`, else `f` as it is (a panic unwinds on).
pub fn capture_if<T>(quiet: bool, f: impl FnOnce() -> T) -> Result<T, String> {
    if quiet {
        capture(f)
    } else {
        Ok(f())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_captured_panic_gives_its_message_and_location() {
        let err = capture(|| -> u32 { panic!("boom {}", 7) }).unwrap_err();
        assert!(err.starts_with("boom 7 (at "), "{err}");
        assert!(err.contains("panics.rs:"), "{err}");
        assert!(!capturing(), "capturing ends with the call");
        assert_eq!(capture(|| 5), Ok(5));
    }

    /// What `world::run_limited` does for a sweep: the run's own thread captures too.
    #[test]
    fn a_thread_spawned_while_capturing_captures_its_panic() {
        let inner = capture(|| {
            let quiet = capturing();
            std::thread::scope(|s| {
                s.spawn(move || capture_if(quiet, || -> u32 { panic!("inner") }))
                    .join()
                    .expect("the panic was caught on its own thread")
            })
        });
        let err = inner
            .expect("nothing reached the outer capture")
            .unwrap_err();
        assert!(err.starts_with("inner (at "), "{err}");
        assert_eq!(capture_if(false, || 3), Ok(3));
    }
}
