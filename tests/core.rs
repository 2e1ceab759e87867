//! Integration tests of the core crate, in one test binary (one binary links once, instead of one per file).

// Tests, benches and examples may read the wall clock (the library takes it from a Clock).
#![allow(clippy::disallowed_methods)]

#[path = "core/deps.rs"]
mod deps;
#[path = "core/exchange.rs"]
mod exchange;
#[path = "core/imports.rs"]
mod imports;
#[path = "core/layer.rs"]
mod layer;
#[path = "core/local_dev.rs"]
mod local_dev;
#[path = "core/local_dev_hardening.rs"]
mod local_dev_hardening;
#[path = "core/on_vercel.rs"]
mod on_vercel;
#[path = "core/own_api.rs"]
mod own_api;
#[path = "core/own_api_clients.rs"]
mod own_api_clients;
#[path = "core/redaction.rs"]
mod redaction;
#[path = "core/slot.rs"]
mod slot;
#[path = "core/verify.rs"]
mod verify;
#[path = "core/verify_modes.rs"]
mod verify_modes;
