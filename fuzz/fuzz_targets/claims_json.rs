#![no_main]
// Claims from an arbitrary JSON payload (the part after base64 decoding).
libfuzzer_sys::fuzz_target!(|data: &[u8]| vercel_oidc::fuzzing::claims_json(data));
