#![no_main]
// Entra ID's error answer (status byte + body).
libfuzzer_sys::fuzz_target!(|data: &[u8]| vercel_oidc_azure::fuzzing::entra_error(data));
