#![no_main]
// Entra ID's token answer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vercel_oidc_azure::fuzzing::entra_token(data));
