//! What the operating system does with a log file that Kafka wrote and did not fsync.
//!
//! Kafka does not fsync by default (`flush.messages` and `flush.ms` are "never"): an append
//! lands in the OS page cache and the process moves on. A crash of the process loses nothing
//! (the kernel still holds the pages), but a power loss takes whatever the kernel had not yet
//! written to the device. The kernel does write on its own: Linux's flusher threads wake every
//! `vm.dirty_writeback_centisecs` (5 s by default) and write back every file whose pages have
//! been dirty longer than `vm.dirty_expire_centisecs` (30 s by default). So data older than
//! about 30 s is on disk within 5 s more, with or without Kafka's help.
//!
//! A log therefore has three marks:
//! - the flush point (Kafka's recovery point): what the broker fsynced;
//! - the write-back mark: what the OS wrote on its own;
//! - the log end offset: what the page cache holds.
//!
//! A power loss keeps the larger of the first two. The write-back mark is kept cheaply: no
//! timer per record, only "when did this file last go from clean to dirty", brought up to
//! date whenever the log is touched, because between two touches the file does not change.
//!
//! What is modelled of Linux (`fs/fs-writeback.c`): `__mark_inode_dirty` stamps an inode's
//! `dirtied_when` when it goes from clean to dirty; `wb_workfn` runs every
//! `dirty_writeback_centisecs` (the model puts those runs at multiples of it from t=0);
//! `wb_check_old_data_flush` then writes back, whole, every inode dirtied more than
//! `dirty_expire_centisecs` ago, and the written inode is clean until the next write. Not
//! modelled: write-back forced by memory pressure (`vm.dirty_background_ratio`,
//! `vm.dirty_ratio`), which only ever writes more, sooner; a write-back that takes time (here
//! it is instant, so a write-back never tears a batch); the log's index files. Truncation
//! happens at record boundaries, so a torn batch never appears.

use serde::Serialize;

/// The OS's periodic write-back of dirty pages: a world setting (`[cluster.os]`), not a
/// Kafka one, so it does not depend on the Kafka version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum WriteBack {
    /// No write-back on its own (the worst case: only fsync keeps data over a power loss).
    Never,
    /// Linux's flusher: every `dirty_writeback_ms`, it writes back every file dirty for at
    /// least `dirty_expire_ms`.
    Periodic {
        /// `vm.dirty_expire_centisecs`, in milliseconds.
        dirty_expire_ms: u64,
        /// `vm.dirty_writeback_centisecs`, in milliseconds; never 0 (Linux's 0 turns
        /// periodic write-back off: that is [`WriteBack::Never`]).
        dirty_writeback_ms: u64,
    },
}

impl WriteBack {
    /// Linux's defaults: `vm.dirty_expire_centisecs = 3000`, `vm.dirty_writeback_centisecs =
    /// 500`.
    pub const LINUX_DEFAULT: WriteBack = WriteBack::Periodic {
        dirty_expire_ms: 30_000,
        dirty_writeback_ms: 5_000,
    };

    /// When a file dirtied at `dirtied_ms` is written back: at the first flusher run at or
    /// after `dirtied_ms + dirty_expire_ms`. `None` when the OS never writes on its own.
    pub fn written_back_at_ms(self, dirtied_ms: u64) -> Option<u64> {
        match self {
            WriteBack::Never => None,
            WriteBack::Periodic {
                dirty_expire_ms,
                dirty_writeback_ms,
            } => {
                assert!(dirty_writeback_ms > 0, "a flusher period is positive");
                let expired_ms = dirtied_ms.saturating_add(dirty_expire_ms);
                Some(expired_ms.div_ceil(dirty_writeback_ms) * dirty_writeback_ms)
            }
        }
    }
}

impl Default for WriteBack {
    fn default() -> Self {
        WriteBack::LINUX_DEFAULT
    }
}

/// One log file's state in the page cache: how far the OS wrote it back, and since when the
/// rest has been dirty.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PageCache {
    write_back: WriteBack,
    /// Everything below this offset the OS has written to the device on its own.
    written_back_offset: u64,
    /// When the file went from clean to dirty (Linux's `inode->dirtied_when`); `None` while
    /// the device holds all of it.
    dirtied_ms: Option<u64>,
}

impl PageCache {
    pub fn new(write_back: WriteBack) -> PageCache {
        PageCache {
            write_back,
            written_back_offset: 0,
            dirtied_ms: None,
        }
    }

    pub fn write_back(&self) -> WriteBack {
        self.write_back
    }

    pub fn written_back_offset(&self) -> u64 {
        self.written_back_offset
    }

    /// Runs the flusher up to `now_ms` for a file whose end has been `log_end_offset` since
    /// it was last touched: if its write-back came due, the whole file is on the device and
    /// the file is clean. One step is enough: once clean, it stays clean until written.
    pub fn catch_up(&mut self, now_ms: u64, log_end_offset: u64) {
        let Some(dirtied_ms) = self.dirtied_ms else {
            return;
        };
        let due = self.write_back.written_back_at_ms(dirtied_ms);
        if due.is_some_and(|due_ms| due_ms <= now_ms) {
            self.written_back_offset = self.written_back_offset.max(log_end_offset);
            self.dirtied_ms = None;
        }
    }

    /// The log was written at `now_ms` (call [`PageCache::catch_up`] first): a clean file
    /// becomes dirty now.
    pub fn note_write(&mut self, now_ms: u64) {
        if self.dirtied_ms.is_none() {
            self.dirtied_ms = Some(now_ms);
        }
    }

    /// An fsync: the device holds the whole file, and the file is clean.
    pub fn note_fsync(&mut self) {
        self.dirtied_ms = None;
    }

    /// The file was cut to `log_end_offset`; with `durable_offset` (the larger of the flush
    /// point and the write-back mark) at or past the cut, no dirty page is left.
    pub fn note_truncate(&mut self, log_end_offset: u64, durable_offset: u64) {
        self.written_back_offset = self.written_back_offset.min(log_end_offset);
        if durable_offset >= log_end_offset {
            self.dirtied_ms = None;
        }
    }

    /// A power loss: the page cache is gone and the device is all there is; the file, cut
    /// to what the device held, is clean.
    pub fn note_power_loss(&mut self, kept_offset: u64) {
        self.written_back_offset = kept_offset;
        self.dirtied_ms = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_writes_back_at_the_first_flusher_run_after_expiry() {
        let linux = WriteBack::LINUX_DEFAULT;
        assert_eq!(linux.written_back_at_ms(0), Some(30_000));
        assert_eq!(linux.written_back_at_ms(1_000), Some(35_000));
        assert_eq!(linux.written_back_at_ms(5_000), Some(35_000));
        assert_eq!(linux.written_back_at_ms(5_001), Some(40_000));
        assert_eq!(WriteBack::Never.written_back_at_ms(0), None);
    }

    #[test]
    fn a_dirty_file_is_written_back_whole_once_due() {
        let mut cache = PageCache::new(WriteBack::LINUX_DEFAULT);
        cache.note_write(1_000);
        // Written on until t=34.9 s: the file is still dirty since t=1 s.
        cache.catch_up(34_999, 40);
        assert_eq!(cache.written_back_offset(), 0);
        // The flusher run at t=35 s writes all 40 records, the newest too.
        cache.catch_up(35_000, 40);
        assert_eq!(cache.written_back_offset(), 40);
        // Clean until the next write, which starts a new 30 s.
        cache.note_write(36_000);
        cache.catch_up(69_999, 50);
        assert_eq!(cache.written_back_offset(), 40);
        cache.catch_up(70_000, 50);
        assert_eq!(cache.written_back_offset(), 50);
    }

    #[test]
    fn never_writes_back() {
        let mut cache = PageCache::new(WriteBack::Never);
        cache.note_write(0);
        cache.catch_up(u64::MAX, 10);
        assert_eq!(cache.written_back_offset(), 0);
    }
}
