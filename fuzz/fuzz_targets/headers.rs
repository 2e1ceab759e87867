#![no_main]
// Request context and seed helpers over attacker-controlled header values.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vercel_oidc::fuzzing::headers(data));
