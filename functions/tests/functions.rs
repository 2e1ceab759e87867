//! Integration tests of vercel-functions, in one test binary (one link instead of one per file),
//! against the testkit's emulators on 127.0.0.1.
//!
//! The pool keep-alive (process-global state) and the secret scan (a process-global TRACE
//! subscriber) have binaries of their own.

#[path = "functions/cache_faults.rs"]
mod cache_faults;
#[path = "functions/layer.rs"]
mod layer;
#[path = "functions/purge.rs"]
mod purge;
#[path = "functions/runtime_cache.rs"]
mod runtime_cache;
