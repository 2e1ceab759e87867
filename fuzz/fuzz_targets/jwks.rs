#![no_main]
// The verifier's JWKS parser.
libfuzzer_sys::fuzz_target!(|data: &[u8]| vercel_oidc::fuzzing::jwks(data));
