//! Emulator (work in progress).
